package mmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// A Resize whose truncate fails (a sealed memfd, an immutable file: EPERM)
// leaves the Region exactly as it was: same length, every byte readable.
// Before, the mapping had already shrunk, Len still said the old size, and
// reading the old tail crashed the process with SIGSEGV.
func TestFailedShrinkLeavesRegionIntact(t *testing.T) {
	const size = 3 * 4096
	orig := pattern(size)
	cases := []struct {
		name string
		make func(t *testing.T) *os.File // a file holding orig that cannot shrink
	}{
		{"sealed memfd", func(t *testing.T) *os.File {
			f, err := sys.MemfdCreate("mmapkit-test")
			if err != nil {
				t.Skip(err)
			}
			if _, err := f.Write(orig); err != nil {
				t.Fatal(err)
			}
			if err := sys.SealShrink(f); err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"immutable file", func(t *testing.T) *os.File {
			path := writeFile(t, orig)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := sys.SetImmutable(f, true); err != nil {
				f.Close()
				t.Skipf("cannot make a file immutable here: %v", err)
			}
			t.Cleanup(func() {
				if g, err := os.Open(path); err == nil {
					sys.SetImmutable(g, false)
					g.Close()
				}
			})
			return f
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.make(t)
			defer f.Close()
			r, err := mmap.Map(f, mmap.ReadWrite, 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			err = r.Resize(4096)
			if err == nil {
				t.Fatal("Resize succeeded on a file that cannot shrink")
			}
			if !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Resize: %v, want an error matching fs.ErrPermission", err)
			}
			if r.Len() != size {
				t.Fatalf("after the failed Resize Len is %d, want %d", r.Len(), size)
			}
			got := make([]byte, size)
			if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, orig) {
				t.Fatalf("after the failed Resize ReadAt: %v, equal %v", err, bytes.Equal(got, orig))
			}
			if err := r.Do(func(b []byte) error {
				if len(b) != size || b[size-1] != orig[size-1] {
					t.Errorf("Do sees %d bytes", len(b))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Growing still works (neither file forbids it).
			if err := r.Resize(4 * 4096); err != nil {
				if tc.name == "immutable file" && errors.Is(err, fs.ErrPermission) {
					return // an immutable file cannot grow either
				}
				t.Fatal(err)
			}
			if r.Len() != 4*4096 {
				t.Fatalf("Len %d after growing", r.Len())
			}
		})
	}
}

// Lock over pages that can no longer be read in (the file was truncated
// under the mapping) reports a fault, not the locked-memory limit, even in a
// process the limit applies to; see TestLockLimit for the limit itself.
func TestLockTruncatedIsFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, pattern(16*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	err = r.Lock()
	if !errors.Is(err, mmap.ErrFault) || errors.Is(err, mmap.ErrMemlock) {
		t.Fatalf("Lock over a truncated file: %v, want ErrFault (and not ErrMemlock)", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path || pe.Op != "mmap: lock" {
		t.Errorf("Lock: %#v, want a *fs.PathError for %s", err, path)
	}
}
