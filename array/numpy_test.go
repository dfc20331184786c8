package array

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var interopShapes = [][]int{{3, 4, 5}, {7}, {}, {0, 3}}

// NumPy writes every dtype, order and version; Go reads identical values.
func TestNumPyWritesGoReads(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for _, c := range allTypes {
		names = append(names, c.dtype.Descr())
	}
	runPython(t, `
d, descrs = sys.argv[1], sys.argv[2].split()
shapes = json.loads(sys.argv[3])
for descr in descrs:
    for si, shape in enumerate(shapes):
        for order in 'CF':
            for v in (1, 2, 3):
                a = gen(descr, tuple(shape), order)
                with open(f"{d}/{np.dtype(descr).name}-{si}-{order}-{v}.npy", "wb") as f:
                    np.lib.format.write_array(f, a, version=(v, 0))
`, dir, strings.Join(names, " "), mustJSON(interopShapes))
	for _, c := range allTypes {
		for si, shape := range interopShapes {
			for _, order := range []string{"C", "F"} {
				for v := 1; v <= 3; v++ {
					name := fmt.Sprintf("%s-%d-%s-%d.npy", c.dtype, si, order, v)
					t.Run(name, func(t *testing.T) {
						path := filepath.Join(dir, name)
						h, err := ReadNPYHeader(path)
						if err != nil {
							t.Fatal(err)
						}
						wantF := order == "F" && len(shape) > 1 && shape[0] != 0
						if h.Major != v || !h.Dtype.Equal(c.dtype) || !equalInts(h.Shape, shape) || h.Fortran != wantF {
							t.Fatalf("header %+v, want version %d, %s, shape %v, fortran %v", h, v, c.dtype, shape, wantF)
						}
						c.check(t, path)
					})
				}
			}
		}
	}
}

// Go writes every dtype, order and version; NumPy's np.load(mmap_mode='r')
// reads identical values.
func TestGoWritesNumPyReads(t *testing.T) {
	dir := t.TempDir()
	type file struct {
		Path    string `json:"path"`
		Descr   string `json:"descr"`
		Shape   []int  `json:"shape"`
		Fortran bool   `json:"fortran"`
		Version int    `json:"version"`
	}
	var files []file
	for _, c := range allTypes {
		for si, shape := range interopShapes {
			for _, fortran := range []bool{false, true} {
				for v := 1; v <= 3; v++ {
					p := filepath.Join(dir, fmt.Sprintf("%s-%d-%v-%d.npy", c.dtype, si, fortran, v))
					c.write(t, p, &Options{Fortran: fortran, Version: v}, shape)
					files = append(files, file{p, c.dtype.Descr(), shape, fortran, v})
				}
			}
		}
	}
	out := runPython(t, `
files = json.loads(sys.argv[1])
ok = 0
for f in files:
    a = np.load(f['path'], mmap_mode='r')
    assert isinstance(a, np.memmap), f
    with open(f['path'], 'rb') as fh:
        assert fh.read(8)[6] == f['version'], f
    assert a.dtype == np.dtype(f['descr']), (f, a.dtype)
    assert a.shape == tuple(f['shape']), (f, a.shape)
    if a.ndim > 1 and a.size > 0:
        assert a.flags.f_contiguous == f['fortran'] and a.flags.c_contiguous != f['fortran'], f
    want = gen(f['descr'], tuple(f['shape']))
    assert np.array_equal(a, want), (f, a, want)
    ok += 1
print(ok)
`, mustJSON(files))
	if strings.TrimSpace(out) != fmt.Sprint(len(files)) {
		t.Fatalf("NumPy checked %s files, want %d", out, len(files))
	}
}

