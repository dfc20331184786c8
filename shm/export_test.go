package shm

import (
	"sync/atomic"
	"time"
)

// SetWaitSlice lets tests lengthen the time Wait holds the Region between
// checks, so that a lost wake-up hangs instead of being hidden by the
// periodic re-check. (internal/wait bounds each futex sleep too.)
func SetWaitSlice(d time.Duration) func() {
	old := waitSlice
	waitSlice = d
	return func() { waitSlice = old }
}

// BeginStoreForTest opens a store and never finishes it, as a writer killed
// mid-store would.
func (s *Slot) BeginStoreForTest() error {
	return s.r.Do(func(b []byte) error {
		p := s.word64(b, offSeq)
		atomic.AddUint64(p, 1)
		return nil
	})
}

// Waiters returns the count of sleeping readers.
func (s *Slot) Waiters() uint32 {
	var n uint32
	_ = s.r.Do(func(b []byte) error {
		n = atomic.LoadUint32(s.word32(b, offWaiters))
		return nil
	})
	return n
}

// FutexSleeps returns how many times Wait armed itself to sleep in the
// kernel in this process.
func FutexSleeps() int64 { return futexSleeps.Load() }
