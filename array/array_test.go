package array

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

const f8Header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"

// Hand-crafted files that must be refused, each with the sentinel it must
// match.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	data24 := make([]byte, 24)
	hdr := func(s string) []byte { return craftNPY(1, 0, s, data24) }
	cases := []struct {
		name string
		file []byte
		want []error
		msg  string
	}{
		{"empty file", nil, []error{ErrNotNPY}, "empty"},
		{"npz archive", []byte("PK\x03\x04rest of a zip"), []error{ErrNotNPY}, "zip"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00xxxxxxxxxxxx"), []error{ErrNotNPY}, "magic"},
		{"pickle", []byte("\x80\x04\x95 pickled"), []error{ErrNotNPY}, "magic"},
		{"short magic", []byte("\x93NUM"), []error{ErrNotNPY, ErrTruncated}, "magic"},
		{"no version", []byte("\x93NUMPY\x01"), []error{ErrHeader, ErrTruncated}, "version"},
		{"version 4.0", craftNPY(4, 0, f8Header, data24), []error{ErrVersion}, "4.0"},
		{"version 1.1", craftNPY(1, 1, f8Header, data24), []error{ErrVersion}, "1.1"},
		{"version 0.0", craftNPY(0, 0, f8Header, data24), []error{ErrVersion}, "0.0"},
		{"no length", []byte("\x93NUMPY\x02\x00\x10\x00"), []error{ErrHeader, ErrTruncated}, "length"},
		{"length past EOF", append([]byte("\x93NUMPY\x01\x00\xff\x7f"), f8Header...), []error{ErrHeader, ErrTruncated}, "past the end"},
		{"v2 length past EOF", append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"), f8Header...), []error{ErrHeader, ErrTruncated}, "past the end"},
		{"not a dict", hdr("[1, 2, 3]"), []error{ErrHeader}, "not a dict"},
		{"call", hdr("{'descr': __import__('os').system('echo pwned'), 'fortran_order': False, 'shape': (3,)}"), []error{ErrHeader}, "never evaluated"},
		{"expression", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (1+2,)}"), []error{ErrHeader}, "byte"},
		{"missing key", hdr("{'descr': '<f8', 'shape': (3,)}"), []error{ErrHeader}, "missing key \"fortran_order\""},
		{"extra key", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}"), []error{ErrHeader}, "unexpected key \"x\""},
		{"duplicate key", hdr("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}"), []error{ErrHeader}, "twice"},
		{"int key", hdr("{1: '<f8', 'fortran_order': False, 'shape': (3,)}"), []error{ErrHeader}, "not a string"},
		{"negative dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 3)}"), []error{ErrShape}, "negative"},
		{"huge dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}"), []error{ErrShape}, "overflows"},
		{"overflowing product", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}"), []error{ErrShape}, "overflows"},
		{"overflow in bytes", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}"), []error{ErrShape}, "overflows"},
		{"shape list", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': [3]}"), []error{ErrHeader}, "not a tuple"},
		{"shape in parentheses", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3)}"), []error{ErrHeader}, "not a tuple"},
		{"float dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}"), []error{ErrHeader}, "plain decimal"},
		{"bool dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (True,)}"), []error{ErrHeader}, "not an int"},
		{"fortran int", hdr("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}"), []error{ErrHeader}, "fortran_order"},
		{"descr int", hdr("{'descr': 8, 'fortran_order': False, 'shape': (3,)}"), []error{ErrHeader}, "descr"},
		{"unknown type code", hdr("{'descr': '<q8', 'fortran_order': False, 'shape': (3,)}"), []error{ErrUnsupportedDtype}, "unknown"},
		{"structured", hdr("{'descr': [('x', '<f4'), ('', '|V4')], 'fortran_order': False, 'shape': (3,)}"), []error{ErrDtypeMismatch}, "struct [('x', '<f4'), ('', '|V4')], Go has float64"},
		{"object", hdr("{'descr': '|O', 'fortran_order': False, 'shape': (3,)}"), []error{ErrUnsupportedDtype}, "pickle"},
		{"data short", craftNPY(1, 0, f8Header, make([]byte, 23)), []error{ErrTruncated}, "promises 24"},
		{"no data", craftNPY(1, 0, f8Header, nil), []error{ErrTruncated}, "promises 24"},
		{"trailing garbage", hdr(f8Header + " x"), []error{ErrHeader}, "after the literal"},
		{"comment", hdr(f8Header + " # hi"), []error{ErrHeader}, "after the literal"},
		{"unterminated", hdr("{'descr': '<f8"), []error{ErrHeader}, "unterminated"},
		{"nesting bomb", hdr(strings.Repeat("(", 5000)), []error{ErrHeader}, "nested"},
		{"L suffix in v3", craftNPY(3, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,)}", data24), []error{ErrHeader}, "plain decimal"},
		{"bad utf-8 in v3", craftNPY(3, 0, "{'descr': '<f8\xff', 'fortran_order': False, 'shape': (3,)}", data24), []error{ErrHeader}, "UTF-8"},
		{"bad bool", craftNPY(1, 0, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}", []byte{0, 1, 2}), []error{ErrInvalidBool}, "byte 2 at element 2"},
		{"misaligned", craftNPY(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} ", data24), []error{ErrMisaligned}, "8-byte alignment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "f.npy", c.file)
			var err error
			switch {
			case strings.Contains(c.name, "bool"):
				_, err = OpenNPY[bool](path, ReadOnly, nil)
			default:
				_, err = OpenNPY[float64](path, ReadOnly, nil)
			}
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not mention %q and the path", err, c.msg)
			}
		})
	}
}

