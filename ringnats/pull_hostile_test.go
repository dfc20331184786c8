package ringnats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

// TestPullForgedIDThenOverwrite: a forged message carrying the id of
// a record not shipped yet is appended (the puller does not refuse it) and
// starts a run for that record. Once the copy, a ring, has overwritten the
// forgery (as every ring does in time; the attacker can hurry it along with
// any messages), the genuine record's message finds the run, cannot compare
// bytes, takes "overwritten" for "appended before" and is skipped: the
// genuine record never reaches the copy, silently (counted as Skipped, like
// a redelivery). Now such a message is appended and counted as suspect.
func TestPullForgedIDThenOverwrite(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, streamConfig("PFO", "pfo")); err != nil {
		t.Fatal(err)
	}
	src := ID{9}
	n := uint64(0)
	for seq := range uint64(5) {
		pubRecord(t, js, "pfo", MsgID(src, seq), payload(seq))
		n++
	}
	// Forgeries of records 5..9: appended, consecutive, one run.
	for seq := uint64(5); seq < 10; seq++ {
		pubRecord(t, js, "pfo", MsgID(src, seq), []byte("forged"))
		n++
	}
	// Anything without a ring's id, enough to wrap the 4 KiB copy.
	for i := range 200 {
		pubRecord(t, js, "pfo", "", []byte(fmt.Sprintf("filler %03d %s", i, strings.Repeat("x", 40))))
		n++
	}
	// The genuine records 5..9 (a shipper's tagged ids).
	for seq := uint64(5); seq < 10; seq++ {
		pubRecord(t, js, "pfo", string(appendTaggedMsgID(nil, src, seq, seq*31)), payload(seq))
		n++
	}
	dst := filepath.Join(t.TempDir(), "dst")
	p, err := NewPuller(nc, "PFO", dst, &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 12, Policy: ring.Overwrite}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	st := pullAll(t, p, n)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got := ringRecords(t, dst)
	var tail []string
	for _, r := range got[max(0, len(got)-5):] {
		tail = append(tail, fmt.Sprintf("%.12q", r))
	}
	var want []string
	for seq := uint64(5); seq < 10; seq++ {
		want = append(want, fmt.Sprintf("%.12q", payload(seq)))
	}
	if fmt.Sprint(tail) != fmt.Sprint(want) {
		t.Errorf("the copy ends with %v, want the genuine records 5..9 %v (stats %+v)", tail, want, st)
	}
	if st.Skipped != 0 {
		t.Errorf("%d messages skipped, none was in the copy: %+v", st.Skipped, st)
	}
	if st.Suspect != 5 || st.Pulled != n {
		t.Errorf("want all %d messages pulled and the genuine records 5..9 counted as suspect (their run was a forgery's, overwritten since): %+v", n, st)
	}
}

// TestPullForgedLostHeader: PullStats.Suspect promises that a forged id
// far ahead counts. A forgery that also carried the shipper's LostHeader,
// claiming the records up to its made-up sequence number lost, was
// appended without a count or a warning: the header is as easy to forge as
// the id. Now a header explains at most 2^32 records; a smaller gap that
// the header names exactly (a shipper's genuine gap) is still no suspect.
func TestPullForgedLostHeader(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	for _, tc := range []struct {
		name    string
		seq     uint64 // the message after records 0..4
		lost    uint64 // its LostHeader
		suspect uint64
	}{
		{"far-ahead", 1 << 40, 1<<40 - 5, 1},
		{"beyond-bound", 5 + maxLostGap + 1, maxLostGap + 1, 1},
		{"plausible-gap", 5 + 1000, 1000, 0},
		{"gap-not-matching", 5 + 1000, 999, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, subj := "PFL"+strings.ReplaceAll(tc.name, "-", "_"), "pfl."+tc.name
			if _, err := js.CreateStream(context.Background(), streamConfig(stream, subj)); err != nil {
				t.Fatal(err)
			}
			src := ID{5}
			for seq := range uint64(5) {
				pubRecord(t, js, subj, MsgID(src, seq), payload(seq))
			}
			pubRecord(t, js, subj, MsgID(src, tc.seq), []byte("forged"), LostHeader, fmt.Sprint(tc.lost))
			var logs logBuffer
			p, err := NewPuller(nc, stream, filepath.Join(t.TempDir(), "dst"), &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			st := pullAll(t, p, 6)
			if st.Suspect != tc.suspect || st.Pulled != 6 {
				t.Errorf("record %d after 0..4 with %s %d: %d suspect, want %d (%+v)\n%s", tc.seq, LostHeader, tc.lost, st.Suspect, tc.suspect, st, logs.String())
			}
		})
	}
}

