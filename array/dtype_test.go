package array

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDescr(t *testing.T) {
	le := func(k Kind) Dtype { d := scalarDtype(k); d.Order = '<'; return d }
	be := func(k Kind) Dtype { d := scalarDtype(k); d.Order = '>'; return d }
	one := scalarDtype
	cases := []struct {
		descr string
		want  Dtype
		back  string // Descr() of the result
	}{
		{"|b1", one(KindBool), "|b1"},
		{"?", one(KindBool), "|b1"},
		{"|i1", one(KindInt8), "|i1"},
		{">i1", one(KindInt8), "|i1"},
		{"<u1", one(KindUint8), "|u1"},
		{"<i2", le(KindInt16), "<i2"},
		{">i4", be(KindInt32), ">i4"},
		{"<i8", le(KindInt64), "<i8"},
		{">u2", be(KindUint16), ">u2"},
		{"<u4", le(KindUint32), "<u4"},
		{">u8", be(KindUint64), ">u8"},
		{"<f2", le(KindFloat16), "<f2"},
		{">f4", be(KindFloat32), ">f4"},
		{"<f8", le(KindFloat64), "<f8"},
		{">c8", be(KindComplex64), ">c8"},
		{"<c16", le(KindComplex128), "<c16"},
		{"=f8", scalarDtype(KindFloat64), scalarDtype(KindFloat64).Descr()},
		{"f8", scalarDtype(KindFloat64), scalarDtype(KindFloat64).Descr()},
		{"|S5", Dtype{Kind: KindBytes, Order: '|', Size: 5}, "|S5"},
		{"|a3", Dtype{Kind: KindBytes, Order: '|', Size: 3}, "|S3"},
		{"|S0", Dtype{Kind: KindBytes, Order: '|', Size: 0}, "|S0"},
		{"<U3", Dtype{Kind: KindUnicode, Order: '<', Size: 12}, "<U3"},
		{">U1", Dtype{Kind: KindUnicode, Order: '>', Size: 4}, ">U1"},
		{"|V16", Dtype{Kind: KindVoid, Order: '|', Size: 16}, "|V16"},
		{"<M8[ns]", Dtype{Kind: KindDatetime, Order: '<', Size: 8, Unit: "ns"}, "<M8[ns]"},
		{">m8[10ms]", Dtype{Kind: KindTimedelta, Order: '>', Size: 8, Unit: "10ms"}, ">m8[10ms]"},
		{"<M8", Dtype{Kind: KindDatetime, Order: '<', Size: 8}, "<M8"},
		{"|O", Dtype{Kind: KindObject, Order: '|', Size: 8}, "|O"},
		{"|O8", Dtype{Kind: KindObject, Order: '|', Size: 8}, "|O"},
		{"<f16", Dtype{Kind: KindLongDouble, Order: '<', Size: 16}, "<f16"},
		{"<c32", Dtype{Kind: KindCLongDouble, Order: '<', Size: 32}, "<c32"},
		{"[('x', '<f4'), ('y', '>i8', (3,))]", Dtype{Kind: KindStruct, Order: '|', Size: 28, Fields: []Field{
			{Name: "x", Dtype: le(KindFloat32)},
			{Name: "y", Offset: 4, Dtype: be(KindInt64), Shape: []int{3}},
		}}, "[('x', '<f4'), ('y', '>i8', (3,))]"},
		{"[('a', '|u1'), ('', '|V3'), (('t', 'b'), '<i4'), ('n', [('c', '<U2')], (2, 1)), ('', '|V4')]", Dtype{Kind: KindStruct, Order: '|', Size: 28, Fields: []Field{
			{Name: "a", Dtype: one(KindUint8)},
			{Name: "b", Title: "t", Offset: 4, Dtype: le(KindInt32)},
			{Name: "n", Offset: 8, Shape: []int{2, 1}, Dtype: Dtype{Kind: KindStruct, Order: '|', Size: 8, Fields: []Field{{Name: "c", Dtype: Dtype{Kind: KindUnicode, Order: '<', Size: 8}}}}},
		}}, "[('a', '|u1'), ('', '|V3'), (('t', 'b'), '<i4'), ('n', [('c', '<U2')], (2, 1)), ('', '|V4')]"},
	}
	for _, c := range cases {
		got, err := ParseDescr(c.descr)
		if err != nil {
			t.Errorf("ParseDescr(%q): %v", c.descr, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("ParseDescr(%q) = %+v, want %+v", c.descr, got, c.want)
		}
		if got.Descr() != c.back {
			t.Errorf("ParseDescr(%q).Descr() = %q, want %q", c.descr, got.Descr(), c.back)
		}
	}
	for descr, want := range map[string]error{
		"":                               ErrHeader,
		"<":                              ErrHeader,
		"<i3":                            ErrUnsupportedDtype,
		"<b2":                            ErrUnsupportedDtype,
		"<q8":                            ErrUnsupportedDtype,
		"<f04":                           ErrHeader,
		"<f+4":                           ErrHeader,
		"|S-1":                           ErrHeader,
		"|S99999999999":                  ErrUnsupportedDtype,
		"<M8[xs]":                        ErrHeader,
		"<M4":                            ErrUnsupportedDtype,
		"[('x', '<f4'), ('x', '<f4')]":   ErrHeader,
		"[('', '<f4')]":                  ErrHeader,
		"[('x')]":                        ErrHeader,
		"[('x', 4)]":                     ErrHeader,
		"[('x', '<f4', (-1,))]":          ErrShape,
		"[('x', '<f4', ('a',))]":         ErrHeader,
		"[(1, '<f4')]":                   ErrHeader,
		"[('x', '<f8', (99999999999,))]": ErrUnsupportedDtype,
		"[('x', '|S2147483647', (2,))]":  ErrUnsupportedDtype,
		"[('x', '<f4'":                   ErrHeader,
	} {
		if _, err := ParseDescr(descr); !errors.Is(err, want) {
			t.Errorf("ParseDescr(%q): %v, want %v", descr, err, want)
		}
	}
}

func TestPyRepr(t *testing.T) {
	for in, want := range map[string]string{
		"abc":         `'abc'`,
		"a'b":         `"a'b"`,
		`a"b'`:        `'a"b\''`,
		"a\\b":        `'a\\b'`,
		"tab\there":   `'tab\there'`,
		"é\x00\u2028": `'é\x00\u2028'`,
		"\u00a0":      `'\xa0'`,
	} {
		if got := pyRepr(in); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", in, got, want)
		}
	}
}

