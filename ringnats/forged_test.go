package ringnats

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// logBuffer is a logger whose lines a test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: &l.buf, mu: &l.mu}, nil))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// publishForged puts a message with the message id of record seq of ring id
// on subject, as anyone allowed to publish there can.
func publishForged(t testing.TB, nc *nats.Conn, subject string, id ID, seq uint64, data []byte) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, MsgID(id, seq))
	ack, err := jsNew(t, nc).PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// TestShipForgedLastMsgID: a message on the shipper's subject carrying a
// forged id of this ring (the id is in every shipped message) must not make
// a restarted shipper believe the records up to it stored. It used to:
// records 5..7 were never shipped, silently.
func TestShipForgedLastMsgID(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name string
		seq  uint64 // the forged id's record
		data func(seq uint64) []byte
		why  string // in the warning
	}{
		{"in-ring-other-bytes", 7, func(uint64) []byte { return []byte("forged") }, "differs from record 7"},
		{"past-the-ring", 1000, func(uint64) []byte { return []byte("forged") }, "has not appended record 1000"},
		{"in-ring-empty", 8, func(uint64) []byte { return nil }, "differs from record 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			createRing(t, path, 1<<20, ring.Overwrite)
			stream, subject := "F"+strings.ReplaceAll(tc.name, "-", "_"), "ev."+tc.name
			var logs logBuffer
			opts := &ShipOptions{Subject: subject, CreateStream: true, Logger: logs.logger()}
			appendRecords(t, path, 5)
			s, err := NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			id := s.ID()
			shipUntil(t, s, 5)
			s.Close()

			forged := publishForged(t, nc, subject, id, tc.seq, tc.data(tc.seq))
			appendRecords(t, path, 5)
			s, err = NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			shipUntil(t, s, 10)
			st := s.Stats()
			s.Close()
			var ours []streamMsg
			for _, m := range readStream(t, nc, stream, subject) {
				if m.sseq != forged {
					ours = append(ours, m)
				}
			}
			checkExactlyOnce(t, ours, id, 0, 10)
			if st.Shipped != 10 || st.Lost != 0 {
				t.Errorf("stats %s", fmtStats(st))
			}
			want := fmt.Sprintf("stream_seq=%d msg_id=%s", forged, MsgID(id, tc.seq))
			if l := logs.String(); !strings.Contains(l, want) || !strings.Contains(l, tc.why) {
				t.Errorf("no warning with %q and %q:\n%s", want, tc.why, l)
			}
		})
	}
}

// TestShipResumesAfterStream: the stream's last message, when it is proven
// to be the shipper's own record, still moves a lagging position forward (a
// killed shipper's state file is up to StateInterval old), so records stored
// beyond the duplicate window are not stored twice. The proof is the tag of
// the message id (keyed by the secret in the state file), or, when the state
// file was lost with its key, the record's bytes in the ring; a claim that
// neither proves (the record was overwritten) is not believed, and the
// records from the saved position to the ring's oldest count as lost.
func TestShipResumesAfterStream(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name      string
		overwrite uint64 // records appended after shipping, to overwrite the shipped ones
		lostState bool   // the state file is deleted, not restored to an older position
	}{
		{"tag-record-in-ring", 0, false},
		{"tag-record-overwritten", 1000, false},
		{"bytes-record-in-ring", 0, true},
		{"unproven-record-overwritten", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			createRing(t, path, 1<<12, ring.Overwrite) // a few dozen records
			stream, subject := "R"+strings.ReplaceAll(tc.name, "-", "_"), "ev."+tc.name
			var logs logBuffer
			opts := &ShipOptions{Subject: subject, CreateStream: true, Logger: logs.logger()}
			appendRecords(t, path, 5)
			s, err := NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			id := s.ID()
			shipUntil(t, s, 5)
			s.Close()
			behind, err := os.ReadFile(s.StatePath()) // the position 5
			if err != nil {
				t.Fatal(err)
			}
			appendRecords(t, path, 5)
			s, err = NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			shipUntil(t, s, 10)
			s.Close()
			// As if the shipper had been killed before it saved 10, or
			// its state file were lost.
			from := uint64(5)
			if tc.lostState {
				from = 0
				err = os.Remove(s.StatePath())
			} else {
				err = os.WriteFile(s.StatePath(), behind, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			appendRecords(t, path, tc.overwrite)
			info, err := ring.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err = NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Stats().Next != from {
				t.Fatalf("restored state: next %d, want %d", s.Stats().Next, from)
			}
			shipUntil(t, s, info.Next)
			st := s.Stats()
			s.Close()
			if st.Duplicates != 0 {
				t.Errorf("records published again: %s", fmtStats(st))
			}
			msgs := readStream(t, nc, stream, subject)
			if tc.overwrite == 0 {
				checkExactlyOnce(t, msgs, id, 0, 10)
				if st.Published != 0 || st.Shipped != 10 || st.Lost != 0 {
					t.Errorf("stats %s", fmtStats(st))
				}
				if l := logs.String(); !strings.Contains(l, "resuming after them") {
					t.Errorf("no log line about resuming after the stream's last record:\n%s", l)
				}
				return
			}
			if info.Oldest <= 10 {
				t.Fatalf("the ring still holds record %d", info.Oldest)
			}
			checkExactlyOnce(t, msgs[:10], id, 0, 10)
			checkExactlyOnce(t, msgs[10:], id, info.Oldest, info.Next)
			lost := info.Oldest - 10 // proven: 5..9 are in the stream
			if tc.lostState {
				lost = info.Oldest // not proven: 0..9 might not be
				if l := logs.String(); !strings.Contains(l, "was overwritten in the ring") {
					t.Errorf("no warning about the claim that cannot be checked:\n%s", l)
				}
			}
			if st.Lost != lost || st.Shipped+st.Lost != info.Next {
				t.Errorf("oldest %d, next %d: %s", info.Oldest, info.Next, fmtStats(st))
			}
			if l := logs.String(); !strings.Contains(l, fmt.Sprintf("lost=%d from=%d ", lost, info.Oldest-lost)) {
				t.Errorf("no warning about the loss:\n%s", l)
			}
		})
	}
}

// TestShipForgedFutureMsgID: a message put on the subject ahead of time with
// the id a record will be published with must not make JetStream's
// duplicate window drop the record. With predictable ids it did: the
// record's publish was acknowledged as a duplicate of the forgery, and the
// stream never held its bytes.
func TestShipForgedFutureMsgID(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<20, ring.Overwrite)
	appendRecords(t, path, 10)
	s, err := NewShipper(nc, path, "FUTURE", &ShipOptions{Subject: "ev.future", CreateStream: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	next := func() uint64 { return s.Stats().Next }
	waitProgress(t, "the shipper", next, 10, ranEarly(done))
	// Every id the shipper's predecessors published, for records not
	// appended yet.
	forged := map[uint64]bool{}
	for seq := uint64(10); seq < 30; seq++ {
		forged[publishForged(t, nc, "ev.future", s.ID(), seq, []byte("forged"))] = true
	}
	appendRecords(t, path, 20)
	waitProgress(t, "the shipper", next, 30, ranEarly(done))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ours []streamMsg
	for _, m := range readStream(t, nc, "FUTURE", "ev.future") {
		if !forged[m.sseq] {
			ours = append(ours, m)
		}
	}
	checkExactlyOnce(t, ours, s.ID(), 0, 30)
	if st := s.Stats(); st.Duplicates != 0 {
		t.Errorf("publishes taken for duplicates: %s", fmtStats(st))
	}
}
