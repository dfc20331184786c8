// Package wait is mmapkit's one way to wait for a condition that another
// goroutine or another process makes true by changing shared memory: the ring
// reader waiting for records, the ring writer waiting for room, the Slot reader
// waiting for a store.
//
// A wait spins first (polling the condition without leaving the CPU), then
// sleeps: on a futex on a 32-bit word in the (possibly shared) mapping where
// the OS has futexes (Linux), otherwise in short sleeps whose length doubles up
// to MaxPoll. Every wait honours a context.
//
// The handshake with the waker is the Dekker pattern: the waiter announces
// itself (Arm, an atomic store to a word the waker reads), re-checks the
// condition, then sleeps on the futex word only if the word still holds the
// value it read before arming; the waker makes the condition true, then reads
// the announcement and, if set, bumps the futex word and wakes. Either the
// waiter sees the condition or the waker sees the announcement, so a wake-up
// is never lost. Futex sleeps are bounded by FutexTimeout anyway, so a peer
// process that never wakes anyone (a read-only reader, a crashed writer, a
// hostile process) costs latency, never a hang.
package wait

import (
	"context"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

const (
	// DefaultSpin is how long a wait polls before it sleeps when the caller
	// does not say.
	DefaultSpin = 50 * time.Microsecond
	// MinPoll and MaxPoll bound the sleeps of a wait without a futex (other
	// operating systems, or a word this process cannot write): the first
	// sleep is MinPoll, each next one twice as long, at most MaxPoll. A
	// condition that becomes true is therefore seen within MaxPoll.
	MinPoll = 5 * time.Microsecond
	MaxPoll = time.Millisecond
	// FutexTimeout bounds one futex sleep: a lost or never-sent wake-up
	// delays the waiter by at most this long.
	FutexTimeout = 100 * time.Millisecond
)

// CanFutex reports whether waits on this system sleep on a futex (else they
// poll with sleeps of at most MaxPoll).
const CanFutex = sys.CanFutex

// Waiter describes one wait. The zero value polls ready in a loop with sleeps.
type Waiter struct {
	// Word is the futex word the waker bumps (see Wake). nil: poll.
	Word *uint32
	// Arm announces the sleeper to the waker (for example by storing 1 in
	// a "waiting" flag or adding 1 to a count), with an atomic operation,
	// before the condition is checked again. Disarm undoes it after the
	// sleep (nil: nothing to undo, the waker clears the flag). Both may be
	// nil when Word is nil.
	Arm, Disarm func()
	// Spin is how long to poll before sleeping: 0 means DefaultSpin, a
	// negative value no spinning.
	Spin time.Duration
	// Poll forces polling with sleeps even where futexes exist (the word
	// cannot be written by this process, so no waker will ever see Arm).
	Poll bool
}

// Wait returns nil as soon as ready() returns true, or ctx's error (not
// wrapped) when ctx ends first. ready is called often and must be cheap;
// it must read shared state with atomic loads.
func (w *Waiter) Wait(ctx context.Context, ready func() bool) error {
	if ready() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	spin := w.Spin
	if spin == 0 {
		spin = DefaultSpin
	}
	if spin > 0 {
		deadline := time.Now().Add(spin)
		for i := 1; ; i++ {
			if ready() {
				return nil
			}
			if i&63 == 0 {
				if time.Now().After(deadline) {
					break
				}
				if i&1023 == 0 {
					// Let a waker on the same CPU (GOMAXPROCS=1) run.
					runtime.Gosched()
				}
			}
		}
	}
	if w.Word == nil || w.Poll || !sys.CanFutex {
		return w.poll(ctx, ready)
	}
	return w.futex(ctx, ready)
}

func (w *Waiter) poll(ctx context.Context, ready func() bool) error {
	// Announce the waiter here too, so that "a waiter exists" means the
	// same on every system (the waker's bump of the word is harmless).
	if w.Arm != nil {
		w.Arm()
	}
	if w.Disarm != nil {
		defer w.Disarm()
	}
	pause := MinPoll
	t := time.NewTimer(pause)
	defer t.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			if ready() {
				return nil
			}
			return ctx.Err()
		case <-t.C:
		}
		if w.Arm != nil && w.Disarm == nil {
			w.Arm() // a flag the waker clears: set it again
		}
		pause = min(2*pause, MaxPoll)
		t.Reset(pause)
	}
}

func (w *Waiter) futex(ctx context.Context, ready func() bool) error {
	// A cancelled context bumps the word and wakes every sleeper on it: the
	// others see a spurious wake-up, re-check and sleep again.
	//
	// Wait returns only after that function has finished: the caller may
	// unmap the word as soon as Wait returns.
	if ctx.Done() != nil {
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(done)
			Wake(w.Word)
		})
		defer func() {
			if !stop() {
				<-done // it started: let it finish with the word
			}
		}()
	}
	for {
		v := atomic.LoadUint32(w.Word)
		if w.Arm != nil {
			w.Arm()
		}
		if ready() {
			if w.Disarm != nil {
				w.Disarm()
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			if w.Disarm != nil {
				w.Disarm()
			}
			return err
		}
		_ = sys.FutexWait(w.Word, v, FutexTimeout)
		if w.Disarm != nil {
			w.Disarm()
		}
		if ready() {
			return nil
		}
	}
}

// Wake bumps the futex word and wakes every sleeper on it, in this process
// or any other that maps the word. Where there are no futexes the bump is
// all (sleepers poll).
func Wake(word *uint32) {
	atomic.AddUint32(word, 1)
	if sys.CanFutex {
		_ = sys.FutexWake(word, math.MaxInt32)
	}
}
