package array

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Element is the set of Go types an Array can hold. Each has exactly one NumPy
// dtype (see Dtype); Go's int and uint are left out because their size depends
// on the platform.
type Element interface {
	int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 |
		float32 | float64 | complex64 | complex128 | bool | Float16
}

// Dtype is a NumPy element type this package can map.
type Dtype int

// The supported dtypes, one per Element type.
const (
	Invalid Dtype = iota
	Bool
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Float16Type
	Float32
	Float64
	Complex64
	Complex128
	dtypeCount
)

var dtypeInfo = [dtypeCount]struct {
	name string // NumPy's name, which is also the Go type's name except for float16
	code string // kind and size as in a descr, without the byte-order character
	size int
}{
	Invalid:     {"invalid", "", 0},
	Bool:        {"bool", "b1", 1},
	Int8:        {"int8", "i1", 1},
	Int16:       {"int16", "i2", 2},
	Int32:       {"int32", "i4", 4},
	Int64:       {"int64", "i8", 8},
	Uint8:       {"uint8", "u1", 1},
	Uint16:      {"uint16", "u2", 2},
	Uint32:      {"uint32", "u4", 4},
	Uint64:      {"uint64", "u8", 8},
	Float16Type: {"float16", "f2", 2},
	Float32:     {"float32", "f4", 4},
	Float64:     {"float64", "f8", 8},
	Complex64:   {"complex64", "c8", 8},
	Complex128:  {"complex128", "c16", 16},
}

func (d Dtype) valid() bool { return d > Invalid && d < dtypeCount }

// String returns NumPy's name for the dtype ("float32", "bool", ...).
func (d Dtype) String() string {
	if !d.valid() {
		return fmt.Sprintf("dtype(%d)", int(d))
	}
	return dtypeInfo[d].name
}

// Size returns the size of one element in bytes.
func (d Dtype) Size() int {
	if !d.valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// GoType returns the name of the Go type that holds the dtype.
func (d Dtype) GoType() string {
	if d == Float16Type {
		return "array.Float16"
	}
	return d.String()
}

// Descr returns the dtype as NumPy writes it in a .npy header on this machine:
// '|' for one-byte types, otherwise the native byte order ('<' on
// little-endian machines).
func (d Dtype) Descr() string {
	if !d.valid() {
		return ""
	}
	if dtypeInfo[d].size == 1 {
		return "|" + dtypeInfo[d].code
	}
	return string(nativeOrder) + dtypeInfo[d].code
}

// nativeOrder is the descr byte-order character of this machine.
var nativeOrder = func() byte {
	if sys.LittleEndian {
		return '<'
	}
	return '>'
}()

// dtypeOf returns the Dtype of the Element type T.
func dtypeOf[T Element]() Dtype {
	var z T
	switch any(z).(type) {
	case bool:
		return Bool
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case Float16:
		return Float16Type
	case float32:
		return Float32
	case float64:
		return Float64
	case complex64:
		return Complex64
	case complex128:
		return Complex128
	}
	panic("unreachable: Element type without a dtype")
}

// alignOf is the alignment Go needs for a []T over mapped memory.
func alignOf[T Element]() int64 {
	var z T
	return int64(unsafe.Alignof(z))
}

// ParseDescr parses a NumPy descr string such as "<f4" or "|b1". It accepts
// the byte-order characters '<', '>', '|' and '=' (or none, meaning native
// order). Dtypes with no Go equivalent return an error matching
// ErrUnsupportedDtype that says what they are; data in the other byte order
// returns ErrByteOrder.
func ParseDescr(descr string) (Dtype, error) {
	s := descr
	order := byte('=')
	if s != "" && strings.IndexByte("<>|=", s[0]) >= 0 {
		order = s[0]
		s = s[1:]
	}
	if s == "" {
		return Invalid, fmt.Errorf("descr %q: %w: empty type code", descr, ErrHeader)
	}
	kind, size := s[0], s[1:]
	unsupported := func(what string) (Dtype, error) {
		return Invalid, fmt.Errorf("descr %q: %w: %s", descr, ErrUnsupportedDtype, what)
	}
	switch kind {
	case 'O':
		return unsupported("object dtype (Python objects stored as a pickle) cannot be memory-mapped")
	case 'S', 'a':
		return unsupported("byte-string dtype; map it as uint8 with a raw Open if you need the bytes")
	case 'U':
		return unsupported("unicode string dtype")
	case 'V':
		return unsupported("void (raw bytes) dtype")
	case 'M':
		return unsupported("datetime64 dtype; its values are int64, map them with a raw Open as int64")
	case 'm':
		return unsupported("timedelta64 dtype; its values are int64, map them with a raw Open as int64")
	}
	for d := Bool; d < dtypeCount; d++ {
		if s != dtypeInfo[d].code {
			continue
		}
		if dtypeInfo[d].size > 1 && order != '=' && order != '|' && order != nativeOrder {
			return Invalid, fmt.Errorf("descr %q: %w: %s data in %s byte order", descr, ErrByteOrder, d, orderName(order))
		}
		return d, nil
	}
	if n, err := strconv.Atoi(size); err == nil && (kind == 'f' && n > 8 || kind == 'c' && n > 16) {
		return unsupported("long double (platform-dependent extended precision)")
	}
	return unsupported("unknown or unsupported type code")
}

func orderName(c byte) string {
	if c == '>' {
		return "big-endian"
	}
	return "little-endian"
}
