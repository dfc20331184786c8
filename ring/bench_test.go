package ring

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Benchmarks. Compare numbers from one run only: this 2-core machine is
// shared. Each reports Mrec/s (million records per second); the in-process
// ones also report CPU time per record, which a busy machine inflates less
// than wall time.
//
//	go test ./ring -run XXX -bench . -benchtime 2s
//
// Rings go in t.TempDir() unless MMAPKIT_RING_BENCH_DIR names a directory
// (e.g. /dev/shm: tmpfs has no writeback, which on ext4 write-protects
// pages it has written and makes the next append to them fault).

func benchDir(b *testing.B) string {
	if d := os.Getenv("MMAPKIT_RING_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "ring-bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func benchAppend(b *testing.B, size int, sum Checksum) {
	path := filepath.Join(benchDir(b), "bench.ring")
	w, err := Create(path, &Options{Capacity: 64 << 20, Checksum: sum})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	ru0, _ := sys.GetRusage()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := w.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	ru1, _ := sys.GetRusage()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrec/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/rec")
	b.ReportMetric(float64(ru1.MinorFaults-ru0.MinorFaults)/float64(b.N)*1e6, "faults/Mrec")
}

// BenchmarkFirstLap times the first lap through a freshly created 64 MiB
// ring (each iteration creates a new one, untimed): pre-faulting at creation
// is what makes it run at the steady rate of BenchmarkAppend.
func BenchmarkFirstLap(b *testing.B) {
	for _, size := range []int{64, 256} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			p := make([]byte, size)
			var recs int
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				path := filepath.Join(benchDir(b), fmt.Sprintf("lap%d.ring", i))
				w, err := Create(path, &Options{Capacity: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				n := int(w.g.capacity) / frameSize(size)
				b.StartTimer()
				t0 := time.Now()
				for range n {
					if _, err := w.Append(p); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(t0)
				recs += n
				b.StopTimer()
				w.Close()
				os.Remove(path)
				b.StartTimer()
			}
			b.ReportMetric(float64(recs)/elapsed.Seconds()/1e6, "Mrec/s")
		})
	}
}

// BenchmarkAppend: one writer in this process, durability None, a 64 MiB
// ring (pre-faulted at creation, so the first lap runs at the steady rate),
// with and without checksums.
func BenchmarkAppend(b *testing.B) {
	for _, sum := range []Checksum{ChecksumNone, ChecksumCRC32} {
		for _, size := range []int{64, 256} {
			b.Run(fmt.Sprintf("%v/%dB", sum, size), func(b *testing.B) { benchAppend(b, size, sum) })
		}
	}
}

// BenchmarkAppendFunc: building the record in place (zero copies).
func BenchmarkAppendFunc(b *testing.B) {
	for _, size := range []int{64, 256} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			path := filepath.Join(benchDir(b), "bench.ring")
			w, err := Create(path, &Options{Capacity: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.SetBytes(int64(size))
			ctx := context.Background()
			var i uint64
			fill := func(p []byte) error {
				binary.LittleEndian.PutUint64(p, i)
				return nil
			}
			for b.Loop() {
				if _, err := w.AppendFunc(ctx, size, fill); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrec/s")
		})
	}
}

// BenchmarkSourcePython runs the source's Python MmapRingBuffer (verbatim,
// testdata/source_ring_bench.py) on this machine for the ratio against
// BenchmarkAppend in the same run. It needs python3 on PATH.
func BenchmarkSourcePython(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 not found")
	}
	for _, size := range []int{64, 256} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			var recs, secs, cpus float64
			for b.Loop() {
				out, err := exec.Command(py, "testdata/source_ring_bench.py", benchDir(b), strconv.Itoa(size), "2").Output()
				if err != nil {
					b.Fatal(err)
				}
				var n, s, c float64
				if _, err := fmt.Sscan(string(out), &n, &s, &c); err != nil {
					b.Fatalf("python printed %q: %v", out, err)
				}
				recs += n
				secs += s
				cpus += c
			}
			b.ReportMetric(recs/secs/1e6, "Mrec/s")
			b.ReportMetric(cpus*1e9/recs, "cpu-ns/rec")
		})
	}
}

// BenchmarkCrossProcess: this process appends, a reader process (registered
// on a Block ring, so nothing is lost) reads and checks every record. The
// time runs from the first append until the reader has read the last record.
func BenchmarkCrossProcess(b *testing.B) {
	for _, size := range []int{64, 256} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			path := filepath.Join(benchDir(b), "x.ring")
			w, err := Create(path, &Options{Capacity: 64 << 20, Policy: Block})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			n := b.N
			cmd := helperCmd(b, "bench-reader", path, envCount+"="+strconv.Itoa(n))
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "ready" {
				b.Fatalf("reader: %q", lines.Text())
			}
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for i := range n {
				binary.LittleEndian.PutUint64(p, uint64(i))
				if _, err := w.Append(p); err != nil {
					b.Fatal(err)
				}
			}
			if !lines.Scan() || lines.Text() != "done" {
				b.Fatalf("reader: %q", lines.Text())
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/elapsed.Seconds()/1e6, "Mrec/s")
		})
	}
}

