package array

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// Benchmarks. The large files are made once per run in a temporary directory
// (MMAPKIT_BENCH_DIR to choose where) and removed by TestMain.
//
//	go test ./array -run '^$' -bench BatchesCold -benchtime 3x       # 4 GiB, MMAPKIT_BENCH_GIB to change
//	go test ./array -run '^$' -bench OpenNPY
//	go test ./array -run '^$' -bench SumWarm -benchtime 5x

var (
	benchDirOnce sync.Once
	benchDir     string
	benchFiles   sync.Map // name -> path
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchFile returns a .npy file of rows x cols float32 filled with real
// (non-zero, so not sparse) data, written to disk, made once per run.
func benchFile(b *testing.B, rows, cols int) string {
	b.Helper()
	benchDirOnce.Do(func() {
		d, err := os.MkdirTemp(os.Getenv("MMAPKIT_BENCH_DIR"), "mmapkit-array-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	})
	name := fmt.Sprintf("f32-%dx%d.npy", rows, cols)
	if p, ok := benchFiles.Load(name); ok {
		return p.(string)
	}
	path := filepath.Join(benchDir, name)
	a, err := CreateNPY[float32](path, rows, cols)
	if err != nil {
		b.Fatal(err)
	}
	off := a.Offset()
	a.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	// Write through the file, not the mapping, so no page of it is mapped.
	chunk := make([]float32, 1<<20)
	buf := unsafeBytes(chunk)
	total := int64(rows) * int64(cols) * 4
	for done := int64(0); done < total; done += int64(len(buf)) {
		for i := range chunk {
			chunk[i] = float32((done/4+int64(i))%1000) / 1000
		}
		n := min(int64(len(buf)), total-done)
		if _, err := f.WriteAt(buf[:n], off+done); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil { // dirty pages cannot be evicted
		b.Fatal(err)
	}
	f.Close()
	benchFiles.Store(name, path)
	return path
}

func unsafeBytes(s []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
}

// resetPeakRSS resets the kernel's peak-RSS mark for this process (Linux:
// writing 5 to /proc/self/clear_refs), so VmHWM measures one scan only.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procStatus returns fields of /proc/self/status in bytes (VmHWM, RssFile...).
func procStatus(b *testing.B, keys ...string) map[string]int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for _, want := range keys {
			if k == want {
				n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				out[k] = n << 10
			}
		}
	}
	return out
}

func benchGiB() int {
	if s := os.Getenv("MMAPKIT_BENCH_GIB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 4
}

// BenchmarkBatchesCold scans a large float32 .npy (4 GiB by default) with
// Batches from a cold cache (Evict first), and reports throughput and the
// peak RSS of the scan as a share of the file. "no-evict" is the same scan
// over Data(), where every page stays mapped, and "pread-1MiB" reads the file
// with read(2) into one buffer: the disk's rate for this access pattern, in
// the same run.
func BenchmarkBatchesCold(b *testing.B) {
	const cols = 128
	rows := benchGiB() << 30 / (cols * 4)
	path := benchFile(b, rows, cols)
	size := int64(rows) * cols * 4
	for _, mode := range []string{"batches", "no-evict", "pread-1MiB"} {
		b.Run(fmt.Sprintf("%dGiB/%s", benchGiB(), mode), func(b *testing.B) {
			a, err := OpenNPY[float32](path, ReadOnly)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			b.SetBytes(size)
			var peak, peakFile int64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := a.Evict(0, rows); err != nil {
					b.Fatal(err)
				}
				if !resetPeakRSS() {
					b.Skip("cannot reset the peak RSS mark")
				}
				start := time.Now()
				b.StartTimer()
				var s float32
				switch mode {
				case "batches":
					for _, batch := range a.Batches(4096) {
						s += sum4(batch)
					}
				case "no-evict":
					s = sum4(a.Data())
				case "pread-1MiB":
					s = preadSum(b, path, a.Offset(), size)
				}
				b.StopTimer()
				elapsed += time.Since(start)
				sinkF32 = s
				st := procStatus(b, "VmHWM", "RssFile")
				peak = max(peak, st["VmHWM"])
				peakFile = max(peakFile, st["RssFile"])
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peakRSS-MiB")
			b.ReportMetric(100*float64(peak)/float64(size), "peakRSS-%file")
		})
	}
}

var sinkF32 float32

// preadSum is the baseline without mmap: read(2) 1 MiB at a time into one
// buffer and sum it.
func preadSum(b *testing.B, path string, off, size int64) float32 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]float32, 1<<18)
	raw := unsafeBytes(buf)
	var s float32
	for done := int64(0); done < size; done += int64(len(raw)) {
		n, err := f.ReadAt(raw[:min(int64(len(raw)), size-done)], off+done)
		if err != nil {
			b.Fatal(err)
		}
		s += sum4(buf[:n/4])
	}
	return s
}

// sum4 sums with four accumulators (the loop a user would write to keep up
// with the disk; one accumulator is latency-bound).
func sum4(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return s0 + s1 + s2 + s3
}

// BenchmarkOpenNPY opens and closes a tiny .npy and a 64 GiB (sparse) one:
// only the header is read, so the times should match.
func BenchmarkOpenNPY(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct {
		name string
		rows int
	}{{"1KiB", 2}, {"64GiB", 64 << 30 / 512}} {
		path := filepath.Join(dir, c.name+".npy")
		a, err := CreateNPY[float32](path, c.rows, 128) // sparse: Create only sets the size
		if err != nil {
			b.Fatal(err)
		}
		a.Close()
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				a, err := OpenNPY[float32](path, ReadOnly)
				if err != nil {
					b.Fatal(err)
				}
				a.Close()
			}
		})
	}
}

