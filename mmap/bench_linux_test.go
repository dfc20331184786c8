package mmap_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// The benchmark file: 1 GiB by default (MMAPKIT_BENCH_SIZE overrides), made
// once per test binary and read once so that it is warm in the page cache.
var benchFile = sync.OnceValues(func() (string, error) {
	size := int64(1 << 30)
	if s := os.Getenv("MMAPKIT_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("MMAPKIT_BENCH_SIZE: %w", err)
		}
		size = n
	}
	dir, err := os.MkdirTemp("", "mmapkit-bench")
	if err != nil {
		return "", err
	}
	benchDir.Store(&dir)
	path := filepath.Join(dir, "bench.bin")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	chunk := pattern(1 << 20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-off)]); err != nil {
			return "", err
		}
	}
	return path, nil
})

// benchDir is the benchmark file's directory once benchFile has made it.
// TestMain must not call benchFile itself: that would write the file at the
// end of every test run (and of every helper child process) just to delete it.
var benchDir atomic.Pointer[string]

func TestMain(m *testing.M) {
	code := m.Run()
	if dir := benchDir.Load(); dir != nil {
		os.RemoveAll(*dir)
	}
	os.Exit(code)
}

// offsets returns n random offsets where a read of size bytes fits, aligned
// to align.
func offsets(n int, size, span, align int64) []int64 {
	rng := rand.New(rand.NewPCG(1, 2))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = rng.Int64N((span-size)/align) * align
	}
	return offs
}

// BenchmarkReadAt compares, for reads of several sizes at random offsets of a
// warm file whose pages are already mapped: Region.ReadAt (fault protection and
// close-safety included), os.File.ReadAt (pread) and a copy out of a bare
// mmap(2) slice (the floor).
func BenchmarkReadAt(b *testing.B) {
	path, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	span := st.Size()

	r, err := mmap.Map(f, mmap.ReadOnly, 0, 0, &mmap.Options{Populate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	rawMap, err := sys.Map(f.Fd(), 0, int(span), sys.ProtRead, sys.Populate)
	if err != nil {
		b.Fatal(err)
	}
	defer rawMap.Unmap()
	raw := rawMap.Data

	for _, size := range []int64{8, 64, 4096} {
		align := int64(1)
		if size == 4096 {
			align = 4096
		}
		offs := offsets(1<<20, size, span, align)
		buf := make([]byte, size)
		mask := len(offs) - 1
		// One untimed pass over every offset through both mappings, so that no
		// method pays for first-touch costs (page-table and TLB warm-up) that
		// the others then avoid.
		for _, off := range offs {
			r.ReadAt(buf, off)
			copy(buf, raw[off:off+size])
		}
		b.Run(fmt.Sprintf("size=%d/method=region", size), func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if _, err := r.ReadAt(buf, offs[i&mask]); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Many reads inside one Do: one entry into the Region (and its atomic
		// counter) for a batch of 1024 reads, the way to do small reads at
		// memory speed.
		b.Run(fmt.Sprintf("size=%d/method=region-do-batch", size), func(b *testing.B) {
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				if i&1023 == 0 {
					err := r.Do(func(m []byte) error {
						for j := range 1024 {
							off := offs[(i+j)&mask]
							copy(buf, m[off:off+size])
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("size=%d/method=pread", size), func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if _, err := f.ReadAt(buf, offs[i&mask]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/method=rawslice", size), func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				off := offs[i&mask]
				copy(buf, raw[off:off+size])
			}
		})
	}
}
