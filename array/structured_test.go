package array

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The structured-dtype interop tests fill every scalar of every element with
// a value that depends only on the element's index i and the scalar's
// position k in a depth-first walk of the dtype (fields in order, sub-arrays
// in C order): Python's fill() and Go's fillLeaves/checkLeaves agree on it.

const pyFill = `
def fill(a):
    n = a.shape[0]
    i = np.arange(n)
    k = [0]
    def leaf(view):
        kk = k[0]; k[0] += 1
        dt = view.dtype
        base = (i*7 + kk*3) % 100
        if dt.kind == 'b': v = (i + kk) % 2 == 1
        elif dt.kind in 'iu': v = base
        elif dt.kind == 'f': v = base + 0.5
        elif dt.kind == 'c': v = (base + 0.5) + 1j*kk
        elif dt.kind == 'S': v = np.array([f"{kk}:{x}".encode() for x in i])
        elif dt.kind == 'U': v = np.array([f"é{kk}:{x}" for x in i])
        elif dt.kind in 'Mm': v = base.astype(dt)
        else: raise ValueError(dt)
        view[...] = v
    def walk(view):
        for idx in np.ndindex(*view.shape[1:]):
            sub = view[(slice(None),) + idx]
            if sub.dtype.names:
                for name in sub.dtype.names:
                    walk(sub[name])
            else:
                leaf(sub)
    walk(a)
    return a
`

// walkLeaves calls fn for each scalar of v in the order of Python's walk:
// kind is 'S' for a byte string, 'U' for a UTF-32 string, 0 for a number.
func walkLeaves(v reflect.Value, unicode bool, fn func(v reflect.Value, kind byte)) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			if padding(sf) {
				continue
			}
			_, uni, _ := npyTag(sf)
			walkLeaves(v.Field(i), uni, fn)
		}
	case t.Kind() == reflect.Array && t.Elem() == byteType:
		fn(v, 'S')
	case t.Kind() == reflect.Array && t.Elem() == runeType && unicode:
		fn(v, 'U')
	case t.Kind() == reflect.Array:
		for j := range v.Len() {
			walkLeaves(v.Index(j), unicode, fn)
		}
	default:
		fn(v, 0)
	}
}

// leafValue is what Python's fill stores in scalar k of element i.
func leafValue(t reflect.Type, kind byte, i, k int) any {
	base := (i*7 + k*3) % 100
	switch {
	case kind == 'S':
		return fmt.Sprintf("%d:%d", k, i)
	case kind == 'U':
		return fmt.Sprintf("é%d:%d", k, i)
	case t == float16Type:
		return float64(base) + 0.5
	}
	switch t.Kind() {
	case reflect.Bool:
		return (i+k)%2 == 1
	case reflect.Float32, reflect.Float64:
		return float64(base) + 0.5
	case reflect.Complex64, reflect.Complex128:
		return complex(float64(base)+0.5, float64(k))
	}
	return int64(base)
}

// fillLeaves stores leafValue in every scalar of v (element i).
func fillLeaves(v reflect.Value, i int) {
	k := 0
	walkLeaves(v, v.Type().Kind() == reflect.Array, func(l reflect.Value, kind byte) {
		want := leafValue(l.Type(), kind, i, k)
		k++
		switch {
		case kind == 'S':
			b := l.Slice(0, l.Len()).Bytes()
			if err := SetString(b, want.(string)); err != nil {
				panic(err)
			}
		case kind == 'U':
			r := make([]rune, l.Len())
			if err := SetUnicode(r, want.(string)); err != nil {
				panic(err)
			}
			for j, c := range r {
				l.Index(j).SetInt(int64(c))
			}
		case l.Type() == float16Type:
			l.SetUint(uint64(Float16From(float32(want.(float64)))))
		default:
			switch w := want.(type) {
			case bool:
				l.SetBool(w)
			case float64:
				l.SetFloat(w)
			case complex128:
				l.SetComplex(w)
			case int64:
				if l.CanInt() {
					l.SetInt(w)
				} else {
					l.SetUint(uint64(w))
				}
			}
		}
	})
}

