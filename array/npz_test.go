package array

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// npzMemberCase is one member NumPy writes into the test archives, and how
// Go checks it.
type npzMemberCase struct {
	key   string
	py    string // Python expression of the array
	check func(t *testing.T, z *NPZ, key string, opts *Options) error
}

func numericMember[T numeric](key, descr, shape string) npzMemberCase {
	return npzMemberCase{key, fmt.Sprintf("gen(%q, %s)", descr, shape), func(t *testing.T, z *NPZ, key string, opts *Options) error {
		t.Helper()
		a, err := OpenMember[T](z, key, ReadOnly, opts)
		if err != nil {
			return err
		}
		defer a.Close()
		checkValues(t, a)
		return nil
	}}
}

func structMember[T any](key, dtype string) npzMemberCase {
	return npzMemberCase{key, fmt.Sprintf("fill(np.zeros(5, dtype=%s))", dtype), func(t *testing.T, z *NPZ, key string, opts *Options) error {
		t.Helper()
		a, err := OpenMember[T](z, key, ReadOnly, opts)
		if err != nil {
			return err
		}
		defer a.Close()
		for i := range a.Len() {
			v := a.At(i)
			checkLeaves(t, reflect.ValueOf(&v).Elem(), i)
		}
		return nil
	}}
}

var npzCases = []npzMemberCase{
	numericMember[float64]("f8", "<f8", "(3, 4)"),
	numericMember[uint8]("u1", "|u1", "(13,)"),
	numericMember[int32]("a_longer_name_i4", "<i4", "(2, 3, 5)"),
	numericMember[complex128]("c16", "<c16", "(4,)"),
	numericMember[float32]("f4F", "<f4", "(3, 5), 'F'"),
	numericMember[int16]("be", ">i2", "(6,)"),
	numericMember[Float16]("scalar", "<f2", "()"),
	numericMember[float64]("empty", "<f8", "(0, 3)"),
	numericMember[bool]("b", "|b1", "(9,)"),
	structMember[tick]("tick", "np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')], align=True)"),
	structMember[sStrings]("strings", "np.dtype([('sym','S8'),('name','<U8'),('px','<f8')], align=True)"),
}

