package sys

import (
	"errors"
	"io/fs"
)

// ErrNotRegular: a name that must be a regular file is something else. Package
// mmap exports it as mmap.ErrNotRegular.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError says what a name turned out to be instead of a regular
// file. It matches ErrNotRegular.
type NotRegularError struct {
	Kind string // "a FIFO", "a symbolic link", "a directory", ...
}

func (e *NotRegularError) Error() string { return "is " + e.Kind + ", not a regular file" }

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// NotRegular returns the error for a file of mode m that is not a regular
// file ("is a FIFO, not a regular file").
func NotRegular(m fs.FileMode) error { return &NotRegularError{Kind: kindOf(m)} }

// kindOf names a file mode's type for NotRegularError.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// WrapPath returns err as a *fs.PathError with op and path, the form every
// mmapkit error about a file takes (op names the package and the operation:
// "mmap: open"). If err already is a *fs.PathError for the same path, its Err
// is used, so that the path appears once; a nil err stays nil.
func WrapPath(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if pe, ok := err.(*fs.PathError); ok && pe.Path == path {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
