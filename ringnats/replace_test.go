package ringnats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

// TestShipRingReplaced: the ring a running shipper reads is replaced at its
// path (ring.Create with Replace, as a producer that starts afresh does;
// the new ring has another ID). The shipper used to read the old, unlinked
// file for ever: it shipped nothing of the new ring and said nothing, while
// the new ring's writer overwrote what was never shipped. Now it notices
// within about a second of idling, ends Run with ErrReplaced (logged), and a
// shipper started again ships the new ring.
func TestShipRingReplaced(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows refuses to replace or remove a mapped file: nothing to notice")
	}
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, policy := range []ring.Policy{ring.Overwrite, ring.Block} {
		t.Run(policy.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			stream, subject := "RR"+policy.String(), "rr."+policy.String()
			createRing(t, path, 1<<16, policy)
			appendRecords(t, path, 5)
			var logs logBuffer
			opts := &ShipOptions{Subject: subject, CreateStream: true, Logger: logs.logger()}
			s, err := NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			oldID := s.ID()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			waitProgress(t, "the shipper", func() uint64 { return s.Stats().Next }, 5, ranEarly(done))

			w, err := ring.Create(path, &ring.Options{Capacity: 1 << 16, Policy: policy, Replace: true})
			if err != nil {
				t.Fatal(err)
			}
			newID := w.ID()
			for seq := range uint64(5) {
				if _, err := w.Append(payload(seq)); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			err = <-done
			s.Close()
			if !errors.Is(err, ErrReplaced) || ctx.Err() != nil {
				t.Fatalf("Run after the ring was replaced: %v, want ErrReplaced at once", err)
			}
			if l := logs.String(); !strings.Contains(l, "shipping stopped") || !strings.Contains(l, ErrReplaced.Error()) {
				t.Errorf("no log line about the replaced ring:\n%s", l)
			}
			// Started again: the state file belongs to the old ring, so
			// the shipper starts over at the new ring's oldest record.
			s, err = NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			shipUntil(t, s, 5)
			s.Close()
			msgs := readStream(t, nc, stream, subject)
			if len(msgs) != 10 {
				t.Fatalf("stream holds %d messages, want the old ring's 5 and the new ring's 5", len(msgs))
			}
			checkExactlyOnce(t, msgs[:5], oldID, 0, 5)
			checkExactlyOnce(t, msgs[5:], newID, 0, 5)
		})
	}
}

// TestPullRingReplaced: the local ring a running puller appends to is
// replaced at its path (ring.Create with Replace refuses nothing while the
// puller holds the old file's writer), or removed. The puller used to append
// to the old, unlinked file and acknowledge every message: what it pulled
// from then on was in no file anyone could open, and the stream would not
// deliver it again. Now it ends Run with ErrReplaced before it appends or
// acknowledges anything more (a puller started again starts over: the state
// file belongs to the old ring).
func TestPullRingReplaced(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows refuses to replace or remove a mapped file: nothing to notice")
	}
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"replaced", func(t *testing.T, path string) {
			w, err := ring.Create(path, &ring.Options{Capacity: 1 << 16, Replace: true})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
		}},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, subj := "PR"+strings.ReplaceAll(tc.name, "-", "_"), "pr."+tc.name
			if _, err := js.CreateStream(ctx, streamConfig(stream, subj)); err != nil {
				t.Fatal(err)
			}
			for seq := range uint64(5) {
				pubRecord(t, js, subj, MsgID(ID{4}, seq), payload(seq))
			}
			dst := filepath.Join(t.TempDir(), "dst")
			opts := &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: quietLog()}
			p, err := NewPuller(nc, stream, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard against a hang
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(rctx) }()
			waitProgress(t, "the puller", func() uint64 { s := p.Stats(); return s.Pulled + s.Skipped }, 5, ranEarly(done))

			tc.replace(t, dst)
			for seq := uint64(5); seq < 10; seq++ {
				pubRecord(t, js, subj, MsgID(ID{4}, seq), payload(seq))
			}
			err = <-done
			if !errors.Is(err, ErrReplaced) || rctx.Err() != nil {
				t.Fatalf("Run after the ring was replaced: %v, want ErrReplaced at once", err)
			}
			if st := p.Stats(); st.Pulled+st.Skipped != 5 {
				t.Errorf("the puller handled messages after the ring was replaced: %+v", st)
			}
			p.Close()
			cons, err := js.Consumer(ctx, stream, "c")
			if err != nil {
				t.Fatal(err)
			}
			if info, err := cons.Info(ctx); err != nil || info.AckFloor.Stream != 5 {
				t.Fatalf("consumer: %v, ack floor %+v, want stream sequence 5", err, info.AckFloor)
			}
		})
	}
}
