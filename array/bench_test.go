package array

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
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
//	go test ./array -run '^$' -bench BatchesCold -benchtime 3x       # 4 GiB; MMAPKIT_BENCH_GIB=N to change
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
	a, err := CreateNPY[float32](path, []int{rows, cols}, nil)
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

// BenchmarkBatchesCold scans a large float32 .npy (4 GiB by default) from a
// cold cache (Evict first) three ways, interleaved in every iteration so that
// they share the machine's conditions: Batches(4096); Data() with no
// eviction, where every page stays mapped; and read(2) 1 MiB at a time into
// one buffer, the disk's rate for this access pattern. It reports each one's
// throughput and peak RSS (VmHWM, reset before each scan) and the ratio of
// Batches to read(2) per round; ns/op is the sum of the three scans.
func BenchmarkBatchesCold(b *testing.B) {
	const cols = 128
	rows := benchGiB() << 30 / (cols * 4)
	path := benchFile(b, rows, cols)
	size := int64(rows) * cols * 4
	b.Run(fmt.Sprintf("%dGiB", benchGiB()), func(b *testing.B) {
		a, err := OpenNPY[float32](path, ReadOnly, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		modes := []string{"batches", "pread", "noevict"}
		secs := map[string]float64{}
		peak := map[string]int64{}
		ratio := 0.0
		rounds := 0
		for b.Loop() {
			round := map[string]float64{}
			for _, mode := range modes {
				if err := a.Evict(0, rows); err != nil {
					b.Fatal(err)
				}
				if !resetPeakRSS() {
					b.Skip("cannot reset the peak RSS mark")
				}
				start := time.Now()
				var s float32
				switch mode {
				case "batches":
					for _, batch := range a.Batches(4096) {
						s += sum4(batch)
					}
				case "noevict":
					s = sum4(a.Data())
				case "pread":
					s = preadSum(b, path, a.Offset(), size)
				}
				round[mode] = time.Since(start).Seconds()
				secs[mode] += round[mode]
				sinkF32 = s
				peak[mode] = max(peak[mode], procStatus(b, "VmHWM")["VmHWM"])
			}
			ratio += round["pread"] / round["batches"]
			rounds++
		}
		for _, mode := range modes {
			b.ReportMetric(float64(size*int64(rounds))/secs[mode]/1e6, mode+"-MB/s")
			b.ReportMetric(float64(peak[mode])/(1<<20), mode+"-peakRSS-MiB")
		}
		b.ReportMetric(100*float64(peak["batches"])/float64(size), "batches-peakRSS-%file")
		b.ReportMetric(ratio/float64(rounds), "batches/pread-speed")
	})
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

// BenchmarkOpenNPY opens and closes a tiny .npy and a 64 GiB (sparse) one,
// alternating in every iteration: only the header is read and the mapping is
// made lazily, so the two times should match. It reports each one's time per
// open+close and their ratio.
func BenchmarkOpenNPY(b *testing.B) {
	dir := b.TempDir()
	paths := map[string]string{}
	for name, rows := range map[string]int{"1KiB": 2, "64GiB": 64 << 30 / 512} {
		paths[name] = filepath.Join(dir, name+".npy")
		sparseNPY(b, paths[name], rows, 128) // CreateNPY would allocate 64 GiB

	}
	total := map[string]time.Duration{}
	for b.Loop() {
		for _, name := range []string{"1KiB", "64GiB"} {
			t0 := time.Now()
			a, err := OpenNPY[float32](paths[name], ReadOnly, nil)
			if err != nil {
				b.Fatal(err)
			}
			a.Close()
			total[name] += time.Since(t0)
		}
	}
	b.ReportMetric(float64(total["1KiB"].Nanoseconds())/float64(b.N), "small-ns/open")
	b.ReportMetric(float64(total["64GiB"].Nanoseconds())/float64(b.N), "64GiB-ns/open")
	b.ReportMetric(float64(total["64GiB"])/float64(total["1KiB"]), "large/small")
}

// BenchmarkSumWarm sums a 1 GiB float32 .npy that is already in the page
// cache and mapped, through Data(), and compares with NumPy's arr.sum() on the
// same file (np.load mmap_mode='r'). A NumPy process stays up and sums once
// after each Go iteration, so both are timed under the same conditions on
// this shared machine; the metrics are each side's best time and x-numpy, Go's
// best / NumPy's best (below 1 means Go is faster). reldiff-numpy is how far
// the sums differ, relative: a float32 accumulator stops growing long before
// 268M additions, NumPy's pairwise sum and a float64 accumulator do not.
func BenchmarkSumWarm(b *testing.B) {
	const cols = 256
	rows := 1 << 30 / (cols * 4)
	path := benchFile(b, rows, cols)
	py := numpyPython(b)
	cmd := exec.Command(py, "-c", `
import sys, time, numpy as np
a = np.load(sys.argv[1], mmap_mode='r')
s = float(a.sum())
for line in sys.stdin:
    t0 = time.perf_counter()
    s = float(a.sum())
    print(time.perf_counter() - t0, s, flush=True)
`, path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	numpySum := func() (sec, sum float64) {
		if _, err := io.WriteString(stdin, "sum\n"); err != nil {
			b.Fatal(err)
		}
		if !lines.Scan() {
			b.Fatalf("numpy: %v", lines.Err())
		}
		f := strings.Fields(lines.Text())
		sec, _ = strconv.ParseFloat(f[0], 64)
		sum, _ = strconv.ParseFloat(f[1], 64)
		return sec, sum
	}
	a, err := OpenNPY[float32](path, ReadOnly, nil)
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
			var got, npSum float64
			best, npBest := math.Inf(1), math.Inf(1)
			for b.Loop() {
				t0 := time.Now()
				got = c.fn(data)
				best = min(best, time.Since(t0).Seconds())
				b.StopTimer()
				var sec float64
				sec, npSum = numpySum()
				npBest = min(npBest, sec)
				b.StartTimer()
			}
			b.ReportMetric(best*1e3, "best-ms")
			b.ReportMetric(npBest*1e3, "numpy-best-ms")
			b.ReportMetric(best/npBest, "x-numpy")
			b.ReportMetric(math.Abs(got-npSum)/math.Abs(npSum), "reldiff-numpy")
		})
	}
}

func sum8f64(x []float32) float64 {
	// Eight scalar accumulators: Go keeps these in registers, an array of
	// eight it would keep in memory.
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
		s4 += float64(x[i+4])
		s5 += float64(x[i+5])
		s6 += float64(x[i+6])
		s7 += float64(x[i+7])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
