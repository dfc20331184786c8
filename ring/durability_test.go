package ring

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPowerLoss simulates a power cut during appends with Durability
// EveryAppend: the file on "disk" is everything msync'ed so far, plus a random
// subset of the pages dirtied since (each reverted or not, page by page).
// Recovery of such a file must return only intact records, contiguous, and
// every record whose Append had returned.
func TestPowerLoss(t *testing.T) {
	cases := []struct {
		name   string
		policy Policy
		cap    int
	}{
		{"overwrite", Overwrite, 8 << 10},
		{"block", Block, 8 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const maxRec = 300
			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 2))
			t.Logf("seed %d", seed)
			dir := t.TempDir()
			path := filepath.Join(dir, "p.ring")
			w, err := Create(path, &Options{Capacity: tc.cap, MaxRecord: maxRec, Policy: tc.policy, Durability: SyncEveryAppend})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var r *Reader
			if tc.policy == Block {
				r = openTestReader(t, path, &ReaderOptions{}) // keeps the queue moving
			}
			disk, err := os.ReadFile(path) // what survives a power cut
			if err != nil {
				t.Fatal(err)
			}
			w.flushed = func(off, n int64) {
				cur, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if n < 0 {
					n = int64(len(cur)) - off
				}
				copy(disk[off:off+n], cur[off:off+n])
			}
			var acked uint64 // records whose Append returned
			checks := 0
			w.beforeSync = func() {
				cur, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				img := bytes.Clone(disk)
				const page = 4096
				for off := 0; off < len(img); off += page {
					if !bytes.Equal(img[off:off+page], cur[off:off+page]) && rng.IntN(2) == 0 {
						copy(img[off:off+page], cur[off:off+page])
					}
				}
				checkImage(t, filepath.Join(dir, "img.ring"), img, acked, maxRec)
				checks++
			}
			for i := range 200 {
				seq, err := w.Append(payload(uint64(i), maxRec))
				if err != nil {
					t.Fatal(err)
				}
				acked = seq + 1
				if r != nil {
					if _, err := r.TryNext(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if checks < 200 {
				t.Fatalf("only %d syncs for 200 appends", checks)
			}
		})
	}
}

// checkImage recovers a simulated post-power-loss file and checks it.
func checkImage(t *testing.T, path string, img []byte, acked uint64, maxRec int) {
	t.Helper()
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	// Before recovery a reader sees intact contiguous records, then at most
	// a torn one (ErrCorrupt), never a damaged record.
	r, err := OpenReader(path, &ReaderOptions{Observe: true})
	if err != nil {
		t.Fatalf("acked %d: %v", acked, err)
	}
	first, n := r.Seq(), uint64(0)
	for rec, err := range r.Records() {
		if errors.Is(err, ErrCorrupt) {
			break
		}
		if err != nil {
			t.Fatalf("acked %d: %v", acked, err)
		}
		if rec.Seq != first+n {
			t.Fatalf("acked %d: sequence %d after %d from %d", acked, rec.Seq, n, first)
		}
		checkPayload(t, rec, maxRec)
		n++
	}
	r.Close()
	if first+n < acked {
		t.Fatalf("power loss lost acknowledged records: ring holds %d..%d, %d were acknowledged", first, first+n, acked)
	}
	w, err := OpenWriter(path, nil)
	if err != nil {
		t.Fatalf("acked %d: %v", acked, err)
	}
	defer w.Close()
	if rec := w.Recovery(); rec.Oldest != first || rec.Next != first+n {
		t.Fatalf("recovery %+v, reader saw %d..%d", rec, first, first+n)
	}
	// After recovery a reader sees exactly the same, without error. (It
	// registers on a Block ring: the image's reader, whose slot recovery
	// freed since no process holds it, kept the ring from filling.)
	r, err = OpenReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := uint64(0)
	for rec, err := range r.Records() {
		if err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		checkPayload(t, rec, maxRec)
		m++
	}
	if m != n {
		t.Fatalf("after recovery %d records, before %d", m, n)
	}
	r.publish(true)
	if seq, err := w.Append([]byte("after")); err != nil || seq != first+n {
		t.Fatalf("append after recovery: %d %v", seq, err)
	}
}

// TestGroupCommit: concurrent EveryAppend callers share msyncs, and every
// record is there afterwards.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.ring")
	w, err := Create(path, &Options{Capacity: 1 << 20, MaxRecord: 100, Durability: SyncEveryAppend})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 50
	var syncs atomic.Int64
	w.beforeSync = func() {
		// Hold the first msync until every goroutine has a record waiting,
		// so the test does not depend on how the scheduler interleaves them.
		if syncs.Add(1) == 1 {
			deadline := time.Now().Add(10 * time.Second)
			for w.Next() < goroutines && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := w.Append([]byte("durable record")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d appends, %d msync rounds", goroutines*each, syncs.Load())
	if syncs.Load() >= goroutines*each {
		t.Fatalf("%d msync rounds for %d appends: no group commit", syncs.Load(), goroutines*each)
	}
	r := openTestReader(t, path, &ReaderOptions{})
	n := 0
	for _, err := range r.Records() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != goroutines*each {
		t.Fatalf("read %d records", n)
	}
}

func TestIntervalDurability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "i.ring")
	w, err := Create(path, &Options{Capacity: 1 << 16, MaxRecord: 100, Durability: SyncInterval, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan struct{}, 1)
	// The background loop reads the hook under syncMu (makeRoom, which also
	// flushes, is not reached by one small append).
	w.syncMu.Lock()
	w.afterSync = func() {
		select {
		case synced <- struct{}{}:
		default:
		}
	}
	w.syncMu.Unlock()
	if _, err := w.Append([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// The background loop syncs the record and records it as durable.
	deadline := time.After(10 * time.Second)
	durable := func() uint64 {
		w.syncMu.Lock()
		defer w.syncMu.Unlock()
		return w.durPos
	}
	for durable() != w.pos {
		select {
		case <-synced:
		case <-deadline:
			t.Fatal("no background sync")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}
