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
