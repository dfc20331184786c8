package array

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// This file matches Go types to NumPy dtypes. A Go type T can hold the
// elements of an array when its bytes are exactly the file's: the numeric
// types one for one; [n]byte for a byte string (S<n>) or raw bytes (V<n>);
// [n]rune for a UTF-32 string (U<n>); a struct for a structured dtype, field
// by field, at the same offsets, with the same total size; Go arrays for
// sub-array fields. Nothing is converted and nothing is copied: the file's
// bytes are the Go values. Only the byte order may differ (then the array
// converts on access instead of handing out its bytes).

var (
	float16Type = reflect.TypeFor[Float16]()
	byteType    = reflect.TypeFor[byte]()
	runeType    = reflect.TypeFor[rune]()
)

// elemInfo is what an Array needs to know about its element type.
type elemInfo struct {
	t     reflect.Type
	dt    Dtype // the dtype of Go's layout of the type (this machine's order): what CreateNPY writes
	size  int
	align int64
	bools []span // where the bool values are in one element
}

// span is count consecutive values of width bytes at off within an element.
type span struct{ off, width, count int }

var elemCache sync.Map // reflect.Type -> elemResult

type elemResult struct {
	e   *elemInfo
	err error
}

// elemOf describes T, or says why T cannot be an element type.
func elemOf[T any]() (*elemInfo, error) {
	t := reflect.TypeFor[T]()
	if r, ok := elemCache.Load(t); ok {
		return r.(elemResult).e, r.(elemResult).err
	}
	e, err := newElemInfo(t)
	elemCache.Store(t, elemResult{e, err})
	return e, err
}

func newElemInfo(t reflect.Type) (*elemInfo, error) {
	wrap := func(err error) error {
		return fmt.Errorf("%w: Go type %s: %w", ErrUnsupportedDtype, t, err)
	}
	if t.Kind() == reflect.Array {
		switch t.Elem() {
		case byteType, runeType:
		default:
			return nil, wrap(fmt.Errorf("an array of %s is not an element type (NumPy has no sub-array elements: add the axis to the shape; [n]byte and [n]rune are strings)", t.Elem()))
		}
	}
	dt, shape, err := goDtype(t, "", t.Kind() == reflect.Array && t.Elem() == runeType)
	if err != nil {
		return nil, wrap(err)
	}
	if len(shape) != 0 {
		return nil, wrap(fmt.Errorf("not an element type"))
	}
	if t.Size() == 0 {
		return nil, wrap(fmt.Errorf("zero-size elements cannot be mapped"))
	}
	if t.Size() >= maxItemSize {
		return nil, wrap(fmt.Errorf("elements of %d bytes are over the %d-byte limit", t.Size(), maxItemSize))
	}
	e := &elemInfo{t: t, dt: dt, size: int(t.Size()), align: int64(t.Align())}
	e.bools = mergeSpans(boolSpans(t, 0, nil))
	return e, nil
}

// goDtype returns the dtype of Go type t, with the shape of the Go arrays
// around it. unicode makes an array of rune a U<n> string instead of an
// int32 sub-array.
func goDtype(t reflect.Type, where string, unicode bool) (Dtype, []int, error) {
	at := func() string {
		if where == "" {
			return ""
		}
		return "field " + where + ": "
	}
	switch t.Kind() {
	case reflect.Bool:
		return scalarDtype(KindBool), nil, nil
	case reflect.Int8:
		return scalarDtype(KindInt8), nil, nil
	case reflect.Int16:
		return scalarDtype(KindInt16), nil, nil
	case reflect.Int32:
		return scalarDtype(KindInt32), nil, nil
	case reflect.Int64:
		return scalarDtype(KindInt64), nil, nil
	case reflect.Uint8:
		return scalarDtype(KindUint8), nil, nil
	case reflect.Uint16:
		if t == float16Type {
			return scalarDtype(KindFloat16), nil, nil
		}
		return scalarDtype(KindUint16), nil, nil
	case reflect.Uint32:
		return scalarDtype(KindUint32), nil, nil
	case reflect.Uint64:
		return scalarDtype(KindUint64), nil, nil
	case reflect.Float32:
		return scalarDtype(KindFloat32), nil, nil
	case reflect.Float64:
		return scalarDtype(KindFloat64), nil, nil
	case reflect.Complex64:
		return scalarDtype(KindComplex64), nil, nil
	case reflect.Complex128:
		return scalarDtype(KindComplex128), nil, nil
	case reflect.Int, reflect.Uint, reflect.Uintptr:
		return Dtype{}, nil, fmt.Errorf("%sGo %s has a platform-dependent size; use a sized type such as %s64", at(), t.Kind(), t.Kind())
	case reflect.Array:
		n := t.Len()
		switch {
		case t.Elem() == byteType:
			return Dtype{Kind: KindBytes, Order: '|', Size: n}, nil, nil
		case unicode && t.Elem() == runeType:
			return Dtype{Kind: KindUnicode, Order: nativeOrder, Size: 4 * n}, nil, nil
		}
		dt, shape, err := goDtype(t.Elem(), where, unicode)
		if err != nil {
			return Dtype{}, nil, err
		}
		return dt, append([]int{n}, shape...), nil
	case reflect.Struct:
		return structDtype(t, where)
	}
	return Dtype{}, nil, fmt.Errorf("%sGo %s (%s) holds a pointer or a header; only fixed-size values without pointers can live in a file", at(), t, t.Kind())
}

