package mmap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// scatterFile writes a file of size bytes, flushes it to disk and drops it
// from the page cache; it skips the test where eviction cannot be verified
// (tmpfs, an OS without fadvise).
func scatterFile(t *testing.T, size int) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scatter.bin")
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	// Written back before it is reopened read-only, so that eviction can
	// drop every page (Windows cannot flush through a read-only handle).
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// scatterEvict drops the file's pages and returns false if some stayed.
func scatterEvict(t *testing.T, r *Region) bool {
	t.Helper()
	if err := sys.Fadvise(r.st.file.Fd(), 0, 0, sys.FadvDontNeed); err != nil {
		t.Skipf("cannot evict pages here: %v", err)
	}
	return scatterResidentCount(t, r) == 0
}

func scatterResident(t *testing.T, r *Region) []byte {
	t.Helper()
	m := r.st.m.Data
	ps := sys.PageSize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	if err := sys.Mincore(m, vec); err != nil {
		t.Skipf("no residency information here: %v", err)
	}
	return vec
}

func scatterResidentCount(t *testing.T, r *Region) int {
	n := 0
	for _, v := range scatterResident(t, r) {
		n += int(v & 1)
	}
	return n
}

// TestPrefetchOffsetsLoadsExactlyThePages: after PrefetchOffsets, and without
// anything touching the memory, the requested pages become resident and the
// pages between them do not.
func TestPrefetchOffsetsLoadsExactlyThePages(t *testing.T) {
	ps := int64(sys.PageSize())
	tests := []struct {
		name   string
		mapOff int64 // Region starts here in the file
		offs   []int64
		n      int64
	}{
		{"scattered pages", 0, []int64{0, 17 * ps, 5 * ps, 200 * ps, 1023 * ps}, ps},
		{"unaligned ranges over page boundaries", 0, []int64{ps - 10, 40*ps + 100, 300*ps + 7}, ps + 20},
		{"duplicates and neighbours", 0, []int64{10 * ps, 11 * ps, 10 * ps, 12 * ps, 500 * ps}, ps},
		{"a range longer than one request", 0, []int64{100 * ps}, 600 << 10},
		{"region at an unaligned file offset", 3*ps + 100, []int64{0, 50*ps + 1, 700 * ps}, 64},
		{"sparse offsets (no residency query)", 0, []int64{2 * ps, 900 * ps}, 8},
	}
	f := scatterFile(t, 1024*int(ps))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Map(f, ReadOnly, tc.mapOff, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Advise(AdviceRandom); err != nil {
				t.Fatal(err)
			}
			if !scatterEvict(t, r) {
				t.Skip("the page cache kept the file's pages: eviction cannot be verified here")
			}
			if err := r.PrefetchOffsets(tc.offs, int(tc.n)); err != nil {
				t.Fatal(err)
			}
			want := make(map[int64]bool) // pages of the mapping
			for _, off := range tc.offs {
				for p := (int64(r.delta) + off) / ps; p <= (int64(r.delta)+off+tc.n-1)/ps; p++ {
					want[p] = true
				}
			}
			// The reads are asynchronous: wait (bounded) for them to land.
			deadline := time.Now().Add(20 * time.Second)
			var vec []byte
			for {
				vec = scatterResident(t, r)
				done := true
				for p := range want {
					if vec[p]&1 == 0 {
						done = false
					}
				}
				if done || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			for p, v := range vec {
				if got := v&1 != 0; got != want[int64(p)] {
					t.Errorf("page %d resident = %v, want %v", p, got, want[int64(p)])
				}
			}
			// The data read afterwards is the file's.
			for _, off := range tc.offs {
				got := make([]byte, tc.n)
				if _, err := r.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if w := byte((tc.mapOff+off+int64(i))*7 + 1); got[i] != w {
						t.Fatalf("byte %d at offset %d = %d, want %d", i, off, got[i], w)
					}
				}
			}
		})
	}
}

func TestPrefetchOffsetsErrors(t *testing.T) {
	f := scatterFile(t, 64<<10)
	r, err := Map(f, ReadOnly, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		name string
		offs []int64
		n    int64
		want error
	}{
		{"negative offset", []int64{0, -1}, 8, ErrOutOfRange},
		{"offset past the end", []int64{64 << 10}, 1, ErrOutOfRange},
		{"range past the end", []int64{(64 << 10) - 4}, 8, ErrOutOfRange},
		{"negative length", []int64{0}, -1, ErrOutOfRange},
		{"zero length", []int64{0, 100}, 0, nil},
		{"no offsets", nil, 4096, nil},
		{"last byte", []int64{(64 << 10) - 1}, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.PrefetchOffsets(tc.offs, int(tc.n))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("PrefetchOffsets(%v, %d) = %v, want %v", tc.offs, tc.n, err, tc.want)
			}
		})
	}
	r.Close()
	if err := r.PrefetchOffsets([]int64{0}, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// BenchmarkColdScatteredReads reads 4096 random pages of an evicted 256 MiB
// file through a Random-advised mapping, one fault at a time versus after
// PrefetchOffsets. The difference is the device's parallelism: compare the
// two in one run (`go test -bench ColdScattered -benchtime 5x ./mmap/`).
func BenchmarkColdScatteredReads(b *testing.B) {
	const size, reads = 256 << 20, 4096
	path := filepath.Join(b.TempDir(), "cold.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*13 + 1)
	}
	for off := 0; off < size; off += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ps := int64(sys.PageSize())
	offs := make([]int64, reads)
	x := uint64(12345)
	for i := range offs {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		offs[i] = int64(x%uint64(size/ps)) * ps
	}
	for _, prefetch := range []bool{false, true} {
		name := "one-at-a-time"
		if prefetch {
			name = "PrefetchOffsets"
		}
		b.Run(name, func(b *testing.B) {
			r, err := Open(path, ReadOnly, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if err := r.Advise(AdviceRandom); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, ps)
			for b.Loop() {
				b.StopTimer()
				if err := r.Evict(0, size); err != nil {
					b.Skipf("cannot evict: %v", err)
				}
				b.StartTimer()
				if prefetch {
					if err := r.PrefetchOffsets(offs, int(ps)); err != nil {
						b.Fatal(err)
					}
				}
				for _, off := range offs {
					if _, err := r.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reads), "ns/read")
		})
	}
}
