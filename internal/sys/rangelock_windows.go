package sys

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

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

// CreateUnnamed creates a regular file in directory dir that disappears if
// the process ends before LinkUnnamed, so a crash leaves nothing behind.
// Windows has no file without a name: it gets a temporary one
// (".unnamed-<pid>-<n>.tmp"), opened with FILE_FLAG_DELETE_ON_CLOSE in the
// same call, so the system removes that name when the handle is closed,
// also when the process is killed. LinkUnnamed adds the final name as a
// hard link, which outlives the temporary one. Like os.OpenFile, perm only
// decides the read-only attribute. It returns an error matching
// errors.ErrUnsupported on a file system without hard links (FAT).
func CreateUnnamed(dir string, perm os.FileMode) (*os.File, error) {
	attrs := uint32(windows.FILE_ATTRIBUTE_NORMAL | windows.FILE_FLAG_DELETE_ON_CLOSE)
	if perm&0o200 == 0 {
		attrs |= windows.FILE_ATTRIBUTE_READONLY
	}
	access := uint32(windows.GENERIC_READ | windows.GENERIC_WRITE | windows.DELETE)
	// Sharing delete: the handle's DELETE access would refuse other opens
	// (a hard link, a rename of the final name) otherwise.
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	for try := 0; ; try++ {
		name := filepath.Join(dir, fmt.Sprintf(".unnamed-%d-%d.tmp", os.Getpid(), unnamedSeq.Add(1)))
		p, err := windows.UTF16PtrFromString(longPath(name))
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
		}
		h, err := windows.CreateFile(p, access, share, nil, windows.CREATE_NEW, attrs, 0)
		if err == windows.ERROR_FILE_EXISTS && try < 100 {
			continue // left by a process whose id this one reuses
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if !hardLinks(h) {
			windows.CloseHandle(h) // removes it
			return nil, unsupportedWhy("an unnamed file in "+dir, "the file system has no hard links")
		}
		return os.NewFile(uintptr(h), name), nil
	}
}

// hardLinks reports whether the file system of the file h can hold hard
// links: it says so, or it is NTFS, which always can (Wine reports NTFS
// without the flag).
func hardLinks(h windows.Handle) bool {
	var flags uint32
	var fsName [32]uint16
	if err := windows.GetVolumeInformationByHandle(h, nil, 0, nil, nil, &flags, &fsName[0], uint32(len(fsName))); err != nil {
		return false
	}
	return flags&windows.FILE_SUPPORTS_HARD_LINKS != 0 || windows.UTF16ToString(fsName[:]) == "NTFS"
}

var unnamedSeq atomic.Uint64

// LinkUnnamed gives a file made by CreateUnnamed the name path (a hard
// link); the file stays under that name when it is closed. It fails with an
// error matching fs.ErrExist if path exists: it never replaces a file.
func LinkUnnamed(f *os.File, path string) error {
	from, err := windows.UTF16PtrFromString(longPath(f.Name()))
	if err == nil {
		var to *uint16
		if to, err = windows.UTF16PtrFromString(longPath(path)); err == nil {
			// An existing path is ERROR_ALREADY_EXISTS: fs.ErrExist.
			err = windows.CreateHardLink(to, from, 0)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}

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