// BenchmarkSumWarm sums a 1 GiB float32 .npy that is already in the page
// cache and mapped, through Data(), and compares with NumPy's arr.sum() on the
// same file (np.load mmap_mode='r', best of 5 after a warm-up), reported as
// the metric x-numpy (Go time / NumPy time: below 1 means Go is faster).
func BenchmarkSumWarm(b *testing.B) {
	const cols = 256
	rows := 1 << 30 / (cols * 4)
	path := benchFile(b, rows, cols)
	out := runPython(b, `
import time
a = np.load(sys.argv[1], mmap_mode='r')
a.sum()
best = min((lambda t0: (a.sum(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print(best, float(a.sum()))
`, path)
	f := strings.Fields(out)
	npSec, _ := strconv.ParseFloat(f[0], 64)
	npSum, _ := strconv.ParseFloat(f[1], 64)
	a, err := OpenNPY[float32](path, ReadOnly)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	data := a.Data()
	sum4(data) // warm: map every page
	for _, c := range []struct {
		name string
		fn   func([]float32) float64
	}{
		{"go-1acc-f64", func(x []float32) float64 {
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			return s
		}},
		{"go-4acc-f32", func(x []float32) float64 { return float64(sum4(x)) }},
		{"go-8acc-f64", sum8f64},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)) * 4)
			var got float64
			for b.Loop() {
				got = c.fn(data)
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(per/npSec, "x-numpy")
			b.ReportMetric(npSec*1e3, "numpy-ms")
			b.ReportMetric(math.Abs(got-npSum)/math.Abs(npSum), "reldiff-numpy")
		})
	}
}

func sum8f64(x []float32) float64 {
	var s [8]float64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		s[0] += float64(x[i])
		s[1] += float64(x[i+1])
		s[2] += float64(x[i+2])
		s[3] += float64(x[i+3])
		s[4] += float64(x[i+4])
		s[5] += float64(x[i+5])
		s[6] += float64(x[i+6])
		s[7] += float64(x[i+7])
	}
	for ; i < len(x); i++ {
		s[0] += float64(x[i])
	}
	return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7]
}
