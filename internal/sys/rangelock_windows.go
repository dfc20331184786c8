package sys

import (
	"os"

	"golang.org/x/sys/windows"
)

// CanLockRange reports whether LockRange, UnlockRange and RangeLocked work.
const CanLockRange = true

// LockRange takes an exclusive lock on n bytes of the file at off (LockFileEx;
// a range past the end of the file is fine) without waiting. A conflicting
// lock held through another handle, in this process or another, makes it
// fail at once with ErrWouldBlock. Windows releases the lock when the handle
// is closed or the process ends. Windows locks are mandatory for ReadFile and
// WriteFile (not for mapped views), so callers lock ranges past any data.
func LockRange(fd uintptr, off, n int64) error {
	ol := &windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	err := windows.LockFileEx(windows.Handle(fd), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, uint32(n), uint32(n>>32), ol)
	if err == windows.ERROR_LOCK_VIOLATION || err == windows.ERROR_IO_PENDING {
		return ErrWouldBlock
	}
	return err
}

// UnlockRange releases a lock taken with LockRange through the same handle.
func UnlockRange(fd uintptr, off, n int64) error {
	ol := &windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	return windows.UnlockFileEx(windows.Handle(fd), 0, uint32(n), uint32(n>>32), ol)
}

// RangeLocked is unsupported on Windows: it has no way to ask about a lock
// without taking it.
func RangeLocked(uintptr, int64, int64) (bool, error) {
	return false, unsupported("testing a byte-range lock without taking it")
}

// CreateUnnamed is unsupported on Windows (no O_TMPFILE).
func CreateUnnamed(string, os.FileMode) (*os.File, error) {
	return nil, unsupported("O_TMPFILE")
}

// LinkUnnamed is unsupported on Windows (no O_TMPFILE).
func LinkUnnamed(*os.File, string) error { return unsupported("O_TMPFILE") }

// SyncData flushes the file's data to stable storage (FlushFileBuffers).
func SyncData(fd uintptr) error { return windows.FlushFileBuffers(windows.Handle(fd)) }

// SyncMapping makes what was written through m, a view of the file fd,
// durable: FlushViewOfFile of the whole view, then FlushFileBuffers.
func SyncMapping(m *Mapping, fd uintptr) error {
	if len(m.Data) == 0 {
		return nil
	}
	return m.Sync(0, len(m.Data), false)
}

// InMemoryFS reports false: Windows has no file system kept in memory only.
func InMemoryFS(string) (bool, error) { return false, nil }
