// Package array gives Go the NumPy memmap experience: typed, N-dimensional,
// zero-copy arrays over memory-mapped files, larger than RAM if need be, and
// the .npy format as the bridge to Python in both directions.
//
//	a, err := array.Create[float32]("features.dat", []int{1_000_000, 128}, nil)   // np.memmap mode 'w+'
//	a, err := array.Open[float32]("features.dat", array.ReadWrite, 0, []int{1_000_000, 128}, nil)
//	a, err := array.OpenNPY[float32]("emb.npy", array.ReadOnly, nil)        // np.load(mmap_mode='r')
//	a, err := array.CreateNPY[float32]("out.npy", []int{1000, 128}, nil)           // open_memmap(mode='w+')
//	defer a.Close()
//	row := a.Row(5000)                    // []float32, zero-copy
//	for first, rows := range a.Batches(4096) { ... }   // bounded memory over any size
//
// # Element types
//
// T is one of int8…int64, uint8…uint64, float32, float64, complex64,
// complex128, bool and Float16 (NumPy's float16, converted with Float32 and
// Float16From). Each maps to one NumPy dtype; opening a .npy file as another
// type is an error naming both (ErrDtypeMismatch). ReadNPYHeader tells a tool
// the dtype, shape and order before it picks T; OpenNPYAny picks T from the
// header and returns an Untyped array.
//
// A Go bool must hold 0 or 1; any other byte is undefined behaviour. So a bool
// array is checked when it is opened (one pass over the data: O(n) for bool
// arrays only) and an invalid byte is ErrInvalidBool with its offset. Data,
// Row, Rows, Batches and At check again what they hand out (in case another
// process wrote the file since) and panic with ErrInvalidBool if a byte went
// bad; Validate re-checks on demand and returns the error. For files that
// others write while you read them, map the bytes as uint8 instead.
//
// # Layout and alignment
//
// The data may be in C (row-major) or Fortran (column-major) order. Row, Rows
// and Batches hand out zero-copy slices of whole rows, which only exist in C
// order (or for 1-D arrays); At and Set work in both. Go needs each element
// at a multiple of its alignment, so a raw file's offset must be a multiple of
// it (any .npy that NumPy writes is aligned: data starts on a 64-byte
// boundary, 16 for files from NumPy before 1.14); otherwise Open returns
// ErrMisaligned rather than handing out a misaligned slice. Data is stored in
// the machine's byte order; big-endian files are refused with ErrByteOrder.
//
// # Errors and panics
//
// Everything that depends on the file returns an error matching one of the
// sentinels (ErrNotNPY, ErrVersion, ErrHeader, ErrUnsupportedDtype,
// ErrByteOrder, ErrDtypeMismatch, ErrShape, ErrTruncated, ErrMisaligned,
// ErrInvalidBool) or the mmap package's. A file shorter than its header or
// shape claims is refused at open, in every mode (NumPy's r+ silently grows
// it), so it never becomes a SIGBUS later. The .npy header is parsed by a
// strict hand-written parser for the dict literal: nothing is ever evaluated.
//
// Programming errors panic, as they do for Go slices: an index out of range
// (At, Set, Row, Rows), the wrong number of indices, Set on a ReadOnly array,
// rows of a Fortran-order or 0-d array. Element access (At, Set, Data and the
// slices) is plain memory access with no fault protection, like
// mmap.Region.Bytes: if another process may truncate the file, use Do, which
// turns a fault into an error matching mmap.ErrFault.
//
// # Zero-size arrays and scalars
//
// A 0-d .npy (shape ()) holds one element, read with At(). An array with a
// zero dimension has no data bytes: nothing is mapped (mmap cannot map zero
// bytes), Data is empty and Flush and Close do nothing.
package array
