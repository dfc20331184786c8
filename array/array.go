package array

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
)

// Mode is how an Array's file is mapped (mmap.ReadOnly, mmap.ReadWrite or
// mmap.CopyOnWrite); it is the mmap package's Mode.
type Mode = mmap.Mode

// The modes, repeated here so callers need not import mmap.
const (
	ReadOnly    = mmap.ReadOnly    // like NumPy's mode 'r'
	ReadWrite   = mmap.ReadWrite   // like 'r+' (but never grows the file)
	CopyOnWrite = mmap.CopyOnWrite // like 'c': writable, the file never changes
)

// Array is an N-dimensional array of T backed by a memory-mapped file. The
// elements are the file's bytes: nothing is copied, reads page data in on
// demand, and writes through a ReadWrite Array reach the file.
//
// T is a Go type whose bytes are the file's elements (see the package
// documentation): a numeric type, bool, Float16, [n]byte, [n]rune, or a
// struct of those matching a structured dtype.
//
// Array's methods may be called from several goroutines at once, except
// Close. Element access follows Go's slice rules: the caller synchronises
// concurrent writes to the same elements.
type Array[T any] struct {
	r       *mmap.Region // nil when the array has no data bytes
	data    []T
	shape   []int
	strides []int // in elements
	fortran bool
	mode    Mode
	path    string
	offset  int64 // file offset of the first element
	header  *Header
	dt      Dtype  // the element type as the file stores it
	esize   int    // bytes per element
	swap    []span // the values to byte-swap on access; nil when the file is in this machine's order
	bools   []span // where an element's bools are; nil without any
	closed  bool
}

// closedErr is the error of a call after Close.
func (a *Array[T]) closedErr(op string) error {
	if a.closed {
		return pathError(op, a.path, ErrClosed)
	}
	return nil
}

// Open maps a raw file of T values, like np.memmap(path, dtype, mode, offset,
// shape). The data starts at byte offset (any offset that is a multiple of
// T's alignment); a nil shape makes the array 1-D over the rest of the file,
// which must then be a whole number of elements. The file must already hold
// offset + the shape's bytes in every mode: Open never grows a file (NumPy's
// r+ does, silently).
func Open[T any](path string, mode Mode, offset int64, shape []int, opts *Options) (*Array[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("open", path, err)
	}
	f, size, err := openFile("open", path, mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if offset < 0 {
		return nil, pathError("open", path, fmt.Errorf("%w: negative offset %d", mmap.ErrOutOfRange, offset))
	}
	if offset > size {
		return nil, pathError("open", path, fmt.Errorf("%w: offset %d is past the end of the file (%d bytes)", ErrTruncated, offset, size))
	}
	if shape == nil {
		rest := size - offset
		if rest%int64(e.size) != 0 {
			return nil, pathError("open", path, fmt.Errorf("%w: %d bytes after offset %d is not a whole number of %d-byte %s elements", ErrShape, rest, offset, e.size, e.dt))
		}
		shape = []int{int(rest / int64(e.size))}
	}
	return mapArray[T](mapping{op: "open", f: f, path: path, mode: mode, size: size, offset: offset, shape: cloneShape(shape), dt: e.dt, e: e, opts: opts})
}

// Create creates the raw file at path with room for shape, zero-filled, and
// maps it ReadWrite, like np.memmap with mode 'w+'. It refuses an existing
// file (fs.ErrExist) unless opts.Replace is set. The file's blocks are
// allocated now, so a full disk is an error here rather than a SIGBUS when
// the array is written.
func Create[T any](path string, shape []int, opts *Options) (*Array[T], error) {
	o := opts.orDefault()
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("create", path, err)
	}
	if len(shape) == 0 {
		return nil, pathError("create", path, fmt.Errorf("%w: a shape must be given", ErrShape))
	}
	n, err := shapeSize(shape, e.size)
	if err != nil {
		return nil, pathError("create", path, err)
	}
	size := int64(n) * int64(e.size)
	nf, err := createFile(path, nil, size, o)
	if err != nil {
		return nil, err
	}
	a, err := mapArray[T](mapping{op: "create", f: nf.f, path: path, mode: ReadWrite, size: size, shape: cloneShape(shape), dt: e.dt, e: e, opts: opts})
	return commitArray(nf, a, err)
}