// BenchmarkLatency: append-to-read latency of 64-byte records between two
// processes. "spin": the reader polls TryNext without pause; "futex": the
// reader sleeps in Next (1µs of polling, then a futex wait) and the writer
// wakes it. The writer paces its appends (one per ~20µs, by spinning) so the
// reader is never backlogged; each record carries its append time
// (CLOCK_REALTIME, shared by the processes), and the reader reports
// percentiles.
func BenchmarkLatency(b *testing.B) {
	for _, mode := range []string{"spin", "futex"} {
		b.Run(mode, func(b *testing.B) {
			path := filepath.Join(benchDir(b), "lat.ring")
			w, err := Create(path, &Options{Capacity: 16 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			n := max(b.N, 1000)
			cmd := helperCmd(b, "latency-reader", path, envCount+"="+strconv.Itoa(n), "MMAPKIT_RING_WAIT="+mode)
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "ready" {
				b.Fatalf("reader: %q", lines.Text())
			}
			p := make([]byte, 64)
			b.ResetTimer()
			for range n {
				t0 := time.Now()
				for time.Since(t0) < 20*time.Microsecond {
				}
				binary.LittleEndian.PutUint64(p, uint64(time.Now().UnixNano()))
				if _, err := w.Append(p); err != nil {
					b.Fatal(err)
				}
			}
			if !lines.Scan() {
				b.Fatal("reader died")
			}
			b.StopTimer()
			var p50, p99, p999 float64
			if _, err := fmt.Sscan(lines.Text(), &p50, &p99, &p999); err != nil {
				b.Fatalf("reader: %q", lines.Text())
			}
			cmd.Wait()
			b.ReportMetric(p50, "p50-ns")
			b.ReportMetric(p99, "p99-ns")
			b.ReportMetric(p999, "p99.9-ns")
		})
	}
}

// helperBenchReader reads count records, checking their order, then says
// "done".
func helperBenchReader(path string, count int) error {
	r, err := OpenReader(path, &ReaderOptions{Spin: time.Millisecond})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("ready")
	ctx := context.Background()
	for i := range count {
		rec, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if got := binary.LittleEndian.Uint64(rec.Data); got != uint64(i) || rec.Seq != uint64(i) {
			return fmt.Errorf("record %d carries %d", rec.Seq, got)
		}
	}
	fmt.Println("done")
	return nil
}

// helperLatencyReader reads with TryNext in a loop (spin) or with Next
// (futex) and reports p50, p99 and p99.9 of (read time - append time) in
// nanoseconds.
func helperLatencyReader(path string, count int) error {
	spin := os.Getenv("MMAPKIT_RING_WAIT") != "futex"
	r, err := OpenReader(path, &ReaderOptions{Spin: time.Microsecond})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("ready")
	lat := make([]float64, 0, count)
	ctx := context.Background()
	for len(lat) < count {
		var rec Record
		if spin {
			rec, err = r.TryNext()
			if err == ErrEmpty {
				continue
			}
		} else {
			rec, err = r.Next(ctx)
		}
		now := time.Now().UnixNano()
		if err != nil {
			return err
		}
		lat = append(lat, float64(now-int64(binary.LittleEndian.Uint64(rec.Data))))
	}
	slices.Sort(lat)
	q := func(f float64) float64 { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	fmt.Println(strings.TrimSpace(fmt.Sprintf("%.0f %.0f %.0f", q(0.5), q(0.99), q(0.999))))
	return nil
}

// BenchmarkDurable: SyncEveryAppend appends of 64 B on the file system of
// MMAPKIT_RING_BENCH_DIR (default: the test's temporary directory), from 1
// and 8 goroutines at once. Concurrent appenders share a sync (group
// commit): appends/s with 8 goroutines over appends/s with one is the
// group-commit gain.
func BenchmarkDurable(b *testing.B) {
	for _, g := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			path := filepath.Join(benchDir(b), "durable.ring")
			w, err := Create(path, &Options{Capacity: 16 << 20, Durability: SyncEveryAppend})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			p := make([]byte, 64)
			var syncs atomic.Int64
			w.afterSync = func() { syncs.Add(1) }
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + g - 1) / g
			for range g {
				wg.Go(func() {
					for range per {
						if _, err := w.Append(p); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(per*g)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(per*g)/float64(max(syncs.Load(), 1)), "appends/sync")
		})
	}
}

// BenchmarkAppendRead: batches of 1000 appends, then 1000 reads by a
// registered reader of a Block ring without checksums (the shape of an shm
// Queue), in one goroutine: the CPU cost of both ends of a queue, without the
// cross-core traffic of two processes.
func BenchmarkAppendRead(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			path := filepath.Join(benchDir(b), "q.ring")
			w, err := Create(path, &Options{Capacity: 1 << 20, Policy: Block, Checksum: ChecksumNone})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			r, err := OpenReader(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			p := make([]byte, size)
			ctx := context.Background()
			const batch = 256
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				for range batch {
					if _, err := w.Append(p); err != nil {
						b.Fatal(err)
					}
				}
				for range batch {
					if _, err := r.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
				n += batch
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mrec/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/rec")
		})
	}
}
