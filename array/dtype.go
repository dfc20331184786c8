package array

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Kind is the kind of a NumPy dtype: one of the numeric types, a fixed-size
// string, raw bytes, a structured record, or one of the kinds NumPy can write
// but Go cannot map (object, long double).
type Kind uint8

// The kinds. KindBool to KindComplex128 are the numeric kinds, each held by
// one Go type (see Dtype.GoType).
const (
	KindInvalid     Kind = iota
	KindBool             // '?', 'b1': Go bool
	KindInt8             // 'i1': int8
	KindInt16            // 'i2': int16
	KindInt32            // 'i4': int32
	KindInt64            // 'i8': int64
	KindUint8            // 'u1': uint8
	KindUint16           // 'u2': uint16
	KindUint32           // 'u4': uint32
	KindUint64           // 'u8': uint64
	KindFloat16          // 'f2': Float16
	KindFloat32          // 'f4': float32
	KindFloat64          // 'f8': float64
	KindComplex64        // 'c8': complex64
	KindComplex128       // 'c16': complex128
	KindBytes            // 'S<n>': a byte string of n bytes, NUL-padded: Go [n]byte
	KindUnicode          // 'U<n>': n UTF-32 code points, NUL-padded: Go [n]rune
	KindVoid             // 'V<n>': n raw bytes: Go [n]byte
	KindStruct           // a structured dtype: named fields at fixed offsets: a Go struct
	KindDatetime         // 'M8[unit]': datetime64, an int64 count of units since 1970: Go int64
	KindTimedelta        // 'm8[unit]': timedelta64, an int64 count of units: Go int64
	KindObject           // 'O': Python objects, stored as a pickle; cannot be mapped
	KindLongDouble       // 'f10', 'f12', 'f16': C long double; Go has no such type
	KindCLongDouble      // 'c20', 'c24', 'c32': complex long double
	kindCount
)

var kindInfo = [kindCount]struct {
	name string // NumPy's name (for the numeric kinds also the Go type's name)
	code byte   // the type character in a descr
	size int    // the fixed item size, 0 for the sized kinds
}{
	KindInvalid:     {"invalid", 0, 0},
	KindBool:        {"bool", 'b', 1},
	KindInt8:        {"int8", 'i', 1},
	KindInt16:       {"int16", 'i', 2},
	KindInt32:       {"int32", 'i', 4},
	KindInt64:       {"int64", 'i', 8},
	KindUint8:       {"uint8", 'u', 1},
	KindUint16:      {"uint16", 'u', 2},
	KindUint32:      {"uint32", 'u', 4},
	KindUint64:      {"uint64", 'u', 8},
	KindFloat16:     {"float16", 'f', 2},
	KindFloat32:     {"float32", 'f', 4},
	KindFloat64:     {"float64", 'f', 8},
	KindComplex64:   {"complex64", 'c', 8},
	KindComplex128:  {"complex128", 'c', 16},
	KindBytes:       {"bytes", 'S', 0},
	KindUnicode:     {"str", 'U', 0},
	KindVoid:        {"void", 'V', 0},
	KindStruct:      {"struct", 'V', 0},
	KindDatetime:    {"datetime64", 'M', 8},
	KindTimedelta:   {"timedelta64", 'm', 8},
	KindObject:      {"object", 'O', 8},
	KindLongDouble:  {"longdouble", 'f', 0},
	KindCLongDouble: {"clongdouble", 'c', 0},
}

