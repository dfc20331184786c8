package array

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/mmapkit/mmapkit/mmap"
)

// Untyped is an array whose element type is known only at run time: what
// OpenNPYAny returns, for tools that handle any .npy file. Every *Array[T]
// implements it; for a numeric dtype, type-assert to the concrete type (for
// example u.(*array.Array[float32]), chosen by u.Dtype().Kind) for zero-copy
// slices.
type Untyped interface {
	Shape() []int
	Ndim() int
	Len() int
	Size() int
	Dtype() Dtype
	Fortran() bool
	Mode() Mode
	Path() string
	Offset() int64
	Header() *Header
	Region() *mmap.Region
	// Value returns the element at idx in an interface, with At's panics:
	// for an *Array[T] a T; for the dtypes OpenNPYAny has no Go type for, a
	// []byte for a byte string (S, without its trailing NULs) or raw bytes
	// (V), a string for a UTF-32 string (U), and a []any of the field
	// values for a structured element (a sub-array field is a []any of its
	// values, nested by its shape; one with a zero dimension holds no
	// values and is an empty []any).
	Value(idx ...int) any
	Flush() error
	Close() error
	String() string
}

// Value returns At(idx...) as an interface value, for code that works with
// Untyped arrays.
func (a *Array[T]) Value(idx ...int) any { return a.At(idx...) }

// OpenNPYAny opens a .npy file of any dtype Go can read, like OpenNPY with
// the element type chosen at run time: an *Array[T] for the numeric dtypes
// (in either byte order; int64 for datetime64 and timedelta64), and for byte
// strings, UTF-32 strings, raw bytes and structured dtypes an array whose
// Value decodes each element (see Untyped). Object and long double dtypes
// are refused, saying why.
func OpenNPYAny(path string, mode Mode, opts *Options) (Untyped, error) {
	h, err := ReadNPYHeader(path)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	switch h.Dtype.Kind {
	case KindBool:
		return untyped(OpenNPY[bool](path, mode, opts))
	case KindInt8:
		return untyped(OpenNPY[int8](path, mode, opts))
	case KindInt16:
		return untyped(OpenNPY[int16](path, mode, opts))
	case KindInt32:
		return untyped(OpenNPY[int32](path, mode, opts))
	case KindInt64, KindDatetime, KindTimedelta:
		return untyped(OpenNPY[int64](path, mode, opts))
	case KindUint8:
		return untyped(OpenNPY[uint8](path, mode, opts))
	case KindUint16:
		return untyped(OpenNPY[uint16](path, mode, opts))
	case KindUint32:
		return untyped(OpenNPY[uint32](path, mode, opts))
	case KindUint64:
		return untyped(OpenNPY[uint64](path, mode, opts))
	case KindFloat16:
		return untyped(OpenNPY[Float16](path, mode, opts))
	case KindFloat32:
		return untyped(OpenNPY[float32](path, mode, opts))
	case KindFloat64:
		return untyped(OpenNPY[float64](path, mode, opts))
	case KindComplex64:
		return untyped(OpenNPY[complex64](path, mode, opts))
	case KindComplex128:
		return untyped(OpenNPY[complex128](path, mode, opts))
	}
	f, size, err := openFile("open", path, mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if h, err = readHeader(f, size); err != nil {
		return nil, pathError("open", path, err)
	}
	return openRecords(mapping{op: "open", f: f, path: path, mode: mode, size: size, offset: h.DataOffset, shape: h.Shape, fortran: h.Fortran, h: h, dt: h.Dtype, opts: opts})
}

// untyped converts an OpenNPY result, so that a failure is a nil interface.
func untyped[T any](a *Array[T], err error) (Untyped, error) {
	if err != nil {
		return nil, err
	}
	return a, nil
}

// records is an array of elements Go has no static type for here (strings
// of any length, structured records): its Value decodes the bytes.
type records struct {
	r       *mmap.Region
	raw     []byte
	n       int
	shape   []int
	strides []int
	fortran bool
	mode    Mode
	path    string
	offset  int64
	header  *Header
	dt      Dtype
	closed  bool
}

func openRecords(m mapping) (Untyped, error) {
	if err := decodable(m.dt, ""); err != nil {
		return nil, pathError(m.op, m.path, err)
	}
	m.e = &elemInfo{dt: m.dt, size: m.dt.Size, align: 1}
	r, n, err := mapData(m)
	if err != nil {
		return nil, err
	}
	a := &records{r: r, n: n, shape: cloneShape(m.shape), strides: strides(m.shape, m.fortran), fortran: m.fortran, mode: m.mode, path: m.path, offset: m.offset, header: m.h, dt: m.dt}
	if r != nil {
		a.raw = r.Bytes()
	}
	return a, nil
}

// decodable reports whether every part of d can be decoded.
func decodable(d Dtype, where string) error {
	switch d.Kind {
	case KindStruct:
		for _, f := range d.Fields {
			if err := decodable(f.Dtype, join(where, f.Name)); err != nil {
				return err
			}
		}
	case KindObject, KindLongDouble, KindCLongDouble, KindInvalid:
		if _, err := d.GoType(); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrUnsupportedDtype, d.Descr())
	}
	if d.Size == 0 {
		return fmt.Errorf("%w: zero-size elements (%s)", ErrUnsupportedDtype, d.Descr())
	}
	return nil
}

