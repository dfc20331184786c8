package array

import (
	"fmt"
	"os"
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
// Array's methods may be called from several goroutines at once, except
// Close. Element access follows Go's slice rules: the caller synchronises
// concurrent writes to the same elements.
type Array[T Element] struct {
	r       *mmap.Region // nil when the array has no data bytes
	data    []T
	shape   []int
	strides []int // in elements
	fortran bool
	mode    Mode
	path    string
	offset  int64 // file offset of the first element
	header  *Header
}

// Open maps a raw file of T values, like np.memmap(path, dtype, mode, offset,
// shape). The data starts at byte offset (any offset that is a multiple of
// T's alignment); a nil shape makes the array 1-D over the rest of the file,
// which must then be a whole number of elements. The file must already hold
// offset + the shape's bytes in every mode: Open never grows a file (NumPy's
// r+ does, silently).
func Open[T Element](path string, mode Mode, offset int64, shape []int, opts *Options) (*Array[T], error) {
	dt := dtypeOf[T]()
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
		if rest%int64(dt.Size()) != 0 {
			return nil, pathError("open", path, fmt.Errorf("%w: %d bytes after offset %d is not a whole number of %d-byte %s elements", ErrShape, rest, offset, dt.Size(), dt))
		}
		shape = []int{int(rest / int64(dt.Size()))}
	}
	return mapArray[T]("open", f, path, mode, size, offset, cloneShape(shape), false, nil)
}

// Create creates the raw file at path with room for shape, zero-filled, and
// maps it ReadWrite, like np.memmap with mode 'w+'. It refuses an existing
// file (fs.ErrExist) unless opts.Replace is set. The file's blocks are
// allocated now, so a full disk is an error here rather than a SIGBUS when
// the array is written.
func Create[T Element](path string, shape []int, opts *Options) (*Array[T], error) {
	o := opts.orDefault()
	if len(shape) == 0 {
		return nil, pathError("create", path, fmt.Errorf("%w: a shape must be given", ErrShape))
	}
	dt := dtypeOf[T]()
	n, err := shapeSize(shape, dt.Size())
	if err != nil {
		return nil, pathError("create", path, err)
	}
	size := int64(n) * int64(dt.Size())
	nf, err := createFile(path, nil, size, o)
	if err != nil {
		return nil, err
	}
	a, err := mapArray[T]("create", nf.f, path, ReadWrite, size, 0, cloneShape(shape), false, nil)
	return commitArray(nf, a, err)
}