// NumPy's np.savez and np.savez_compressed archives: Go lists the members,
// maps the stored ones in place (when aligned), refuses the rest naming the
// reason, and reads every one of them with Options.Load.
func TestNPZFromNumPy(t *testing.T) {
	dir := t.TempDir()
	var keys, exprs []string
	for _, c := range npzCases {
		keys = append(keys, c.key)
		exprs = append(exprs, c.py)
	}
	runPython(t, pyPrelude2+`
d, keys, exprs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
arrs = {k: eval(e) for k, e in zip(keys, exprs)}
np.savez(d + "/stored.npz", **arrs)
np.savez_compressed(d + "/deflated.npz", **arrs)
`, dir, mustJSON(keys), mustJSON(exprs))
	for _, file := range []string{"stored.npz", "deflated.npz"} {
		t.Run(file, func(t *testing.T) {
			z, err := OpenNPZ(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			ms := z.Members()
			if len(ms) != len(npzCases) {
				t.Fatalf("%d members, want %d", len(ms), len(npzCases))
			}
			mapped := 0
			for i, c := range npzCases {
				m := ms[i]
				if m.Name != c.key+".npy" || m.Key() != c.key || m.Compressed != (file == "deflated.npz") {
					t.Fatalf("member %d: %+v, want %s.npy", i, m, c.key)
				}
				h, err := z.Header(c.key)
				if err != nil {
					t.Fatal(err)
				}
				err = c.check(t, z, c.key, nil)
				e := dtypeGoAlign(t, h.Dtype)
				switch {
				case h.DataBytes() == 0:
					if err != nil {
						t.Errorf("%s: empty member: %v", c.key, err)
					}
				case m.Compressed:
					if !errors.Is(err, ErrCompressed) || !strings.Contains(err.Error(), "Options.Load") {
						t.Errorf("%s: compressed member: %v, want ErrCompressed", c.key, err)
					}
				case (m.Offset+h.DataOffset)%e != 0:
					if !errors.Is(err, ErrMisaligned) || !strings.Contains(err.Error(), "Options.Load") {
						t.Errorf("%s: misaligned member: %v, want ErrMisaligned", c.key, err)
					}
				default:
					mapped++
					if err != nil {
						t.Errorf("%s: %v", c.key, err)
					}
				}
				if err := c.check(t, z, c.key, &Options{Load: true}); err != nil {
					t.Errorf("%s with Load: %v", c.key, err)
				}
			}
			if file == "stored.npz" && mapped < 3 {
				t.Errorf("only %d stored members were aligned; the test means to map some in place", mapped)
			}
			if _, err := OpenMember[float64](z, "nope", ReadOnly, nil); !errors.Is(err, ErrNoMember) || !strings.Contains(err.Error(), "f8, u1") {
				t.Errorf("missing member: %v", err)
			}
			if _, err := OpenMember[float64](z, "f8", ReadWrite, nil); err == nil {
				t.Error("a member opened ReadWrite")
			}
			if _, err := OpenMember[float32](z, "f8", ReadOnly, &Options{Load: true}); !errors.Is(err, ErrDtypeMismatch) {
				t.Errorf("wrong type: %v", err)
			}
		})
	}
}

// dtypeGoAlign is the alignment Go needs for elements of d.
func dtypeGoAlign(t *testing.T, d Dtype) int64 {
	t.Helper()
	return int64(goAlign(d))
}

// pyPrelude2 adds the structured fill to the numeric prelude.
const pyPrelude2 = pyFill + `
def gen2(descr, shape, order='C'):
    return gen(descr, shape, order)
`

// An archive mmapkit writes opens in NumPy (which checks every member's
// CRC-32), and Go maps each member back zero-copy.
func TestNPZGoWritesNumPyReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "go.npz")
	w, err := CreateNPZ(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f8, err := AddMember[float64](w, "f8", []int{3, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forEachIndex([]int{3, 4}, func(idx []int, k int) { f8.Set(val[float64](k), idx...) })
	u1, err := AddMember[uint8](w, "odd_name-7.npy", []int{13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forEachIndex([]int{13}, func(idx []int, k int) { u1.Set(val[uint8](k), idx...) })
	ff, err := AddMember[float32](w, "fortran", []int{3, 5}, &Options{Fortran: true, Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	forEachIndex([]int{3, 5}, func(idx []int, k int) { ff.Set(val[float32](k), idx...) })
	tk, err := AddMember[tick](w, "tick", []int{5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var v tick
		fillLeaves(reflect.ValueOf(&v).Elem(), i)
		tk.Set(v, i)
	}
	if _, err := AddMember[int16](w, "empty", []int{0}, nil); err != nil {
		t.Fatal(err)
	}
	// A name outside ASCII carries the zip's UTF-8 flag, or np.load decodes
	// it as code page 437 ("é" became "├⌐").
	if _, err := AddMember[int16](w, "température", []int{0}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := AddMember[int16](w, "bad\xff", []int{0}, nil); err == nil {
		t.Fatal("a member name that is not UTF-8 was accepted")
	}
	if _, err := AddMember[int16](w, "f8", []int{1}, nil); err == nil {
		t.Fatal("a member name added twice")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []interface{ Close() error }{f8, u1, ff, tk} {
		a.Close()
	}
	if _, err := AddMember[int16](w, "late", []int{1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddMember after Close: %v", err)
	}
	out := runPython(t, pyPrelude2+`
import zipfile
p = sys.argv[1]
assert zipfile.ZipFile(p).testzip() is None
z = np.load(p)
assert sorted(z.files) == sorted(['f8', 'odd_name-7', 'fortran', 'tick', 'empty', 'température']), z.files
assert np.array_equal(z['f8'], gen('<f8', (3, 4)))
assert np.array_equal(z['odd_name-7'], gen('|u1', (13,)))
f = z['fortran']
assert f.flags.f_contiguous and np.array_equal(f, gen('<f4', (3, 5)))
want = np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')], align=True)
assert z['tick'].dtype == want and (z['tick'] == fill(np.zeros(5, dtype=want))).all()
assert z['empty'].shape == (0,) and z['empty'].dtype == np.dtype('<i2')
print("ok")
`, path)
	if strings.TrimSpace(out) != "ok" {
		t.Fatal(out)
	}
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, m := range z.Members() {
		if m.Offset%64 != 0 || m.Compressed {
			t.Errorf("member %+v not stored at a 64-byte boundary", m)
		}
	}
	a, err := OpenMember[float64](z, "f8", ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	checkValues(t, a)
	if a.Offset()%64 != 0 {
		t.Errorf("data at %d", a.Offset())
	}
	if _, err := CreateNPZ(path, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateNPZ over an existing file: %v", err)
	}
}

// zipEntry is a directory entry of a hand-made archive.
type zipEntry struct {
	name         string
	method       uint16
	flags        uint16
	crc          uint32
	csize, usize uint64
	lho          uint64 // where the directory says the local header is
	zip64        bool   // write sizes and offset in a ZIP64 extra
}

// buildZip writes local headers and data at the given offsets, then a
// directory of entries (which may lie about all of it).
func buildZip(locals map[int64][]byte, entries []zipEntry, tail []byte) []byte {
	var b []byte
	place := func(off int64, p []byte) {
		for int64(len(b)) < off+int64(len(p)) {
			b = append(b, 0)
		}
		copy(b[off:], p)
	}
	for off, p := range locals {
		place(off, p)
	}
	dirOff := len(b)
	var dir []byte
	le := binary.LittleEndian
	for _, e := range entries {
		dir = le.AppendUint32(dir, sigCentral)
		dir = le.AppendUint16(dir, 20)
		dir = le.AppendUint16(dir, 20)
		dir = le.AppendUint16(dir, e.flags)
		dir = le.AppendUint16(dir, e.method)
		dir = le.AppendUint32(dir, 0)
		dir = le.AppendUint32(dir, e.crc)
		var extra []byte
		if e.zip64 {
			dir = le.AppendUint32(dir, ^uint32(0))
			dir = le.AppendUint32(dir, ^uint32(0))
			extra = le.AppendUint16(extra, 1)
			extra = le.AppendUint16(extra, 24)
			extra = le.AppendUint64(extra, e.usize)
			extra = le.AppendUint64(extra, e.csize)
			extra = le.AppendUint64(extra, e.lho)
		} else {
			dir = le.AppendUint32(dir, uint32(e.csize))
			dir = le.AppendUint32(dir, uint32(e.usize))
		}
		dir = le.AppendUint16(dir, uint16(len(e.name)))
		dir = le.AppendUint16(dir, uint16(len(extra)))
		dir = le.AppendUint16(dir, 0)
		dir = le.AppendUint16(dir, 0)
		dir = le.AppendUint16(dir, 0)
		dir = le.AppendUint32(dir, 0)
		if e.zip64 {
			dir = le.AppendUint32(dir, ^uint32(0))
		} else {
			dir = le.AppendUint32(dir, uint32(e.lho))
		}
		dir = append(dir, e.name...)
		dir = append(dir, extra...)
	}
	b = append(b, dir...)
	b = le.AppendUint32(b, sigEnd)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, uint16(len(entries)))
	b = le.AppendUint16(b, uint16(len(entries)))
	b = le.AppendUint32(b, uint32(len(dir)))
	b = le.AppendUint32(b, uint32(dirOff))
	b = le.AppendUint16(b, 0)
	return append(b, tail...)
}

// localHeader is a local file header for name with method and no extra.
func localHeader(name string, method uint16, data []byte) []byte {
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, sigLocal)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, method)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, crc32.ChecksumIEEE(data))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint16(b, uint16(len(name)))
	b = le.AppendUint16(b, 0)
	b = append(b, name...)
	return append(b, data...)
}

// Hostile archives are refused, each naming its problem, and never crash.
func TestNPZHostile(t *testing.T) {
	dir := t.TempDir()
	npy := craftNPY(1, 0, padText(f8Header, 10, 64), make([]byte, 24))
	stored := func(name string) zipEntry {
		return zipEntry{name: name, crc: crc32.ChecksumIEEE(npy), csize: uint64(len(npy)), usize: uint64(len(npy))}
	}
	lhLen := int64(localLen + len("x.npy"))
	good := buildZip(map[int64][]byte{0: localHeader("x.npy", 0, npy)}, []zipEntry{stored("x.npy")}, nil)
	with := func(f func(e *zipEntry)) []byte {
		e := stored("x.npy")
		f(&e)
		return buildZip(map[int64][]byte{0: localHeader("x.npy", 0, npy)}, []zipEntry{e}, nil)
	}
	two := func(second zipEntry, locals map[int64][]byte) []byte {
		if locals == nil {
			locals = map[int64][]byte{}
		}
		locals[0] = localHeader("x.npy", 0, npy)
		return buildZip(locals, []zipEntry{stored("x.npy"), second}, nil)
	}
	cases := []struct {
		name string
		file []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotNPZ, "empty"},
		{"npy file", npy, ErrNotNPZ, ".npy file"},
		{"garbage", bytes.Repeat([]byte("not a zip "), 10), ErrNotNPZ, "end-of-directory"},
		{"directory past EOF", func() []byte {
			b := append([]byte{}, good...)
			binary.LittleEndian.PutUint32(b[len(b)-6:], 1<<30)
			return b
		}(), ErrNotNPZ, "does not fit"},
		{"too many entries", func() []byte {
			b := append([]byte{}, good...)
			binary.LittleEndian.PutUint16(b[len(b)-12:], 60000)
			return b
		}(), ErrNotNPZ, "claims 60000 members"},
		{"offset past EOF", with(func(e *zipEntry) { e.lho = 1 << 31 }), ErrTruncated, "past"},
		{"ZIP64 offset past EOF", with(func(e *zipEntry) { e.zip64 = true; e.lho = 1 << 60 }), ErrTruncated, "past"},
		{"ZIP64 lying sizes", with(func(e *zipEntry) { e.zip64 = true; e.csize, e.usize = 1<<40, 1<<40 }), ErrTruncated, "past"},
		{"size past directory", with(func(e *zipEntry) { e.csize, e.usize = uint64(len(npy))+40, uint64(len(npy))+40 }), ErrTruncated, "runs past"},
		{"stored sizes differ", with(func(e *zipEntry) { e.usize++ }), ErrNotNPZ, "sizes disagree"},
		{"encrypted", with(func(e *zipEntry) { e.flags = 1 }), ErrNotNPZ, "encrypted"},
		{"bzip2", with(func(e *zipEntry) { e.method = 12 }), ErrNotNPZ, "method 12"},
		{"no local header", with(func(e *zipEntry) { e.lho = 8 }), ErrNotNPZ, "no local header"},
		{"local name differs", two(zipEntry{name: "y.npy", lho: 0, csize: 1, usize: 1}, nil), ErrNotNPZ, `names "x.npy"`},
		{"duplicate", two(stored("x.npy"), nil), ErrNotNPZ, "twice"},
		{"overlap", func() []byte {
			// y's local header sits inside x's data.
			inner := localHeader("y.npy", 0, []byte("abc"))
			data := append(append([]byte{}, npy[:40]...), inner...)
			data = append(data, npy[40+len(inner):]...)
			y := zipEntry{name: "y.npy", crc: crc32.ChecksumIEEE([]byte("abc")), csize: 3, usize: 3, lho: uint64(lhLen + 40)}
			x := stored("x.npy")
			x.crc = crc32.ChecksumIEEE(data)
			return buildZip(map[int64][]byte{0: localHeader("x.npy", 0, data)}, []zipEntry{x, y}, nil)
		}(), ErrNotNPZ, "overlap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "h.npz", c.file)
			z, err := OpenNPZ(p)
			if err == nil {
				z.Close()
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), p) {
				t.Fatalf("%v, want %v saying %q and the path", err, c.want, c.msg)
			}
		})
	}
	// The good archive opens, and its member maps.
	p := writeFile(t, dir, "good.npz", good)
	z, err := OpenNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	a, err := OpenMember[float64](z, "x", ReadOnly, &Options{Load: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// Members whose contents lie: a .npy header promising more than the member
// holds, a deflate stream longer or shorter than the directory says, a wrong
// CRC-32.
func TestNPZLyingMembers(t *testing.T) {
	dir := t.TempDir()
	runPython(t, `
import zipfile, zlib
d = sys.argv[1]
import io
def npy(a):
    f = io.BytesIO(); np.save(f, a); return f.getvalue()
x = npy(np.arange(10, dtype='<f8'))
with zipfile.ZipFile(d + "/short.npz", "w") as z:
    z.writestr("x.npy", x[:-8])
with zipfile.ZipFile(d + "/badcrc.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("x.npy", x)
with zipfile.ZipFile(d + "/text.npz", "w") as z:
    z.writestr("notes.txt", b"hello")
    z.writestr("x.npy", x)
`, dir)
	// Corrupt the deflated member's CRC in the directory.
	p := filepath.Join(dir, "badcrc.npz")
	b, _ := os.ReadFile(p)
	i := bytes.LastIndex(b, []byte("PK\x01\x02"))
	b[i+16] ^= 0xff
	os.WriteFile(p, b, 0o644)

	z, err := OpenNPZ(filepath.Join(dir, "short.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMember[float64](z, "x", ReadOnly, nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("short member: %v", err)
	}
	z.Close()
	z, err = OpenNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMember[float64](z, "x", ReadOnly, &Options{Load: true}); !errors.Is(err, ErrNotNPZ) || !strings.Contains(err.Error(), "CRC-32") {
		t.Errorf("bad CRC: %v", err)
	}
	z.Close()
	z, err = OpenNPZ(filepath.Join(dir, "text.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, err := z.Header("notes.txt"); !errors.Is(err, ErrNotNPY) {
		t.Errorf("a text member: %v", err)
	}
	if _, err := OpenMember[float64](z, "x", ReadOnly, &Options{Load: true}); err != nil {
		t.Errorf("the good member next to it: %v", err)
	}
}

// TestNPZNameEncoding: a member's name is np.load's key. A name without the
// zip's UTF-8 flag is code page 437, as Python's zipfile reads it (the
// reader took the raw bytes: "\x82" came out as "\x82", NumPy says "é");
// with the flag it is UTF-8.
func TestNPZNameEncoding(t *testing.T) {
	dir := t.TempDir()
	npy := craftNPY(1, 0, padText(f8Header, 10, 64), make([]byte, 24))
	cases := []struct {
		raw   string
		flags uint16
		want  string
	}{
		{"x.npy", 0, "x.npy"},
		{"\x82t\x82.npy", 0, "été.npy"},
		{"été.npy", flagUTF8, "été.npy"},
		{"\xff.npy", 0, "\u00a0.npy"},
	}
	for i, c := range cases {
		e := zipEntry{name: c.raw, flags: c.flags, crc: crc32.ChecksumIEEE(npy), csize: uint64(len(npy)), usize: uint64(len(npy))}
		p := writeFile(t, dir, fmt.Sprintf("n%d.npz", i), buildZip(map[int64][]byte{0: localHeader(c.raw, 0, npy)}, []zipEntry{e}, nil))
		z, err := OpenNPZ(p)
		if err != nil {
			t.Fatalf("%q: %v", c.raw, err)
		}
		if got := z.Members()[0].Name; got != c.want {
			t.Errorf("%q (flags %#x): name %q, want %q", c.raw, c.flags, got, c.want)
		}
		if _, err := z.Header(c.want); err != nil {
			t.Errorf("%q: %v", c.want, err)
		}
		z.Close()
		out := runPython(t, pyPrelude2+`
import zipfile
print(zipfile.ZipFile(sys.argv[1]).namelist()[0])
`, p)
		if got := strings.TrimSuffix(out, "\n"); got != c.want {
			t.Errorf("%q: NumPy's zipfile says %q, the test wants %q", c.raw, got, c.want)
		}
	}
}
