package mmap_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
)

// Resize never removes file bytes outside the Region: it grows the file only
// when the new end passes the end of the file, and shrinks it only when the
// Region ended exactly there. Every byte outside the Region is compared.
func TestResizeKeepsBytesOutsideTheRegion(t *testing.T) {
	const size = 8192
	tests := []struct {
		name        string
		off         int64
		length      int
		steps       []int   // successive Resize sizes
		wantSizes   []int64 // the file's size after each step
		touchesFile bool    // whether the Region ends at EOF (then the file follows it)
	}{
		{"middle of the file grows and shrinks", 100, 100, []int{200, 50, 8000}, []int64{8192, 8192, 8192}, false},
		// Once the Region reaches EOF, the file follows it.
		{"middle of the file grows past EOF", 100, 100, []int{9000, 200}, []int64{9100, 300}, false},
		{"ends at EOF", 8000, 0, []int{1000, 100, 0, 5000}, []int64{9000, 8100, 8000, 13000}, true},
		{"unaligned start, ends at EOF", 4097, 0, []int{1 << 20, 50}, []int64{4097 + 1<<20, 4097 + 50}, true},
		{"whole file", 0, 0, []int{100, 20000}, []int64{100, 20000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := pattern(size)
			path := writeFile(t, orig)
			r := mapPath(t, path, mmap.ReadWrite, tt.off, tt.length)
			for i, n := range tt.steps {
				if err := r.Resize(n); err != nil {
					t.Fatalf("Resize(%d): %v", n, err)
				}
				if r.Len() != n {
					t.Fatalf("Resize(%d): Len %d", n, r.Len())
				}
				file, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(file)) != tt.wantSizes[i] {
					t.Fatalf("after Resize(%d) the file is %d bytes, want %d", n, len(file), tt.wantSizes[i])
				}
				// Bytes before the Region never change.
				if !bytes.Equal(file[:tt.off], orig[:tt.off]) {
					t.Fatalf("after Resize(%d) bytes before the Region changed", n)
				}
				// Bytes after the Region's end that were in the original
				// file keep their value.
				end := tt.off + int64(n)
				if end < int64(len(file)) {
					hi := min(int64(len(file)), int64(size))
					if end < hi && !bytes.Equal(file[end:hi], orig[end:hi]) {
						t.Fatalf("after Resize(%d) bytes after the Region changed", n)
					}
				}
				// The Region reads what the file holds.
				got := make([]byte, n)
				if _, err := r.ReadAt(got, 0); err != nil && !(n == 0 && err == io.EOF) {
					t.Fatalf("ReadAt after Resize(%d): %v", n, err)
				}
				if !bytes.Equal(got, file[tt.off:end]) {
					t.Fatalf("after Resize(%d) the Region and the file disagree", n)
				}
			}
		})
	}
}

// An anonymous Region keeps its bytes across growing and shrinking, and the
// bytes a shrink cut off read as zeros when it grows again.
func TestAnonymousResizeZeroesRegrownBytes(t *testing.T) {
	r, err := mmap.Anonymous(3*4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.WriteAt(pattern(3*4096), 0); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{5000, 100, 0, 3 * 4096} {
		if err := r.Resize(n); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 3*4096)
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, len(got))) {
		t.Error("bytes cut off by shrinking came back when growing")
	}
	if err := r.Resize(100); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("abc"), 97); err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(200); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, 200)
	r.ReadAt(got, 0)
	if string(got[97:100]) != "abc" || !bytes.Equal(got[100:], make([]byte, 100)) {
		t.Errorf("after shrink to 100, write, grow to 200: %q", got[90:110])
	}
}

// Resize refuses what it cannot do, and says so.
func TestResizeRefusals(t *testing.T) {
	path := writeFile(t, pattern(8192))
	for _, mode := range []mmap.Mode{mmap.ReadOnly, mmap.CopyOnWrite} {
		r := mapPath(t, path, mode, 0, 0)
		if err := r.Resize(100); !errors.Is(err, mmap.ErrReadOnly) {
			t.Errorf("%s Resize: %v, want ErrReadOnly", mode, err)
		}
		if r.Len() != 8192 {
			t.Errorf("%s: Len %d after a refused Resize", mode, r.Len())
		}
	}
	r := mapPath(t, path, mmap.ReadWrite, 0, 0)
	r.Close()
	if err := r.Resize(100); !errors.Is(err, mmap.ErrClosed) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("Resize after Close: %v, want ErrClosed naming the file", err)
	}
}
