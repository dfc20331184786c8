// Package array gives Go the NumPy memmap experience: typed, N-dimensional,
// zero-copy arrays over memory-mapped files, larger than RAM if need be, with
// the .npy and .npz formats as the bridge to Python in both directions.
//
//	a, err := array.OpenNPY[float32]("emb.npy", array.ReadOnly, nil) // np.load(path, mmap_mode='r')
//	defer a.Close()
//	row := a.Row(5000)                         // []float32 over the file: zero-copy
//	for first, rows := range a.Batches(4096) { // bounded memory over any size
//		fmt.Println(first, len(rows))
//	}
//
//	b, err := array.CreateNPY[float32]("out.npy", []int{1000, 128}, nil) // open_memmap(mode='w+')
//	c, err := array.Open[float32]("raw.dat", array.ReadWrite, 0, []int{1000, 128}, nil) // np.memmap
//
// Every constructor that maps a file takes a trailing *Options (nil for the
// defaults; Options.Map passes the mapping options of package mmap on), and
// after Close every call that returns an error returns one matching
// ErrClosed.
//
// # Element types
//
// T is any Go type whose bytes are the file's elements, so that the mapping
// can be handed out as a []T without copying:
//
//   - int8 … int64, uint8 … uint64, float32, float64, complex64, complex128,
//     bool and Float16 (NumPy's float16; convert with Float32 and
//     Float16From) for the numeric dtypes; int64 also for datetime64 and
//     timedelta64 (counts of the dtype's unit);
//
//   - [n]byte for a byte string 'S<n>' (or raw bytes 'V<n>'), [n]rune for a
//     UTF-32 string 'U<n>': String, SetString, Unicode and SetUnicode convert
//     them as NumPy does;
//
//   - a struct for a structured dtype, field by field.
//
// For np.dtype([('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('sym',
// 'S8'), ('v', '<f4', (4,))], align=True):
//
//	type Tick struct {
//		Ts    int64      `npy:"ts"`
//		Price float64    `npy:"price"`
//		Qty   int32      `npy:"qty"`
//		Sym   [8]byte    `npy:"sym"` // 'S8'
//		V     [4]float32 `npy:"v"`   // ('v', '<f4', (4,))
//	}
//
// Fields are matched by name (the npy tag; an untagged field by its Go name,
// in any case), in order, and
// must sit at the same offsets with the same total size: the layout is checked
// field by field when the file is opened, and a mismatch is an error naming
// the first field that differs (ErrDtypeMismatch). Nested structs and Go
// arrays (sub-array fields) work at any depth; `_` fields are padding.
// NumPy's align=True layouts are Go's layouts; a packed layout maps when its
// fields happen to be aligned, and otherwise the error says so.
// CreateNPY[Tick] writes the structured dtype NumPy reads back as the same
// dtype, padding included. The tag option `npy:"name,unicode"` makes a
// [n]rune field a 'U<n>' string when writing (reading accepts either).
//
// ReadNPYHeader reads any header NumPy writes (big-endian, strings, structs,
// objects, long double) without mapping anything, and Dtype.GoType says which
// Go type maps it, or why none can: Python objects are pickles, long double
// has no Go type. OpenNPYAny picks the type at run time. Go's int and uint are
// refused: their size depends on the platform.
//
// # Byte order
//
// Data in the other byte order (big-endian files on a little-endian machine)
// opens too, but its bytes are not Go values: At and Set convert each
// element, ReadRows copies rows into a caller's slice in this machine's
// order, and Batches yields converted copies, while the zero-copy calls (Data,
// Row, Rows, Do) refuse it (see Swapped). ConvertNPY (mmapkit npy convert
// --byteorder native) writes a native copy that maps zero-copy.
//
// # .npz archives
//
// OpenNPZ reads an archive's zip directory (only that: opening a member of a
// 10 GiB archive costs what a small one does) and OpenMember maps a stored
// member (np.savez) where it lies in the file. A compressed member
// (np.savez_compressed) is refused with ErrCompressed, and a stored one whose
// data np.savez left misaligned for T with ErrMisaligned; Options.Load reads
// either into anonymous memory instead. CreateNPZ and AddMember write archives
// NumPy opens, with each member's data aligned so it maps in place.
//
// # Layout and alignment
//
// The data may be in C (row-major) or Fortran (column-major) order. Row, Rows
// and Batches hand out zero-copy slices of whole rows, which only exist in C
// order (or for 1-D arrays); At and Set work in both. Go needs each element at
// a multiple of its alignment, so a raw file's offset must be a multiple of
// it (any .npy that NumPy writes is aligned: data starts on a 64-byte
// boundary, 16 for files from NumPy before 1.14); otherwise Open returns
// ErrMisaligned rather than handing out a misaligned slice.
//
// A Go bool must hold 0 or 1; any other byte is undefined behaviour. So the
// bools of an array (bool elements, or bool fields of a struct) are checked
// when it is opened (one pass over the data, only for types with a bool) and
// an invalid byte is ErrInvalidBool with its offset. Data, Row, Rows, Batches
// and At check again what they hand out (in case another process wrote the
// file since) and panic with ErrInvalidBool if a byte went bad; Validate and
// ReadRows return the error instead.
//
// # Creating files
//
// Create, CreateNPY and CreateNPZ refuse an existing file with an error
// matching fs.ErrExist unless Options.Replace is set (then the new file
// replaces the old one atomically, once complete). They allocate the file's
// blocks up front, so a full disk is an error from Create, never a SIGBUS
// when the array is written later.
//
// # Errors and panics
//
// Everything that depends on the file returns an error: a *fs.PathError whose
// Op names the operation ("array: open") and whose Path is the file, matching
// one of the sentinels (ErrNotNPY, ErrVersion, ErrHeader, ErrUnsupportedDtype,
// ErrByteOrder, ErrDtypeMismatch, ErrShape, ErrTruncated, ErrMisaligned,
// ErrInvalidBool, ErrNotNPZ, ErrNoMember, ErrCompressed) or fs.ErrNotExist,
// fs.ErrPermission, fs.ErrExist and the mmap package's sentinels. A file
// shorter than its header or shape claims is refused at open, in every mode
// (NumPy's r+ silently grows it), so it never becomes a SIGBUS later. A FIFO
// or other non-regular file is refused before anything can block on it. The
// .npy header is parsed by a strict hand-written parser for the dict literal:
// nothing is ever evaluated.
//
// Programming errors panic, as they do for Go slices: an index out of range
// (At, Set, Row, Rows), the wrong number of indices, Set on a ReadOnly array,
// rows of a Fortran-order or 0-d array, a zero-copy call on an array in the
// other byte order. Element access (At, Set, Data and the slices) is plain
// memory access with no fault protection, like mmap.Region.Bytes: if another
// process may truncate the file, use Do or ReadRows, which turn a fault into
// an error matching mmap.ErrFault. The slices Data, Row and Rows return are
// valid until Close.
//
// # Zero-size arrays and scalars
//
// A 0-d .npy (shape ()) holds one element, read with At(). An array with a
// zero dimension has no data bytes: nothing is mapped, Data is empty and Flush
// and Close do nothing.
package array