// checkLeaves compares every scalar of v (element i) with leafValue.
func checkLeaves(t *testing.T, v reflect.Value, i int) {
	t.Helper()
	k := 0
	walkLeaves(v, v.Type().Kind() == reflect.Array, func(l reflect.Value, kind byte) {
		t.Helper()
		want := leafValue(l.Type(), kind, i, k)
		var got any
		switch {
		case kind == 'S':
			b := make([]byte, l.Len())
			reflect.Copy(reflect.ValueOf(b), l)
			got = String(b)
		case kind == 'U':
			r := make([]rune, l.Len())
			for j := range r {
				r[j] = rune(l.Index(j).Int())
			}
			got = Unicode(r)
		case l.Type() == float16Type:
			got = float64(Float16(l.Uint()).Float32())
		case l.Kind() == reflect.Bool:
			got = l.Bool()
		case l.CanFloat():
			got = l.Float()
		case l.CanComplex():
			got = l.Complex()
		case l.CanInt():
			got = l.Int()
		default:
			got = int64(l.Uint())
		}
		if got != want {
			t.Errorf("element %d, scalar %d (%s): got %v, want %v", i, k, l.Type(), got, want)
		}
		k++
	})
}

// Go types for the structured layouts.
type (
	sPacked struct {
		A int32   `npy:"a"`
		B float32 `npy:"b"`
		C int64   `npy:"c"`
	}
	sXYZ struct {
		X, Y, Z float32
	}
	sNested struct {
		ID  uint32 `npy:"id"`
		Pos sXYZ   `npy:"pos"`
		T   float64
	}
	sSub struct {
		V [4]float32    `npy:"v"`
		M [2][3]int16   `npy:"m"`
		K uint8         `npy:"k"`
		N [2][6]byte    `npy:"names"`
		W [2][6]rune    `npy:"words,unicode"`
		Z [0]float64    `npy:"empty"`
		E [1][1]float64 `npy:"e"`
	}
	sStrings struct {
		Sym  [8]byte `npy:"sym"`
		Name [8]rune `npy:"name,unicode"`
		Px   float64 `npy:"px"`
	}
	sBools struct {
		Ok    bool    `npy:"ok"`
		N     int16   `npy:"n"`
		Flags [3]bool `npy:"flags"`
	}
	sFloats struct {
		H Float16    `npy:"h"`
		C complex64  `npy:"c"`
		Z complex128 `npy:"z"`
	}
	sPoint  struct{ X, Y float32 }
	sPoints struct {
		Pts [3]sPoint `npy:"pts"`
		N   int32     `npy:"n"`
	}
	sTimes struct {
		T  int64   `npy:"t"`
		DT int64   `npy:"dt"`
		V  float64 `npy:"v"`
	}
	sGaps struct {
		A int32 `npy:"a"`
		_ [12]byte
		B float64 `npy:"b"`
		_ [8]byte
	}
	sBig struct {
		A int32   `npy:"a"`
		B float64 `npy:"b"`
		S [6]byte `npy:"s"`
		U [6]rune `npy:"u,unicode"`
		C complex64
		H Float16
	}
	sTitled struct {
		Price float64 `npy:"price"`
		Q     int32   `npy:"q"`
	}
	sUnsigned struct {
		A uint8  `npy:"a"`
		B uint16 `npy:"b"`
		C uint32 `npy:"c"`
		D uint64 `npy:"d"`
	}
	sLevel3 struct{ V int8 }
	sLevel2 struct {
		L sLevel3 `npy:"l3"`
		W float64 `npy:"w"`
	}
	sLevel1 struct {
		A  int16      `npy:"a"`
		L2 [2]sLevel2 `npy:"l2"`
	}
	sDeep struct {
		L1 sLevel1 `npy:"l1"`
		B  uint8   `npy:"b"`
	}
)

