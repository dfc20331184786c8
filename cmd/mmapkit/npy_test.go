package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/array"
	"github.com/mmapkit/mmapkit/internal/sys"
)

type npyTick struct {
	Ts    int64   `npy:"ts"`
	Price float64 `npy:"price"`
	Qty   int32   `npy:"qty"`
	Sym   [6]byte `npy:"sym"`
	Name  [3]rune `npy:"name,unicode"`
	V     [2]float32
}

// makeNPY writes the test files: a C-order float32 matrix, a Fortran-order
// int16 matrix (version 2), a complex scalar, a big-endian float64 vector, a
// structured array, and headers of dtypes Go cannot map.
func makeNPY(t *testing.T, dir string) map[string]string {
	t.Helper()
	p := map[string]string{}
	for _, n := range []string{"c", "f", "s", "be", "tick", "obj", "ld", "u"} {
		p[n] = filepath.Join(dir, n+".npy")
	}
	a, err := array.CreateNPY[float32](p["c"], []int{6, 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Data() {
		a.Data()[i] = float32(i) / 4
	}
	a.Close()
	b, err := array.CreateNPY[int16](p["f"], []int{2, 3}, &array.Options{Fortran: true, Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		for j := range 3 {
			b.Set(int16(i*3+j), i, j)
		}
	}
	b.Close()
	s, err := array.CreateNPY[complex128](p["s"], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(1.5 - 2i)
	s.Close()
	native := filepath.Join(dir, "native.npy")
	n, err := array.CreateNPY[float64](native, []int{4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		n.Set(float64(i)+0.5, i)
	}
	n.Close()
	if err := array.ConvertNPY(p["be"], native, '>', nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(native)
	tk, err := array.CreateNPY[npyTick](p["tick"], []int{3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		v := npyTick{Ts: int64(1000 + i), Price: 10.25 * float64(i+1), Qty: int32(7 * i), V: [2]float32{float32(i), -float32(i)}}
		array.SetString(v.Sym[:], []string{"AAPL", "MSFT", "a'\x01b"}[i])
		array.SetUnicode(v.Name[:], []string{"é", "日本", ""}[i])
		tk.Set(v, i)
	}
	tk.Close()
	u, err := array.CreateNPY[[4]rune](p["u"], []int{2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r [4]rune
	array.SetUnicode(r[:], "Zürich"[:4])
	u.Set(r, 1)
	u.Close()
	// Headers NumPy writes for Python objects and long double.
	writeRaw(t, p["obj"], "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", []byte("\x80\x04pickle."))
	writeRaw(t, p["ld"], "{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }", make([]byte, 32))
	return p
}

// writeRaw writes a version 1.0 .npy file with header text and data.
func writeRaw(t *testing.T, path, text string, data []byte) {
	t.Helper()
	n := 10 + len(text) + 1
	text += strings.Repeat(" ", (64-n%64)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(text)), byte(len(text)>>8))
	b = append(append(b, text...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeNPZ writes an archive with mmapkit's writer (members aligned) and one
// with archive/zip: a deflated member, a stored one and a text file.
func makeNPZ(t *testing.T, dir string) (ours, theirs string) {
	t.Helper()
	ours = filepath.Join(dir, "go.npz")
	w, err := array.CreateNPZ(ours, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := array.AddMember[float64](w, "x", []int{2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x.Data() {
		x.Data()[i] = float64(i) * 1.5
	}
	tk, err := array.AddMember[npyTick](w, "ticks", []int{2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tk.Set(npyTick{Ts: 5, Price: 2.5}, 1)
	// Members are mappings of the archive: closed, so that Windows can
	// remove it at the end of the test.
	x.Close()
	tk.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	theirs = filepath.Join(dir, "zip.npz")
	f, err := os.Create(theirs)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	npy, _ := os.ReadFile(filepath.Join(dir, "c.npy"))
	for _, m := range []struct {
		name   string
		method uint16
		data   []byte
	}{{"c.npy", zip.Deflate, npy}, {"odd.npy", zip.Store, npy}, {"notes.txt", zip.Store, []byte("hello")}} {
		mw, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		mw.Write(m.data)
	}
	zw.Close()
	f.Close()
	return ours, theirs
}

func TestNpyInfo(t *testing.T) {
	dir := t.TempDir()
	p := makeNPY(t, dir)
	files := []string{p["c"], p["f"], p["be"], p["tick"], p["u"], p["obj"], p["ld"]}
	r := cli(t, append([]string{"npy", "info"}, files...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatal(r)
	}
	golden(t, "npy-info", normalize(r.stdout, dir, "$DIR"))
	r = cli(t, append([]string{"npy", "info", "--json"}, files...)...)
	if r.code != 0 {
		t.Fatal(r)
	}
	docs := checkJSON(t, r.stdout)
	if len(docs) != len(files) {
		t.Fatalf("%d JSON documents for %d files", len(docs), len(files))
	}
	golden(t, "npy-info-json", normalize(r.stdout, dir, "$DIR"))
	var got npyInfoJSON
	if err := json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[1]), &got); err != nil {
		t.Fatal(err)
	}
	if got.File != p["f"] || got.Version != "2.0" || !got.FortranOrder || got.DataBytes != 12 || got.FileSize != 140 || got.GoType != "int16" || !got.ZeroCopy {
		t.Fatalf("second document: %+v", got)
	}
}

func TestNpyInfoNPZ(t *testing.T) {
	dir := t.TempDir()
	makeNPY(t, dir)
	ours, theirs := makeNPZ(t, dir)
	r := cli(t, "npy", "info", ours, theirs, "--json")
	if r.code != 1 || !strings.Contains(r.stderr, "notes.txt") {
		t.Fatalf("a text member must fail the archive's info: %v", r)
	}
	checkJSON(t, r.stdout)
	r = cli(t, "npy", "info", ours, "--member", "x")
	if r.code != 0 {
		t.Fatal(r)
	}
	golden(t, "npy-info-member", normalize(r.stdout, dir, "$DIR"))
	if r := cli(t, "npy", "info", ours, "--member", "nope"); r.code != 1 || !strings.Contains(r.stderr, "x, ticks") {
		t.Fatalf("a missing member: %v", r)
	}
}

func TestNpyInfoErrors(t *testing.T) {
	dir := t.TempDir()
	p := makeNPY(t, dir)
	bad := filepath.Join(dir, "bad.npy")
	if err := os.WriteFile(bad, []byte("not numpy at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, "npy", "info", bad, p["c"])
	if r.code != 1 {
		t.Fatalf("want exit status 1: %v", r)
	}
	if !strings.Contains(r.stderr, "not a .npy file") || !strings.Contains(r.stderr, bad) || strings.Count(r.stderr, "mmapkit:") != 2 {
		t.Errorf("stderr does not explain the bad file once (and sum up): %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "file:        "+p["c"]) {
		t.Errorf("the good file was not reported after the bad one:\n%s", r.stdout)
	}
	if r := cli(t, "npy", "info"); r.code != 2 {
		t.Errorf("info without a file: %v", r)
	}
}

// A FIFO where a .npy file is expected is refused at once by every npy
// command (opening it for reading would block until a writer appears).
func TestNpyFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.npy")
	if err := sys.Mkfifo(path, 0o644); err != nil {
		t.Skip(err)
	}
	for _, args := range [][]string{{"npy", "info", path}, {"npy", "head", path}, {"npy", "ls", path}, {"npy", "convert", path, path + ".out"}} {
		done := make(chan cliResult, 1)
		go func() { done <- cli(t, args...) }()
		select {
		case r := <-done:
			if r.code != 1 || !strings.Contains(r.stderr, "FIFO") {
				t.Errorf("%v: %v", args, r)
			}
		case <-time.After(20 * time.Second):
			if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			<-done
			t.Fatalf("%v blocked on a FIFO", args)
		}
	}
}

func TestNpyHead(t *testing.T) {
	dir := t.TempDir()
	p := makeNPY(t, dir)
	ours, theirs := makeNPZ(t, dir)
	var text strings.Builder
	for _, args := range [][]string{
		{p["c"], "-n", "2", "--cols", "4"},
		{p["f"]},
		{p["s"]},
		{p["c"], "-n", "0"},
		{p["be"]},
		{p["tick"]},
		{p["u"]},
		{ours, "--member", "ticks"},
		{theirs, "-m", "c", "-n", "1", "--cols", "3"},
	} {
		r := cli(t, append([]string{"npy", "head"}, args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: %v", args, r)
		}
		text.WriteString("$ mmapkit npy head " + strings.Join(args, " ") + "\n" + r.stdout)
	}
	golden(t, "npy-head", normalize(text.String(), dir, "$DIR"))
	var js strings.Builder
	for _, args := range [][]string{{p["c"], "-n", "2", "--cols", "3"}, {p["s"]}, {p["tick"], "-n", "2"}, {p["be"]}} {
		r := cli(t, append([]string{"npy", "head", "--json"}, args...)...)
		if r.code != 0 {
			t.Fatal(r)
		}
		checkJSON(t, r.stdout)
		js.WriteString(r.stdout)
	}
	golden(t, "npy-head-json", normalize(js.String(), dir, "$DIR"))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{filepath.Join(dir, "missing.npy")}, 1, notExistText(t)},
		{[]string{p["c"], "-n", "-1"}, 2, "-n must be"},
		{[]string{ours}, 2, "choose one with --member"},
		{[]string{p["obj"]}, 1, "pickle"},
		{[]string{p["c"], "--member", "x"}, 2, "--member is for .npz"},
	} {
		r := cli(t, append([]string{"npy", "head"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: %v, want exit %d saying %q", c.args, r, c.code, c.msg)
		}
	}
}

func TestNpyLs(t *testing.T) {
	dir := t.TempDir()
	makeNPY(t, dir)
	ours, theirs := makeNPZ(t, dir)
	r := cli(t, "npy", "ls", ours, theirs)
	if r.code != 0 || r.stderr != "" {
		t.Fatal(r)
	}
	golden(t, "npy-ls", normalize(r.stdout, dir, "$DIR"))
	r = cli(t, "npy", "ls", "--json", ours, theirs)
	if r.code != 0 {
		t.Fatal(r)
	}
	docs := checkJSON(t, r.stdout)
	if len(docs) != 2 {
		t.Fatalf("%d documents", len(docs))
	}
	golden(t, "npy-ls-json", normalize(r.stdout, dir, "$DIR"))
	var got npyLsJSON
	if err := json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[0]), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 2 || !got.Members[0].ZeroCopy || got.Members[0].Offset%64 != 0 {
		t.Fatalf("%+v", got)
	}
	if r := cli(t, "npy", "ls", filepath.Join(dir, "c.npy")); r.code != 1 || !strings.Contains(r.stderr, ".npy file, not an archive") {
		t.Fatalf("ls of a .npy file: %v", r)
	}
}

func TestNpyConvert(t *testing.T) {
	dir := t.TempDir()
	p := makeNPY(t, dir)
	out := filepath.Join(dir, "native.npy")
	r := cli(t, "npy", "convert", "--byteorder", "native", p["be"], out)
	if r.code != 0 || r.stderr != "" {
		t.Fatal(r)
	}
	a, err := array.OpenNPY[float64](out, array.ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Swapped() || a.Data()[3] != 3.5 {
		t.Fatalf("converted: swapped %v, %v", a.Swapped(), a.Data())
	}
	a.Close()
	var text strings.Builder
	text.WriteString(r.stdout)
	r = cli(t, "npy", "convert", "--byteorder", "big", p["tick"], filepath.Join(dir, "tick-be.npy"))
	if r.code != 0 {
		t.Fatal(r)
	}
	text.WriteString(r.stdout)
	golden(t, "npy-convert", normalize(text.String(), dir, "$DIR"))
	if r := cli(t, "npy", "convert", p["be"], out); r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "file exists") {
		t.Errorf("convert over an existing file: %v", r)
	}
	if r := cli(t, "npy", "convert", "--replace", p["be"], out); r.code != 0 {
		t.Errorf("convert --replace: %v", r)
	}
	if r := cli(t, "npy", "convert", "--byteorder", "middle", p["be"], out+"2"); r.code != 2 {
		t.Errorf("bad byte order: %v", r)
	}
	if r := cli(t, "npy", "convert", p["obj"], out+"3"); r.code != 1 || !strings.Contains(r.stderr, "pickle") {
		t.Errorf("convert of objects: %v", r)
	}
}

// npy info shows every header NumPy writes, and says which dtypes map and
// why the others do not.
func TestNpyInfoNumPyDtypes(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		if os.Getenv("MMAPKIT_REQUIRE_NUMPY") == "1" {
			t.Fatal("NumPy is required (MMAPKIT_REQUIRE_NUMPY=1)")
		}
		t.Skip("no NumPy")
	}
	dir := t.TempDir()
	cases := map[string]string{
		"object":    "np.array([1, 'a'], dtype=object)",
		"longdbl":   "np.zeros(2, dtype=np.longdouble)",
		"unicode":   "np.array(['ab'], dtype='<U3')",
		"bytes":     "np.array([b'ab'], dtype='S3')",
		"void":      "np.zeros(2, dtype='V5')",
		"datetime":  "np.zeros(2, dtype='M8[ns]')",
		"timedelta": "np.zeros(2, dtype='>m8[s]')",
		"bigf4":     "np.zeros(2, dtype='>f4')",
		"aligned":   "np.zeros(2, dtype=np.dtype([('a','u1'),('b','<f8')], align=True))",
		"packed":    "np.zeros(2, dtype=[('a','u1'),('b','<f8')])",
		"titled":    "np.zeros(2, dtype=[(('T','a'),'<i4')])",
		"nested":    "np.zeros(2, dtype=[('p',[('x','<f4'),('y','>f4')],(2,))])",
	}
	var script strings.Builder
	script.WriteString("import numpy as np, sys\nd = sys.argv[1]\n")
	for name, expr := range cases {
		script.WriteString("np.save(d + '/" + name + ".npy', " + expr + ", allow_pickle=True)\n")
	}
	if out, err := exec.Command(py, "-c", script.String(), dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{
		"object": "maps:        no", "longdbl": "maps:        no", "packed": "maps:        no",
		"unicode": "yes, zero-copy", "bytes": "yes, zero-copy", "void": "yes, zero-copy", "datetime": "yes, zero-copy",
		"aligned": "yes, zero-copy", "titled": "yes, zero-copy",
		"timedelta": "not zero-copy", "bigf4": "not zero-copy", "nested": "not zero-copy",
	}
	for name, w := range want {
		r := cli(t, "npy", "info", filepath.Join(dir, name+".npy"))
		if r.code != 0 || !strings.Contains(r.stdout, w) {
			t.Errorf("%s: want %q:\n%v", name, w, r)
		}
	}
	var buf bytes.Buffer
	_ = buf
}