// commitArray puts a new file in place once its array is mapped, or removes
// it if mapping failed.
func commitArray[T Element](nf *newFile, a *Array[T], err error) (*Array[T], error) {
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
// mmap_mode=...). T must be the file's dtype (see ReadNPYHeader to find it
// out); anything the header does not describe exactly, or data shorter than
// it promises, is an error before anything is mapped.
func OpenNPY[T Element](path string, mode Mode, opts *Options) (*Array[T], error) {
	f, size, err := openFile("open", path, mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	if want := dtypeOf[T](); h.Dtype != want {
		return nil, pathError("open", path, fmt.Errorf("%w: the file holds %s (%s), opened as %s", ErrDtypeMismatch, h.Dtype, h.Descr, want.GoType()))
	}
	return mapArray[T]("open", f, path, mode, size, h.DataOffset, h.Shape, h.Fortran, h)
}

// CreateNPY creates a .npy file at path holding a zeroed array of the given
// shape (empty for a 0-d scalar) and maps its data ReadWrite, like
// np.lib.format.open_memmap(path, mode='w+'). The header is byte for byte
// what NumPy writes. It refuses an existing file (fs.ErrExist) unless
// opts.Replace is set; opts.Fortran and opts.Version choose the order and the
// format version. The file's blocks are allocated now, so a full disk is an
// error here rather than a SIGBUS when the array is written.
func CreateNPY[T Element](path string, shape []int, opts *Options) (*Array[T], error) {
	o := opts.orDefault()
	dt := dtypeOf[T]()
	n, err := shapeSize(shape, dt.Size())
	if err != nil {
		return nil, pathError("create", path, err)
	}
	hdr, err := encodeHeader(dt, shape, o.Fortran, o.Version)
	if err != nil {
		return nil, pathError("create", path, err)
	}
	size := int64(len(hdr)) + int64(n)*int64(dt.Size())
	nf, err := createFile(path, hdr, size, o)
	if err != nil {
		return nil, err
	}
	h := &Header{Major: int(hdr[6]), Descr: dt.Descr(), Dtype: dt, Shape: cloneShape(shape), Fortran: o.Fortran, DataOffset: int64(len(hdr))}
	h.HeaderLen = len(hdr) - 10
	if h.Major > 1 {
		h.HeaderLen = len(hdr) - 12
	}
	a, err := mapArray[T]("create", nf.f, path, ReadWrite, size, h.DataOffset, h.Shape, o.Fortran, h)
	return commitArray(nf, a, err)
}

func cloneShape(s []int) []int { return append([]int{}, s...) }

// mapArray maps the data of an array of shape at offset of f (size bytes).
func mapArray[T Element](op string, f *os.File, path string, mode Mode, size, offset int64, shape []int, fortran bool, h *Header) (*Array[T], error) {
	dt := dtypeOf[T]()
	n, err := shapeSize(shape, dt.Size())
	if err != nil {
		return nil, pathError(op, path, err)
	}
	nbytes := int64(n) * int64(dt.Size())
	if offset > size || nbytes > size-offset {
		return nil, pathError(op, path, fmt.Errorf("%w: %s %s at offset %d needs %d bytes, the file has %d", ErrTruncated, dt, formatShape(shape), offset, nbytes, max(size-offset, 0)))
	}
	if al := alignOf[T](); offset%al != 0 {
		return nil, pathError(op, path, fmt.Errorf("%w: %s needs %d-byte alignment, the data starts at offset %d", ErrMisaligned, dt, al, offset))
	}
	a := &Array[T]{shape: cloneShape(shape), fortran: fortran, mode: mode, path: path, offset: offset, header: h}
	a.strides = strides(shape, fortran)
	if nbytes == 0 {
		// mmap cannot map zero bytes, and there is nothing to map.
		a.data = []T{}
		return a, nil
	}
	r, err := mmap.Map(f, mode, offset, int(nbytes), nil)
	if err != nil {
		return nil, pathError(op, path, err)
	}
	b := r.Bytes()
	a.r = r
	a.data = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
	if dt == Bool {
		if err := a.validateBools(op, 0, n); err != nil {
			r.Close()
			return nil, err
		}
	}
	return a, nil
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

// validateBools checks the elements [lo, hi) of a bool array, with faults
// turned into errors.
func (a *Array[T]) validateBools(op string, lo, hi int) error {
	if hi <= lo || a.r == nil {
		return nil
	}
	return a.r.Do(func(b []byte) error {
		for i, c := range b[lo:hi] {
			if c > 1 {
				return pathError(op, a.path, fmt.Errorf("%w: byte %d at element %d (file offset %d)", ErrInvalidBool, c, lo+i, a.offset+int64(lo+i)))
			}
		}
		return nil
	})
}

// Validate re-checks the elements of a bool array (a no-op for other types).
// Open already checked them; Validate is for files another process may have
// written since.
func (a *Array[T]) Validate() error {
	if dtypeOf[T]() != Bool {
		return nil
	}
	return a.validateBools("validate", 0, len(a.data))
}

// mustValidBools panics if a bool array's elements [lo, hi) are not all 0 or
// 1, so that Go code never holds a bool slice with another byte in it.
func (a *Array[T]) mustValidBools(lo, hi int) {
	if dtypeOf[T]() == Bool {
		if err := a.validateBools("read", lo, hi); err != nil {
			panic(err)
		}
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

// Dtype returns the element type.
func (a *Array[T]) Dtype() Dtype { return dtypeOf[T]() }

// Fortran reports whether the array is in column-major order.
func (a *Array[T]) Fortran() bool { return a.fortran }

// Mode returns the mode the array was mapped with.
func (a *Array[T]) Mode() Mode { return a.mode }

// Path returns the file's name.
func (a *Array[T]) Path() string { return a.path }

// Offset returns the file offset of the first element.
func (a *Array[T]) Offset() int64 { return a.offset }

// Header returns the .npy header the array was opened or created with, or nil
// for a raw file.
func (a *Array[T]) Header() *Header { return a.header }

// Region returns the mapping of the data, or nil for an array without data
// bytes. Its paging calls (Advise, residency) work on byte offsets within the
// data.
func (a *Array[T]) Region() *mmap.Region { return a.r }

// index returns the flat index of idx, panicking like a slice index when it
// is out of range.
func (a *Array[T]) index(idx []int) int {
	if len(idx) != len(a.shape) {
		panic(fmt.Sprintf("array: %d indices for a %d-dimensional array", len(idx), len(a.shape)))
	}
	k := 0
	for i, x := range idx {
		if uint(x) >= uint(a.shape[i]) {
			panic(fmt.Sprintf("array: index %s out of range for shape %s", formatShape(idx), formatShape(a.shape)))
		}
		k += x * a.strides[i]
	}
	return k
}

// At returns the element at idx (one index per dimension, none for a 0-d
// array). Like a slice index, an index out of range panics, and so does a
// bool element that is not 0 or 1.
func (a *Array[T]) At(idx ...int) T {
	k := a.index(idx)
	if dtypeOf[T]() == Bool {
		a.mustValidBools(k, k+1)
	}
	return a.data[k]
}

// Set stores v at idx. An index out of range panics, as does Set on a
// ReadOnly array (a write to read-only mapped memory would crash the program).
func (a *Array[T]) Set(v T, idx ...int) {
	k := a.index(idx)
	if a.mode == ReadOnly {
		panic(fmt.Sprintf("array: Set on read-only array %s", a.path))
	}
	a.data[k] = v
}

// Data returns all the elements in file order (C or Fortran) without copying.
// Writing to it writes the mapping (never do so for a ReadOnly array: the
// write would crash the program). The slice is valid until Close.
func (a *Array[T]) Data() []T {
	a.mustValidBools(0, len(a.data))
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
// as a zero-copy slice. It panics if i is out of range, for a 0-d array, and
// for a Fortran-order array of more than one dimension.
func (a *Array[T]) Row(i int) []T {
	return a.Rows(i, i+1)
}

// Rows returns rows [lo, hi) as one zero-copy slice, with the same panics as
// Row; 0 <= lo <= hi <= Len() as for slicing.
func (a *Array[T]) Rows(lo, hi int) []T {
	n := a.rowElems("Rows")
	if lo < 0 || hi < lo || hi > a.shape[0] {
		panic(fmt.Sprintf("array: rows [%d:%d] out of range for shape %s", lo, hi, formatShape(a.shape)))
	}
	a.mustValidBools(lo*n, hi*n)
	return a.data[lo*n : hi*n : hi*n]
}

// Flush writes modified pages of a ReadWrite array to the file and waits for
// the writes (msync).
func (a *Array[T]) Flush() error {
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
	if len(a.shape) == 0 || (a.fortran && len(a.shape) > 1) {
		return 0, 0, pathError("rows", a.path, fmt.Errorf("%w: rows of a %s array are not contiguous", mmap.ErrOutOfRange, a.describe()))
	}
	if lo < 0 || hi < lo || hi > a.shape[0] {
		return 0, 0, pathError("rows", a.path, fmt.Errorf("%w: rows [%d:%d] outside shape %s", mmap.ErrOutOfRange, lo, hi, formatShape(a.shape)))
	}
	row := int64(len(a.data)/max(a.shape[0], 1)) * int64(dtypeOf[T]().Size())
	return int64(lo) * row, int64(hi-lo) * row, nil
}

func (a *Array[T]) describe() string {
	order := "C"
	if a.fortran {
		order = "Fortran"
	}
	return fmt.Sprintf("%s-order %s %s", order, dtypeOf[T](), formatShape(a.shape))
}

// Close unmaps the array. The slices from Data, Row and Rows must not be used
// afterwards; the Array itself becomes empty, so later element access panics
// with an index error instead of touching unmapped memory. Close does not
// flush (the written pages are in the page cache and reach the file anyway;
// call Flush first for durability against power loss).
func (a *Array[T]) Close() error {
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