// commitArray puts a new file in place once its array is mapped, or removes
// it if mapping failed.
func commitArray[T any](nf *newFile, a *Array[T], err error) (*Array[T], error) {
	if err != nil {
		nf.abort()
		return nil, err
	}
	if err := nf.commit(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// OpenNPY maps the data of the .npy file at path, like np.load(path,
// mmap_mode=...). T must hold the file's elements exactly (see the package
// documentation; ReadNPYHeader and Dtype.GoType tell which type that is): a
// mismatch is an error naming the first field that differs. Anything the
// header does not describe exactly, or data shorter than it promises, is an
// error before anything is mapped.
func OpenNPY[T any](path string, mode Mode, opts *Options) (*Array[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("open", path, err)
	}
	f, size, err := openFile("open", path, mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	if err := checkLayout(h.Dtype, e.t); err != nil {
		return nil, pathError("open", path, err)
	}
	return mapArray[T](mapping{op: "open", f: f, path: path, mode: mode, size: size, offset: h.DataOffset, shape: h.Shape, fortran: h.Fortran, h: h, dt: h.Dtype, e: e, opts: opts})
}

// CreateNPY creates a .npy file at path holding a zeroed array of the given
// shape (empty for a 0-d scalar) and maps its data ReadWrite, like
// np.lib.format.open_memmap(path, mode='w+'). The header is byte for byte
// what NumPy writes for T's dtype (a struct becomes the structured dtype
// with Go's offsets and padding, which NumPy reads back as the same dtype).
// It refuses an existing file (fs.ErrExist) unless opts.Replace is set;
// opts.Fortran and opts.Version choose the order and the format version.
// The file's blocks are allocated now, so a full disk is an error here rather
// than a SIGBUS when the array is written.
func CreateNPY[T any](path string, shape []int, opts *Options) (*Array[T], error) {
	o := opts.orDefault()
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("create", path, err)
	}
	h, hdr, err := newHeader(e.dt, shape, o)
	if err != nil {
		return nil, pathError("create", path, err)
	}
	size := h.DataOffset + h.DataBytes()
	nf, err := createFile(path, hdr, size, o)
	if err != nil {
		return nil, err
	}
	a, err := mapArray[T](mapping{op: "create", f: nf.f, path: path, mode: ReadWrite, size: size, offset: h.DataOffset, shape: h.Shape, fortran: h.Fortran, h: h, dt: e.dt, e: e, opts: opts})
	return commitArray(nf, a, err)
}

// newHeader encodes the header of a new .npy file.
func newHeader(dt Dtype, shape []int, o *Options) (*Header, []byte, error) {
	if _, err := shapeSize(shape, dt.Size); err != nil {
		return nil, nil, err
	}
	hdr, err := encodeHeader(dt, shape, o.Fortran, o.Version)
	if err != nil {
		return nil, nil, err
	}
	h := &Header{Major: int(hdr[6]), Descr: dt.Descr(), Dtype: dt, Shape: cloneShape(shape), Fortran: o.Fortran, DataOffset: int64(len(hdr))}
	h.HeaderLen = len(hdr) - 10
	if h.Major > 1 {
		h.HeaderLen = len(hdr) - 12
	}
	return h, hdr, nil
}

func cloneShape(s []int) []int { return append([]int{}, s...) }

// mapping is what mapArray needs to map an array's data.
type mapping struct {
	op      string // for errors: "open" or "create"
	f       *os.File
	path    string
	mode    Mode
	size    int64 // of the file
	offset  int64 // of the data
	shape   []int
	fortran bool
	h       *Header // nil for a raw file
	dt      Dtype   // as the file stores the elements
	e       *elemInfo
	opts    *Options
	// region, when set, already holds the data (a member read into memory):
	// nothing is mapped from f.
	region *mmap.Region
}

// mapArray maps the data of an array of m.shape at m.offset of m.f.
func mapArray[T any](m mapping) (*Array[T], error) {
	r, n, err := mapData(m)
	if err != nil {
		return nil, err
	}
	a := &Array[T]{r: r, shape: cloneShape(m.shape), fortran: m.fortran, mode: m.mode, path: m.path, offset: m.offset, header: m.h, dt: m.dt, esize: m.e.size, bools: m.e.bools}
	a.strides = strides(m.shape, m.fortran)
	if m.dt.Swapped() {
		a.swap = swapSpans(m.dt)
	}
	if r == nil {
		a.data = []T{}
		return a, nil
	}
	a.data = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(r.Bytes()))), n)
	if a.bools != nil {
		if err := a.validateBools(m.op, 0, n); err != nil {
			r.Close()
			return nil, err
		}
	}
	return a, nil
}

