package mmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
)

// The same condition gives the same error whichever way it is met: a page
// that cannot be read in (the file was truncated under the mapping) is
// ErrFault whether the CPU raises a signal (ReadAt), the kernel answers
// EFAULT to a system call given the mapped memory (WriteTo or ReadFrom with
// an *os.File, madvise populate) or mlock answers ENOMEM (Lock). Before,
// the system-call paths returned a bare EFAULT or ENOMEM.
func TestTruncatedFaultsAreErrFault(t *testing.T) {
	const size = 16 * 4096
	dir := t.TempDir()
	setup := func(t *testing.T, mode mmap.Mode) (*mmap.Region, string) {
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.WriteFile(path, pattern(size), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := mmap.Open(path, mode, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := os.Truncate(path, 4096); err != nil {
			t.Fatal(err)
		}
		return r, path
	}
	tests := []struct {
		name string
		mode mmap.Mode
		op   string
		call func(t *testing.T, r *mmap.Region) error
	}{
		{"ReadAt", mmap.ReadOnly, "mmap: read", func(t *testing.T, r *mmap.Region) error {
			_, err := r.ReadAt(make([]byte, 10), 8*4096)
			return err
		}},
		{"WriteTo an *os.File", mmap.ReadOnly, "mmap: write to", func(t *testing.T, r *mmap.Region) error {
			out, err := os.Create(filepath.Join(dir, "out-"+strings.ReplaceAll(t.Name(), "/", "_")))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			_, err = r.WriteTo(out)
			return err
		}},
		{"ReadFrom an *os.File", mmap.ReadWrite, "mmap: read from", func(t *testing.T, r *mmap.Region) error {
			src, err := os.Open(os.Args[0]) // any file longer than the Region's first page
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			_, err = r.ReadFrom(src)
			return err
		}},
		{"Advise PopulateRead", mmap.ReadOnly, "mmap: advise", func(t *testing.T, r *mmap.Region) error {
			return r.Advise(mmap.AdvicePopulateRead)
		}},
		{"Advise PopulateWrite", mmap.ReadWrite, "mmap: advise", func(t *testing.T, r *mmap.Region) error {
			return r.Advise(mmap.AdvicePopulateWrite)
		}},
		{"Prefetch", mmap.ReadOnly, "mmap: prefetch", func(t *testing.T, r *mmap.Region) error {
			return r.Prefetch(0, r.Len())
		}},
		{"Lock", mmap.ReadOnly, "mmap: lock", func(t *testing.T, r *mmap.Region) error {
			return r.Lock()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, path := setup(t, tt.mode)
			err := tt.call(t, r)
			if !errors.Is(err, mmap.ErrFault) {
				t.Fatalf("%v, want an error matching ErrFault", err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Op != tt.op || pe.Path != path {
				t.Errorf("%v: want a *fs.PathError with Op %q and Path %s", err, tt.op, path)
			}
			if strings.Count(err.Error(), path) != 1 {
				t.Errorf("%q names the file more or less than once", err)
			}
		})
	}
}

// PopulateWrite on a read-only Region says what is wrong, instead of the
// kernel's EINVAL read as "unsupported by this kernel".
func TestAdvisePopulateWriteReadOnly(t *testing.T) {
	r := mapPath(t, writeFile(t, pattern(8192)), mmap.ReadOnly, 0, 0)
	err := r.Advise(mmap.AdvicePopulateWrite)
	if !errors.Is(err, mmap.ErrReadOnly) || errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Advise(PopulateWrite) on a read-only Region: %v, want ErrReadOnly", err)
	}
	if !strings.Contains(err.Error(), "read-only") {
		t.Errorf("%q does not say the Region is read-only", err)
	}
}
