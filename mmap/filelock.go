package mmap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// FileLock is an advisory lock on a whole file, shared or exclusive, for
// processes that cooperate (flock on Unix, LockFileEx on Windows). The kernel
// releases it when the process dies, so a crashed holder never leaves it stuck.
type FileLock struct {
	mu   sync.Mutex
	file *os.File // our own descriptor: the lock lives and dies with it
}

// TryLockFile takes a lock on f without waiting. If another process holds a
// conflicting lock it returns an error matching ErrLocked at once, naming
// the process holding it where the OS tells (Linux); a conflicting lock
// held by this same process (another FileLock, or a descriptor with flock)
// excludes just the same, and the error says so.
func TryLockFile(f *os.File, exclusive bool) (*FileLock, error) {
	l, err := newLock(f)
	if err != nil {
		return nil, err
	}
	if err := sys.Flock(l.file.Fd(), exclusive, false); err != nil {
		l.file.Close()
		return nil, lockErr(f, exclusive, err)
	}
	return l, nil
}

// LockFile takes a lock on f, waiting until it is free or ctx is done (then it
// returns ctx's error).
func LockFile(ctx context.Context, f *os.File, exclusive bool) (*FileLock, error) {
	if err := ctx.Err(); err != nil {
		return nil, sys.WrapPath("mmap: lock", f.Name(), err)
	}
	l, err := newLock(f)
	if err != nil {
		return nil, err
	}
	// flock(2) cannot be interrupted by a context, so wait by retrying the
	// non-blocking form with a growing pause: cancellation is seen within 10 ms.
	pause := 50 * time.Microsecond
	for {
		err := sys.Flock(l.file.Fd(), exclusive, false)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, sys.ErrWouldBlock) {
			l.file.Close()
			return nil, lockErr(f, exclusive, err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			l.file.Close()
			return nil, sys.WrapPath("mmap: lock", f.Name(), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// A lock held through a descriptor of our own is independent of f: closing f
// does not release it, and two FileLocks in one process on the same file
// exclude each other the way two processes do. The file is opened again by
// name, so check it is still the same file: locking a file that replaced f's
// (the usual write-and-rename update) would exclude nobody.
func newLock(f *os.File) (*FileLock, error) {
	if f == nil {
		return nil, sys.WrapPath("mmap: lock", "", errors.New("nil file"))
	}
	g, err := sys.OpenFile(f.Name(), os.O_RDONLY, 0, false)
	if err != nil {
		return nil, sys.WrapPath("mmap: lock", f.Name(), err)
	}
	fi, err1 := f.Stat()
	gi, err2 := g.Stat()
	if err := errors.Join(err1, err2); err != nil {
		g.Close()
		return nil, sys.WrapPath("mmap: lock", f.Name(), err)
	}
	if !os.SameFile(fi, gi) {
		g.Close()
		return nil, sys.WrapPath("mmap: lock", f.Name(), fmt.Errorf("the name now refers to another file (renamed or replaced since it was opened): %w", os.ErrNotExist))
	}
	return &FileLock{file: g}, nil
}

func lockErr(f *os.File, exclusive bool, err error) error {
	kind := "shared"
	if exclusive {
		kind = "exclusive"
	}
	if errors.Is(err, sys.ErrWouldBlock) {
		return sys.WrapPath("mmap: lock", f.Name(), fmt.Errorf("%s: %w", kind, lockedErr(f)))
	}
	return sys.WrapPath("mmap: lock", f.Name(), fmt.Errorf("%s: %w", kind, err))
}

// lockedErr says who holds the lock on f and what to do about it.
func lockedErr(f *os.File) error {
	pids, _ := sys.LockHolders(f)
	self := os.Getpid()
	var others []string
	for _, pid := range pids {
		if pid == self {
			return fmt.Errorf("%w by this process (pid %d), through another FileLock or descriptor: unlock that first", ErrLocked, self)
		}
		others = append(others, strconv.Itoa(pid))
	}
	switch len(others) {
	case 0:
		return fmt.Errorf("%w by another process (use LockFile to wait for it)", ErrLocked)
	case 1:
		return fmt.Errorf("%w by process %s (use LockFile to wait for it, or stop that process)", ErrLocked, others[0])
	}
	return fmt.Errorf("%w by processes %s (use LockFile to wait for them)", ErrLocked, strings.Join(others, ", "))
}

// Unlock releases the lock. A second Unlock returns nil.
func (l *FileLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := sys.Funlock(l.file.Fd())
	if e := l.file.Close(); err == nil {
		err = e
	}
	l.file = nil
	return err
}
