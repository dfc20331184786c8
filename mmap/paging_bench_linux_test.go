package mmap_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
)

// The cold-cache benchmarks of paging advice. Every iteration starts by
// evicting the benchmark file (Region.Evict: no root needed) with the timer
// stopped, so each timed scan reads from the disk. They use the shared
// benchmark file (benchFile, MMAPKIT_BENCH_SIZE bytes, 1 GiB by default);
// the numbers in docs/paging.md come from five rounds of
//
//	MMAPKIT_BENCH_SIZE=4294967296 go test ./mmap -run '^$' \
//	    -bench 'BenchmarkCold(SequentialScan|Random4K)' -benchtime 1x -count 1
//
// (one round runs every variant once, so that ratios compare runs made close
// together on a shared, noisy disk).
//
// Besides time, they report major faults per scan and how much of the file
// ended up resident, which is what explains the times.

// pagingColdSetup returns the benchmark file's path and size and evicts it.
func pagingColdSetup(b *testing.B) (string, int64) {
	b.Helper()
	path, err := benchFile()
	if err != nil {
		b.Fatal(err)
	}
	pagingColdEvict(b, path)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

func pagingColdEvict(b *testing.B, path string) {
	b.Helper()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := r.Evict(0, r.Len()); err != nil {
		b.Fatal(err)
	}
}

// pagingResidentFraction reports how much of the file is in the page cache.
func pagingResidentFraction(b *testing.B, path string) float64 {
	b.Helper()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	s, err := r.Resident()
	if err != nil {
		b.Fatal(err)
	}
	return s.Fraction()
}

// pagingXor folds b into one word, 8 bytes at a time, so that a scan touches
// every byte at memory speed and the compiler cannot drop it.
func pagingXor(b []byte) uint64 {
	var x uint64
	n := len(b) / 8
	if n > 0 {
		for _, w := range unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n) {
			x ^= w
		}
	}
	for _, c := range b[n*8:] {
		x ^= uint64(c)
	}
	return x
}

var pagingSink uint64

// BenchmarkColdSequentialScan reads a cold file from start to end: through a
// mapping with Normal or Sequential advice, and with pread into a 1 MiB
// buffer. The source claims Sequential makes such a scan 2-3x faster.
func BenchmarkColdSequentialScan(b *testing.B) {
	path, size := pagingColdSetup(b)
	scanMapped := func(adv mmap.Advice) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(size)
			var faults mmap.Faults
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				pagingColdEvict(b, path)
				r, err := mmap.Open(path, mmap.ReadOnly, nil)
				if err != nil {
					b.Fatal(err)
				}
				f0, _ := mmap.ReadFaults()
				b.StartTimer()
				if err := r.Advise(adv); err != nil {
					b.Fatal(err)
				}
				err = r.Do(func(m []byte) error {
					pagingSink ^= pagingXor(m)
					return nil
				})
				b.StopTimer()
				f1, _ := mmap.ReadFaults()
				faults = faults.Add(f1.Sub(f0))
				r.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(faults.Major)/float64(b.N), "majflt/op")
			b.ReportMetric(float64(faults.Minor)/float64(b.N), "minflt/op")
		}
	}
	b.Run("mmap-normal", scanMapped(mmap.AdviceNormal))
	b.Run("mmap-sequential", scanMapped(mmap.AdviceSequential))
	b.Run("pread-1MiB", func(b *testing.B) {
		b.SetBytes(size)
		buf := make([]byte, 1<<20)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pagingColdEvict(b, path)
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for off := int64(0); off < size; off += int64(len(buf)) {
				n, err := f.ReadAt(buf, off)
				if n == 0 && err != nil {
					b.Fatal(err)
				}
				pagingSink ^= pagingXor(buf[:n])
			}
			b.StopTimer()
			f.Close()
			b.StartTimer()
		}
	})
}

// BenchmarkColdRandom4K does random 4 KiB reads (copies) from a cold file,
// through a mapping with Normal or Random advice, and with pread. The number
// of reads is a fraction of the file's pages: with Normal advice each fault
// reads a whole read-around window (read_ahead_kb, 8 MiB on this machine's
// disk), which wastes I/O when few reads are made and pays off when so many
// are made that the windows cover the file anyway.
func BenchmarkColdRandom4K(b *testing.B) {
	path, size := pagingColdSetup(b)
	const page = 4096
	pages := size / page
	for _, frac := range []int64{1000, 100, 10} {
		reads := int(max(1, pages/frac))
		rng := rand.New(rand.NewPCG(3, 4))
		offs := make([]int64, reads)
		for i := range offs {
			offs[i] = rng.Int64N(pages) * page
		}
		mapped := func(adv mmap.Advice) func(b *testing.B) {
			return func(b *testing.B) {
				buf := make([]byte, page)
				var faults mmap.Faults
				var resident float64
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					pagingColdEvict(b, path)
					r, err := mmap.Open(path, mmap.ReadOnly, nil)
					if err != nil {
						b.Fatal(err)
					}
					f0, _ := mmap.ReadFaults()
					b.StartTimer()
					if err := r.Advise(adv); err != nil {
						b.Fatal(err)
					}
					for _, off := range offs {
						if _, err := r.ReadAt(buf, off); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					f1, _ := mmap.ReadFaults()
					faults = faults.Add(f1.Sub(f0))
					r.Close()
					resident += pagingResidentFraction(b, path)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reads), "ns/read")
				b.ReportMetric(float64(faults.Major)/float64(b.N), "majflt/op")
				b.ReportMetric(100*resident/float64(b.N), "%resident")
			}
		}
		name := fmt.Sprintf("reads=%d", reads)
		b.Run(name+"/mmap-normal", mapped(mmap.AdviceNormal))
		b.Run(name+"/mmap-random", mapped(mmap.AdviceRandom))
		b.Run(name+"/pread", func(b *testing.B) {
			buf := make([]byte, page)
			var resident float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				pagingColdEvict(b, path)
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, off := range offs {
					if _, err := f.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				f.Close()
				resident += pagingResidentFraction(b, path)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reads), "ns/read")
			b.ReportMetric(100*resident/float64(b.N), "%resident")
		})
	}
}
