package array

import (
	"bufio"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sparseNPY writes a .npy file of rows x cols float32 whose data is a hole:
// only the header is written (CreateNPY would allocate every block).
func sparseNPY(b *testing.B, path string, rows, cols int) {
	b.Helper()
	h, hdr, err := newHeader(dtypeOf[float32](), []int{rows, cols}, &Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, hdr, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(path, h.DataOffset+h.DataBytes()); err != nil {
		b.Fatal(err)
	}
}

// sparseNPZ writes an archive of one float32 member of rows x cols whose data
// is a hole (no blocks allocated, no checksum computed: only OpenNPZ and
// OpenMember, which read neither, can use it).
func sparseNPZ(b *testing.B, path string, rows, cols int) {
	b.Helper()
	w, err := CreateNPZ(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	w.sparse = true
	a, err := AddMember[float32](w, "x", []int{rows, cols}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a.Close()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenNPZMember opens a member of a tiny .npz and of a 10 GiB one
// (sparse), alternating in every iteration: only the zip directory and the
// member's header are read and the mapping is lazy, so the two should cost
// the same. It reports each one's time per open (archive + member + close)
// and their ratio.
func BenchmarkOpenNPZMember(b *testing.B) {
	dir := b.TempDir()
	paths := map[string]string{"1KiB": filepath.Join(dir, "small.npz"), "10GiB": filepath.Join(dir, "big.npz")}
	sparseNPZ(b, paths["1KiB"], 2, 128)
	sparseNPZ(b, paths["10GiB"], 10<<30/512, 128)
	if fi, err := os.Stat(paths["10GiB"]); err != nil || fi.Size() < 10<<30 {
		b.Fatalf("big archive: %v %v", fi, err)
	}
	total := map[string]time.Duration{}
	for b.Loop() {
		for _, name := range []string{"1KiB", "10GiB"} {
			t0 := time.Now()
			z, err := OpenNPZ(paths[name])
			if err != nil {
				b.Fatal(err)
			}
			a, err := OpenMember[float32](z, "x", ReadOnly, nil)
			if err != nil {
				b.Fatal(err)
			}
			a.Close()
			z.Close()
			total[name] += time.Since(t0)
		}
	}
	b.ReportMetric(float64(total["1KiB"].Nanoseconds())/float64(b.N), "small-ns/open")
	b.ReportMetric(float64(total["10GiB"].Nanoseconds())/float64(b.N), "10GiB-ns/open")
	b.ReportMetric(float64(total["10GiB"])/float64(total["1KiB"]), "large/small")
}

// benchTick is 24 bytes: np.dtype([('ts','<i8'),('price','<f8'),('qty','<i4'),('flag','u1')], align=True).
type benchTick struct {
	Ts    int64   `npy:"ts"`
	Price float64 `npy:"price"`
	Qty   int32   `npy:"qty"`
	Flag  uint8   `npy:"flag"`
}

// BenchmarkStructuredScan compares reading 1 GiB of 24-byte structured
// records through Data() ([]benchTick, three fields summed per record, each
// in its own type) with reading 1 GiB of float64 (three values summed per 24
// bytes: the same bytes and the same number of additions), both warm, in the
// same iteration. A NumPy process
// does the same on the same files after each Go iteration (np.load
// mmap_mode='r': a['ts'].sum() + a['price'].sum() + a['qty'].sum() and
// a.sum()), and also np.load of an .npz holding the records (which reads the
// whole member) against mmapkit's OpenNPZ + OpenMember + the scan. Metrics:
// each one's best time; struct/numeric is Go's ratio (1 = same speed).
func BenchmarkStructuredScan(b *testing.B) {
	const size = 1 << 30
	n := size / 24
	dir := b.TempDir()
	tp, fp, zp := filepath.Join(dir, "ticks.npy"), filepath.Join(dir, "f8.npy"), filepath.Join(dir, "ticks.npz")
	t, err := CreateNPY[benchTick](tp, []int{n}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range t.Data() {
		t.Data()[i] = benchTick{Ts: int64(i % 1000), Price: float64(i%777) / 8, Qty: int32(i % 13), Flag: 1}
	}
	f, err := CreateNPY[float64](fp, []int{3 * n}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range f.Data() {
		f.Data()[i] = float64(i%777) / 8
	}
	w, err := CreateNPZ(zp, nil)
	if err != nil {
		b.Fatal(err)
	}
	zt, err := AddMember[benchTick](w, "ticks", []int{n}, nil)
	if err != nil {
		b.Fatal(err)
	}
	copy(zt.Data(), t.Data())
	zt.Close()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	defer f.Close()
	ticks, floats := t.Data(), f.Data()

	py := numpyPython(b)
	cmd := exec.Command(py, "-c", `
import sys, time, numpy as np
t = np.load(sys.argv[1], mmap_mode='r')
f = np.load(sys.argv[2], mmap_mode='r')
for line in sys.stdin:
    t0 = time.perf_counter()
    s1 = float(t['ts'].sum()) + float(t['price'].sum()) + float(t['qty'].sum())
    t1 = time.perf_counter()
    s2 = float(f.sum())
    t2 = time.perf_counter()
    z = np.load(sys.argv[3])['ticks']
    s3 = float(z['ts'].sum()) + float(z['price'].sum()) + float(z['qty'].sum())
    t3 = time.perf_counter()
    print(t1 - t0, t2 - t1, t3 - t2, s1, s2, s3, flush=True)
`, tp, fp, zp)
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
	numpy := func() []float64 {
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			b.Fatal(err)
		}
		if !lines.Scan() {
			b.Fatalf("numpy: %v", lines.Err())
		}
		var v []float64
		for _, s := range strings.Fields(lines.Text()) {
			x, _ := strconv.ParseFloat(s, 64)
			v = append(v, x)
		}
		return v
	}
	scanTicks := func(ts []benchTick) float64 {
		// Each field summed in its own type: no conversions in the loop,
		// so it does what the float64 loop does, on the same bytes.
		var a, d int64
		var c float64
		for i := range ts {
			a += ts[i].Ts
			c += ts[i].Price
			d += int64(ts[i].Qty)
		}
		return float64(a) + c + float64(d)
	}
	scanFloats := func(x []float64) float64 {
		var a, c, d float64
		for i := 0; i+3 <= len(x); i += 3 {
			a += x[i]
			c += x[i+1]
			d += x[i+2]
		}
		return a + c + d
	}
	scanTicks(ticks)
	scanFloats(floats)
	best := map[string]float64{}
	note := func(k string, v float64) {
		if old, ok := best[k]; !ok || v < old {
			best[k] = v
		}
	}
	var sums [4]float64
	b.SetBytes(size)
	for b.Loop() {
		t0 := time.Now()
		sums[0] = scanTicks(ticks)
		t1 := time.Now()
		sums[1] = scanFloats(floats)
		t2 := time.Now()
		z, err := OpenNPZ(zp)
		if err != nil {
			b.Fatal(err)
		}
		m, err := OpenMember[benchTick](z, "ticks", ReadOnly, nil)
		if err != nil {
			b.Fatal(err)
		}
		sums[2] = scanTicks(m.Data())
		m.Close()
		z.Close()
		t3 := time.Now()
		note("go-struct", t1.Sub(t0).Seconds())
		note("go-numeric", t2.Sub(t1).Seconds())
		note("go-npz", t3.Sub(t2).Seconds())
		b.StopTimer()
		v := numpy()
		note("numpy-struct", v[0])
		note("numpy-numeric", v[1])
		note("numpy-npz", v[2])
		if math.Abs(v[3]-sums[0]) > 1e-6*math.Abs(sums[0]) || math.Abs(v[5]-sums[2]) > 1e-6*math.Abs(sums[2]) {
			b.Fatalf("sums differ: Go %v, NumPy %v", sums, v[3:])
		}
		b.StartTimer()
	}
	for _, k := range []string{"go-struct", "go-numeric", "go-npz", "numpy-struct", "numpy-numeric", "numpy-npz"} {
		b.ReportMetric(best[k]*1e3, k+"-ms")
	}
	b.ReportMetric(best["go-struct"]/best["go-numeric"], "struct/numeric")
	b.ReportMetric(best["go-npz"]/best["numpy-npz"], "npz-x-numpy")
	if out, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.TrimSpace(string(out)))
	}
}
