package mmap

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel errors. Every error mmapkit returns for one of these conditions
// matches the sentinel with errors.Is, and its message says which file, offset
// or call was involved.
var (
	// ErrReadOnly: a write, Move or Resize on a mapping that does not allow it.
	ErrReadOnly = errors.New("region is read-only")
	// ErrClosed: the Region was closed (possibly while the call was waiting).
	ErrClosed = errors.New("mmap: region is closed")
	// ErrFault: touching mapped memory faulted (SIGBUS or SIGSEGV), typically
	// because the file was truncated under the mapping or a page could not be
	// read from disk. The concrete error is a *FaultError with the offset.
	ErrFault = errors.New("fault touching mapped memory")
	// ErrEmptyFile: the file has no bytes to map.
	ErrEmptyFile = errors.New("cannot map an empty file")
	// ErrOutOfRange: an offset or length outside the file or the Region.
	ErrOutOfRange = errors.New("offset or length out of range")
	// ErrNotRegular: the path is a directory, device or other non-regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrExported: the operation would move or unmap memory whose raw bytes were
	// handed out by Bytes, which would leave those slices dangling.
	ErrExported = errors.New("raw bytes of the region were handed out")
	// ErrLocked: a file lock is held by another process (TryLockFile).
	ErrLocked = errors.New("file is locked by another process")
)

// FaultError reports a memory fault inside a Region. It matches ErrFault.
type FaultError struct {
	Path   string  // file name, or "" for anonymous memory
	Offset int64   // offset within the Region where the fault was reported (best effort)
	Addr   uintptr // faulting address
}

func (e *FaultError) Error() string {
	where := "anonymous memory"
	if e.Path != "" {
		where = e.Path
	}
	return fmt.Sprintf("mmap: fault at offset %d of %s (file truncated under the mapping, or an I/O error reading the page)", e.Offset, where)
}

// Is makes errors.Is(err, ErrFault) true for a *FaultError.
func (e *FaultError) Is(target error) bool { return target == ErrFault }

// accessHint explains the usual cause of a permission error from mmap(2): the
// descriptor was not opened with the access the mode needs.
func accessHint(err error, mode Mode) string {
	if !errors.Is(err, fs.ErrPermission) {
		return ""
	}
	if mode == ReadWrite {
		return " (a read-write mapping needs the file opened for reading and writing)"
	}
	return " (the file must be opened for reading)"
}
