package mmap_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// pattern returns n bytes where byte i is a function of i, so any misplaced
// byte shows up.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + 1)
	}
	return b
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mapPath(t *testing.T, path string, mode mmap.Mode, off int64, length int) *mmap.Region {
	t.Helper()
	flag := os.O_RDONLY
	if mode == mmap.ReadWrite {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := mmap.Map(f, mode, off, length, nil)
	if err != nil {
		t.Fatalf("Map(%s, off %d, len %d): %v", mode, off, length, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestModes(t *testing.T) {
	orig := pattern(3 * 4096)
	tests := []struct {
		mode        mmap.Mode
		wantWriteOK bool
		reachesFile bool
	}{
		{mmap.ReadOnly, false, false},
		{mmap.ReadWrite, true, true},
		{mmap.CopyOnWrite, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := writeFile(t, orig)
			r := mapPath(t, path, tt.mode, 0, 0)
			other := mapPath(t, path, mmap.ReadOnly, 0, 0)

			_, err := r.WriteAt([]byte("XYZ"), 5000)
			if tt.wantWriteOK != (err == nil) {
				t.Fatalf("WriteAt err = %v, want ok=%v", err, tt.wantWriteOK)
			}
			if !tt.wantWriteOK {
				if !errors.Is(err, mmap.ErrReadOnly) {
					t.Fatalf("WriteAt on %s: %v, want ErrReadOnly", tt.mode, err)
				}
				if err := r.Move(0, 10, 5); !errors.Is(err, mmap.ErrReadOnly) {
					t.Errorf("Move: %v, want ErrReadOnly", err)
				}
				if err := r.WriteByte(1); !errors.Is(err, mmap.ErrReadOnly) {
					t.Errorf("WriteByte: %v, want ErrReadOnly", err)
				}
				if _, err := r.ReadFrom(strings.NewReader("x")); !errors.Is(err, mmap.ErrReadOnly) {
					t.Errorf("ReadFrom: %v, want ErrReadOnly", err)
				}
			}
			if err := r.Resize(8192); tt.mode != mmap.ReadWrite && !errors.Is(err, mmap.ErrReadOnly) {
				t.Errorf("Resize on %s: %v, want ErrReadOnly", tt.mode, err)
			}
			if err := r.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}

			got := make([]byte, 3)
			if _, err := r.ReadAt(got, 5000); err != nil {
				t.Fatal(err)
			}
			if tt.wantWriteOK && string(got) != "XYZ" {
				t.Errorf("region reads %q after its own write", got)
			}
			file, _ := os.ReadFile(path)
			otherGot := make([]byte, 3)
			other.ReadAt(otherGot, 5000)
			if tt.reachesFile {
				if string(file[5000:5003]) != "XYZ" || string(otherGot) != "XYZ" {
					t.Errorf("file %q, other mapping %q: write did not reach them", file[5000:5003], otherGot)
				}
			} else {
				if !bytes.Equal(file, orig[:len(file)]) || len(file) != len(orig) {
					t.Errorf("%s mapping changed the file", tt.mode)
				}
				if !bytes.Equal(otherGot, orig[5000:5003]) {
					t.Errorf("%s write seen by another mapping: %q", tt.mode, otherGot)
				}
			}
		})
	}
}

func TestUnalignedOffsets(t *testing.T) {
	const size = 3*65536 + 100
	orig := pattern(size)
	path := writeFile(t, orig)
	for _, off := range []int64{0, 1, 4095, 4096, 4097, 65535, 65536, 65537, size - 1} {
		for _, length := range []int64{0, 1, 4096, 8193} {
			if off+length > size {
				continue
			}
			r := mapPath(t, path, mmap.ReadOnly, off, int(length))
			want := orig[off:]
			if length != 0 {
				want = orig[off : off+length]
			}
			if r.Len() != len(want) {
				t.Fatalf("off %d len %d: Len %d, want %d", off, length, r.Len(), len(want))
			}
			if r.Offset() != off {
				t.Errorf("Offset() = %d, want %d", r.Offset(), off)
			}
			if !bytes.Equal(r.Bytes(), want) {
				t.Fatalf("off %d len %d: Bytes differ from the file", off, length)
			}
			// A read straddling page boundaries inside the region.
			buf := make([]byte, min(5000, len(want)))
			n, err := r.ReadAt(buf, 0)
			if n != len(buf) || (err != nil && n < len(buf)) || !bytes.Equal(buf, want[:len(buf)]) {
				t.Fatalf("off %d len %d: ReadAt = %d, %v", off, length, n, err)
			}
			r.Close()
		}
	}
}

func TestReadAtEOF(t *testing.T) {
	orig := pattern(10000)
	r := mapPath(t, writeFile(t, orig), mmap.ReadOnly, 100, 0)
	tests := []struct {
		off     int64
		size    int
		wantN   int
		wantErr error
	}{
		{0, 100, 100, nil},
		{9800, 100, 100, nil},
		{9850, 100, 50, io.EOF},
		{9900, 10, 0, io.EOF},
		{20000, 10, 0, io.EOF},
		{-1, 10, 0, mmap.ErrOutOfRange},
	}
	for _, tt := range tests {
		buf := make([]byte, tt.size)
		n, err := r.ReadAt(buf, tt.off)
		if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, %v", tt.size, tt.off, n, err, tt.wantN, tt.wantErr)
		}
		if n > 0 && !bytes.Equal(buf[:n], orig[100+tt.off:100+tt.off+int64(n)]) {
			t.Errorf("ReadAt at %d: wrong bytes", tt.off)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	small := filepath.Join(dir, "small")
	os.WriteFile(small, pattern(100), 0o644)

	open := func(path string, mode mmap.Mode, off int64, length int) func() error {
		return func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := mmap.Map(f, mode, off, length, nil)
			if err == nil {
				r.Close()
			}
			return err
		}
	}
	tests := []struct {
		name    string
		call    func() error
		want    error
		mention string
	}{
		{"offset past EOF", open(small, mmap.ReadOnly, 5000, 0), mmap.ErrOutOfRange, "offset 5000"},
		{"length past EOF", open(small, mmap.ReadOnly, 10, 91), mmap.ErrOutOfRange, "past the end"},
		{"negative offset", open(small, mmap.ReadOnly, -1, 0), mmap.ErrOutOfRange, "negative offset"},
		{"negative length", open(small, mmap.ReadOnly, 0, -5), mmap.ErrOutOfRange, "negative length"},
		{"directory", func() error { _, err := mmap.Open(dir, mmap.ReadOnly, nil); return err }, mmap.ErrNotRegular, "directory"},
		{"missing file", func() error { _, err := mmap.Open(filepath.Join(dir, "nope"), mmap.ReadOnly, nil); return err }, os.ErrNotExist, "nope"},
		{"read-write on read-only descriptor", open(small, mmap.ReadWrite, 0, 0), os.ErrPermission, "opened for reading and writing"},
		{"invalid mode", func() error { _, err := mmap.Open(small, mmap.Mode(7), nil); return err }, nil, "invalid mode"},
		{"nil file", func() error { _, err := mmap.Map(nil, mmap.ReadOnly, 0, 0, nil); return err }, nil, "nil file"},
		{"anonymous negative", func() error { _, err := mmap.Anonymous(-4096, nil); return err }, mmap.ErrOutOfRange, "-4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q does not match %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestRangeErrors(t *testing.T) {
	r := mapPath(t, writeFile(t, pattern(8192)), mmap.ReadWrite, 0, 0)
	tests := []struct {
		name string
		call func() error
	}{
		{"WriteAt past end", func() error { _, err := r.WriteAt(make([]byte, 10), 8190); return err }},
		{"WriteAt negative", func() error { _, err := r.WriteAt([]byte{1}, -1); return err }},
		{"Move source", func() error { return r.Move(0, 8000, 500) }},
		{"Move destination", func() error { return r.Move(8000, 0, 500) }},
		{"Move negative count", func() error { return r.Move(0, 0, -1) }},
		{"Find start", func() error { _, err := r.Find([]byte("x"), 9000); return err }},
		{"FindLast end", func() error { _, err := r.FindLast([]byte("x"), 9000); return err }},
		{"FlushRange", func() error { return r.FlushRange(8000, 500) }},
		{"AdviseRange", func() error { return r.AdviseRange(-1, 10, mmap.AdviceNormal) }},
		{"Seek before start", func() error { _, err := r.Seek(-1, io.SeekStart); return err }},
		{"Seek past end", func() error { _, err := r.Seek(1, io.SeekEnd); return err }},
		{"Resize negative", func() error { return r.Resize(-1) }},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, mmap.ErrOutOfRange) {
			t.Errorf("%s: %v, want ErrOutOfRange", tt.name, err)
		}
	}
	// Nothing above may have changed the data.
	if !bytes.Equal(r.Bytes(), pattern(8192)) {
		t.Error("a failed call modified the region")
	}
	if _, err := r.Seek(0, 42); err == nil || !strings.Contains(err.Error(), "whence") {
		t.Errorf("bad whence: %v", err)
	}
}

func TestStreamAPI(t *testing.T) {
	text := "first line\nsecond\n\nlast without newline"
	path := writeFile(t, []byte(text))
	r := mapPath(t, path, mmap.ReadWrite, 0, 0)

	var lines []string
	for {
		l, err := r.ReadLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(l))
	}
	want := []string{"first line\n", "second\n", "\n", "last without newline"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("ReadLine lines %q, want %q", lines, want)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("ReadByte at end: %v, want io.EOF", err)
	}
	if err := r.WriteByte('x'); !errors.Is(err, mmap.ErrOutOfRange) {
		t.Errorf("WriteByte at end: %v, want ErrOutOfRange", err)
	}

	if pos, err := r.Seek(6, io.SeekStart); err != nil || pos != 6 {
		t.Fatalf("Seek = %d, %v", pos, err)
	}
	if c, _ := r.ReadByte(); c != 'l' {
		t.Errorf("ReadByte after Seek = %q", c)
	}
	if pos, _ := r.Seek(-4, io.SeekEnd); pos != int64(len(text)-4) {
		t.Errorf("SeekEnd = %d", pos)
	}
	if pos, _ := r.Seek(-2, io.SeekCurrent); pos != int64(len(text)-6) {
		t.Errorf("SeekCurrent = %d", pos)
	}
	if r.Tell() != int64(len(text)-6) {
		t.Errorf("Tell = %d", r.Tell())
	}

	r.Seek(0, io.SeekStart)
	if n, err := r.Write([]byte("FIRST")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := r.WriteByte('!'); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Write(make([]byte, len(text))); n != 0 || !errors.Is(err, mmap.ErrOutOfRange) {
		t.Errorf("oversized Write = %d, %v; want all-or-nothing ErrOutOfRange", n, err)
	}
	if r.Tell() != 6 {
		t.Errorf("position %d after failed Write, want 6", r.Tell())
	}

	if i, _ := r.Find([]byte("line"), 0); i != 6 {
		t.Errorf("Find = %d, want 6", i)
	}
	if i, _ := r.Find([]byte("FIRST"), 1); i != -1 {
		t.Errorf("Find from 1 = %d, want -1", i)
	}
	if i, _ := r.FindLast([]byte("e"), int64(len(text))); i != int64(strings.LastIndex(text, "e")) {
		t.Errorf("FindLast = %d", i)
	}

	if err := r.Move(0, 11, 6); err != nil { // overlapping-safe copy of "second"
		t.Fatal(err)
	}
	if err := r.Move(2, 0, 6); err != nil { // overlapping ranges
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	if string(file[:8]) != "sesecond" {
		t.Errorf("after Moves file starts %q, want %q", file[:8], "sesecond")
	}

	// WriteTo and ReadFrom go through the position too.
	r.Seek(int64(len(text)-7), io.SeekStart)
	var sink bytes.Buffer
	if n, err := r.WriteTo(&sink); err != nil || sink.String() != "newline" || n != 7 {
		t.Errorf("WriteTo = %d, %v, %q", n, err, sink.String())
	}
	r.Seek(0, io.SeekStart)
	if n, err := r.ReadFrom(strings.NewReader("abc")); n != 3 || err != nil {
		t.Errorf("ReadFrom = %d, %v", n, err)
	}
	r.Seek(int64(len(text)-2), io.SeekStart)
	if n, err := r.ReadFrom(strings.NewReader("xyz")); n != 2 || !errors.Is(err, mmap.ErrOutOfRange) {
		t.Errorf("overflowing ReadFrom = %d, %v; want 2, ErrOutOfRange", n, err)
	}
	r.Seek(int64(len(text)-2), io.SeekStart)
	if n, err := r.ReadFrom(strings.NewReader("ZZ")); n != 2 || err != nil {
		t.Errorf("exactly-fitting ReadFrom = %d, %v", n, err)
	}
}

func TestAnonymous(t *testing.T) {
	r, err := mmap.Anonymous(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Path() != "" || r.Mode() != mmap.ReadWrite || r.Len() != 1<<20 {
		t.Fatalf("Path %q Mode %v Len %d", r.Path(), r.Mode(), r.Len())
	}
	b := r.Bytes()
	if !bytes.Equal(b[:4096], make([]byte, 4096)) {
		t.Fatal("anonymous memory not zeroed")
	}
	r.WriteAt(pattern(1000), 1<<20-1000)
	if err := r.Flush(); err != nil {
		t.Errorf("Flush on anonymous memory: %v", err)
	}
	// Bytes was called, so Resize may only change the size in place; a
	// shrink always can, also without mremap (darwin, Windows), and the
	// slice handed out stays valid for the bytes that remain.
	if err := r.Resize(1 << 19); err != nil {
		t.Fatal(err)
	}
	b[1<<19-1] = 7
	got := make([]byte, 1)
	if _, err := r.ReadAt(got, 1<<19-1); err != nil || got[0] != 7 || r.Len() != 1<<19 {
		t.Fatalf("after shrinking: Len %d, a byte written through the old slice reads %v, %v", r.Len(), got, err)
	}
	if err := r.Resize(1 << 22); err != nil && !errors.Is(err, mmap.ErrExported) {
		t.Fatalf("grow after Bytes: %v, want nil or ErrExported", err)
	}
}

func TestAnonymousResizeKeepsData(t *testing.T) {
	r, err := mmap.Anonymous(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.WriteAt(pattern(4096), 0)
	for _, n := range []int{1 << 24, 100, 3 << 20} {
		if err := r.Resize(n); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, min(n, 100))
		r.ReadAt(got, 0)
		if !bytes.Equal(got, pattern(4096)[:len(got)]) || r.Len() != n {
			t.Fatalf("after Resize(%d): Len %d, data kept %v", n, r.Len(), bytes.Equal(got, pattern(4096)[:len(got)]))
		}
	}
}

func TestResizeFile(t *testing.T) {
	orig := pattern(10000)
	path := writeFile(t, orig)
	r := mapPath(t, path, mmap.ReadWrite, 4097, 0) // unaligned: the file keeps its first 4097 bytes

	if err := r.Resize(1 << 20); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Size() != 4097+1<<20 || r.Len() != 1<<20 {
		t.Fatalf("after grow: file %d bytes, Len %d", st.Size(), r.Len())
	}
	buf := make([]byte, 10000-4097)
	r.ReadAt(buf, 0)
	if !bytes.Equal(buf, orig[4097:]) {
		t.Fatal("grow lost data")
	}
	tail := make([]byte, 100)
	r.ReadAt(tail, 1<<20-100)
	if !bytes.Equal(tail, make([]byte, 100)) {
		t.Fatal("grown part is not zero")
	}
	if _, err := r.WriteAt([]byte("END"), 1<<20-3); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	if string(file[len(file)-3:]) != "END" || !bytes.Equal(file[:10000], orig) {
		t.Fatal("file content wrong after grow and flush")
	}

	if err := r.Resize(50); err != nil {
		t.Fatal(err)
	}
	file, _ = os.ReadFile(path)
	if len(file) != 4097+50 || !bytes.Equal(file, orig[:4097+50]) || r.Len() != 50 {
		t.Fatalf("after shrink: file %d bytes, Len %d", len(file), r.Len())
	}
	if _, err := r.ReadAt(make([]byte, 51), 0); err != io.EOF {
		t.Errorf("read past shrunk end: %v, want io.EOF", err)
	}
}

// TestHelperProcess is not a test: it is the child process that the tests
// below start, selected by MMAPKIT_HELPER.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv("MMAPKIT_HELPER") {
	case "":
		return
	case "truncate":
		n, _ := strconv.ParseInt(os.Getenv("MMAPKIT_SIZE"), 10, 64)
		if err := os.Truncate(os.Getenv("MMAPKIT_FILE"), n); err != nil {
			if sys.IsUserMapped(err) {
				os.Stderr.WriteString("ERROR_USER_MAPPED_FILE: ")
			}
			os.Stderr.WriteString(err.Error())
			os.Exit(2)
		}
		os.Exit(0)
	}
}

func runHelper(t *testing.T, kind string, env ...string) {
	t.Helper()
	if out, err := helperOutput(kind, env...); err != nil {
		t.Fatalf("helper %s: %v\n%s", kind, err, out)
	}
}

func helperOutput(kind string, env ...string) (string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), append([]string{"MMAPKIT_HELPER=" + kind}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTruncatedByAnotherProcess(t *testing.T) {
	const size = 1 << 20
	orig := pattern(size)
	for _, mode := range []mmap.Mode{mmap.ReadOnly, mmap.ReadWrite} {
		t.Run(mode.String(), func(t *testing.T) {
			path := writeFile(t, orig)
			r := mapPath(t, path, mode, 100, 0)
			if runtime.GOOS == "windows" {
				// Windows refuses to truncate a file while a view of it
				// is mapped, so the hole cannot appear: the other process
				// gets ERROR_USER_MAPPED_FILE and every byte still reads.
				out, err := helperOutput("truncate", "MMAPKIT_FILE="+path, "MMAPKIT_SIZE=8192")
				if err == nil || !strings.HasPrefix(out, "ERROR_USER_MAPPED_FILE: ") {
					t.Fatalf("truncating a mapped file: %v %q, want ERROR_USER_MAPPED_FILE", err, out)
				}
				buf := make([]byte, size-100)
				if _, err := r.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, orig[100:]) {
					t.Fatalf("read after the refused truncate: %v", err)
				}
				return
			}
			runHelper(t, "truncate", "MMAPKIT_FILE="+path, "MMAPKIT_SIZE=8192")

			// Bytes still inside the file read fine.
			buf := make([]byte, 1000)
			if _, err := r.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, orig[100:1100]) {
				t.Fatalf("read inside the remaining file: %v", err)
			}
			// Bytes past the new end fault; the process carries on.
			_, err := r.ReadAt(buf, 200000)
			var fe *mmap.FaultError
			if !errors.Is(err, mmap.ErrFault) || !errors.As(err, &fe) {
				t.Fatalf("ReadAt past new end: %v, want ErrFault", err)
			}
			// The fault is at the first page past the new end or at the read's start.
			var pe *fs.PathError
			if fe.Offset < 8192-100 || fe.Offset > 200000+1000 || !errors.As(err, &pe) || pe.Path != path || pe.Op != "mmap: read" {
				t.Errorf("FaultError %+v in %v", fe, err)
			}
			if _, err := r.Find([]byte("zz-not-there"), 0); !errors.Is(err, mmap.ErrFault) {
				t.Errorf("Find over the hole: %v, want ErrFault", err)
			}
			if mode == mmap.ReadWrite {
				if _, err := r.WriteAt([]byte("x"), 500000); !errors.Is(err, mmap.ErrFault) {
					t.Errorf("WriteAt past new end: %v, want ErrFault", err)
				}
			}
			err = r.Do(func(b []byte) error {
				var s int
				for i := 0; i < len(b); i += 4096 {
					s += int(b[i])
				}
				return errors.New("not reached: " + strconv.Itoa(s))
			})
			if !errors.Is(err, mmap.ErrFault) {
				t.Errorf("Do over the hole: %v, want ErrFault", err)
			}
			// And the Region still works afterwards.
			if _, err := r.ReadAt(buf[:10], 0); err != nil {
				t.Errorf("read after fault: %v", err)
			}
		})
	}
}

func TestDoPassesOtherPanicsThrough(t *testing.T) {
	r := mapPath(t, writeFile(t, pattern(4096)), mmap.ReadOnly, 0, 0)
	defer func() {
		if v := recover(); v != "boom" {
			t.Errorf("recovered %v, want the caller's own panic", v)
		}
		// The Region is usable: Do released it despite the panic.
		if _, err := r.ReadAt(make([]byte, 1), 0); err != nil {
			t.Errorf("after panic: %v", err)
		}
	}()
	r.Do(func([]byte) error { panic("boom") })
}

func TestDoReturnsCallerError(t *testing.T) {
	r := mapPath(t, writeFile(t, pattern(4096)), mmap.ReadOnly, 0, 0)
	want := errors.New("mine")
	if err := r.Do(func(b []byte) error {
		if len(b) != 4096 {
			return errors.New("wrong length")
		}
		return want
	}); err != want {
		t.Errorf("Do = %v", err)
	}
}

func TestCloseRacesWithReaders(t *testing.T) {
	orig := pattern(1 << 20)
	r := mapPath(t, writeFile(t, orig), mmap.ReadOnly, 0, 0)
	var wg sync.WaitGroup
	start := make(chan struct{})
	var okReads [8]atomic.Int64
	var closedReads [8]int
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, 4096)
			<-start
			for {
				off := rng.Int64N(int64(len(orig) - len(buf)))
				_, err := r.ReadAt(buf, off)
				if errors.Is(err, mmap.ErrClosed) {
					closedReads[g]++
					return
				}
				if err != nil {
					t.Errorf("ReadAt: %v", err)
					return
				}
				if !bytes.Equal(buf, orig[off:off+4096]) {
					t.Errorf("ReadAt at %d returned wrong bytes", off)
					return
				}
				okReads[g].Add(1)
			}
		}()
	}
	close(start)
	// Let every reader get going before closing, without sleeping: wait until
	// each has completed a read.
	for g := range 8 {
		for {
			if okReads[g].Load() > 0 {
				break
			}
			runtime.Gosched()
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for g := range 8 {
		if closedReads[g] != 1 {
			t.Errorf("reader %d did not see ErrClosed", g)
		}
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if r.Len() != 0 || r.Bytes() != nil {
		t.Error("closed region still exposes bytes")
	}
}

func TestResizeRacesWithReaders(t *testing.T) {
	r, err := mmap.Anonymous(1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := pattern(100)
	r.WriteAt(head, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var reads atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.ReadAt(buf, 0); err != nil {
					t.Errorf("ReadAt during Resize: %v", err)
					return
				}
				if !bytes.Equal(buf, head) {
					t.Error("ReadAt during Resize returned wrong bytes")
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range 200 {
		// Interleave for certain: each Resize waits for reads to have happened
		// since the previous one.
		for reads.Load() < int64(i) {
			runtime.Gosched()
		}
		n := 1<<16 + (i%7)*1<<20
		if err := r.Resize(n); err != nil {
			t.Fatal(err)
		}
		if r.Len() != n {
			t.Fatalf("Len %d after Resize(%d)", r.Len(), n)
		}
	}
	close(stop)
	wg.Wait()
}
