package peers

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/tidwall/wal"
)

// A log of 64-byte records: ring.Writer.Append against tidwall/wal's
// Log.Write, in the test's temporary directory (a disk file system: the
// ring gets its default CRC-32 there), in three modes:
//
//   - nosync: neither syncs (ring SyncNone, wal NoSync): a record survives
//     the crash of the process, not a power loss.
//   - batch: 100 records at a time (wal WriteBatch; the ring has no batch
//     call, so 100 Appends); ns/op is per record.
//   - fsync: every append durable before it returns (ring SyncEveryAppend:
//     one fdatasync; wal's default: write, then fsync).
//   - fsync-8: the same from 8 goroutines at once (the ring shares syncs
//     between them; wal syncs each write under its lock).
//
// Run with benchstat's columns by implementation:
//
//	bash run.sh  (or: go test -run XXX -bench Log -count 6 > log.txt;
//	              benchstat -col /impl log.txt)
func BenchmarkLog(b *testing.B) {
	rec := make([]byte, 64)
	for i := range rec {
		rec[i] = byte(i)
	}
	type appender interface {
		append(n int) error // append n records
		close() error
	}
	newRing := func(b *testing.B, sync bool) appender {
		o := &ring.Options{Capacity: 64 << 20}
		if sync {
			o.Durability = ring.SyncEveryAppend
		}
		w, err := ring.Create(filepath.Join(b.TempDir(), "log.ring"), o)
		if err != nil {
			b.Fatal(err)
		}
		return ringLog{w, rec}
	}
	newWAL := func(b *testing.B, sync bool) appender {
		l, err := wal.Open(filepath.Join(b.TempDir(), "wal"), &wal.Options{NoSync: !sync})
		if err != nil {
			b.Fatal(err)
		}
		return &walLog{l: l, rec: rec}
	}
	impls := []struct {
		name string
		open func(*testing.B, bool) appender
	}{{"ring", newRing}, {"wal", newWAL}}
	modes := []struct {
		name       string
		sync       bool
		batch      int
		goroutines int
	}{
		{"nosync", false, 1, 1},
		{"batch", false, 100, 1},
		{"fsync", true, 1, 1},
		{"fsync-8", true, 1, 8},
	}
	for _, m := range modes {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("mode=%s/impl=%s", m.name, impl.name), func(b *testing.B) {
				a := impl.open(b, m.sync)
				defer a.close()
				b.ResetTimer()
				if m.goroutines == 1 {
					for i := 0; i < b.N; i += m.batch {
						if err := a.append(min(m.batch, b.N-i)); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				var wg sync.WaitGroup
				per := (b.N + m.goroutines - 1) / m.goroutines
				for range m.goroutines {
					wg.Go(func() {
						for range per {
							if err := a.append(1); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}

type ringLog struct {
	w   *ring.Writer
	rec []byte
}

func (l ringLog) append(n int) error {
	for range n {
		if _, err := l.w.AppendContext(context.Background(), l.rec); err != nil {
			return err
		}
	}
	return nil
}

func (l ringLog) close() error { return l.w.Close() }

type walLog struct {
	mu    sync.Mutex // wal.Log is safe for concurrent use; the index is ours
	l     *wal.Log
	next  uint64
	batch wal.Batch
	rec   []byte
}

func (l *walLog) append(n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n == 1 {
		l.next++
		return l.l.Write(l.next, l.rec)
	}
	l.batch.Clear()
	for range n {
		l.next++
		l.batch.Write(l.next, l.rec)
	}
	return l.l.WriteBatch(&l.batch)
}

func (l *walLog) close() error { return l.l.Close() }

// BenchmarkDurableAB times durable appends of 64 B to a ring
// (SyncEveryAppend) and to tidwall/wal (fsync per write) alternately, 50 of
// each in turn, so that both see the same moments of a shared disk whose
// latency swings by 10x from second to second; it reports each one's
// quartiles of latency. (BenchmarkLog/mode=fsync compares the two in
// separate stretches of time.)
func BenchmarkDurableAB(b *testing.B) {
	dir := b.TempDir()
	w, err := ring.Create(filepath.Join(dir, "r.ring"), &ring.Options{Capacity: 64 << 20, Durability: ring.SyncEveryAppend})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	l, err := wal.Open(filepath.Join(dir, "wal"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rec := make([]byte, 64)
	var rt, wt []time.Duration
	var idx uint64
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		for range 50 {
			t0 := time.Now()
			if _, err := w.Append(rec); err != nil {
				b.Fatal(err)
			}
			rt = append(rt, time.Since(t0))
		}
		for range 50 {
			idx++
			t0 := time.Now()
			if err := l.Write(idx, rec); err != nil {
				b.Fatal(err)
			}
			wt = append(wt, time.Since(t0))
		}
	}
	slices.Sort(rt)
	slices.Sort(wt)
	q := func(d []time.Duration, f float64) float64 { return float64(d[int(f*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(q(rt, 0.5), "ring-p50-µs")
	b.ReportMetric(q(wt, 0.5), "wal-p50-µs")
	b.ReportMetric(q(rt, 0.25), "ring-p25-µs")
	b.ReportMetric(q(wt, 0.25), "wal-p25-µs")
	b.ReportMetric(q(rt, 0.75), "ring-p75-µs")
	b.ReportMetric(q(wt, 0.75), "wal-p75-µs")
}