// String returns NumPy's name for the kind: "float32", "bytes", "str",
// "struct", ...
func (k Kind) String() string {
	if k >= kindCount {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindInfo[k].name
}

// numeric reports whether k is one of the kinds a Go numeric type (or bool)
// holds.
func (k Kind) numeric() bool { return k >= KindBool && k <= KindComplex128 }

// Dtype describes a NumPy element type: what a .npy header's descr says. It
// is a plain value; its Fields must not be modified.
type Dtype struct {
	Kind Kind
	// Order is the byte order of the data: '<' little-endian, '>'
	// big-endian, or '|' where it does not matter (one-byte types, byte
	// strings, raw bytes, structs, whose fields carry their own).
	Order byte
	// Size is the size of one element in bytes (NumPy's itemsize).
	Size int
	// Unit is the unit of a datetime64 or timedelta64 ("ns", "10ms"), empty
	// for the generic unit.
	Unit string
	// Fields are the named fields of a structured dtype, by offset. Padding
	// has no field: it is the bytes no field covers.
	Fields []Field
}

// Field is one named field of a structured dtype.
type Field struct {
	Name  string
	Title string // NumPy's optional title (an alias of the name), "" for none
	// Offset is where the field starts within the element.
	Offset int
	// Dtype is the type of one value of the field.
	Dtype Dtype
	// Shape is the shape of a sub-array field ('v', '<f4', (4,)): the field
	// holds that many values of Dtype. Nil for a single value.
	Shape []int
}

// Size returns the number of bytes the field occupies.
func (f Field) Size() int {
	n, _ := shapeSize(f.Shape, 1)
	return n * f.Dtype.Size
}

// maxItemSize bounds the size of one element, so that no size computed from
// a hostile header overflows.
const maxItemSize = 1 << 31

// nativeOrder is the descr byte-order character of this machine.
var nativeOrder = func() byte {
	if sys.LittleEndian {
		return '<'
	}
	return '>'
}()

// scalarDtype returns the dtype of a numeric kind in this machine's byte
// order.
func scalarDtype(k Kind) Dtype {
	d := Dtype{Kind: k, Size: kindInfo[k].size, Order: nativeOrder}
	if d.Size == 1 {
		d.Order = '|'
	}
	return d
}

// String returns NumPy's name for a numeric dtype in this machine's byte
// order ("float32", "bool"), and the descr for every other ("<f4" on a
// big-endian machine, ">i8", "|S5", "<U3", "[('x', '<f4'), ('y', '<i8')]").
func (d Dtype) String() string {
	if d.Kind.numeric() && (d.Order == '|' || d.Order == nativeOrder) {
		return d.Kind.String()
	}
	return d.Descr()
}

// Descr returns the dtype as NumPy writes it in a .npy header: a type string
// such as "<f4", "|S5" or "<M8[ns]", or for a structured dtype the list
// literal of its fields, "[('ts', '<i8'), ('price', '<f8')]", with padding
// written as NumPy does, as fields with an empty name of type '|V<n>'.
func (d Dtype) Descr() string {
	if d.Kind == KindStruct {
		return d.literal()
	}
	return d.typeString()
}

// typeString is the type string of a non-struct dtype.
func (d Dtype) typeString() string {
	if d.Kind == KindInvalid || d.Kind >= kindCount {
		return ""
	}
	order := d.Order
	if order == 0 {
		order = '|'
	}
	code := kindInfo[d.Kind].code
	switch d.Kind {
	case KindObject:
		return string(order) + "O"
	case KindUnicode:
		return fmt.Sprintf("%c%c%d", order, code, d.Size/4)
	case KindDatetime, KindTimedelta:
		if d.Unit != "" {
			return fmt.Sprintf("%c%c8[%s]", order, code, d.Unit)
		}
	}
	return fmt.Sprintf("%c%c%d", order, code, d.Size)
}

// literal returns the dtype as the Python literal NumPy writes for it in a
// header: a quoted type string, or the list of field tuples.
func (d Dtype) literal() string {
	if d.Kind != KindStruct {
		return pyRepr(d.typeString())
	}
	var b strings.Builder
	b.WriteByte('[')
	at := 0
	pad := func(n int) {
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "('', '|V%d')", n)
	}
	for _, f := range d.Fields {
		if f.Offset > at {
			pad(f.Offset - at)
		}
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		if f.Title != "" {
			fmt.Fprintf(&b, "(%s, %s)", pyRepr(f.Title), pyRepr(f.Name))
		} else {
			b.WriteString(pyRepr(f.Name))
		}
		b.WriteString(", ")
		b.WriteString(f.Dtype.literal())
		if len(f.Shape) > 0 {
			b.WriteString(", ")
			b.WriteString(formatShape(f.Shape))
		}
		b.WriteByte(')')
		at = f.Offset + f.Size()
	}
	if d.Size > at {
		pad(d.Size - at)
	}
	b.WriteByte(']')
	return b.String()
}

