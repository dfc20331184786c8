package mmap

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Sentinel errors. Every error mmapkit returns for one of these conditions
// matches the sentinel with errors.Is. Errors about a Region or a file are
// *fs.PathError values whose Op names the package and the call ("mmap:
// read") and whose Path is the file ("[anonymous]" for anonymous memory).
var (
	// ErrReadOnly: a write, Move or Resize on a mapping that does not allow it.
	ErrReadOnly = errors.New("region is read-only")
	// ErrClosed: the Region was closed (possibly while the call was waiting).
	ErrClosed = errors.New("closed")
	// ErrFault: touching mapped memory faulted (SIGBUS or SIGSEGV), typically
	// because the file was truncated under the mapping or a page could not be
	// read from disk. A fault in a Region method carries a *FaultError with
	// the offset.
	ErrFault = errors.New("fault touching mapped memory")
	// ErrOutOfRange: an offset or length outside the file or the Region.
	ErrOutOfRange = errors.New("offset or length out of range")
	// ErrNotRegular: the name is a directory, FIFO, symbolic link (where
	// links are refused), device or other non-regular file. The message says
	// which ("is a FIFO, not a regular file").
	ErrNotRegular = errNotRegular() // "not a regular file"
	// ErrExported: the operation would move or unmap memory whose raw bytes were
	// handed out by Bytes, which would leave those slices dangling.
	ErrExported = errors.New("raw bytes of the region were handed out")
	// ErrLocked: a file lock is held by another process, or by another
	// FileLock of this process (TryLockFile). The message says which.
	ErrLocked = errors.New("file is locked")
)

// errNotRegular is the sentinel the OS layer uses, so that every mmapkit
// package that opens a name refuses the same things with the same error.
func errNotRegular() error { return sys.ErrNotRegular }

// FaultError reports a memory fault inside a Region. It matches ErrFault and
// comes wrapped in a *fs.PathError naming the file and the call.
type FaultError struct {
	Offset int64   // offset within the Region where the fault was reported (best effort)
	Addr   uintptr // faulting address
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("fault at offset %d (file truncated under the mapping, or an I/O error reading the page)", e.Offset)
}

// Is makes errors.Is(err, ErrFault) true for a *FaultError.
func (e *FaultError) Is(target error) bool { return target == ErrFault }

// readInFault is the error for a page the kernel could not read in on our
// behalf (madvise populate, mlock, a write(2) from the mapping): EFAULT or
// ENOMEM from a system call instead of a signal.
func readInFault(err error) error {
	return fmt.Errorf("a page could not be read in (file truncated under the mapping, or an I/O error): %w (%w)", ErrFault, err)
}

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

// isKernelFault reports whether err is the kernel's EFAULT: a system call
// given mapped memory found a page it could not read in.
func isKernelFault(err error) bool { return errors.Is(err, sys.EFAULT) }
