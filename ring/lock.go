package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// fileID identifies a file (device and inode) for the registry of Writers
// open in this process.
type fileID struct{ fi os.FileInfo }

// writers are the ring files this process holds a Writer of: a second
// OpenWriter of one of them is told so instead of "another process".
var writers struct {
	sync.Mutex
	open []os.FileInfo
}

func (id fileID) heldHere() bool {
	writers.Lock()
	defer writers.Unlock()
	for _, fi := range writers.open {
		if os.SameFile(fi, id.fi) {
			return true
		}
	}
	return false
}

// The writer lock and the reader slots' liveness locks are byte-range locks
// far past the end of any ring file (FORMAT.md, "Locks"): open file
// description locks on Linux, LockFileEx on Windows. The kernel releases
// them when the holder closes the file or dies. Where the OS has no such
// locks (darwin), the writer lock is an flock of the whole file.

// lockWriter takes the writer lock of the ring open as f. With wait it
// retries until ctx ends.
func lockWriter(ctx context.Context, f *os.File, id fileID, wait bool) error {
	pause := 50 * time.Microsecond
	for {
		var err error
		if sys.CanLockRange {
			err = sys.LockRange(f.Fd(), lockWriterOff, 1)
		} else {
			err = sys.Flock(f.Fd(), true, false)
		}
		if err == nil {
			writers.Lock()
			writers.open = append(writers.open, id.fi)
			writers.Unlock()
			return nil
		}
		if !errors.Is(err, sys.ErrWouldBlock) {
			return err
		}
		if !wait {
			return lockHolder(f, id)
		}
		// A lock cannot be waited for with a context: poll, with a pause
		// that grows to 10 ms (the delay after the holder lets go).
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// writerLocked reports whether a writer holds the ring open as f, without
// taking the lock (so it never makes a writer fail). It returns an error
// matching errors.ErrUnsupported where the OS cannot tell.
func writerLocked(f *os.File) (bool, error) {
	if !sys.CanLockRange {
		return false, errors.ErrUnsupported
	}
	return sys.RangeLocked(f.Fd(), lockWriterOff, 1)
}

// lockHolder describes who holds the writer lock.
func lockHolder(f *os.File, id fileID) error {
	var b [4]byte
	pid := 0
	if _, err := f.ReadAt(b[:], offWriterPid); err == nil {
		pid = int(binary.LittleEndian.Uint32(b[:]))
	}
	if id.heldHere() {
		return &LockedError{PID: os.Getpid(), ThisProcess: true}
	}
	return &LockedError{PID: pid}
}

// unlockWriter releases the writer lock (closing f releases it too).
func unlockWriter(f *os.File, id fileID) {
	if sys.CanLockRange {
		_ = sys.UnlockRange(f.Fd(), lockWriterOff, 1)
	} else {
		_ = sys.Funlock(f.Fd())
	}
	writers.Lock()
	defer writers.Unlock()
	for i, fi := range writers.open {
		if os.SameFile(fi, id.fi) {
			writers.open = append(writers.open[:i], writers.open[i+1:]...)
			return
		}
	}
}

// openRegular opens a ring file, refusing anything but a regular file
// before it can block on it (a FIFO planted under a ring's name), and with
// noFollow a symbolic link as the last component (names in shared
// directories such as /dev/shm).
func openRegular(path string, flag int, noFollow bool) (*os.File, error) {
	return sys.OpenFile(path, flag, 0, noFollow)
}

// errNotRegularFile is the sentinel a non-regular file's error matches.
var errNotRegularFile = sys.ErrNotRegular

// slotAlive reports whether the reader that owns slot i is alive: whether it
// holds the slot's lock. On Linux the lock is tested without taking it. On
// Windows, which cannot test a lock, the writer takes it for a moment (a
// reader registering then takes another slot): release, to be called after
// the slot's owner word was dealt with, lets go of it. Without byte-range
// locks (darwin) the owner's pid is checked, which a pid namespace or a
// reused pid can fool.
func slotAlive(f *os.File, i, pid int) (alive bool, release func()) {
	off := lockSlot0Off + int64(i)
	nop := func() {}
	if !sys.CanLockRange {
		return sys.ProcessAlive(pid), nop
	}
	held, err := sys.RangeLocked(f.Fd(), off, 1)
	if err == nil {
		return held, nop
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		return true, nop // cannot tell: never free a live reader's slot
	}
	if err := sys.LockRange(f.Fd(), off, 1); err == nil {
		return false, func() { _ = sys.UnlockRange(f.Fd(), off, 1) }
	}
	return true, nop
}
