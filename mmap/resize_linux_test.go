package mmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// vmSize returns the process's address space in bytes (VmSize).
func vmSize(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmSize in /proc/self/status")
	return 0
}

// A Region that lives on while it is resized over and over must not pile
// up reservations. Shrinking to 0 retired the whole mapping and the next
// Resize mapped elsewhere, so each Resize(0), Resize(n) round left n bytes
// of address space behind for the Region's life (2000 rounds of 1 MiB: 2
// GiB); and once the reservations passed the budget, every Resize forced a
// garbage collection, which a reachable Region's reservations never survive
// less (a thousand-fold slowdown).
func TestResizeRoundsDoNotPileUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		small, n int // each round shrinks to small and grows back to n
	}{
		{"anonymous to 0", 0, 1 << 20},
		{"anonymous to a page", 4096, 1 << 20},
		{"file to 0", 0, 64 << 10}, // the file is cut and allocated again each round
		{"file to a page", 4096, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			var r *mmap.Region
			if strings.HasPrefix(tc.name, "file") {
				r = mapPath(t, writeFile(t, make([]byte, n)), mmap.ReadWrite, 0, 0)
			} else {
				var err error
				if r, err = mmap.Anonymous(n, nil); err != nil {
					t.Fatal(err)
				}
				defer r.Close()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			gcs, vm := ms.NumForcedGC, vmSize(t)
			const rounds = 4096 + 1000 // past the reservation budget
			for i := range rounds {
				if err := r.Resize(tc.small); err != nil {
					t.Fatal(err)
				}
				if err := r.Resize(n); err != nil {
					t.Fatal(err)
				}
				if i%1000 == 0 {
					// The regrown bytes read as new memory or the file does.
					var b [8]byte
					if _, err := r.ReadAt(b[:], int64(n-8)); err != nil || b != [8]byte{} {
						t.Fatalf("round %d: regrown tail reads %v, %v", i, b, err)
					}
					if _, err := r.WriteAt([]byte("dirty"), int64(n-8)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if grown := vmSize(t) - vm; grown > 64<<20 {
				t.Errorf("%d rounds of Resize(%d), Resize(%d) grew the address space by %d MiB", rounds, tc.small, n, grown>>20)
			}
			runtime.ReadMemStats(&ms)
			if forced := ms.NumForcedGC - gcs; forced > 4 {
				t.Errorf("%d rounds of Resize forced %d garbage collections", rounds, forced)
			}
		})
	}
}