// structCase is one structured layout: the dtype in Python and the Go type
// that maps it.
type structCase struct {
	name string
	py   string // a Python expression for the dtype
	// goWrites: CreateNPY of the Go type writes this very dtype (NumPy reads
	// it back equal), and the header matches np.save's byte for byte.
	goWrites, sameHeader bool
	check                func(t *testing.T, path string, n int)
	write                func(t *testing.T, path string, n int)
}

func newStructCase[T any](name, py string, goWrites, sameHeader bool) structCase {
	return structCase{
		name: name, py: py, goWrites: goWrites, sameHeader: sameHeader,
		check: func(t *testing.T, path string, n int) {
			t.Helper()
			a, err := OpenNPY[T](path, ReadOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Len() != n {
				t.Fatalf("%d elements, want %d", a.Len(), n)
			}
			for i := range n {
				v := a.At(i)
				checkLeaves(t, reflect.ValueOf(&v).Elem(), i)
			}
			// The zero-copy view and the converted copies agree with At.
			rows, err := a.ReadRows(nil, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				checkLeaves(t, reflect.ValueOf(&rows[i]).Elem(), i)
			}
			if !a.Swapped() {
				for i, v := range a.Data() {
					checkLeaves(t, reflect.ValueOf(&v).Elem(), i)
				}
			}
			seen := 0
			for first, b := range a.Batches(3) {
				for j := range b {
					checkLeaves(t, reflect.ValueOf(&b[j]).Elem(), first+j)
					seen++
				}
			}
			if seen != n {
				t.Fatalf("Batches saw %d elements of %d", seen, n)
			}
		},
		write: func(t *testing.T, path string, n int) {
			t.Helper()
			a, err := CreateNPY[T](path, []int{n}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				var v T
				fillLeaves(reflect.ValueOf(&v).Elem(), i)
				a.Set(v, i)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

var structCases = []structCase{
	newStructCase[tick]("tick aligned", "np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')], align=True)", true, true),
	newStructCase[sPacked]("packed", "np.dtype([('a','<i4'),('b','<f4'),('c','<i8')])", true, true),
	newStructCase[sNested]("nested", "np.dtype([('id','<u4'),('pos',[('X','<f4'),('Y','<f4'),('Z','<f4')]),('T','<f8')], align=True)", true, true),
	newStructCase[sSub]("sub-arrays", "np.dtype([('v','<f4',(4,)),('m','<i2',(2,3)),('k','u1'),('names','S6',(2,)),('words','<U6',(2,)),('empty','<f8',(0,)),('e','<f8',(1,1))], align=True)", true, true),
	newStructCase[sStrings]("strings", "np.dtype([('sym','S8'),('name','<U8'),('px','<f8')], align=True)", true, true),
	newStructCase[sBools]("bools", "np.dtype([('ok','?'),('n','<i2'),('flags','?',(3,))], align=True)", true, true),
	newStructCase[sFloats]("float16 and complex", "np.dtype([('h','<f2'),('c','<c8'),('z','<c16')], align=True)", true, true),
	newStructCase[sPoints]("array of structs", "np.dtype([('pts',[('X','<f4'),('Y','<f4')],(3,)),('n','<i4')], align=True)", true, true),
	newStructCase[sTimes]("datetime64", "np.dtype([('t','<M8[ns]'),('dt','<m8[s]'),('v','<f8')])", false, false),
	newStructCase[sGaps]("explicit offsets", "np.dtype({'names':['a','b'],'formats':['<i4','<f8'],'offsets':[0,16],'itemsize':32})", true, true),
	newStructCase[sBig]("big-endian", "np.dtype([('a','>i4'),('b','>f8'),('s','S6'),('u','>U6'),('C','>c8'),('H','>f2')], align=True)", false, false),
	newStructCase[sTitled]("titles", "np.dtype([(('Price in USD','price'),'<f8'),('q','<i4')], align=True)", false, false),
	newStructCase[sUnsigned]("unsigned", "np.dtype([('a','u1'),('b','<u2'),('c','<u4'),('d','<u8')], align=True)", true, true),
	newStructCase[sDeep]("deep", "np.dtype([('l1',[('a','<i2'),('l2',[('l3',[('V','i1')]),('w','<f8')],(2,))]),('b','u1')], align=True)", true, true),
	newStructCase[[5]byte]("S5 array", "np.dtype('S5')", true, true),
	newStructCase[[8]rune]("U8 array", "np.dtype('<U8')", true, true),
	newStructCase[[8]rune]("big-endian U8 array", "np.dtype('>U8')", false, false),
}

// NumPy writes each structured layout (aligned, packed, nested, sub-arrays,
// strings, big-endian, ...) and Go reads every scalar back through At,
// ReadRows, Data and Batches.
func TestStructuredNumPyWritesGoReads(t *testing.T) {
	dir := t.TempDir()
	const n = 7
	var pys []string
	for _, c := range structCases {
		pys = append(pys, c.py)
	}
	runPython(t, pyFill+`
d, n, dts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
for j, e in enumerate(dts):
    np.save(f"{d}/{j}.npy", fill(np.zeros(n, dtype=eval(e))))
`, dir, fmt.Sprint(n), mustJSON(pys))
	for j, c := range structCases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, filepath.Join(dir, fmt.Sprintf("%d.npy", j)), n)
		})
	}
}

// Go creates each layout it can write with CreateNPY and fills it; NumPy
// reads it back as the same structured dtype with the same values, and the
// header is byte for byte np.save's.
func TestStructuredGoWritesNumPyReads(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	type job struct {
		Path       string `json:"path"`
		Py         string `json:"py"`
		SameHeader bool   `json:"same_header"`
	}
	var jobs []job
	for j, c := range structCases {
		if !c.goWrites {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("go%d.npy", j))
		c.write(t, p, n)
		jobs = append(jobs, job{p, c.py, c.sameHeader})
	}
	out := runPython(t, pyFill+`
import io
jobs, n = json.loads(sys.argv[1]), int(sys.argv[2])
for j in jobs:
    want = eval(j['py'])
    a = np.load(j['path'], mmap_mode='r')
    assert a.dtype == want, (j, a.dtype, want)
    assert a.dtype.itemsize == want.itemsize and a.dtype.descr == want.descr, (j, a.dtype.descr, want.descr)
    exp = fill(np.zeros(n, dtype=want))
    assert (np.asarray(a) == exp).all(), (j, a, exp)
    if j['same_header']:
        f = io.BytesIO()
        np.save(f, np.zeros(n, dtype=want))
        with open(j['path'], 'rb') as fh:
            got = fh.read(len(f.getvalue()) - n*want.itemsize)
        assert got == f.getvalue()[:len(got)], (j, got, f.getvalue()[:len(got)])
print(len(jobs))
`, mustJSON(jobs), fmt.Sprint(n))
	if strings.TrimSpace(out) != fmt.Sprint(len(jobs)) || len(jobs) < 10 {
		t.Fatalf("NumPy checked %s files of %d", out, len(jobs))
	}
}

// A Go type that does not match the file is refused, naming the first field
// that differs and how.
func TestStructuredMismatch(t *testing.T) {
	dir := t.TempDir()
	runPython(t, `
d = sys.argv[1]
np.save(d + "/packed.npy", np.zeros(2, dtype=[('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')]))
np.save(d + "/packed2.npy", np.zeros(2, dtype=[('flag','u1'),('price','<f8')]))
np.save(d + "/aligned.npy", np.zeros(2, dtype=np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')], align=True)))
np.save(d + "/f4price.npy", np.zeros(2, dtype=np.dtype([('ts','<i8'),('price','<f4'),('qty','<i4'),('flag','u1')], align=True)))
np.save(d + "/swapped.npy", np.zeros(2, dtype=np.dtype([('price','<f8'),('ts','<i8'),('qty','<i4'),('flag','u1')], align=True)))
np.save(d + "/extra.npy", np.zeros(2, dtype=np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1'),('more','u1')], align=True)))
np.save(d + "/obj.npy", np.zeros(2, dtype=[('ts','<i8'),('o','O')]), allow_pickle=True)
np.save(d + "/sub.npy", np.zeros(2, dtype=[('v','<f4',(3,))]))
np.save(d + "/u.npy", np.zeros(2, dtype='<U4'))
`, dir)
	type flagPrice struct {
		Flag  uint8   `npy:"flag"`
		Price float64 `npy:"price"`
	}
	type fewer struct {
		Ts    int64   `npy:"ts"`
		Price float64 `npy:"price"`
		Qty   int32   `npy:"qty"`
	}
	type vec4 struct {
		V [4]float32 `npy:"v"`
	}
	type untagged struct {
		TS    int64
		PRICE float64
		Qty   int32
		Flag  uint8
	}
	open := func(path string, f func(string) error) error { return f(filepath.Join(dir, path)) }
	openAs := func(typ string) func(string) error {
		return map[string]func(string) error{
			"tick":      func(p string) error { _, err := OpenNPY[tick](p, ReadOnly, nil); return err },
			"flagPrice": func(p string) error { _, err := OpenNPY[flagPrice](p, ReadOnly, nil); return err },
			"fewer":     func(p string) error { _, err := OpenNPY[fewer](p, ReadOnly, nil); return err },
			"vec4":      func(p string) error { _, err := OpenNPY[vec4](p, ReadOnly, nil); return err },
			"untagged":  func(p string) error { _, err := OpenNPY[untagged](p, ReadOnly, nil); return err },
			"U5":        func(p string) error { _, err := OpenNPY[[5]rune](p, ReadOnly, nil); return err },
			"S16":       func(p string) error { _, err := OpenNPY[[16]byte](p, ReadOnly, nil); return err },
		}[typ]
	}
	cases := []struct {
		file, as string
		want     error
		msgs     []string
	}{
		{"aligned.npy", "tick", nil, nil},
		{"aligned.npy", "untagged", nil, nil},
		{"packed.npy", "tick", ErrDtypeMismatch, []string{"21 bytes in the file", "24 bytes", "align=True"}},
		{"packed2.npy", "flagPrice", ErrDtypeMismatch, []string{"field price", "offset 1 in the file, 8 in Go", "packed"}},
		{"f4price.npy", "tick", ErrDtypeMismatch, []string{"field price", "<f4", "float64"}},
		{"swapped.npy", "tick", ErrDtypeMismatch, []string{"field price", `is "price"`, "Ts"}},
		{"extra.npy", "tick", ErrDtypeMismatch, []string{"field more", "no field for it"}},
		{"aligned.npy", "fewer", ErrDtypeMismatch, []string{"field flag", "no field for it"}},
		{"obj.npy", "tick", ErrUnsupportedDtype, []string{"field o", "pickle"}},
		{"sub.npy", "vec4", ErrDtypeMismatch, []string{"field v", "(3,)", "[4]float32"}},
		{"u.npy", "U5", ErrDtypeMismatch, []string{"<U4", "[5]int32"}},
		{"u.npy", "S16", ErrDtypeMismatch, []string{"<U4", "[16]uint8"}},
	}
	for _, c := range cases {
		err := open(c.file, openAs(c.as))
		if !errors.Is(err, c.want) {
			t.Errorf("%s as %s: %v, want %v", c.file, c.as, err, c.want)
			continue
		}
		for _, m := range c.msgs {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s as %s: %q does not say %q", c.file, c.as, err, m)
			}
		}
	}
}