// Go modifies a NumPy file in place through ReadWrite; NumPy sees the change.
func TestGoModifiesNumPySees(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.npy")
	runPython(t, `np.save(sys.argv[1], np.zeros((4, 5), dtype='<f8'))`, path)
	a, err := OpenNPY[float64](path, ReadWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Set(3.25, 2, 4)
	row := a.Row(1)
	for i := range row {
		row[i] = float64(i) + 0.5
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	out := runPython(t, `
a = np.load(sys.argv[1], mmap_mode='r')
want = np.zeros((4, 5)); want[2, 4] = 3.25; want[1] = np.arange(5) + 0.5
assert np.array_equal(a, want), a
print("ok")
`, path)
	if strings.TrimSpace(out) != "ok" {
		t.Fatal(out)
	}
}

// The header Go writes is byte for byte the one NumPy writes.
func TestHeaderMatchesNumPy(t *testing.T) {
	dir := t.TempDir()
	type hc struct {
		Descr   string `json:"descr"`
		Shape   []int  `json:"shape"`
		Fortran bool   `json:"fortran"`
		Version int    `json:"version"` // 0: let NumPy choose
	}
	cases := []hc{
		{"<f8", []int{3}, false, 0},
		{"<f4", []int{1000000, 128}, false, 0},
		{"<f4", []int{1000000, 128}, true, 0},
		{"|b1", []int{}, false, 0},
		{"<f2", []int{0}, false, 0},
		{"<c16", []int{0, 5}, false, 0},
		{"|u1", []int{2, 3, 4}, true, 0},
		{"<i8", []int{123456789}, false, 2},
		{"<i2", []int{5, 1}, false, 3},
		{"|i1", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, false, 0},
		{"<u4", []int{12345678901}, false, 1},
	}
	for i := range cases {
		c := &cases[i]
		d, err := ParseDescr(c.Descr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeHeader(d, c.Shape, c.Fortran, c.Version)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("go%d", i)), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runPython(t, `
import io
d, cases = sys.argv[1], json.loads(sys.argv[2])
for i, c in enumerate(cases):
    f = io.BytesIO()
    hdr = {'descr': c['descr'], 'fortran_order': c['fortran'], 'shape': tuple(c['shape'])}
    if c['version']:
        np.lib.format._write_array_header(f, hdr, (c['version'], 0))
    else:
        np.lib.format._write_array_header(f, hdr, None)
    with open(f"{d}/np{i}", "wb") as out:
        out.write(f.getvalue())
`, dir, mustJSON(cases))
	for i, c := range cases {
		got, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("go%d", i)))
		want, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("np%d", i)))
		if string(got) != string(want) {
			t.Errorf("%+v:\n go    %q\n numpy %q", c, got, want)
		}
	}
	// And the full path: np.save's file and CreateNPY's are identical.
	p1, p2 := filepath.Join(dir, "np.npy"), filepath.Join(dir, "go.npy")
	runPython(t, `np.save(sys.argv[1], np.zeros((3, 4), dtype='<f4'))`, p1)
	a, err := CreateNPY[float32](p2, []int{3, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if string(b1) != string(b2) {
		t.Errorf("np.save wrote %q\nCreateNPY wrote %q", b1, b2)
	}
}

// Every header NumPy writes can be read; dtypes Go cannot map are refused
// when opened, with an error that says what they are, and a Go type that
// does not match is refused naming both.
func TestNumPyDtypesRefused(t *testing.T) {
	dir := t.TempDir()
	runPython(t, `
d = sys.argv[1]
np.save(d + "/object.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
np.save(d + "/structured.npy", np.zeros(3, dtype=[('x', '<f4'), ('y', '<i8', (3,))]))
np.save(d + "/bytes.npy", np.array([b"abc"], dtype='S5'))
np.save(d + "/unicode.npy", np.array(["abc"], dtype='U5'))
np.save(d + "/datetime.npy", np.array([0], dtype='M8[ns]'))
np.save(d + "/void.npy", np.zeros(2, dtype='V8'))
np.save(d + "/longdouble.npy", np.zeros(2, dtype=np.longdouble))
np.save(d + "/clongdouble.npy", np.zeros(2, dtype=np.clongdouble))
np.save(d + "/f8.npy", np.arange(3, dtype='<f8'))
`, dir)
	cases := []struct {
		file  string
		descr string
		want  error
		msg   string
	}{
		{"object.npy", "|O", ErrUnsupportedDtype, "pickle"},
		{"structured.npy", "[('x', '<f4'), ('y', '<i8', (3,))]", ErrDtypeMismatch, "struct"},
		{"bytes.npy", "|S5", ErrDtypeMismatch, "|S5"},
		{"unicode.npy", "<U5", ErrDtypeMismatch, "<U5"},
		{"datetime.npy", "<M8[ns]", ErrDtypeMismatch, "<M8[ns]"},
		{"void.npy", "|V8", ErrDtypeMismatch, "|V8"},
		{"longdouble.npy", "<f16", ErrUnsupportedDtype, "long double"},
		{"clongdouble.npy", "<c32", ErrUnsupportedDtype, "long double"},
		{"f8.npy", "<f8", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			h, err := ReadNPYHeader(path)
			if err != nil || h.Descr != c.descr {
				t.Fatalf("ReadNPYHeader: %+v, %v; want descr %s", h, err, c.descr)
			}
			_, err = OpenNPY[float64](path, ReadOnly, nil)
			if !errors.Is(err, c.want) || (c.want != nil && !strings.Contains(err.Error(), c.msg)) {
				t.Fatalf("OpenNPY[float64]: %v, want %v mentioning %q", err, c.want, c.msg)
			}
		})
	}
	_, err := OpenNPY[float32](filepath.Join(dir, "f8.npy"), ReadOnly, nil)
	if !errors.Is(err, ErrDtypeMismatch) || !strings.Contains(err.Error(), "float64") || !strings.Contains(err.Error(), "float32") {
		t.Fatalf("float64 file opened as float32: %v, want ErrDtypeMismatch naming both types", err)
	}
	for _, f := range []string{"object.npy", "longdouble.npy"} {
		if _, err := OpenNPYAny(filepath.Join(dir, f), ReadOnly, nil); !errors.Is(err, ErrUnsupportedDtype) {
			t.Errorf("OpenNPYAny(%s): %v, want ErrUnsupportedDtype", f, err)
		}
	}
}

