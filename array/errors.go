package array

import "errors"

// Sentinel errors. Every error this package returns for one of these conditions
// matches the sentinel with errors.Is, and its message names the file and what
// exactly was wrong. Errors from the mapping itself (a missing file, a
// directory, permissions, faults) wrap the mmap package's sentinels or the
// os errors unchanged.
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
	// ErrUnsupportedDtype: a dtype this package cannot map as a Go type:
	// object, structured, string, bytes, void, datetime/timedelta, long double.
	ErrUnsupportedDtype = errors.New("unsupported dtype")
	// ErrByteOrder: the data is stored in the other byte order than this
	// machine's (big-endian data on a little-endian machine).
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
)
