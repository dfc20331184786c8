package array

import (
	"errors"
	"io/fs"

	"github.com/mmapkit/mmapkit/mmap"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is. Errors about a file are
// *fs.PathError values whose Op names the package and the operation
// ("array: open") and whose Path is the file, so the message reads
// "array: open emb.npy: not a .npy file: bad magic ..."; errors from the
// mapping itself (a missing file, a directory, permissions, faults) keep
// matching fs.ErrNotExist, fs.ErrPermission and the mmap package's sentinels.
var (
	// ErrNotNPY: the file does not start with the .npy magic \x93NUMPY (it may
	// be empty, an .npz archive, a pickle or something else).
	ErrNotNPY = errors.New("not a .npy file")
	// ErrVersion: a .npy format version other than 1.0, 2.0 or 3.0.
	ErrVersion = errors.New("unsupported .npy format version")
	// ErrHeader: the .npy header is malformed: its length runs past the end of
	// the file, it is not a plain Python dict literal, it lacks or adds keys,
	// or a value has the wrong type.
	ErrHeader = errors.New("malformed .npy header")
	// ErrUnsupportedDtype: a dtype no Go type can map: Python objects
	// (a pickle), long double, an unknown type code or an oversized item, a
	// structured layout Go cannot reproduce (packed, overlapping fields), or
	// a Go type that holds no dtype (int, uint, pointers, ...).
	ErrUnsupportedDtype = errors.New("unsupported dtype")
	// ErrByteOrder: a zero-copy call on data stored in the other byte order
	// than this machine's (big-endian data on a little-endian machine): Do
	// fails with it, and Data, Row and Rows panic with it. At, Set, ReadRows
	// and Batches convert instead.
	ErrByteOrder = errors.New("data is not in this machine's byte order")
	// ErrDtypeMismatch: the file's element type is not the Go type asked for.
	ErrDtypeMismatch = errors.New("dtype does not match the Go element type")
	// ErrShape: a negative dimension, a shape whose size overflows, a missing
	// shape, or a file size that is not a whole number of elements.
	ErrShape = errors.New("invalid shape")
	// ErrTruncated: the file is shorter than its header, offset and shape say.
	ErrTruncated = errors.New("file is shorter than the array")
	// ErrMisaligned: the data does not start at a multiple of the element
	// type's alignment, so it cannot be viewed as a Go slice of that type.
	ErrMisaligned = errors.New("data offset is not aligned for the element type")
	// ErrInvalidBool: a byte other than 0 or 1 in a bool array.
	ErrInvalidBool = errors.New("bool array holds a byte other than 0 or 1")
	// ErrClosed: the array was closed. It is mmap.ErrClosed.
	ErrClosed = mmap.ErrClosed
)

// pathError returns err as a *fs.PathError for op ("open", "create", ...)
// on path. An *fs.PathError for the same path is unwrapped to its Err first,
// so that the package, the operation and the path appear once.
func pathError(op, path string, err error) error {
	if pe, ok := err.(*fs.PathError); ok && pe.Path == path {
		err = pe.Err
	}
	return &fs.PathError{Op: "array: " + op, Path: path, Err: err}
}
