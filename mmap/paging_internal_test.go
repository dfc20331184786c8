package mmap

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Prefetch's fallback for kernels without MADV_POPULATE_READ: WILLNEED in
// read-ahead sized pieces. WILLNEED puts every page of a piece in the page
// cache before it returns (the reads may still be in flight), so a pass over
// the whole file afterwards takes no major fault. Issued as one call for the
// whole range, Linux would read only its read-ahead maximum and skip the
// rest; that control case is logged, not asserted, as the maximum depends on
// the device.
func TestPrefetchWillNeedFallback(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs posix_fadvise to evict")
	}
	const size = 16 << 20
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(p bool, c int) { prefetchPopulate, willNeedChunk = p, c }(prefetchPopulate, willNeedChunk)
	prefetchPopulate = false
	for _, tc := range []struct {
		name   string
		chunk  int
		assert bool
		step   int // touch every step-th page
	}{
		{"128KiB pieces", 128 << 10, true, 1},
		// Every 16th page only, to keep the control quick.
		{"one call (control)", size, false, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			willNeedChunk = tc.chunk
			r, err := Open(path, ReadOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Evict(0, size); err != nil {
				t.Fatal(err)
			}
			// Random advice: a fault reads just its page, so any page the
			// prefetch missed costs one major fault.
			if err := r.Advise(AdviceRandom); err != nil {
				t.Fatal(err)
			}
			if err := r.Prefetch(0, size); err != nil {
				t.Fatal(err)
			}
			f0, err := ReadFaults()
			if err != nil {
				t.Fatal(err)
			}
			var sum byte
			ps := os.Getpagesize()
			if err := r.Do(func(b []byte) error {
				for i := 0; i < len(b); i += tc.step * ps {
					sum += b[i]
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(sum)
			f, _ := ReadFaults()
			d := f.Sub(f0)
			t.Logf("touch pass after prefetch: %v", d)
			if tc.assert && d.Major != 0 {
				t.Fatalf("pages missed by the WILLNEED prefetch: %v", d)
			}
		})
	}
}