// Equal reports whether d and e describe the same element type: the same
// kind, size, byte order and unit, and for structured dtypes the same fields
// at the same offsets.
func (d Dtype) Equal(e Dtype) bool {
	if d.Kind != e.Kind || d.Size != e.Size || d.Order != e.Order || d.Unit != e.Unit || len(d.Fields) != len(e.Fields) {
		return false
	}
	for i, f := range d.Fields {
		g := e.Fields[i]
		if f.Name != g.Name || f.Title != g.Title || f.Offset != g.Offset || !equalInts(f.Shape, g.Shape) || !f.Dtype.Equal(g.Dtype) {
			return false
		}
	}
	return true
}

// Swapped reports whether any of the dtype's data is stored in the other
// byte order than this machine's, so that its bytes are not Go values.
func (d Dtype) Swapped() bool {
	if d.Kind == KindStruct {
		for _, f := range d.Fields {
			if f.Dtype.Swapped() {
				return true
			}
		}
		return false
	}
	return d.Order != '|' && d.Order != nativeOrder
}

// ParseDescr parses a NumPy dtype description as a .npy header writes it:
// a type string such as "<f4", "|b1", ">i8", "|S5", "<U3" or "<M8[ns]" (the
// byte-order character may be '<', '>', '|', '=' or missing, meaning this
// machine's), or the Python list literal of a structured dtype,
// "[('ts', '<i8'), ('price', '<f8'), ('v', '<f4', (4,))]". Every dtype NumPy
// writes parses, including those Go cannot map (object, long double: see
// GoType); malformed text is an error matching ErrHeader, an unknown type
// code one matching ErrUnsupportedDtype.
func ParseDescr(descr string) (Dtype, error) {
	s := strings.TrimSpace(descr)
	if strings.HasPrefix(s, "[") {
		v, err := parsePyLiteral([]byte(s), false)
		if err != nil {
			return Dtype{}, fmt.Errorf("descr %q: %w", descr, err)
		}
		return dtypeFromLiteral(v, 0)
	}
	return parseTypeString(descr)
}

