package shm

import (
	"sync/atomic"
	"time"
)

// SetWaitBackstop lets tests make a lost wake-up hang instead of being hidden
// by the periodic re-check.
func SetWaitBackstop(d time.Duration) func() {
	old := waitBackstop
	waitBackstop = d
	return func() { waitBackstop = old }
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

// FutexSleeps returns how many times Wait slept in the kernel in this process.
func FutexSleeps() int64 { return futexSleeps.Load() }
