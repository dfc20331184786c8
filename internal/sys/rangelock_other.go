//go:build !linux && !windows

package sys

import "os"

// CanLockRange reports whether LockRange, UnlockRange and RangeLocked work.
// This system has no open-file-description locks (only POSIX record locks,
// which a process shares among all its descriptors and drops when any one of
// them is closed), so callers fall back to flock and process ids.
const CanLockRange = false

// LockRange is unsupported on this system.
func LockRange(uintptr, int64, int64) error { return unsupported("open file description locks") }

// UnlockRange is unsupported on this system.
func UnlockRange(uintptr, int64, int64) error { return unsupported("open file description locks") }

// RangeLocked is unsupported on this system.
func RangeLocked(uintptr, int64, int64) (bool, error) {
	return false, unsupported("open file description locks")
}

// CreateUnnamed is unsupported on this system (no O_TMPFILE).
func CreateUnnamed(string, os.FileMode) (*os.File, error) {
	return nil, unsupported("O_TMPFILE")
}

// LinkUnnamed is unsupported on this system (no O_TMPFILE).
func LinkUnnamed(*os.File, string) error { return unsupported("O_TMPFILE") }

// SyncMapping makes what was written through m, a shared mapping of the file
// fd, durable: msync of the whole mapping (MS_SYNC).
func SyncMapping(m *Mapping, fd uintptr) error {
	if len(m.Data) == 0 {
		return nil
	}
	return m.Sync(0, len(m.Data), false)
}

// InMemoryFS reports false: not known on this system (the conservative answer).
func InMemoryFS(string) (bool, error) { return false, nil }