// mapRegion maps n bytes of f at offset.
func mapRegion(f *os.File, mode Mode, offset, n int64, opts *Options) (*mmap.Region, error) {
	if n > int64(maxInt) {
		return nil, fmt.Errorf("%w: %d bytes do not fit in this machine's address space", ErrShape, n)
	}
	return mmap.Map(f, mode, offset, int(n), opts.mapOptions())
}

func strides(shape []int, fortran bool) []int {
	st := make([]int, len(shape))
	s := 1
	if fortran {
		for i := range shape {
			st[i] = s
			s *= shape[i]
		}
	} else {
		for i := len(shape) - 1; i >= 0; i-- {
			st[i] = s
			s *= shape[i]
		}
	}
	return st
}

// elemBytes returns the bytes of the elements [lo, hi) of data.
func elemBytes[T any](data []T, esize, lo, hi int) []byte {
	if hi <= lo {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&data[lo])), (hi-lo)*esize)
}

// validateBools checks the bools of the elements [lo, hi) in the mapping,
// with faults turned into errors.
func (a *Array[T]) validateBools(op string, lo, hi int) error {
	if hi <= lo || a.r == nil || a.bools == nil {
		return nil
	}
	var err error
	ferr := a.r.Do(func([]byte) error {
		err = a.checkBools(op, elemBytes(a.data, a.esize, lo, hi), lo)
		return nil
	})
	if ferr != nil {
		return pathError(op, a.path, ferr)
	}
	return err
}

// checkBools checks that every bool in b (whole elements, the first of which
// is element first) is 0 or 1.
func (a *Array[T]) checkBools(op string, b []byte, first int) error {
	bad := func(e, at int) error {
		where := fmt.Sprintf("element %d", first+e)
		if a.esize > 1 {
			where += fmt.Sprintf(", byte %d of the element", at)
		}
		return pathError(op, a.path, fmt.Errorf("%w: byte %d at %s (file offset %d)", ErrInvalidBool, b[e*a.esize+at], where, a.offset+int64((first+e)*a.esize+at)))
	}
	if a.esize == 1 {
		for i, c := range b {
			if c > 1 {
				return bad(i, 0)
			}
		}
		return nil
	}
	for e := 0; (e+1)*a.esize <= len(b); e++ {
		el := b[e*a.esize : (e+1)*a.esize]
		for _, s := range a.bools {
			for i, c := range el[s.off : s.off+s.count] {
				if c > 1 {
					return bad(e, s.off+i)
				}
			}
		}
	}
	return nil
}

// Validate re-checks the bools in the array's elements (a no-op for types
// without a bool). Open already checked them; Validate is for files another
// process may have written since.
func (a *Array[T]) Validate() error {
	if err := a.closedErr("validate"); err != nil {
		return err
	}
	return a.validateBools("validate", 0, len(a.data))
}

// mustValidBools panics if the bools of elements [lo, hi) are not all 0 or
// 1, so that Go code never holds a bool with another byte in it.
func (a *Array[T]) mustValidBools(lo, hi int) {
	if err := a.validateBools("read", lo, hi); err != nil {
		panic(err)
	}
}

// mustZeroCopy panics for an array whose bytes are not Go values.
func (a *Array[T]) mustZeroCopy(op string) {
	if a.swap != nil {
		panic(pathError(op, a.path, fmt.Errorf("%w: the file stores %s; its bytes are not Go values, so there is no zero-copy slice (At, ReadRows and Batches convert, and mmapkit npy convert --byteorder native writes a copy in this machine's order)", ErrByteOrder, a.dt)))
	}
}

// Shape returns the array's dimensions (empty for a 0-d array). The caller
// may modify the returned slice.
func (a *Array[T]) Shape() []int { return cloneShape(a.shape) }

// Ndim returns the number of dimensions.
func (a *Array[T]) Ndim() int { return len(a.shape) }

// Len returns the length of the first axis, like len() of a NumPy array: the
// number of rows. A 0-d array has no rows and Len 0 (its one element is At()).
func (a *Array[T]) Len() int {
	if len(a.shape) == 0 {
		return 0
	}
	return a.shape[0]
}

// Size returns the number of elements.
func (a *Array[T]) Size() int { return len(a.data) }

// Dtype returns the element type as the file stores it (for a raw file, T's
// dtype).
func (a *Array[T]) Dtype() Dtype { return a.dt }

// Swapped reports whether the file stores its elements in the other byte
// order than this machine's. Such an array converts on access: At, Set,
// ReadRows and Batches work, while Data, Row, Rows and Do, which would hand
// out the file's bytes as Go values, panic or fail with ErrByteOrder.
func (a *Array[T]) Swapped() bool { return a.swap != nil }