// npyTag splits a struct tag `npy:"name,opt"`.
func npyTag(sf reflect.StructField) (name string, unicode bool, err error) {
	tag, ok := sf.Tag.Lookup("npy")
	if !ok {
		return sf.Name, false, nil
	}
	name, opts, _ := strings.Cut(tag, ",")
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "":
		case "unicode":
			unicode = true
		default:
			return "", false, fmt.Errorf("field %s: unknown npy tag option %q (the only one is \"unicode\")", sf.Name, o)
		}
	}
	if name == "" {
		name = sf.Name
	}
	return name, unicode, nil
}

// padding reports whether a struct field is padding: named _ or tagged
// npy:"-". Its bytes are not part of any field in the file.
func padding(sf reflect.StructField) bool {
	return sf.Name == "_" || sf.Tag.Get("npy") == "-"
}

func structDtype(t reflect.Type, where string) (Dtype, []int, error) {
	d := Dtype{Kind: KindStruct, Order: '|', Size: int(t.Size())}
	names := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if padding(sf) {
			// Still only pointer-free bytes.
			if _, _, err := goDtype(sf.Type, join(where, sf.Name), false); err != nil {
				return Dtype{}, nil, err
			}
			continue
		}
		name, unicode, err := npyTag(sf)
		if err != nil {
			return Dtype{}, nil, err
		}
		fw := join(where, name)
		fdt, shape, err := goDtype(sf.Type, fw, unicode)
		if err != nil {
			return Dtype{}, nil, err
		}
		if unicode && fdt.Kind != KindUnicode {
			return Dtype{}, nil, fmt.Errorf("field %s: npy tag option \"unicode\" on %s, which is not an array of rune", fw, sf.Type)
		}
		if names[name] {
			return Dtype{}, nil, fmt.Errorf("field %s: two fields have this name", fw)
		}
		names[name] = true
		d.Fields = append(d.Fields, Field{Name: name, Offset: int(sf.Offset), Dtype: fdt, Shape: shape})
	}
	return d, nil, nil
}

func join(where, name string) string {
	if where == "" {
		return name
	}
	return where + "." + name
}

// boolSpans lists where the bools of t are, for t at offset off.
func boolSpans(t reflect.Type, off int, out []span) []span {
	switch t.Kind() {
	case reflect.Bool:
		return append(out, span{off, 1, 1})
	case reflect.Array:
		if t.Elem().Kind() == reflect.Bool {
			if t.Len() > 0 {
				out = append(out, span{off, 1, t.Len()})
			}
			return out
		}
		if !containsBool(t.Elem()) {
			return out
		}
		for i := range t.Len() {
			out = boolSpans(t.Elem(), off+i*int(t.Elem().Size()), out)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			out = boolSpans(t.Field(i).Type, off+int(t.Field(i).Offset), out)
		}
	}
	return out
}