// Files NumPy may legitimately have written, crafted by hand.
func TestAcceptedHeaders(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 24)
	for i := range 3 {
		copy(data[i*8:], f64bytes(float64(i)+0.5))
	}
	cases := []struct {
		name string
		file []byte
	}{
		{"16-byte alignment (NumPy < 1.14)", craftNPY(1, 0, padText(f8Header, 10, 16), data)},
		{"python 2 long", craftNPY(1, 0, padText("{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }", 10, 16), data)},
		{"double quotes, no trailing comma", craftNPY(2, 0, padText(`{"shape": (3,), "fortran_order": False, "descr": "<f8"}`, 12, 64), data)},
		{"native order", craftNPY(3, 0, padText("{'descr': '=f8', 'fortran_order': False, 'shape': (3,)}", 12, 8), data)},
		{"no order", craftNPY(3, 0, padText("{'descr': 'f8', 'fortran_order': False, 'shape': (3,)}", 12, 8), data)},
		{"tabs and newlines", craftNPY(1, 0, padText("{\n\t'descr' : '<f8' ,\n\t'fortran_order':False,'shape':( 3 , ) }", 10, 8), data)},
		{"trailing data", craftNPY(1, 0, padText(f8Header, 10, 64), append(data, 1, 2, 3))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, "f.npy", c.file)
			a, err := OpenNPY[float64](path, ReadOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if got := a.Data(); len(got) != 3 || got[0] != 0.5 || got[2] != 2.5 {
				t.Fatalf("data %v", got)
			}
		})
	}
}

// padText pads a header with spaces and '\n' so the data after a prefix of
// prefixLen bytes starts at a multiple of align.
func padText(s string, prefixLen, align int) string {
	n := prefixLen + len(s) + 1
	return s + strings.Repeat(" ", (align-n%align)%align) + "\n"
}

func f64bytes(f float64) []byte {
	b := make([]byte, 8)
	u := math.Float64bits(f)
	for i := range b {
		b[i] = byte(u >> (8 * i))
	}
	return b
}