// Byte and UTF-32 strings read as NumPy reads them: trailing NULs dropped,
// inner NULs and any code point kept; strings Go writes read back equal in
// NumPy.
func TestStringsMatchNumPy(t *testing.T) {
	dir := t.TempDir()
	sVals := []string{"ab\x00c", "", "xyz", "\x01\x7f é"}
	uVals := []string{"Zürich", "", "𝄞x\x00y", "日本語"}
	runPython(t, `
d = sys.argv[1]
s, u = json.loads(sys.argv[2]), json.loads(sys.argv[3])
np.save(d + "/s.npy", np.array([x.encode('utf-8') for x in s], dtype='S6'))
np.save(d + "/u.npy", np.array(u, dtype='<U6'))
np.save(d + "/ube.npy", np.array(u, dtype='>U6'))
`, dir, mustJSON(sVals), mustJSON(uVals))
	s, err := OpenNPY[[6]byte](filepath.Join(dir, "s.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, want := range sVals {
		if v := s.At(i); String(v[:]) != want {
			t.Errorf("S6[%d] = %q, want %q", i, String(v[:]), want)
		}
	}
	for _, f := range []string{"u.npy", "ube.npy"} {
		u, err := OpenNPY[[6]rune](filepath.Join(dir, f), ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range uVals {
			if v := u.At(i); Unicode(v[:]) != want {
				t.Errorf("%s[%d] = %q, want %q", f, i, Unicode(v[:]), want)
			}
		}
		u.Close()
	}
	// Go writes; NumPy reads the same strings.
	gs, err := CreateNPY[[6]byte](filepath.Join(dir, "gs.npy"), []int{len(sVals)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gu, err := CreateNPY[[6]rune](filepath.Join(dir, "gu.npy"), []int{len(uVals)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sVals {
		var b [6]byte
		var r [6]rune
		if err := SetString(b[:], sVals[i]); err != nil {
			t.Fatal(err)
		}
		if err := SetUnicode(r[:], uVals[i]); err != nil {
			t.Fatal(err)
		}
		gs.Set(b, i)
		gu.Set(r, i)
	}
	gs.Close()
	gu.Close()
	out := runPython(t, `
d = sys.argv[1]
s, u = json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = np.load(d + "/gs.npy"), np.load(d + "/gu.npy")
assert a.dtype == np.dtype('S6') and b.dtype == np.dtype('<U6'), (a.dtype, b.dtype)
assert list(a) == [x.encode('utf-8') for x in s], list(a)
assert list(b) == u, list(b)
print("ok")
`, dir, mustJSON(sVals), mustJSON(uVals))
	if strings.TrimSpace(out) != "ok" {
		t.Fatal(out)
	}
	var small [3]byte
	if err := SetString(small[:], "abcd"); !errors.Is(err, ErrTooLong) || small != [3]byte{} {
		t.Errorf("SetString too long: %v, %q", err, small)
	}
	var smallU [2]rune
	if err := SetUnicode(smallU[:], "日本語"); !errors.Is(err, ErrTooLong) || smallU != [2]rune{} {
		t.Errorf("SetUnicode too long: %v, %q", err, smallU)
	}
	if got := Unicode([]rune{'a', -1, 0x110000, 'b', 0, 0}); got != "a\uFFFD\uFFFDb" {
		t.Errorf("Unicode with invalid code points: %q", got)
	}
}

// ConvertNPY writes a copy in another byte order that NumPy reads as the
// same values; a native copy maps zero-copy in Go.
func TestConvertNPY(t *testing.T) {
	dir := t.TempDir()
	dts := []string{">i2", ">u4", ">i8", ">f2", ">f4", ">f8", ">c8", ">c16", "|b1", "|u1", ">U5",
		"[('a','>i4'),('b','<f8'),('s','S3'),('u','>U2',(2,)),('n',[('x','>f4')])]", "<f8", "<c16"}
	runPython(t, pyFill+`
d, dts = sys.argv[1], json.loads(sys.argv[2])
for j, e in enumerate(dts):
    a = np.zeros((7, 2), dtype=eval(e) if e.startswith('[') else e)
    for r in range(2):
        fill(a[:, r])
    np.save(f"{d}/{j}.npy", a)
`, dir, mustJSON(dts))
	type job struct {
		Src   string `json:"src"`
		Dst   string `json:"dst"`
		Order string `json:"order"`
	}
	var jobs []job
	for j := range dts {
		src := filepath.Join(dir, fmt.Sprintf("%d.npy", j))
		for _, order := range []byte{'=', '<', '>'} {
			dst := filepath.Join(dir, fmt.Sprintf("%d-%c.npy", j, order))
			if err := ConvertNPY(dst, src, order, nil); err != nil {
				t.Fatalf("%s to %c: %v", dts[j], order, err)
			}
			jobs = append(jobs, job{src, dst, string(order)})
			h, err := ReadNPYHeader(dst)
			if err != nil {
				t.Fatal(err)
			}
			if h.Dtype.Swapped() != (order != '=' && order != nativeOrder && h.Dtype.Size > 1 && !inOrder(h.Dtype, nativeOrder)) {
				t.Errorf("%s converted to %c: %s", dts[j], order, h.Descr)
			}
		}
	}
	// The native copy of a big-endian float64 array maps zero-copy.
	a, err := OpenNPY[float64](filepath.Join(dir, "5-=.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Swapped() || len(a.Data()) != 14 || a.Data()[2] != 7.5 {
		t.Fatalf("native copy: swapped %v, data %v", a.Swapped(), a.Data())
	}
	a.Close()
	out := runPython(t, `
jobs = json.loads(sys.argv[1])
for j in jobs:
    a, b = np.load(j['src']), np.load(j['dst'])
    want = a.dtype.newbyteorder(j['order']) if j['order'] != '=' else a.dtype.newbyteorder('=')
    assert b.dtype == want, (j, b.dtype, want)
    assert b.shape == a.shape and (a == b).all(), (j, a, b)
print(len(jobs))
`, mustJSON(jobs))
	if strings.TrimSpace(out) != fmt.Sprint(len(jobs)) {
		t.Fatalf("NumPy checked %s of %d", out, len(jobs))
	}
	src := filepath.Join(dir, "5.npy")
	if err := ConvertNPY(filepath.Join(dir, "5-=.npy"), src, '=', nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("convert over an existing file: %v", err)
	}
	if err := ConvertNPY(src, src, '=', &Options{Replace: true}); err != nil {
		t.Fatalf("convert in place: %v", err)
	}
	if h, err := ReadNPYHeader(src); err != nil || h.Dtype.Swapped() {
		t.Fatalf("converted in place: %+v %v", h, err)
	}
}

// TestStructuredZeroSizeSubarray: a sub-array field with a zero dimension
// holds no values, whatever its other dimensions (NumPy accepts
// ('a', '<f4', (2147483647, 0)) in a 4-byte element). Value decodes it as an
// empty []any; nesting it by its shape would allocate gigabytes for 4 bytes
// of file (the process died of "out of memory").
func TestStructuredZeroSizeSubarray(t *testing.T) {
	dir := t.TempDir()
	for i, shape := range []string{"(0,)", "(3, 0, 2)", "(2147483647, 0)", "(2147483647, 2147483647, 0)"} {
		text := fmt.Sprintf("{'descr': [('a', '<f4', %s), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }", shape)
		p := writeFile(t, dir, fmt.Sprintf("z%d.npy", i), craftNPY(1, 0, text, []byte{1, 0, 0, 0, 2, 0, 0, 0}))
		u, err := OpenNPYAny(p, ReadOnly, nil)
		if err != nil {
			t.Fatalf("%s: %v", shape, err)
		}
		if u.Dtype().Size != 4 {
			t.Errorf("%s: item size %d, want 4", shape, u.Dtype().Size)
		}
		for k := range 2 {
			got, want := u.Value(k), []any{[]any{}, int32(k + 1)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: element %d is %#v, want %#v", shape, k, got, want)
			}
		}
		u.Close()
	}
}