func containsBool(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool:
		return true
	case reflect.Array:
		return containsBool(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if containsBool(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// mergeSpans joins spans that continue each other with the same width.
func mergeSpans(s []span) []span {
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].width == x.width && out[n-1].off+out[n-1].width*out[n-1].count == x.off {
			out[n-1].count += x.count
			continue
		}
		out = append(out, x)
	}
	return out
}

// checkLayout reports whether Go type t holds elements of dtype d exactly,
// and if not, names the first field that differs and how.
func checkLayout(d Dtype, t reflect.Type) error {
	if err := compatible(d, nil, t, "", t.Kind() == reflect.Array && t.Elem() == runeType); err != nil {
		return err
	}
	if d.Size != int(t.Size()) {
		return fmt.Errorf("%w: elements are %d bytes in the file, Go %s is %d bytes", ErrDtypeMismatch, d.Size, t, t.Size())
	}
	return nil
}

// flatFile turns the string kinds into arrays of their units, so that S<n>,
// V<n> and a (n,) sub-array of u1 compare equal, as do U<n> and (n,) of i4.
func flatFile(d Dtype, shape []int) (Dtype, []int) {
	switch d.Kind {
	case KindBytes, KindVoid:
		return scalarDtype(KindUint8), append(cloneShape(shape), d.Size)
	case KindUnicode:
		u := scalarDtype(KindInt32)
		u.Order = d.Order
		return u, append(cloneShape(shape), d.Size/4)
	}
	return d, shape
}

// flatGo peels the Go arrays off t.
func flatGo(t reflect.Type) (reflect.Type, []int) {
	var shape []int
	for t.Kind() == reflect.Array {
		shape = append(shape, t.Len())
		t = t.Elem()
	}
	return t, shape
}

// goHolds reports whether a Go value of (non-array, non-struct) type t holds
// a value of numeric-like kind k.
func goHolds(t reflect.Type, k Kind) bool {
	switch t.Kind() {
	case reflect.Bool:
		return k == KindBool
	case reflect.Int8:
		return k == KindInt8
	case reflect.Uint8:
		return k == KindUint8
	case reflect.Int16:
		return k == KindInt16
	case reflect.Uint16:
		if t == float16Type {
			return k == KindFloat16
		}
		return k == KindUint16
	case reflect.Int32:
		return k == KindInt32
	case reflect.Uint32:
		return k == KindUint32
	case reflect.Int64:
		// datetime64 and timedelta64 are int64 counts of their unit.
		return k == KindInt64 || k == KindDatetime || k == KindTimedelta
	case reflect.Uint64:
		return k == KindUint64
	case reflect.Float32:
		return k == KindFloat32
	case reflect.Float64:
		return k == KindFloat64
	case reflect.Complex64:
		return k == KindComplex64
	case reflect.Complex128:
		return k == KindComplex128
	}
	return false
}

// describeFile names a file dtype for an error message.
func describeFile(d Dtype, shape []int) string {
	s := d.Descr()
	if d.Kind.numeric() {
		s = fmt.Sprintf("%s (%s)", d.Descr(), d.Kind)
	}
	if d.Kind == KindStruct {
		s = "a struct " + s
	}
	if len(shape) > 0 {
		s += " of shape " + formatShape(shape)
	}
	return s
}

func compatible(d Dtype, shape []int, t reflect.Type, where string, unicode bool) error {
	at := "the file holds"
	if where != "" {
		at = "field " + where + ": the file has"
	}
	fd, fshape := flatFile(d, shape)
	gt, gshape := flatGo(t)
	mismatch := func() error {
		return fmt.Errorf("%w: %s %s, Go has %s", ErrDtypeMismatch, at, describeFile(d, shape), t)
	}
	if !equalInts(fshape, gshape) {
		return mismatch()
	}
	switch {
	case fd.Kind == KindStruct && gt.Kind() == reflect.Struct:
		return compatibleStruct(fd, gt, where)
	case fd.Kind == KindStruct || gt.Kind() == reflect.Struct:
		return mismatch()
	case fd.Kind == KindObject:
		return fmt.Errorf("%w: %s Python objects (dtype 'O'), which are stored as a pickle and cannot be mapped", ErrUnsupportedDtype, at)
	case fd.Kind == KindLongDouble || fd.Kind == KindCLongDouble:
		return fmt.Errorf("%w: %s %s, a C long double, which Go has no type for", ErrUnsupportedDtype, at, d.Descr())
	case !goHolds(gt, fd.Kind):
		return mismatch()
	}
	return nil
}

func compatibleStruct(d Dtype, t reflect.Type, where string) error {
	type goField struct {
		sf      reflect.StructField
		name    string
		tagged  bool
		unicode bool
	}
	var gf []goField
	for i := range t.NumField() {
		sf := t.Field(i)
		if padding(sf) {
			continue
		}
		name, unicode, err := npyTag(sf)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDtypeMismatch, err)
		}
		_, tagged := sf.Tag.Lookup("npy")
		gf = append(gf, goField{sf, name, tagged, unicode})
	}
	for i := range max(len(gf), len(d.Fields)) {
		if i >= len(d.Fields) {
			g := gf[i]
			return fmt.Errorf("%w: field %s: Go struct %s has field %s at offset %d, the file has no such field", ErrDtypeMismatch, join(where, g.name), t, g.sf.Name, g.sf.Offset)
		}
		f := d.Fields[i]
		fw := join(where, f.Name)
		if i >= len(gf) {
			return fmt.Errorf("%w: field %s: the file has it at offset %d, Go struct %s has no field for it", ErrDtypeMismatch, fw, f.Offset, t)
		}
		g := gf[i]
		if _, err := f.Dtype.GoType(); err != nil && f.Dtype.Kind != KindStruct {
			// No Go type can hold it, whatever the struct says.
			return fmt.Errorf("field %s: %w", fw, err)
		}
		if g.name != f.Name && (g.tagged || !strings.EqualFold(g.name, f.Name)) {
			return fmt.Errorf("%w: field %s: the file's field %d (offset %d) is %q, Go struct %s has %s (npy name %q) there", ErrDtypeMismatch, fw, i, f.Offset, f.Name, t, g.sf.Name, g.name)
		}
		if f.Offset != int(g.sf.Offset) {
			return fmt.Errorf("%w: field %s: at offset %d in the file, %d in Go struct %s (field %s); %s", ErrDtypeMismatch, fw, f.Offset, g.sf.Offset, t, g.sf.Name, layoutHint(f, g.sf))
		}
		if err := compatible(f.Dtype, f.Shape, g.sf.Type, fw, g.unicode); err != nil {
			return err
		}
	}
	if d.Size != int(t.Size()) {
		return fmt.Errorf("%w: %s: %d bytes in the file, Go struct %s is %d bytes (Go rounds a struct's size up to a multiple of its %d-byte alignment; NumPy does so only with align=True)", ErrDtypeMismatch, structWhere(where), d.Size, t, t.Size(), t.Align())
	}
	return nil
}