type tick struct {
	Ts    int64   `npy:"ts"`
	Price float64 `npy:"price"`
	Qty   int32   `npy:"qty"`
	Flag  uint8   `npy:"flag"`
}

func TestGoDtype(t *testing.T) {
	type inner struct {
		A uint8
		B int16
	}
	type strs struct {
		Sym  [8]byte  `npy:"sym"`
		Name [3]rune  `npy:"name,unicode"`
		V    [4]int32 `npy:"v"`
		M    [2][3]float32
		N    [2]inner
		_    [4]byte
		Ok   bool `npy:"ok"`
	}
	cases := []struct {
		dt   Dtype
		want string
	}{
		{dtypeOf[tick](), "[('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('flag', '|u1'), ('', '|V3')]"},
		{dtypeOf[strs](), "[('sym', '|S8'), ('name', '<U3'), ('v', '<i4', (4,)), ('M', '<f4', (2, 3)), ('N', [('A', '|u1'), ('', '|V1'), ('B', '<i2')], (2,)), ('', '|V4'), ('ok', '|b1'), ('', '|V3')]"},
		{dtypeOf[[5]byte](), "|S5"},
		{dtypeOf[[3]rune](), "<U3"},
		{dtypeOf[Float16](), "<f2"},
	}
	for _, c := range cases {
		if got := c.dt.Descr(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		back, err := ParseDescr(c.dt.Descr())
		if err != nil || !back.Equal(c.dt) {
			t.Errorf("%s does not parse back: %+v %v", c.dt.Descr(), back, err)
		}
	}
	type bad1 struct{ P *int }
	type bad2 struct{ N int }
	type bad3 struct {
		S []byte
	}
	type bad4 struct {
		A int32 `npy:"x"`
		B int32 `npy:"x"`
	}
	type bad5 struct {
		A int32 `npy:"a,unicode"`
	}
	for name, err := range map[string]error{
		"pointer":    func() error { _, err := elemOf[bad1](); return err }(),
		"int":        func() error { _, err := elemOf[bad2](); return err }(),
		"slice":      func() error { _, err := elemOf[bad3](); return err }(),
		"duplicate":  func() error { _, err := elemOf[bad4](); return err }(),
		"unicode":    func() error { _, err := elemOf[bad5](); return err }(),
		"string":     func() error { _, err := elemOf[string](); return err }(),
		"empty":      func() error { _, err := elemOf[struct{}](); return err }(),
		"[4]float32": func() error { _, err := elemOf[[4]float32](); return err }(),
	} {
		if !errors.Is(err, ErrUnsupportedDtype) {
			t.Errorf("%s: %v, want ErrUnsupportedDtype", name, err)
		}
	}
}

func TestGoType(t *testing.T) {
	cases := []struct {
		descr string
		want  string // Go source, or "!" + a piece of the error
	}{
		{"<f4", "float32"},
		{">f2", "array.Float16"},
		{"|S5", "[5]byte"},
		{"<U3", "[3]rune"},
		{"<M8[ns]", "int64"},
		{"|O", "!pickle"},
		{"<f16", "!long double"},
		{"[('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('flag', '|u1'), ('', '|V3')]",
			"struct {\n\tTs int64 `npy:\"ts\"`\n\tPrice float64 `npy:\"price\"`\n\tQty int32 `npy:\"qty\"`\n\tFlag uint8 `npy:\"flag\"`\n\t_ [3]byte\n}"},
		{"[('a', '|u1'), ('', '|V7'), ('b', '<U2', (2,)), ('c', [('x', '<f4')])]",
			"struct {\n\tA uint8 `npy:\"a\"`\n\t_ [7]byte\n\tB [2][2]rune `npy:\"b,unicode\"`\n\tC struct {\n\t\tX float32 `npy:\"x\"`\n\t} `npy:\"c\"`\n}"},
		{"[('ts', '<i8'), ('qty', '<i4')]", "!rounds"},
		{"[('a', '|u1'), ('b', '<f8')]", "!packed"},
		{"[('x', '|O')]", "!pickle"},
	}
	for _, c := range cases {
		d, err := ParseDescr(c.descr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.GoType()
		if strings.HasPrefix(c.want, "!") {
			if err == nil || !strings.Contains(err.Error(), c.want[1:]) || !errors.Is(err, ErrUnsupportedDtype) {
				t.Errorf("GoType(%s) = %q, %v; want an error about %q", c.descr, got, err, c.want[1:])
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("GoType(%s) = %v\n%s\nwant\n%s", c.descr, err, got, c.want)
		}
	}
}