// Fortran reports whether the array is in column-major order.
func (a *Array[T]) Fortran() bool { return a.fortran }

// Mode returns the mode the array was mapped with.
func (a *Array[T]) Mode() Mode { return a.mode }

// Path returns the file's name (for an .npz member, the archive's).
func (a *Array[T]) Path() string { return a.path }

// Offset returns the file offset of the first element (for an .npz member,
// its offset in the archive; -1 for a member read into memory with
// Options.Load).
func (a *Array[T]) Offset() int64 { return a.offset }

// Header returns the .npy header the array was opened or created with, or nil
// for a raw file.
func (a *Array[T]) Header() *Header { return a.header }

// Region returns the mapping of the data, or nil for an array without data
// bytes. Its paging calls (Advise, residency) work on byte offsets within the
// data.
func (a *Array[T]) Region() *mmap.Region { return a.r }

// flatIndex returns the flat index of idx, panicking like a slice index when
// it is out of range.
func flatIndex(shape, strides, idx []int) int {
	if len(idx) != len(shape) {
		panic(fmt.Sprintf("array: %d indices for a %d-dimensional array", len(idx), len(shape)))
	}
	k := 0
	for i, x := range idx {
		if uint(x) >= uint(shape[i]) {
			panic(fmt.Sprintf("array: index %s out of range for shape %s", formatShape(idx), formatShape(shape)))
		}
		k += x * strides[i]
	}
	return k
}

// At returns the element at idx (one index per dimension, none for a 0-d
// array), converted to this machine's byte order if the file's differs. Like
// a slice index, an index out of range panics, and so does a bool that is
// not 0 or 1.
func (a *Array[T]) At(idx ...int) T {
	k := flatIndex(a.shape, a.strides, idx)
	if a.bools != nil {
		a.mustValidBools(k, k+1)
	}
	v := a.data[k]
	if a.swap != nil {
		swapElems(unsafe.Slice((*byte)(unsafe.Pointer(&v)), a.esize), a.esize, a.swap)
	}
	return v
}

// Set stores v at idx (in the file's byte order). An index out of range
// panics, as does Set on a ReadOnly array (a write to read-only mapped memory
// would crash the program).
func (a *Array[T]) Set(v T, idx ...int) {
	k := flatIndex(a.shape, a.strides, idx)
	if a.mode == ReadOnly {
		panic(fmt.Sprintf("array: Set on read-only array %s", a.path))
	}
	if a.swap != nil {
		swapElems(unsafe.Slice((*byte)(unsafe.Pointer(&v)), a.esize), a.esize, a.swap)
	}
	a.data[k] = v
}

// Data returns all the elements in file order (C or Fortran) without copying.
// Writing to it writes the mapping (never do so for a ReadOnly array: the
// write would crash the program). The slice is valid until Close; using it
// afterwards is a bug that may crash the program. Data panics for an array
// in the other byte order (see Swapped).
func (a *Array[T]) Data() []T {
	a.mustZeroCopy("data")
	if a.bools != nil {
		a.mustValidBools(0, len(a.data))
	}
	return a.data
}

// rowElems returns the number of elements in one row (the product of the
// dimensions after the first), panicking for arrays whose rows are not
// contiguous.
func (a *Array[T]) rowElems(op string) int {
	if len(a.shape) == 0 {
		panic("array: " + op + " on a 0-d array, which has no rows")
	}
	if a.fortran && len(a.shape) > 1 {
		panic("array: " + op + " on a Fortran-order array, whose rows are not contiguous (use At)")
	}
	n := 1
	for _, d := range a.shape[1:] {
		n *= d
	}
	return n
}

// Row returns row i (everything under index i of the first axis, flattened)
// as a zero-copy slice, valid until Close. It panics if i is out of range,
// for a 0-d array, for a Fortran-order array of more than one dimension, and
// for an array in the other byte order (use ReadRows).
func (a *Array[T]) Row(i int) []T {
	return a.Rows(i, i+1)
}

// Rows returns rows [lo, hi) as one zero-copy slice, valid until Close, with
// the same panics as Row; 0 <= lo <= hi <= Len() as for slicing.
func (a *Array[T]) Rows(lo, hi int) []T {
	n := a.rowElems("Rows")
	a.checkRows(lo, hi)
	a.mustZeroCopy("rows")
	if a.bools != nil {
		a.mustValidBools(lo*n, hi*n)
	}
	return a.data[lo*n : hi*n : hi*n]
}

func (a *Array[T]) checkRows(lo, hi int) {
	if lo < 0 || hi < lo || hi > a.shape[0] {
		panic(fmt.Sprintf("array: rows [%d:%d] out of range for shape %s", lo, hi, formatShape(a.shape)))
	}
}

