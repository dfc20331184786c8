package shm_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/wait"
	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

// within runs f and fails the test if it has not returned after d: the
// regression tests for hangs use it so that a hang fails instead of
// stalling the run. (It asserts "returns at all", not a speed.)
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	c := make(chan T, 1)
	go func() { c <- f() }()
	select {
	case v := <-c:
		return v
	case <-time.After(d):
		t.Fatalf("%s still running after %v: it hangs", what, d)
		panic("unreachable")
	}
}

// A writer process that keeps the sequence odd but changes it all the time
// (bumping it by 2) must not keep Load or Wait spinning: the stuck clock
// may not restart on every change. Before, both spun for ever.
func TestSlotHostileWriter(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, shm.SlotSize(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := shm.NewSlot(r, 0, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Store([]byte("value")); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "hostile", name)
	if got := h.line(t); got != "ready" {
		t.Fatalf("helper said %q", got)
	}
	for _, mode := range []mmap.Mode{mmap.ReadWrite, mmap.ReadOnly} {
		t.Run(mode.String(), func(t *testing.T) {
			ro, err := shm.Open(name, mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			s, err := shm.OpenSlot(ro, 0, &shm.SlotOptions{StuckTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			err = within(t, time.Minute, "Load", func() error { _, _, err := s.Load(context.Background(), buf); return err })
			if !errors.Is(err, shm.ErrWriterStuck) {
				t.Errorf("Load: %v, want ErrWriterStuck", err)
			}
			t.Logf("Load: %v", err)
			err = within(t, time.Minute, "Wait", func() error { _, err := s.Wait(context.Background(), 2); return err })
			if !errors.Is(err, shm.ErrWriterStuck) {
				t.Errorf("Wait: %v, want ErrWriterStuck", err)
			}
			// and a context ends them sooner
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s2, _ := shm.OpenSlot(ro, 0, &shm.SlotOptions{StuckTimeout: time.Hour})
			if _, _, err := s2.Load(ctx, buf); !errors.Is(err, context.Canceled) {
				t.Errorf("Load with a cancelled context: %v", err)
			}
			if _, err := s2.Wait(ctx, 2); !errors.Is(err, context.Canceled) {
				t.Errorf("Wait with a cancelled context: %v", err)
			}
		})
	}
	h.in.Close()
	h.wait(t)
}

// Closing the Region ends a Wait that nothing wakes, with ErrClosed, and
// the Close itself does not hang.
func TestSlotWaitThenClose(t *testing.T) {
	r, err := mmap.Anonymous(shm.SlotSize(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shm.NewSlot(r, 0, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := s.Wait(context.Background(), 0); errc <- err }()
	for wait.CanFutex && s.Waiters() == 0 { // asleep in the kernel
		time.Sleep(time.Millisecond)
	}
	within(t, time.Minute, "Close", func() error { return r.Close() })
	if err := within(t, time.Minute, "Wait", func() error { return <-errc }); !errors.Is(err, mmap.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
}

// A context cancelled while Wait sleeps, then the Region closed at once:
// the wake-up that the cancellation sends must never touch memory that is
// unmapped, nor write to a read-only attach (under -race such a fault
// inside an atomic crashed the process, in `mmapkit shm cat --follow`).
func TestSlotWaitCancelThenClose(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 10
	}
	name := segName(t)
	seg, err := shm.Create(name, shm.SlotSize(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if _, err := shm.NewSlot(seg, 0, 8, nil); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []mmap.Mode{mmap.ReadWrite, mmap.ReadOnly, mmap.CopyOnWrite} {
		t.Run(mode.String(), func(t *testing.T) {
			for range n {
				r, err := shm.Open(name, mode, nil)
				if err != nil {
					t.Fatal(err)
				}
				s, err := shm.OpenSlot(r, 0, &shm.SlotOptions{Spin: -1})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() { _, err := s.Wait(ctx, 0); errc <- err }()
				cancel()
				if err := <-errc; !errors.Is(err, context.Canceled) {
					t.Fatalf("Wait: %v", err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A symbolic link or FIFO planted under a queue's name: the senders and
// receivers refuse it, never write through it, and never block on it.
// Before, OpenSender followed the link and wrote into the ring it pointed at.
func TestQueueRefusesPlantedNames(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("segments on Windows live in a private directory")
	}
	// the victim: a ring (a queue) somewhere else
	victim := filepath.Join(t.TempDir(), "victim")
	w, err := ring.Create(victim, &ring.Options{Capacity: 4096, Policy: ring.Block})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append([]byte("victim's record")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	before, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	link := segName(t)
	if err := os.Symlink(victim, filepath.Join(shm.Dir(), link)); err != nil {
		t.Fatal(err)
	}
	fifo := segName(t)
	if err := sys.Mkfifo(filepath.Join(shm.Dir(), fifo), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, saying string }{{link, "symbolic link"}, {fifo, "FIFO"}} {
		err := within(t, time.Minute, "OpenSender", func() error { _, err := shm.OpenSender(tt.name, nil); return err })
		if !errors.Is(err, mmap.ErrNotRegular) {
			t.Errorf("OpenSender on a %s: %v, want ErrNotRegular", tt.saying, err)
		}
		err = within(t, time.Minute, "OpenReceiver", func() error { _, err := shm.OpenReceiver(tt.name, nil); return err })
		if !errors.Is(err, mmap.ErrNotRegular) {
			t.Errorf("OpenReceiver on a %s: %v, want ErrNotRegular", tt.saying, err)
		}
		err = within(t, time.Minute, "CreateQueue", func() error { _, err := shm.CreateQueue(tt.name, nil); return err })
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("CreateQueue over a %s: %v, want fs.ErrExist", tt.saying, err)
		}
	}
	after, err := os.ReadFile(victim)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the ring behind the link changed (%v)", err)
	}
	// List skips them, without blocking on the FIFO
	list := within(t, time.Minute, "List", func() []shm.Info { l, _ := shm.List(); return l })
	for _, i := range list {
		if i.Name == link || i.Name == fifo {
			t.Errorf("List shows %s", i.Name)
		}
	}
}

// A Queue whose receivers are all gone keeps the messages: Send waits
// while the queue is full, until a receiver attaches (which then gets every
// message) or the context ends. The doc once said the sender stopped
// waiting; the code always kept the messages, and that is the promise now.
func TestQueueWithoutReceivers(t *testing.T) {
	name := segName(t)
	rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := shm.OpenSender(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	// fill the queue: 100-byte messages take 128 bytes, 32 fit in 4096
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	sent := 0
	for ; sent < 100; sent++ {
		if err = tx.Send(ctx, bytes.Repeat([]byte{byte(sent)}, 100)); err != nil {
			break
		}
	}
	if sent != 32 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sent %d, then %v; want 32, then DeadlineExceeded", sent, err)
	}
	// a receiver attaches: it gets all 32, and the sender goes on
	rx2, err := shm.OpenReceiver(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rx2.Close()
	ctx2, cancel2 := testContext(t)
	defer cancel2()
	done := make(chan error, 1)
	go func() { done <- tx.Send(ctx2, bytes.Repeat([]byte{byte(sent)}, 100)) }()
	for i := 0; i <= sent; i++ {
		m, err := rx2.Receive(ctx2)
		if err != nil || len(m) != 100 || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes starting %v, %v", i, len(m), m[:min(1, len(m))], err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Send after a receiver attached: %v", err)
	}
}
