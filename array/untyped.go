package array

import (
	"fmt"

	"github.com/mmapkit/mmapkit/mmap"
)

// Untyped is an Array whose element type is known only at run time: what
// OpenNPYAny returns, for tools that handle any .npy file. Every *Array[T]
// implements it; type-assert to the concrete type (for example
// u.(*array.Array[float32]), chosen by u.Dtype()) for zero-copy slices.
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
	// Value returns the element at idx as T in an interface, with At's
	// panics.
	Value(idx ...int) any
	Flush() error
	Close() error
	String() string
}

// Value returns At(idx...) as an interface value, for code that works with
// Untyped arrays.
func (a *Array[T]) Value(idx ...int) any { return a.At(idx...) }

// OpenNPYAny opens a .npy file with the element type its header names, like
// OpenNPY with T chosen at run time.
func OpenNPYAny(path string, mode Mode, opts *Options) (Untyped, error) {
	h, err := ReadNPYHeader(path)
	if err != nil {
		return nil, err
	}
	switch h.Dtype {
	case Bool:
		return OpenNPY[bool](path, mode, opts)
	case Int8:
		return OpenNPY[int8](path, mode, opts)
	case Int16:
		return OpenNPY[int16](path, mode, opts)
	case Int32:
		return OpenNPY[int32](path, mode, opts)
	case Int64:
		return OpenNPY[int64](path, mode, opts)
	case Uint8:
		return OpenNPY[uint8](path, mode, opts)
	case Uint16:
		return OpenNPY[uint16](path, mode, opts)
	case Uint32:
		return OpenNPY[uint32](path, mode, opts)
	case Uint64:
		return OpenNPY[uint64](path, mode, opts)
	case Float16Type:
		return OpenNPY[Float16](path, mode, opts)
	case Float32:
		return OpenNPY[float32](path, mode, opts)
	case Float64:
		return OpenNPY[float64](path, mode, opts)
	case Complex64:
		return OpenNPY[complex64](path, mode, opts)
	case Complex128:
		return OpenNPY[complex128](path, mode, opts)
	}
	return nil, pathError("open", path, fmt.Errorf("%w: %s", ErrUnsupportedDtype, h.Dtype))
}