func TestRawOpen(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 4*12+4)
	for i := range 13 {
		u := math.Float32bits(float32(i))
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	path := writeFile(t, dir, "raw.f32", raw)

	t.Run("shape omitted", func(t *testing.T) {
		a, err := Open[float32](path, ReadOnly, 4, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if !equalInts(a.Shape(), []int{12}) || a.At(0) != 1 || a.At(11) != 12 {
			t.Fatalf("shape %v, %v..%v", a.Shape(), a.At(0), a.At(11))
		}
	})
	t.Run("2-D at offset", func(t *testing.T) {
		a, err := Open[float32](path, ReadOnly, 4, []int{3, 4}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if a.At(2, 3) != 12 || a.Len() != 3 || a.Size() != 12 || a.Row(1)[0] != 5 {
			t.Fatalf("At(2,3)=%v Len %d Size %d Row(1) %v", a.At(2, 3), a.Len(), a.Size(), a.Row(1))
		}
	})
	for _, c := range []struct {
		name   string
		off    int64
		shape  []int
		want   error
		inMode []Mode
	}{
		{"remainder", 2, nil, ErrShape, nil},
		{"offset past EOF", 100, nil, ErrTruncated, nil},
		{"negative offset", -4, nil, mmap.ErrOutOfRange, nil},
		{"misaligned", 2, []int{3}, ErrMisaligned, nil},
		{"too short", 0, []int{14}, ErrTruncated, []Mode{ReadOnly, ReadWrite, CopyOnWrite}},
		{"too short 2-D", 8, []int{4, 4}, ErrTruncated, []Mode{ReadOnly, ReadWrite, CopyOnWrite}},
		{"negative dim", 0, []int{-1}, ErrShape, nil},
	} {
		modes := c.inMode
		if modes == nil {
			modes = []Mode{ReadOnly}
		}
		for _, m := range modes {
			t.Run(c.name+"/"+m.String(), func(t *testing.T) {
				_, err := Open[float32](path, m, c.off, c.shape, nil)
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
			})
		}
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(len(raw)) {
		t.Fatalf("a refused open changed the file size to %d", fi.Size())
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Open[float32](filepath.Join(dir, "nope"), ReadOnly, 0, nil, nil)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := Open[float32](dir, ReadOnly, 0, nil, nil)
		if !errors.Is(err, mmap.ErrNotRegular) {
			t.Fatal(err)
		}
		if _, err := ReadNPYHeader(dir); !errors.Is(err, mmap.ErrNotRegular) {
			t.Fatal(err)
		}
	})
}

func TestModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.i32")
	a, err := Create[int32](path, []int{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 24 {
		t.Fatalf("created %d bytes", fi.Size())
	}
	a.Set(7, 1, 2)
	a.Close()

	cow, err := Open[int32](path, CopyOnWrite, 0, []int{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cow.Set(99, 1, 2)
	if cow.At(1, 2) != 99 {
		t.Fatal("copy-on-write array did not take the write")
	}
	cow.Close()

	ro, err := Open[int32](path, ReadOnly, 0, []int{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ro.At(1, 2) != 7 {
		t.Fatalf("file changed by a copy-on-write array: %d", ro.At(1, 2))
	}
	mustPanic(t, "Set on read-only", func() { ro.Set(1, 0, 0) })
	ro.Close() // Windows cannot replace a file that is mapped

	// Create replaces an existing file only when asked (mode w+).
	b, err := Create[int32](path, []int{1}, &Options{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if fi, _ := os.Stat(path); fi.Size() != 4 {
		t.Fatalf("Create left %d bytes", fi.Size())
	}
	if _, err := Create[int32](path, nil, nil); !errors.Is(err, ErrShape) {
		t.Fatalf("Create without a shape: %v", err)
	}
}

func TestIndexPanics(t *testing.T) {
	a, err := CreateNPY[float64](filepath.Join(t.TempDir(), "a.npy"), []int{3, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for name, f := range map[string]func(){
		"row index":         func() { a.At(3, 0) },
		"column index":      func() { a.At(0, 4) },
		"negative":          func() { a.At(-1, 0) },
		"too few indices":   func() { a.At(1) },
		"too many indices":  func() { a.At(1, 1, 1) },
		"Set out of range":  func() { a.Set(1, 0, 9) },
		"Row out of range":  func() { a.Row(3) },
		"Rows reversed":     func() { a.Rows(2, 1) },
		"Batches of 0 rows": func() { a.Batches(0) },
	} {
		mustPanic(t, name, f)
	}
	f, err := CreateNPY[float64](filepath.Join(t.TempDir(), "f.npy"), []int{3, 4}, &Options{Fortran: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustPanic(t, "Row of Fortran order", func() { f.Row(0) })
	mustPanic(t, "Batches of Fortran order", func() { f.Batches(1) })
	if err := f.AdviseRows(0, 1, mmap.AdviceWillNeed); err == nil {
		t.Fatal("AdviseRows on a Fortran-order array succeeded")
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

// Fortran order: At addresses column-major storage.
func TestFortranLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.npy")
	a, err := CreateNPY[int16](path, []int{2, 3}, &Options{Fortran: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	forEachIndex([]int{2, 3}, func(idx []int, k int) { a.Set(int16(k), idx...) })
	// Column-major storage of [[0 1 2] [3 4 5]].
	want := []int16{0, 3, 1, 4, 2, 5}
	if got := a.Data(); !equalInts(toInts(got), toInts(want)) {
		t.Fatalf("storage %v, want %v", got, want)
	}
}

func toInts[T int16 | int](s []T) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

func TestScalarAndZeroSize(t *testing.T) {
	dir := t.TempDir()
	s, err := CreateNPY[complex128](filepath.Join(dir, "s.npy"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(1 + 2i)
	if s.At() != 1+2i || s.Len() != 0 || s.Size() != 1 || s.Ndim() != 0 {
		t.Fatalf("scalar: At %v Len %d Size %d", s.At(), s.Len(), s.Size())
	}
	mustPanic(t, "Row of a scalar", func() { s.Row(0) })
	s.Close()
	s2, err := OpenNPY[complex128](filepath.Join(dir, "s.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s2.At() != 1+2i {
		t.Fatalf("scalar read back %v", s2.At())
	}
	s2.Close()

	for _, shape := range [][]int{{0}, {0, 5}, {5, 0}} {
		p := filepath.Join(dir, fmt.Sprintf("z%v.npy", shape))
		z, err := CreateNPY[float32](p, shape, nil)
		if err != nil {
			t.Fatal(err)
		}
		if z.Size() != 0 || len(z.Data()) != 0 || z.Flush() != nil || z.Close() != nil {
			t.Fatalf("zero-size %v", shape)
		}
		for _, m := range []Mode{ReadOnly, ReadWrite, CopyOnWrite} {
			z, err := OpenNPY[float32](p, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, rows := range z.Batches(2) {
				if len(rows) != 0 {
					t.Fatalf("%v: a batch of %d elements", shape, len(rows))
				}
				n++
			}
			if z.Len() != shape[0] || z.Size() != 0 || n != (shape[0]+1)/2 {
				t.Fatalf("%v: Len %d Size %d batches %d", shape, z.Len(), z.Size(), n)
			}
			z.Close()
		}
	}
	// A raw file of zero bytes opens as an empty 1-D array.
	p := writeFile(t, dir, "empty.raw", nil)
	e, err := Open[float64](p, ReadOnly, 0, nil, nil)
	if err != nil || e.Len() != 0 {
		t.Fatalf("empty raw file: %v", err)
	}
	e.Close()
}

func TestBatches(t *testing.T) {
	for _, mode := range []Mode{ReadOnly, ReadWrite, CopyOnWrite} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.npy")
			const rows, cols = 10007, 33 // batches straddle pages
			a, err := CreateNPY[uint32](path, []int{rows, cols}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range a.Data() {
				_ = r
				a.Data()[i] = uint32(i)
			}
			a.Close()
			a, err = OpenNPY[uint32](path, mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			next := 0
			for first, b := range a.Batches(1000) {
				if first*cols != next || len(b)%cols != 0 {
					t.Fatalf("batch at row %d, %d elements, expected element %d", first, len(b), next)
				}
				for _, v := range b {
					if v != uint32(next) {
						t.Fatalf("element %d = %d", next, v)
					}
					next++
				}
				if mode != ReadOnly {
					b[0] = 1 << 31 // modifications survive eviction (or are never evicted)
				}
			}
			if next != rows*cols {
				t.Fatalf("saw %d elements of %d", next, rows*cols)
			}
			if mode != ReadOnly && a.At(5000, 0) != 1<<31 {
				t.Fatalf("write through a batch lost: %d", a.At(5000, 0))
			}
			count := 0
			for range a.Batches(3000) {
				count++
				if count == 2 {
					break
				}
			}
			if count != 2 {
				t.Fatalf("break after 2 batches ran %d", count)
			}
		})
	}
}

func TestBoolValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.npy")
	a, err := CreateNPY[bool](path, []int{4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Set(true, 1)
	a.Close()
	rw, err := OpenNPY[bool](path, ReadWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if rw.At(1) != true || rw.At(0) != false {
		t.Fatal("bool values")
	}
	// Another writer stores a 7 behind the array's back.
	raw, err := Open[uint8](path, ReadWrite, rw.Offset(), []int{4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Set(7, 3)
	raw.Close()
	if err := rw.Validate(); !errors.Is(err, ErrInvalidBool) {
		t.Fatalf("Validate: %v", err)
	}
	if rw.At(2) != false {
		t.Fatal("a valid element next to a bad one")
	}
	for name, f := range map[string]func(){
		"At":   func() { rw.At(3) },
		"Data": func() { rw.Data() },
		"Row":  func() { rw.Row(3) },
	} {
		mustPanic(t, name, f)
	}
	if err := rw.Do(func([]bool) error { return nil }); !errors.Is(err, ErrInvalidBool) {
		t.Fatalf("Do: %v", err)
	}
	if _, err := OpenNPY[bool](path, ReadOnly, nil); !errors.Is(err, ErrInvalidBool) {
		t.Fatalf("reopen: %v", err)
	}
}

// Do turns a fault from a truncated file into an error.
func TestDoFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.npy")
	a, err := CreateNPY[float64](path, []int{4096}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = os.Truncate(path, 128)
	if runtime.GOOS == "windows" {
		// Windows refuses to truncate a mapped file, so there is no fault
		// to catch: the truncate fails and every element still reads.
		if !sys.IsUserMapped(err) {
			t.Fatalf("truncating a mapped file: %v, want ERROR_USER_MAPPED_FILE", err)
		}
		if err := a.Do(func(d []float64) error {
			for _, x := range d {
				sink += x
			}
			return nil
		}); err != nil {
			t.Fatalf("Do after the refused truncate: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	err = a.Do(func(d []float64) error {
		for _, x := range d {
			sink += x
		}
		return nil
	})
	if !errors.Is(err, mmap.ErrFault) {
		t.Fatalf("Do over a truncated file: %v", err)
	}
}

var sink float64

func TestCloseEmptiesArray(t *testing.T) {
	a, err := CreateNPY[int64](filepath.Join(t.TempDir(), "c.npy"), []int{8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "At after Close", func() { a.At(0) })
	if a.Size() != 0 || len(a.Data()) != 0 {
		t.Fatal("array not empty after Close")
	}
}

func TestFloat16RoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := Float16(i)
		f := h.Float32()
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(Float16From(f).Float32())) {
				t.Fatalf("NaN %#04x lost", i)
			}
			continue
		}
		if float64(f) != f16Reference(h) {
			t.Fatalf("%#04x.Float32() = %g, want %g", i, f, f16Reference(h))
		}
		if back := Float16From(f); back != h {
			t.Fatalf("%#04x -> %g -> %#04x", i, f, uint16(back))
		}
	}
	for _, c := range []struct {
		in   float32
		want Float16
	}{
		{65504, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {-1e10, 0xfc00},
		{1e-10, 0}, {float32(math.Inf(1)), 0x7c00}, {5.960464477539063e-08, 1}, {2.9802322387695312e-08, 0},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02},
	} {
		if got := Float16From(c.in); got != c.want {
			t.Errorf("Float16From(%g) = %#04x, want %#04x", c.in, uint16(got), uint16(c.want))
		}
	}
	if s := Float16From(1.5).String(); s != "1.5" {
		t.Errorf("String %q", s)
	}
}

// Batches keeps the file's resident pages bounded: while scanning a 192 MiB
// file, at most the read-ahead window, the eviction span, two batches and the
// kernel's own read-ahead are in the page cache, rows well behind the loop
// are gone, and after the loop nothing of the scanned part stays.
func TestBatchesBoundedResidency(t *testing.T) {
	const cols = 128
	const rows = 192 << 20 / (cols * 4)
	path := filepath.Join(t.TempDir(), "big.npy")
	w, err := CreateNPY[float32](path, []int{rows, cols}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w.Data() {
		w.Data()[i] = 1
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a, err := OpenNPY[float32](path, ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Evict(0, rows); errors.Is(err, errors.ErrUnsupported) {
		t.Skip("this OS cannot drop pages from the page cache")
	} else if err != nil {
		t.Fatal(err)
	}
	const batch = 2048 // 1 MiB
	const rowBytes = cols * 4
	const bound = (readAheadBytes + evictBytes + 2*batch*rowBytes + 16<<20 /* the kernel's read-ahead: one window plus the async one */ + 16<<20) // slack
	var sum float32
	worst := 0
	for first, b := range a.Batches(batch) {
		sum += sum4(b)
		res, err := a.Region().Resident()
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, res.Resident*res.PageSize)
		if res.Resident*res.PageSize > bound {
			t.Fatalf("at row %d: %d MiB resident, bound %d MiB", first, res.Resident*res.PageSize>>20, bound>>20)
		}
		if behind := first - (evictBytes/rowBytes + 2*batch); behind > 0 {
			old, err := a.Region().ResidentRange(0, int(int64(behind)*rowBytes))
			if err != nil {
				t.Fatal(err)
			}
			if old.Resident > 0 {
				t.Fatalf("at row %d: %d pages of rows [0, %d) still resident", first, old.Resident, behind)
			}
		}
	}
	if sum != float32(rows*cols) && sum < 1e6 {
		t.Fatalf("sum %g", sum)
	}
	res, err := a.Region().Resident()
	if err != nil {
		t.Fatal(err)
	}
	if res.Resident != 0 {
		t.Fatalf("%d pages resident after the loop", res.Resident)
	}
	t.Logf("peak resident %d MiB of %d MiB", worst>>20, rows*rowBytes>>20)
}

func TestHeaderSurvivesClose(t *testing.T) {
	a, err := CreateNPY[int8](filepath.Join(t.TempDir(), "h.npy"), []int{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Header()
	a.Close()
	if !equalInts(h.Shape, []int{2, 3}) || h.DataOffset != 128 || h.Descr != "|i1" {
		t.Fatalf("header after Close: %+v", h)
	}
}

func TestOpenNPYAny(t *testing.T) {
	dir := t.TempDir()
	for _, c := range allTypes {
		p := filepath.Join(dir, c.dtype.String()+".npy")
		c.write(t, p, nil, []int{2, 3})
		u, err := OpenNPYAny(p, ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !u.Dtype().Equal(c.dtype) || !equalInts(u.Shape(), []int{2, 3}) {
			t.Fatalf("%s: dtype %s shape %v", p, u.Dtype(), u.Shape())
		}
		if got := fmt.Sprint(u.Value(1, 2)); got == "" {
			t.Fatal("no value")
		}
		u.Close()
	}
	u, err := OpenNPYAny(filepath.Join(dir, "float32.npy"), ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	f, ok := u.(*Array[float32])
	if !ok || f.At(1, 2) != val[float32](5) || u.Value(1, 2) != any(val[float32](5)) {
		t.Fatalf("type assertion: %T", u)
	}
	bad := writeFile(t, dir, "bad.npy", []byte("nope"))
	if _, err := OpenNPYAny(bad, ReadOnly, nil); !errors.Is(err, ErrNotNPY) {
		t.Fatal(err)
	}
}

// Create and CreateNPY refuse an existing file, whatever its content, and
// leave it byte for byte as it was; with Replace they replace it.
func TestCreateRefusesExisting(t *testing.T) {
	old := []byte("precious data that must survive a refused Create")
	creators := []struct {
		name   string
		create func(path string, o *Options) error
		size   int64
	}{
		{"Create", func(p string, o *Options) error {
			a, err := Create[float64](p, []int{4}, o)
			if err == nil {
				a.Close()
			}
			return err
		}, 32},
		{"CreateNPY", func(p string, o *Options) error {
			a, err := CreateNPY[float64](p, []int{4}, o)
			if err == nil {
				a.Close()
			}
			return err
		}, 128 + 32},
	}
	for _, c := range creators {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "a.npy", old)
			err := c.create(path, nil)
			var pe *fs.PathError
			if !errors.Is(err, fs.ErrExist) || !errors.As(err, &pe) || pe.Op != "array: create" || pe.Path != path {
				t.Fatalf("create over an existing file: %v, want a *fs.PathError matching fs.ErrExist", err)
			}
			if got, _ := os.ReadFile(path); string(got) != string(old) {
				t.Fatalf("refused create changed the file to %q", got)
			}
			if err := c.create(path, &Options{Replace: true}); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Size() != c.size {
				t.Fatalf("replaced file has %d bytes, want %d", fi.Size(), c.size)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("files left in the directory: %v", ents)
			}
		})
	}
}

// A full disk is an error from Create, not a SIGBUS when the array is
// written: the blocks are allocated up front. tmpfs refuses an allocation
// larger than the whole file system at once (without using any memory), so
// the test asks /dev/shm for 32 TiB: a sparse file of that size and its
// mapping would both succeed.
func TestCreateFullDisk(t *testing.T) {
	const dir = "/dev/shm"
	free, err := sys.DiskFree(dir)
	if err != nil || free <= 0 || free >= 16<<40 {
		t.Skipf("needs a size-limited tmpfs at %s (free %d, %v)", dir, free, err)
	}
	base := filepath.Join(dir, fmt.Sprintf("mmapkit-array-test-%d", os.Getpid()))
	shape := []int{4 << 40} // 32 TiB of float64
	t.Run("new file", func(t *testing.T) {
		path := base + "-new.npy"
		defer os.Remove(path)
		for name, create := range map[string]func() error{
			"Create":    func() error { _, err := Create[float64](path, shape, nil); return err },
			"CreateNPY": func() error { _, err := CreateNPY[float64](path, shape, nil); return err },
		} {
			err := create()
			if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), path) {
				t.Fatalf("%s of 32 TiB in %s: %v, want a no-space error naming the file", name, dir, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s left the file behind: %v", name, err)
			}
		}
	})
	t.Run("replace", func(t *testing.T) {
		path := base + "-old.npy"
		old := []byte("the old file")
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		_, err := CreateNPY[float64](path, shape, &Options{Replace: true})
		if err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("replacing with 32 TiB: %v", err)
		}
		if got, _ := os.ReadFile(path); string(got) != string(old) {
			t.Fatalf("a failed replacement changed the old file to %q", got)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(path)+".tmp*"))
		if len(matches) != 0 {
			t.Fatalf("temporary files left: %v", matches)
		}
	})
}

// A FIFO planted where a .npy file is expected is refused at once, naming what
// it is; opening it for reading would block until a writer appears.
func TestOpenFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.npy")
	if err := sys.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	opens := map[string]func() error{
		"ReadNPYHeader": func() error { _, err := ReadNPYHeader(path); return err },
		"OpenNPY":       func() error { _, err := OpenNPY[float64](path, ReadOnly, nil); return err },
		"OpenNPY rw":    func() error { _, err := OpenNPY[float64](path, ReadWrite, nil); return err },
		"OpenNPYAny":    func() error { _, err := OpenNPYAny(path, CopyOnWrite, nil); return err },
		"Open":          func() error { _, err := Open[float64](path, ReadOnly, 0, nil, nil); return err },
	}
	for name, open := range opens {
		done := make(chan error, 1)
		go func() { done <- open() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			// Unblock the hung open so the test can end, then fail.
			if w, werr := os.OpenFile(path, os.O_WRONLY, 0); werr == nil {
				w.Close()
			}
			<-done
			t.Fatalf("%s blocked on a FIFO", name)
		}
		if !errors.Is(err, mmap.ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want ErrNotRegular saying it is a FIFO", name, err)
		}
	}
}

// Options.Map reaches the mapping: Populate faults every page in at open.
func TestOptionsMapPopulate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.npy")
	a, err := CreateNPY[float64](path, []int{1 << 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Data() {
		a.Data()[i] = 1
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, populate := range []bool{false, true} {
		b, err := OpenNPY[float64](path, ReadOnly, &Options{Map: mmap.Options{Populate: populate}})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Region().Evict(0, b.Region().Len()); errors.Is(err, errors.ErrUnsupported) {
			b.Close()
			t.Skip("cannot drop pages here")
		}
		b.Close()
		b, err = OpenNPY[float64](path, ReadOnly, &Options{Map: mmap.Options{Populate: populate}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Region().Resident()
		if err != nil {
			t.Fatal(err)
		}
		if all := res.Resident == res.Pages; all != populate {
			t.Errorf("Populate %v: %d of %d pages resident after open", populate, res.Resident, res.Pages)
		}
		b.Close()
	}
}

// Every call that returns an error returns one matching ErrClosed and naming
// the file after Close, for arrays with and without data, archives and
// archive writers.
func TestErrorsAfterClose(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]int{{4, 3}, {0, 3}} {
		path := filepath.Join(dir, fmt.Sprintf("a%d.npy", shape[0]))
		a, err := CreateNPY[float64](path, shape, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func() error{
			"Close":      a.Close,
			"Flush":      a.Flush,
			"Validate":   a.Validate,
			"Advise":     func() error { return a.Advise(mmap.AdviceRandom) },
			"AdviseRows": func() error { return a.AdviseRows(0, 1, mmap.AdviceRandom) },
			"Prefetch":   func() error { return a.Prefetch(0, 1) },
			"Evict":      func() error { return a.Evict(0, 1) },
			"Do":         func() error { return a.Do(func([]float64) error { return nil }) },
			"ReadRows":   func() error { _, err := a.ReadRows(nil, 0, 1); return err },
		} {
			if err := f(); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), path) {
				t.Errorf("shape %v: %s after Close: %v", shape, name, err)
			}
		}
	}
	zp := filepath.Join(dir, "z.npz")
	w, err := CreateNPZ(zp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("NPZWriter.Close twice: %v", err)
	}
	z, err := OpenNPZ(zp)
	if err != nil {
		t.Fatal(err)
	}
	z.Close()
	if err := z.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("NPZ.Close twice: %v", err)
	}
	if _, err := z.Header("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("NPZ.Header after Close: %v", err)
	}
}