func (a *records) Shape() []int         { return cloneShape(a.shape) }
func (a *records) Ndim() int            { return len(a.shape) }
func (a *records) Size() int            { return a.n }
func (a *records) Dtype() Dtype         { return a.dt }
func (a *records) Fortran() bool        { return a.fortran }
func (a *records) Mode() Mode           { return a.mode }
func (a *records) Path() string         { return a.path }
func (a *records) Offset() int64        { return a.offset }
func (a *records) Header() *Header      { return a.header }
func (a *records) Region() *mmap.Region { return a.r }

func (a *records) Len() int {
	if len(a.shape) == 0 {
		return 0
	}
	return a.shape[0]
}

func (a *records) Value(idx ...int) any {
	k := flatIndex(a.shape, a.strides, idx)
	return decodeValue(a.dt, a.raw[k*a.dt.Size:(k+1)*a.dt.Size])
}

func (a *records) Flush() error {
	if a.closed {
		return pathError("flush", a.path, ErrClosed)
	}
	if a.r == nil {
		return nil
	}
	if err := a.r.Flush(); err != nil {
		return pathError("flush", a.path, err)
	}
	return nil
}

func (a *records) Close() error {
	if a.closed {
		return pathError("close", a.path, ErrClosed)
	}
	a.closed = true
	a.raw = nil
	a.n = 0
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

func (a *records) String() string {
	order := "C"
	if a.fortran {
		order = "Fortran"
	}
	return fmt.Sprintf("array %s %s-order %s %s %s", strconv.Quote(a.path), order, a.dt, formatShape(a.shape), a.mode)
}

// decodeValue decodes one element of dtype d from b (d.Size bytes).
func decodeValue(d Dtype, b []byte) any {
	var bo binary.ByteOrder = binary.LittleEndian
	if d.Order == '>' {
		bo = binary.BigEndian
	}
	switch d.Kind {
	case KindBool:
		return b[0] != 0
	case KindInt8:
		return int8(b[0])
	case KindUint8:
		return b[0]
	case KindInt16:
		return int16(bo.Uint16(b))
	case KindUint16:
		return bo.Uint16(b)
	case KindFloat16:
		return Float16(bo.Uint16(b))
	case KindInt32:
		return int32(bo.Uint32(b))
	case KindUint32:
		return bo.Uint32(b)
	case KindFloat32:
		return math.Float32frombits(bo.Uint32(b))
	case KindInt64, KindDatetime, KindTimedelta:
		return int64(bo.Uint64(b))
	case KindUint64:
		return bo.Uint64(b)
	case KindFloat64:
		return math.Float64frombits(bo.Uint64(b))
	case KindComplex64:
		return complex(math.Float32frombits(bo.Uint32(b)), math.Float32frombits(bo.Uint32(b[4:])))
	case KindComplex128:
		return complex(math.Float64frombits(bo.Uint64(b)), math.Float64frombits(bo.Uint64(b[8:])))
	case KindBytes:
		return []byte(String(b[:d.Size]))
	case KindVoid:
		return append([]byte{}, b[:d.Size]...)
	case KindUnicode:
		r := make([]rune, d.Size/4)
		for i := range r {
			r[i] = rune(bo.Uint32(b[4*i:]))
		}
		return Unicode(r)
	case KindStruct:
		vals := make([]any, len(d.Fields))
		for i, f := range d.Fields {
			vals[i] = decodeField(f.Dtype, f.Shape, b[f.Offset:])
		}
		return vals
	}
	return nil
}

// decodeField decodes a value of dtype d, or a sub-array of them of shape.
func decodeField(d Dtype, shape []int, b []byte) any {
	if len(shape) == 0 {
		return decodeValue(d, b)
	}
	if n, _ := shapeSize(shape, 1); n == 0 {
		// No values: an empty []any, whatever the other dimensions. Nesting
		// by the shape would cost memory the file's bytes do not bound (NumPy
		// accepts a (2147483647, 0) sub-array in a 4-byte element).
		return []any{}
	}
	n, _ := shapeSize(shape[1:], 1)
	out := make([]any, shape[0])
	for i := range out {
		out[i] = decodeField(d, shape[1:], b[i*n*d.Size:])
	}
	return out
}

// mapData checks and maps the data of m: it returns the Region (nil for an
// array with no data bytes) and the number of elements.
func mapData(m mapping) (*mmap.Region, int, error) {
	n, err := shapeSize(m.shape, m.e.size)
	if err != nil {
		return nil, 0, pathError(m.op, m.path, err)
	}
	nbytes := int64(n) * int64(m.e.size)
	if m.region != nil {
		if nbytes != int64(m.region.Len()) {
			m.region.Close()
			return nil, 0, pathError(m.op, m.path, fmt.Errorf("%w: %d bytes read for an array of %d", ErrTruncated, m.region.Len(), nbytes))
		}
		return m.region, n, nil
	}
	if m.offset > m.size || nbytes > m.size-m.offset {
		return nil, 0, pathError(m.op, m.path, fmt.Errorf("%w: %s %s at offset %d needs %d bytes, the file has %d", ErrTruncated, m.dt, formatShape(m.shape), m.offset, nbytes, max(m.size-m.offset, 0)))
	}
	if nbytes == 0 {
		// mmap cannot map zero bytes, and there is nothing to map.
		return nil, n, nil
	}
	if m.offset%m.e.align != 0 {
		return nil, 0, pathError(m.op, m.path, fmt.Errorf("%w: Go %s needs %d-byte alignment, the data starts at offset %d", ErrMisaligned, m.e.t, m.e.align, m.offset))
	}
	r, err := mapRegion(m.f, m.mode, m.offset, nbytes, m.opts)
	if err != nil {
		return nil, 0, pathError(m.op, m.path, err)
	}
	return r, n, nil
}