// TestPullOversizeRecordError: a message larger than the local ring takes
// stops the puller (any publisher to the stream can send one, and it stops
// every restart again until someone removes it from the stream). The error
// must at least follow the API rules: one *fs.PathError naming the package,
// the operation and the ring once (an underlying PathError for the same
// path unwrapped first), matching the ring's sentinel.
func TestPullOversizeRecordError(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, streamConfig("OV", "ov")); err != nil {
		t.Fatal(err)
	}
	pubRecord(t, js, "ov", MsgID(ID{6}, 0), make([]byte, 100<<10))
	dst := filepath.Join(t.TempDir(), "dst")
	p, err := NewPuller(nc, "OV", dst, &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard against a hang
	defer cancel()
	err = p.Run(rctx)
	if err == nil {
		t.Fatal("Run took a record larger than the ring")
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "ringnats: pull" || pe.Path != dst {
		t.Errorf("%v: not a PathError of ringnats: pull for %s", err, dst)
	}
	if n := strings.Count(err.Error(), dst); n != 1 {
		t.Errorf("the ring's path appears %d times in %q", n, err)
	}
	if !errors.Is(err, ring.ErrTooLarge) {
		t.Errorf("%v does not match ring.ErrTooLarge", err)
	}
}

// TestErrorSentinels: every refusal names its problem with a sentinel that
// errors.Is matches: bad names (ErrBadName), a second Run at once
// (ErrRunning), a durable reader on an Overwrite ring
// (errors.ErrUnsupported), a saved position past the ring's end
// (ErrStateMismatch). They used to match nothing.
func TestErrorSentinels(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	dir := t.TempDir()
	path := filepath.Join(dir, "events")
	createRing(t, path, 1<<16, ring.Overwrite)
	quiet := quietLog()
	for _, tc := range []struct {
		name string
		try  func() error
		want error
	}{
		{"no-subject", func() error { _, err := NewShipper(nc, path, "S", &ShipOptions{Logger: quiet}); return err }, ErrBadName},
		{"wildcard-subject", func() error {
			_, err := NewShipper(nc, path, "S", &ShipOptions{Subject: "a.*", Logger: quiet})
			return err
		}, ErrBadName},
		{"bad-stream", func() error {
			_, err := NewShipper(nc, path, "a.b", &ShipOptions{Subject: "a", Logger: quiet})
			return err
		}, ErrBadName},
		{"long-stream", func() error {
			_, err := NewShipper(nc, path, strings.Repeat("s", 300), &ShipOptions{Subject: "a", StatePath: filepath.Join(dir, "long.ship"), Logger: quiet})
			return err
		}, ErrBadName},
		{"bad-consumer", func() error {
			_, err := NewPuller(nc, "S", path+".copy", &PullOptions{Consumer: "a.b", Logger: quiet})
			return err
		}, ErrBadName},
		{"durable-reader-overwrite", func() error {
			_, err := NewShipper(nc, path, "S", &ShipOptions{Subject: "a", ReaderName: "r", Logger: quiet})
			return err
		}, errors.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.try()
			var pe *fs.PathError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) || !strings.HasPrefix(pe.Op, "ringnats: ") {
				t.Fatalf("%v: want a ringnats PathError matching %v", err, tc.want)
			}
		})
	}

	t.Run("run-twice", func(t *testing.T) {
		if _, err := jsNew(t, nc).CreateStream(context.Background(), streamConfig("TWICE", "twice")); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"ship", "pull"} {
			var run func(context.Context) error
			if kind == "ship" {
				s, err := NewShipper(nc, path, "TWICE", &ShipOptions{Subject: "twice", CreateStream: true, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				run = s.Run
			} else {
				p, err := NewPuller(nc, "TWICE", filepath.Join(dir, "copy"), &PullOptions{Consumer: "c", Create: &ring.Options{}, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				run = p.Run
			}
			// Whichever Run comes second fails at once; the other runs
			// until the context ends.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang
			done := make(chan error, 2)
			go func() { done <- run(ctx) }()
			go func() { done <- run(ctx) }()
			first := <-done
			cancel()
			second := <-done
			if !errors.Is(first, ErrRunning) || errors.Is(second, ErrRunning) {
				t.Errorf("%s: Run twice at once returned %v, then %v; want ErrRunning at once, then the other's nil", kind, first, second)
			}
		}
	})

	t.Run("position-past-ring", func(t *testing.T) {
		path := filepath.Join(dir, "restored")
		createRing(t, path, 1<<16, ring.Overwrite)
		appendRecords(t, path, 5)
		backup, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		appendRecords(t, path, 5)
		opts := &ShipOptions{Subject: "restored", CreateStream: true, Logger: quiet}
		s, err := NewShipper(nc, path, "RESTORED", opts)
		if err != nil {
			t.Fatal(err)
		}
		shipUntil(t, s, 10)
		s.Close()
		// The ring restored from a copy: the same ID, 5 records.
		if err := os.WriteFile(path, backup, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err = NewShipper(nc, path, "RESTORED", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang
		defer cancel()
		if err := s.Run(ctx); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("Run on a ring restored from a copy: %v, want ErrStateMismatch", err)
		}
	})
}

// TestPullManyRings: the puller recognises a record shipped twice by its
// bytes while it remembers where it appended that ring's record. It used to
// remember the 16 runs extended last, over all rings: a stream fed by more
// than 16 rings (the package's own example, one subject per host)
// interleaves their records, so every record started a run of its own that
// was forgotten 16 messages later, and a record shipped again by a
// restarted shipper (a new key after its state file was lost: another id,
// which the stream's duplicate window does not match) was appended a
// second time, not even counted as suspect. A hostile publisher got the
// same with 16 messages carrying made-up ring ids. Now the runs are kept
// per source ring (also across a restart of the puller).
func TestPullManyRings(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		rings   int  // source rings, records 0..2 each, interleaved
		flush   int  // then messages with made-up ring ids
		restart bool // the puller is closed and opened again before the records shipped again
	}{
		{"17-rings", 17, 0, false},
		{"flushed", 1, 16, false},
		{"200-rings", 200, 0, false},
		{"17-rings-restart", 17, 0, true},
		{"flushed-restart", 1, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "MR" + strings.ReplaceAll(tc.name, "-", "_")
			subject := "mr." + tc.name + ".>"
			if _, err := js.CreateStream(ctx, streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
			subj := func(r int) string { return fmt.Sprintf("mr.%s.host%d", tc.name, r) }
			n := uint64(0)
			for seq := range uint64(3) {
				for r := 1; r <= tc.rings; r++ {
					pubRecord(t, js, subj(r), MsgID(ID{byte(r), byte(r >> 8)}, seq), payload(seq+uint64(r)<<8))
					n++
				}
			}
			for i := range tc.flush {
				pubRecord(t, js, subj(99), MsgID(ID{0xee, byte(i)}, 0), []byte("junk"))
				n++
			}
			dst := filepath.Join(t.TempDir(), "dst")
			opts := &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 20}, Logger: quietLog()}
			p, err := NewPuller(nc, stream, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { p.Close() }()
			if tc.restart {
				pullAll(t, p, n)
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				if p, err = NewPuller(nc, stream, dst, opts); err != nil {
					t.Fatal(err)
				}
			}
			// Ring 1's records shipped again under a new key.
			for seq := range uint64(3) {
				pubRecord(t, js, subj(1), string(appendTaggedMsgID(nil, ID{1}, seq, 77+seq)), payload(seq+1<<8))
				n++
			}
			st := pullAll(t, p, n)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if st.Skipped != 3 || st.Suspect != 0 || st.Pulled != n-3 {
				t.Errorf("ring 1's records 0..2 shipped again: %d skipped, %d suspect, want 3 skipped, none suspect: %+v", st.Skipped, st.Suspect, st)
			}
			if got := ringRecords(t, dst); uint64(len(got)) != n-3 {
				t.Errorf("the copy holds %d records, want %d", len(got), n-3)
			}
		})
	}
}

// TestRunTable: the table keeps each source ring's runs apart (at most
// runsPerRing each, the one extended longest ago dropped first), extends a
// run only with the next record appended right after it, and forgets the
// ring used longest ago beyond maxRings. The order all returns rebuilds the
// same table (as the runs file does after a restart).
func TestRunTable(t *testing.T) {
	mark := func(r byte, seq uint64) pullMark { return pullMark{hasID: true, id: ID{r}, seq: seq} }
	for _, tc := range []struct {
		name string
		adds []struct {
			m  pullMark
			at uint64
		}
		ring ID
		want []run
	}{
		{"interleaved-rings-extend", []struct {
			m  pullMark
			at uint64
		}{{mark(1, 0), 0}, {mark(2, 0), 1}, {mark(1, 1), 2}, {mark(2, 1), 3}}, ID{1},
			[]run{{id: ID{1}, lo: 1, hi: 1, at: 2}, {id: ID{1}, lo: 0, hi: 0, at: 0}}},
		{"consecutive-extends", []struct {
			m  pullMark
			at uint64
		}{{mark(1, 5), 10}, {mark(1, 6), 11}, {mark(1, 7), 12}}, ID{1},
			[]run{{id: ID{1}, lo: 5, hi: 7, at: 10}}},
		{"bounded-per-ring", []struct {
			m  pullMark
			at uint64
		}{{mark(1, 0), 0}, {mark(1, 10), 5}, {mark(1, 20), 9}, {mark(1, 30), 13}, {mark(1, 40), 17}}, ID{1},
			[]run{{id: ID{1}, lo: 40, hi: 40, at: 17}, {id: ID{1}, lo: 30, hi: 30, at: 13}, {id: ID{1}, lo: 20, hi: 20, at: 9}, {id: ID{1}, lo: 10, hi: 10, at: 5}}},
		{"no-id", []struct {
			m  pullMark
			at uint64
		}{{pullMark{sseq: 3}, 0}}, ID{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newRunTable()
			for _, a := range tc.adds {
				tab.add(a.m, a.at)
			}
			if got := tab.lookup(tc.ring); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("runs %v, want %v", got, tc.want)
			}
			again := newRunTable()
			for _, r := range tab.all() {
				again.put(r)
			}
			for id := range tab.rings {
				if fmt.Sprint(again.lookup(id)) != fmt.Sprint(tab.lookup(id)) {
					t.Fatalf("ring %v rebuilt as %v, was %v", id, again.lookup(id), tab.lookup(id))
				}
			}
		})
	}
	t.Run("evicts-oldest-ring", func(t *testing.T) {
		tab := newRunTable()
		for i := range maxRings + 1 {
			tab.add(pullMark{hasID: true, id: ID{byte(i), byte(i >> 8)}, seq: 0}, uint64(i))
			if i == 0 {
				continue
			}
			tab.add(pullMark{hasID: true, id: ID{0}, seq: uint64(i)}, uint64(i)+1<<20) // ring 0 stays in use
		}
		if len(tab.rings) != maxRings || tab.evicted != 1 {
			t.Fatalf("%d rings, %d evicted", len(tab.rings), tab.evicted)
		}
		if tab.lookup(ID{0}) == nil || tab.lookup(ID{1}) != nil {
			t.Fatalf("ring 0 (in use) or ring 1 (used longest ago) in the wrong state: %v / %v", tab.lookup(ID{0}), tab.lookup(ID{1}))
		}
	})
}