func structWhere(where string) string {
	if where == "" {
		return "the record"
	}
	return "field " + where
}

// layoutHint explains the usual reason for an offset that differs.
func layoutHint(f Field, sf reflect.StructField) string {
	if al := sf.Type.Align(); f.Offset%al != 0 {
		return fmt.Sprintf("Go aligns %s to %d bytes; the file's layout is packed (save it from NumPy with align=True, or give the Go field a byte-array type)", sf.Type, al)
	}
	if f.Offset > int(sf.Offset) {
		return "the file has padding or a field here that Go lacks (add a _ [n]byte field)"
	}
	return "Go inserts alignment padding here, or has a field the file lacks"
}

// GoType returns the Go type that holds one element of the dtype, as Go
// source: "float32", "array.Float16", "[5]byte", "[3]rune", "int64" for
// datetime64 and timedelta64, and for a structured dtype a struct type with
// npy tags and explicit padding, laid out as the file is. Elements in the
// other byte order use the same type (At, ReadRows and Batches convert them).
// Where Go has no such type (Python objects, long double, a packed layout
// with a field Go cannot place) it returns an error saying why.
func (d Dtype) GoType() (string, error) {
	var b strings.Builder
	if err := goSource(&b, d, nil, "", ""); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Align returns the alignment Go gives an element of the dtype on this
// machine: data must start at a multiple of it to be mapped as Go values (1
// for dtypes without a Go type).
func (d Dtype) Align() int { return goAlign(d) }

// goAlign is the alignment Go gives a value of dtype d on this machine.
func goAlign(d Dtype) int {
	switch d.Kind {
	case KindStruct:
		a := 1
		for _, f := range d.Fields {
			a = max(a, goAlign(f.Dtype))
		}
		return a
	case KindBytes, KindVoid:
		return 1
	case KindUnicode:
		return int(runeType.Align())
	case KindDatetime, KindTimedelta:
		return int(reflect.TypeFor[int64]().Align())
	}
	if d.Kind.numeric() {
		return int(goTypes[d.Kind].Align())
	}
	return 1
}

var goTypes = [...]reflect.Type{
	KindBool:       reflect.TypeFor[bool](),
	KindInt8:       reflect.TypeFor[int8](),
	KindInt16:      reflect.TypeFor[int16](),
	KindInt32:      reflect.TypeFor[int32](),
	KindInt64:      reflect.TypeFor[int64](),
	KindUint8:      reflect.TypeFor[uint8](),
	KindUint16:     reflect.TypeFor[uint16](),
	KindUint32:     reflect.TypeFor[uint32](),
	KindUint64:     reflect.TypeFor[uint64](),
	KindFloat16:    float16Type,
	KindFloat32:    reflect.TypeFor[float32](),
	KindFloat64:    reflect.TypeFor[float64](),
	KindComplex64:  reflect.TypeFor[complex64](),
	KindComplex128: reflect.TypeFor[complex128](),
}

// goSource writes the Go type of d with the sub-array shape around it.
func goSource(b *strings.Builder, d Dtype, shape []int, where string, indent string) error {
	for _, n := range shape {
		fmt.Fprintf(b, "[%d]", n)
	}
	at := ""
	if where != "" {
		at = "field " + where + ": "
	}
	switch {
	case d.Kind == KindFloat16:
		b.WriteString("array.Float16")
	case d.Kind.numeric():
		b.WriteString(d.Kind.String())
	case d.Kind == KindBytes || d.Kind == KindVoid:
		fmt.Fprintf(b, "[%d]byte", d.Size)
	case d.Kind == KindUnicode:
		fmt.Fprintf(b, "[%d]rune", d.Size/4)
	case d.Kind == KindDatetime || d.Kind == KindTimedelta:
		b.WriteString("int64")
	case d.Kind == KindObject:
		return fmt.Errorf("%w: %sPython objects (dtype 'O') are stored as a pickle, not as values Go can map", ErrUnsupportedDtype, at)
	case d.Kind == KindLongDouble || d.Kind == KindCLongDouble:
		return fmt.Errorf("%w: %s%s is a C long double (%d bytes), which Go has no type for", ErrUnsupportedDtype, at, d.Descr(), d.Size)
	case d.Kind == KindStruct:
		return goStructSource(b, d, where, indent)
	default:
		return fmt.Errorf("%w: %sno Go type for %s", ErrUnsupportedDtype, at, d.Descr())
	}
	return nil
}

func goStructSource(b *strings.Builder, d Dtype, where, indent string) error {
	b.WriteString("struct {\n")
	in := indent + "\t"
	pos, align := 0, 1
	used := map[string]bool{}
	pad := 0
	writePad := func(n int) {
		fmt.Fprintf(b, "%s_ [%d]byte\n", in, n)
		pad++
	}
	for _, f := range d.Fields {
		fw := join(where, f.Name)
		a := goAlign(f.Dtype)
		align = max(align, a)
		if f.Offset%a != 0 {
			return fmt.Errorf("%w: field %s is at offset %d, which Go cannot give a %d-byte aligned value: the layout is packed (save it from NumPy with align=True)", ErrUnsupportedDtype, fw, f.Offset, a)
		}
		if f.Offset < pos {
			return fmt.Errorf("%w: field %s overlaps the field before it", ErrUnsupportedDtype, fw)
		}
		if f.Offset != roundUp(pos, a) {
			writePad(f.Offset - pos)
		}
		name := goFieldName(f.Name, used)
		fmt.Fprintf(b, "%s%s ", in, name)
		if err := goSource(b, f.Dtype, f.Shape, fw, in); err != nil {
			return err
		}
		opt := ""
		if f.Dtype.Kind == KindUnicode {
			opt = ",unicode"
		}
		tag := "npy:" + quoteTag(f.Name+opt)
		if strings.ContainsRune(tag, '`') {
			fmt.Fprintf(b, " %q\n", tag)
		} else {
			fmt.Fprintf(b, " `%s`\n", tag)
		}
		pos = f.Offset + f.Size()
	}
	if d.Size > pos {
		writePad(d.Size - pos)
		pos = d.Size
	}
	if roundUp(pos, align) != d.Size {
		return fmt.Errorf("%w: %s is %d bytes, but Go rounds a struct with %d-byte alignment up to %d bytes: the layout is packed (save it from NumPy with align=True)", ErrUnsupportedDtype, structWhere(where), d.Size, align, roundUp(pos, align))
	}
	fmt.Fprintf(b, "%s}", indent)
	return nil
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

func quoteTag(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// goFieldName makes an exported Go identifier from a NumPy field name.
func goFieldName(name string, used map[string]bool) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		ok := r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			upper = true
			continue
		}
		if upper && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		if b.Len() == 0 && (r >= '0' && r <= '9' || r == '_') {
			b.WriteString("F")
		}
		upper = false
		b.WriteRune(r)
	}
	s := b.String()
	if s == "" {
		s = "F"
	}
	base := s
	for i := 2; used[s]; i++ {
		s = fmt.Sprintf("%s%d", base, i)
	}
	used[s] = true
	return s
}
