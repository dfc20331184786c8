package wait

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// mappedWord returns a word in its own anonymous mapping and a function
// that unmaps it: touching the word afterwards faults.
func mappedWord(t *testing.T) (*uint32, func()) {
	t.Helper()
	m, err := sys.Map(sys.NoFile, 0, sys.PageSize(), sys.ProtRead|sys.ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&m.Data[0])), func() { m.Unmap() }
}

func TestWaitWakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll bool
	}{{"futex-or-poll", false}, {"poll", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var word, flag, cond uint32
			w := Waiter{Word: &word, Spin: -1, Poll: tc.poll, Arm: func() { atomic.StoreUint32(&flag, 1) }}
			errc := make(chan error, 1)
			go func() {
				errc <- w.Wait(context.Background(), func() bool { return atomic.LoadUint32(&cond) != 0 })
			}()
			// The waiter announces itself on every system before sleeping.
			for atomic.LoadUint32(&flag) == 0 {
				time.Sleep(50 * time.Microsecond)
			}
			atomic.StoreUint32(&cond, 1)
			if atomic.SwapUint32(&flag, 0) != 0 {
				Wake(&word)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	var word uint32
	for _, poll := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		w := Waiter{Word: &word, Spin: -1, Poll: poll}
		err := w.Wait(ctx, func() bool { return false })
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("poll %v: %v, want the context's error", poll, err)
		}
	}
}

// TestWaitReturnsAfterItsWake: when the context ends, the function that
// wakes the sleeper bumps the word; Wait must not return before that
// function is done, since the caller may unmap the word right after (a
// fault in the wake was seen when a Reader was closed after a cancelled
// Next).
func TestWaitReturnsAfterItsWake(t *testing.T) {
	if !CanFutex {
		t.Skip("only futex waits wake through the context")
	}
	for i := range 3000 {
		word, unmap := mappedWord(t)
		ctx, cancel := context.WithCancel(context.Background())
		w := Waiter{Word: word, Spin: -1}
		var wg sync.WaitGroup
		var calls atomic.Int64
		wg.Go(func() {
			_ = w.Wait(ctx, func() bool {
				// Cancel at varying moments, including between the
				// registration of the wake and the sleep.
				if calls.Add(1) == int64(1+i%2) {
					cancel()
				}
				return false
			})
		})
		wg.Wait()
		unmap()
		cancel()
	}
}