// parseTypeString parses a type string such as "<f4".
func parseTypeString(descr string) (Dtype, error) {
	s := descr
	order := byte('=')
	if s != "" && strings.IndexByte("<>|=", s[0]) >= 0 {
		order = s[0]
		s = s[1:]
	}
	if s == "" {
		return Dtype{}, fmt.Errorf("%w: descr %q: empty type code", ErrHeader, descr)
	}
	code, rest := s[0], s[1:]
	unit := ""
	if code == 'M' || code == 'm' {
		if i := strings.IndexByte(rest, '['); i >= 0 {
			if !strings.HasSuffix(rest, "]") || !validUnit(rest[i+1:len(rest)-1]) {
				return Dtype{}, fmt.Errorf("%w: descr %q: bad datetime unit", ErrHeader, descr)
			}
			unit, rest = rest[i+1:len(rest)-1], rest[:i]
		}
	}
	size := -1 // no size given
	if rest != "" {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || rest[0] == '+' || (len(rest) > 1 && rest[0] == '0') {
			return Dtype{}, fmt.Errorf("%w: descr %q: bad item size %q", ErrHeader, descr, rest)
		}
		if n >= maxItemSize {
			return Dtype{}, fmt.Errorf("%w: descr %q: item size %d is over the %d-byte limit", ErrUnsupportedDtype, descr, n, maxItemSize)
		}
		size = n
	}
	unknown := func() (Dtype, error) {
		return Dtype{}, fmt.Errorf("%w: descr %q: unknown type code", ErrUnsupportedDtype, descr)
	}
	var d Dtype
	switch code {
	case 'b', '?':
		if size != 1 && !(code == '?' && size == -1) {
			return unknown()
		}
		d = scalarDtype(KindBool)
	case 'i', 'u', 'f', 'c':
		d.Kind = KindInvalid
		for k := KindInt8; k <= KindComplex128; k++ {
			if kindInfo[k].code == code && kindInfo[k].size == size {
				d = scalarDtype(k)
			}
		}
		if d.Kind == KindInvalid {
			switch {
			case code == 'f' && size > 8 && size <= 16:
				d = Dtype{Kind: KindLongDouble, Size: size}
			case code == 'c' && size > 16 && size <= 32:
				d = Dtype{Kind: KindCLongDouble, Size: size}
			default:
				return unknown()
			}
		}
	case 'S', 'a', 'V':
		if size < 0 {
			return unknown()
		}
		d = Dtype{Kind: KindBytes, Size: size, Order: '|'}
		if code == 'V' {
			d.Kind = KindVoid
		}
	case 'U':
		if size < 0 || size >= maxItemSize/4 {
			return unknown()
		}
		d = Dtype{Kind: KindUnicode, Size: 4 * size}
	case 'M', 'm':
		if size != 8 {
			return unknown()
		}
		d = Dtype{Kind: KindDatetime, Size: 8, Unit: unit}
		if code == 'm' {
			d.Kind = KindTimedelta
		}
	case 'O':
		if size != -1 && size != 4 && size != 8 {
			return unknown()
		}
		d = Dtype{Kind: KindObject, Size: 8, Order: '|'}
	default:
		return unknown()
	}
	switch {
	case d.Size <= 1 || d.Kind == KindBytes || d.Kind == KindVoid || d.Kind == KindObject:
		d.Order = '|'
	case order == '<' || order == '>':
		d.Order = order
	default: // '=', '|' or none: this machine's order
		d.Order = nativeOrder
	}
	return d, nil
}

// validUnit accepts a datetime unit such as "ns", "10ms", "us" or "μs".
func validUnit(u string) bool {
	i := 0
	for i < len(u) && u[i] >= '0' && u[i] <= '9' {
		i++
	}
	switch u[i:] {
	case "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "μs", "ns", "ps", "fs", "as", "generic":
		return i < 9
	}
	return false
}

// maxDtypeDepth bounds the nesting of structured dtypes (the literal parser
// bounds it too; this keeps the recursion here honest on its own).
const maxDtypeDepth = 16

// dtypeFromLiteral builds a Dtype from a parsed descr value: a type string or
// a list of field tuples (name, type[, shape]).
func dtypeFromLiteral(v any, depth int) (Dtype, error) {
	switch x := v.(type) {
	case string:
		return parseTypeString(x)
	case pyList:
		return structFromLiteral(x, depth)
	case pyTuple:
		return Dtype{}, fmt.Errorf("%w: a sub-array dtype as the array's element type (NumPy never writes one: the sub-array is part of the shape)", ErrUnsupportedDtype)
	}
	return Dtype{}, fmt.Errorf("%w: descr is a %s, not a string or a list of fields", ErrHeader, pyTypeName(v))
}