// ReadRows appends copies of rows [lo, hi) to dst, in this machine's byte
// order whatever the file's, and returns the extended slice, like append. It
// works on every C-order (or 1-D) array, and is the way to read rows of an
// array in the other byte order. Unlike the zero-copy calls, a fault (a file
// truncated under the mapping) is an error matching mmap.ErrFault, and a bool
// that is not 0 or 1 is an error matching ErrInvalidBool; dst is returned
// unchanged then. Index errors panic as in Rows.
func (a *Array[T]) ReadRows(dst []T, lo, hi int) ([]T, error) {
	if err := a.closedErr("read"); err != nil {
		return dst, err
	}
	n := a.rowElems("ReadRows")
	a.checkRows(lo, hi)
	count := (hi - lo) * n
	if count == 0 {
		return dst, nil
	}
	start := len(dst)
	out := slices.Grow(dst, count)[:start+count]
	if err := a.r.Do(func([]byte) error {
		copy(out[start:], a.data[lo*n:hi*n])
		return nil
	}); err != nil {
		return dst, pathError("read", a.path, err)
	}
	got := elemBytes(out, a.esize, start, start+count)
	if a.bools != nil {
		if err := a.checkBools("read", got, lo*n); err != nil {
			return dst, err
		}
	}
	if a.swap != nil {
		swapElems(got, a.esize, a.swap)
	}
	return out, nil
}

// Flush writes modified pages of a ReadWrite array to the file and waits for
// the writes (msync).
func (a *Array[T]) Flush() error {
	if err := a.closedErr("flush"); err != nil {
		return err
	}
	if a.r == nil {
		return nil
	}
	if err := a.r.Flush(); err != nil {
		return pathError("flush", a.path, err)
	}
	return nil
}

// Advise gives the kernel a hint about how the whole array will be used.
func (a *Array[T]) Advise(adv mmap.Advice) error {
	if err := a.closedErr("advise"); err != nil {
		return err
	}
	if a.r == nil {
		return nil
	}
	return a.r.Advise(adv)
}

// AdviseRows gives the hint for rows [lo, hi) of a C-order array.
func (a *Array[T]) AdviseRows(lo, hi int, adv mmap.Advice) error {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || n == 0 {
		return err
	}
	return a.r.AdviseRange(off, int(n), adv)
}

// rowBytes returns the byte range of rows [lo, hi) within the data.
func (a *Array[T]) rowBytes(lo, hi int) (off, n int64, err error) {
	if err := a.closedErr("rows"); err != nil {
		return 0, 0, err
	}
	if len(a.shape) == 0 || (a.fortran && len(a.shape) > 1) {
		return 0, 0, pathError("rows", a.path, fmt.Errorf("%w: rows of a %s array are not contiguous", mmap.ErrOutOfRange, a.describe()))
	}
	if lo < 0 || hi < lo || hi > a.shape[0] {
		return 0, 0, pathError("rows", a.path, fmt.Errorf("%w: rows [%d:%d] outside shape %s", mmap.ErrOutOfRange, lo, hi, formatShape(a.shape)))
	}
	row := int64(len(a.data)/max(a.shape[0], 1)) * int64(a.esize)
	return int64(lo) * row, int64(hi-lo) * row, nil
}

func (a *Array[T]) describe() string {
	order := "C"
	if a.fortran {
		order = "Fortran"
	}
	return fmt.Sprintf("%s-order %s %s", order, a.dt, formatShape(a.shape))
}

// Close unmaps the array. The slices from Data, Row and Rows must not be used
// afterwards; the Array itself becomes empty, so later element access panics
// with an index error instead of touching unmapped memory, and every call
// that returns an error (a second Close too) returns one matching ErrClosed.
// Close does not flush (the written pages are in the page cache and reach the
// file anyway; call Flush first for durability against power loss).
func (a *Array[T]) Close() error {
	if err := a.closedErr("close"); err != nil {
		return err
	}
	a.closed = true
	a.data = nil
	for i := range a.shape {
		a.shape[i] = 0
	}
	if a.r == nil {
		return nil
	}
	if err := a.r.Close(); err != nil {
		return pathError("close", a.path, err)
	}
	return nil
}

// String describes the array: file, dtype, shape, order and mode.
func (a *Array[T]) String() string {
	var b strings.Builder
	b.WriteString("array ")
	b.WriteString(strconv.Quote(a.path))
	b.WriteString(" " + a.describe() + " " + a.mode.String())
	return b.String()
}