// NumPy's float32 -> float16 conversion and Float16From agree bit for bit,
// including ties, subnormals, overflow and NaN.
func TestFloat16MatchesNumPy(t *testing.T) {
	dir := t.TempDir()
	runPython(t, `
d = sys.argv[1]
rng = np.random.default_rng(1)
bits = rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32)
# concentrate on the float16 range: exponents 100..145
e = rng.integers(100, 146, 200000, dtype=np.uint32)
near = (bits & np.uint32(0x807fffff)) | (e << np.uint32(23))
# exact ties: a float16 value plus half an ulp
h = np.arange(0, 65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
h = h[np.isfinite(h)]
ulp = np.abs(np.spacing(h.astype(np.float16)).astype(np.float32))
ties = (h + ulp / 2).astype(np.float32)
f = np.concatenate([bits.view(np.float32), near.view(np.float32), ties, h,
    np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65520, 65519.99, 6e-8, 3e-8, 2.98e-8], dtype=np.float32)])
with np.errstate(all='ignore'):
    np.save(d + "/f32.npy", f)
    np.save(d + "/f16.npy", f.astype(np.float16))
`, dir)
	f32, err := OpenNPY[float32](filepath.Join(dir, "f32.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	f16, err := OpenNPY[Float16](filepath.Join(dir, "f16.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f16.Close()
	src, want := f32.Data(), f16.Data()
	if len(src) != len(want) || len(src) < 400000 {
		t.Fatalf("%d and %d values", len(src), len(want))
	}
	bad := 0
	for i, x := range src {
		got := Float16From(x)
		nan := math.IsNaN(float64(x))
		if nan && math.IsNaN(float64(got.Float32())) {
			continue
		}
		if got != want[i] && bad < 10 {
			bad++
			t.Errorf("Float16From(%g [%#08x]) = %#04x, NumPy %#04x", x, math.Float32bits(x), uint16(got), uint16(want[i]))
		}
		if !nan && float64(want[i].Float32()) != f16Reference(want[i]) && bad < 10 {
			bad++
			t.Errorf("Float16(%#04x).Float32() = %g, want %g", uint16(want[i]), want[i].Float32(), f16Reference(want[i]))
		}
	}
}

// f16Reference is an independent reference conversion for tests (via float64
// math) so that Float32 is not checked against itself.
func f16Reference(h Float16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * mant * math.Pow(2, -24)
	case 0x1f:
		if mant == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + mant/1024) * math.Pow(2, float64(exp-15))
}

// The source's example end to end: NumPy creates a 1,000,000 x 128 float32
// file (512 MB), Go normalises rows 5000-5100 in place and flushes, NumPy
// confirms the new rows and that nothing else changed.
func TestSourceExampleNormaliseRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "features.dat")
	runPython(t, `
# np.memmap(mode='w+') then a[:] = ... is the source's way; tofile writes the
# same bytes several times faster than first-touch faults on a new mapping.
np.random.default_rng(7).random((1_000_000, 128), dtype=np.float32).tofile(sys.argv[1])
`, path)
	a, err := Open[float32](path, ReadWrite, 0, []int{1_000_000, 128}, nil)
	if err != nil {
		t.Fatal(err)
	}
	batch := a.Rows(5000, 5100)
	for r := 0; r < 100; r++ {
		row := batch[r*128 : (r+1)*128]
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		norm := float32(math.Sqrt(ss))
		for i := range row {
			row[i] /= norm
		}
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	out := runPython(t, `
a = np.memmap(sys.argv[1], dtype=np.float32, mode='r', shape=(1_000_000, 128))
orig = np.random.default_rng(7).random((1_000_000, 128), dtype=np.float32)
norms = np.linalg.norm(orig[5000:5100].astype(np.float64), axis=1)
assert np.allclose(np.linalg.norm(a[5000:5100], axis=1), 1.0, atol=1e-6)
assert np.allclose(a[5000:5100], orig[5000:5100] / norms[:, None], rtol=1e-6, atol=1e-7)
assert np.array_equal(a[:5000], orig[:5000]) and np.array_equal(a[5100:], orig[5100:])
print("ok")
`, path)
	if strings.TrimSpace(out) != "ok" {
		t.Fatal(out)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