func structFromLiteral(list pyList, depth int) (Dtype, error) {
	if depth >= maxDtypeDepth {
		return Dtype{}, fmt.Errorf("%w: structured dtype nested more than %d deep", ErrHeader, maxDtypeDepth)
	}
	d := Dtype{Kind: KindStruct, Order: '|'}
	names := map[string]bool{}
	off := 0
	for i, item := range list {
		t, ok := item.(pyTuple)
		if !ok || len(t) < 2 || len(t) > 3 {
			return Dtype{}, fmt.Errorf("%w: field %d of the structured dtype is not a (name, type) or (name, type, shape) tuple", ErrHeader, i)
		}
		var f Field
		switch n := t[0].(type) {
		case string:
			f.Name = n
		case pyTuple:
			title, ok1 := pyElem[string](n, 0)
			name, ok2 := pyElem[string](n, 1)
			if len(n) != 2 || !ok1 || !ok2 {
				return Dtype{}, fmt.Errorf("%w: field %d: a titled name must be a (title, name) pair of strings", ErrHeader, i)
			}
			f.Title, f.Name = title, name
		default:
			return Dtype{}, fmt.Errorf("%w: field %d: the name is a %s, not a string", ErrHeader, i, pyTypeName(t[0]))
		}
		ft, err := dtypeFromLiteral(t[1], depth+1)
		if err != nil {
			return Dtype{}, fmt.Errorf("field %s: %w", quoteField(f.Name, i), err)
		}
		f.Dtype = ft
		if len(t) == 3 {
			switch s := t[2].(type) {
			case pyInt:
				f.Shape = []int{int(min(max(s.v, -1), math.MaxInt32))}
				if s.big {
					f.Shape[0] = -1
				}
			case pyTuple:
				for _, e := range s {
					n, ok := e.(pyInt)
					if !ok {
						return Dtype{}, fmt.Errorf("%w: field %s: the sub-array shape holds a %s, not an int", ErrHeader, quoteField(f.Name, i), pyTypeName(e))
					}
					if n.big || n.v > math.MaxInt32 {
						n.v = math.MaxInt32
					}
					f.Shape = append(f.Shape, int(n.v))
				}
			default:
				return Dtype{}, fmt.Errorf("%w: field %s: the sub-array shape is a %s, not a tuple", ErrHeader, quoteField(f.Name, i), pyTypeName(t[2]))
			}
			for _, n := range f.Shape {
				if n < 0 {
					return Dtype{}, fmt.Errorf("%w: field %s: negative sub-array dimension", ErrShape, quoteField(f.Name, i))
				}
			}
		}
		n, err := shapeSize(f.Shape, max(ft.Size, 1))
		if err != nil || n > maxItemSize/max(ft.Size, 1) || off > maxItemSize-n*ft.Size {
			return Dtype{}, fmt.Errorf("%w: field %s: the structured dtype is larger than %d bytes", ErrUnsupportedDtype, quoteField(f.Name, i), maxItemSize)
		}
		f.Offset = off
		off += n * ft.Size
		// NumPy writes padding as fields named '' of a plain void type.
		if f.Name == "" && f.Title == "" && ft.Kind == KindVoid {
			continue
		}
		if f.Name == "" {
			return Dtype{}, fmt.Errorf("%w: field %d has an empty name", ErrHeader, i)
		}
		if names[f.Name] || (f.Title != "" && (names[f.Title] || f.Title == f.Name)) {
			return Dtype{}, fmt.Errorf("%w: field name %q appears twice", ErrHeader, f.Name)
		}
		names[f.Name] = true
		if f.Title != "" {
			names[f.Title] = true
		}
		if len(f.Shape) == 0 {
			f.Shape = nil
		}
		d.Fields = append(d.Fields, f)
	}
	d.Size = off
	return d, nil
}

// pyElem returns t[i] as a T.
func pyElem[T any](t pyTuple, i int) (T, bool) {
	var z T
	if i >= len(t) {
		return z, false
	}
	v, ok := t[i].(T)
	return v, ok
}

func quoteField(name string, i int) string {
	if name == "" {
		return strconv.Itoa(i)
	}
	return strconv.Quote(name)
}

// pyRepr returns s as Python's repr() writes a str: single quotes unless s
// holds a single quote and no double quote, with backslash escapes for the
// quote, backslashes and characters that are not printable.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case !unicode.IsPrint(r) || r == utf8.RuneError:
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
