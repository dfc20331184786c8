package ringnats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
// records 5..7 were never shipped, silently. A shipper whose key is proven
// (a publish under it was acknowledged) refuses every id without its tag;
// one with a new key (a lost state file) checks the bytes and says why they
// do not prove the claim.
func TestShipForgedLastMsgID(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name  string
		seq   uint64 // the forged id's record
		data  func(seq uint64) []byte
		keyed bool   // the shipper shipped 0..4 under its key before
		why   string // in the warning
	}{
		{"in-ring-other-bytes", 7, func(uint64) []byte { return []byte("forged") }, false, "differs from record 7"},
		{"past-the-ring", 1000, func(uint64) []byte { return []byte("forged") }, false, "has not appended record 1000"},
		{"in-ring-empty", 8, func(uint64) []byte { return nil }, false, "differs from record 8"},
		{"keyed-in-ring-other-bytes", 7, func(uint64) []byte { return []byte("forged") }, true, "not this shipper's tag"},
		{"keyed-past-the-ring", 1000, func(uint64) []byte { return []byte("forged") }, true, "not this shipper's tag"},
		{"keyed-same-bytes", 7, payload, true, "not this shipper's tag"},
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
			if tc.keyed {
				shipUntil(t, s, 5)
			} else if _, err := jsNew(t, nc).CreateStream(context.Background(), streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
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

// pubRecord publishes a message with message id msgID (none if "") and the
// given headers to subject.
func pubRecord(t testing.TB, js jetstream.JetStream, subject, msgID string, data []byte, hdr ...string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// pullAll runs a Puller until it has handled n messages in all.
func pullAll(t testing.TB, p *Puller, n uint64) PullStats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitProgress(t, "the puller", func() uint64 { s := p.Stats(); return s.Pulled + s.Skipped }, n, ranEarly(done))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return p.Stats()
}

// ringRecords returns the payloads of every record in the ring at path.
func ringRecords(t testing.TB, path string) []string {
	t.Helper()
	r, err := ring.OpenReader(path, &ring.ReaderOptions{Observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for rec, err := range r.Records() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(rec.Data))
	}
	return out
}

// TestPullForgedMsgID: the puller skips a message for its id only when the
// local ring holds the same bytes for that record; a forged id (anyone who
// may publish to the stream can put one on a message) can add a record to
// the copy but never make it skip a genuine one. It used to skip every
// record of a ring at or before the newest one appended: one forged id
// with a large sequence number hid every later record.
func TestPullForgedMsgID(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	src := ID{7}
	rec := func(seq uint64) string { return string(payload(seq)) }
	// A step publishes the records from..to-1 of src, or one forged
	// message (forged >= 0).
	type step struct {
		from, to uint64
		tagged   bool   // with a shipper's (tagged) id, which the stream's duplicate window does not match to a plain one
		bytes    string // other bytes than the record's
		lost     string // LostHeader
	}
	for _, tc := range []struct {
		name          string
		steps         []step
		want          []string // the copy, in order
		skipped, susp uint64
	}{
		{"huge-seq", []step{{from: 0, to: 5}, {from: 1<<64 - 1, to: 0, bytes: "forged"}, {from: 5, to: 10}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), "forged", rec(5), rec(6), rec(7), rec(8), rec(9)}, 0, 1},
		{"seq-ahead", []step{{from: 0, to: 5}, {from: 7, to: 8, tagged: true, bytes: "forged"}, {from: 5, to: 10}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), "forged", rec(5), rec(6), rec(7), rec(8), rec(9)}, 0, 2},
		{"seq-behind", []step{{from: 0, to: 10}, {from: 3, to: 4, tagged: true, bytes: "forged"}, {from: 10, to: 12}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), rec(5), rec(6), rec(7), rec(8), rec(9), "forged", rec(10), rec(11)}, 0, 1},
		{"shipped-twice", []step{{from: 0, to: 10}, {from: 5, to: 10, tagged: true}, {from: 10, to: 12}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), rec(5), rec(6), rec(7), rec(8), rec(9), rec(10), rec(11)}, 5, 0},
		{"lost-noted", []step{{from: 0, to: 5}, {from: 8, to: 10, lost: "3"}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), rec(8), rec(9)}, 0, 0},
		{"lost-unnoted", []step{{from: 0, to: 5}, {from: 8, to: 10}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), rec(8), rec(9)}, 0, 1},
		{"lost-misnoted", []step{{from: 0, to: 5}, {from: 8, to: 10, lost: "2"}},
			[]string{rec(0), rec(1), rec(2), rec(3), rec(4), rec(8), rec(9)}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "P" + strings.ReplaceAll(tc.name, "-", "_")
			subject := "pull." + tc.name
			if _, err := js.CreateStream(context.Background(), streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
			n := uint64(0)
			for _, st := range tc.steps {
				for seq := st.from; ; seq++ {
					id, data := MsgID(src, seq), payload(seq)
					if st.tagged {
						id = string(appendTaggedMsgID(nil, src, seq, seq*7919))
					}
					if st.bytes != "" {
						data = []byte(st.bytes)
					}
					var hdr []string
					if st.lost != "" && seq == st.from {
						hdr = []string{LostHeader, st.lost}
					}
					pubRecord(t, js, subject, id, data, hdr...)
					n++
					if seq+1 >= st.to {
						break
					}
				}
			}
			var logs logBuffer
			dst := filepath.Join(t.TempDir(), "dst")
			p, err := NewPuller(nc, stream, dst, &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			st := pullAll(t, p, n)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			got := ringRecords(t, dst)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("the copy holds\n%q\nwant\n%q", got, tc.want)
			}
			if st.Pulled != uint64(len(tc.want)) || st.Skipped != tc.skipped || st.Suspect != tc.susp {
				t.Errorf("stats %+v, want %d pulled, %d skipped, %d suspect", st, len(tc.want), tc.skipped, tc.susp)
			}
			if warned := uint64(strings.Count(logs.String(), "does not fit its ring's records")); warned != tc.susp {
				t.Errorf("%d warnings for %d suspect messages:\n%s", warned, tc.susp, logs.String())
			}
			// The counters and what the puller remembers survive a restart.
			p, err = NewPuller(nc, stream, dst, &PullOptions{Consumer: "c"})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if again := p.Stats(); again.Pulled != st.Pulled || again.Skipped != st.Skipped || again.Suspect != st.Suspect {
				t.Errorf("after a restart: %+v, before %+v", again, st)
			}
		})
	}
}

// TestPullStreamRecreated: a stream deleted and created again under its name
// numbers its messages from 1 again. The puller's state file says where it
// stopped in the old stream; believed, it made the puller skip the new
// stream's messages up to that number, silently.
func TestPullStreamRecreated(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		known bool // the state file knows the old stream's creation time (else: only that it pulled further than the new one goes)
	}{{"creation-time", true}, {"sequence", false}} {
		t.Run(tc.name, func(t *testing.T) {
			stream, subject := "RE"+strings.ReplaceAll(tc.name, "-", "_"), "re."+tc.name
			if _, err := js.CreateStream(ctx, streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
			for seq := range uint64(10) {
				pubRecord(t, js, subject, MsgID(ID{1}, seq), payload(seq))
			}
			dst := filepath.Join(t.TempDir(), "dst")
			var logs logBuffer
			opts := &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: logs.logger()}
			p, err := NewPuller(nc, stream, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			pullAll(t, p, 10)
			if !tc.known {
				p.created = 0 // as a state file written before it was kept
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := js.DeleteStream(ctx, stream); err != nil {
				t.Fatal(err)
			}
			if _, err := js.CreateStream(ctx, streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
			for seq := range uint64(5) {
				pubRecord(t, js, subject, MsgID(ID{2}, seq), []byte(fmt.Sprintf("new %d", seq)))
			}
			p, err = NewPuller(nc, stream, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			st := pullAll(t, p, 15)
			p.Close()
			got := ringRecords(t, dst)
			if len(got) != 15 || got[10] != "new 0" || got[14] != "new 4" || st.Skipped != 0 {
				t.Errorf("the copy holds %d records (%q...), stats %+v", len(got), got[min(10, len(got)):], st)
			}
			if !strings.Contains(logs.String(), "pulling its messages from its first") {
				t.Errorf("no warning about the new stream:\n%s", logs.String())
			}
		})
	}
}

// TestPullConsumerMismatch: an existing consumer that would not deliver
// what was asked for, or would not wait for acknowledgements, is refused
// rather than used.
func TestPullConsumerMismatch(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, streamConfig("CM", "cm.>")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cfg    jetstream.ConsumerConfig
		filter string
		want   string
	}{
		{"ack-none", jetstream.ConsumerConfig{Durable: "none", AckPolicy: jetstream.AckNonePolicy}, "", "does not wait for explicit acknowledgements"},
		{"other-filter", jetstream.ConsumerConfig{Durable: "other", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "cm.a"}, "cm.b", `has the filter "cm.a"`},
		{"no-filter", jetstream.ConsumerConfig{Durable: "all", AckPolicy: jetstream.AckExplicitPolicy}, "cm.b", `has the filter ""`},
		// A puller asking for the whole stream used to take these: the
		// first never delivered the other subjects, the second filled the
		// copy with empty records.
		{"filter-when-none-asked", jetstream.ConsumerConfig{Durable: "one", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "cm.a"}, "", `has the filter "cm.a"`},
		{"filters-when-none-asked", jetstream.ConsumerConfig{Durable: "two", AckPolicy: jetstream.AckExplicitPolicy, FilterSubjects: []string{"cm.a", "cm.b"}}, "", `not none`},
		{"headers-only", jetstream.ConsumerConfig{Durable: "headers", AckPolicy: jetstream.AckExplicitPolicy, HeadersOnly: true}, "", "delivers headers only"},
		{"push", jetstream.ConsumerConfig{Durable: "push", AckPolicy: jetstream.AckExplicitPolicy, DeliverSubject: "somewhere"}, "", "pushes its messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := js.CreateConsumer(ctx, "CM", tc.cfg); err != nil {
				t.Fatal(err)
			}
			p, err := NewPuller(nc, "CM", filepath.Join(t.TempDir(), "dst"), &PullOptions{Consumer: tc.cfg.Durable, FilterSubject: tc.filter, Create: &ring.Options{Capacity: 1 << 16}, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// A puller that takes the consumer runs until the context
			// ends: a guard against a hang, not a wait.
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err = p.Run(rctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConsumer) {
				t.Fatalf("Run: %v, want an error with %q matching ErrConsumer", err, tc.want)
			}
		})
	}
}

// TestPullConsumerChangedWhileRunning: someone changes the puller's
// consumer while it runs, to deliver headers only or to filter one
// subject. The puller must stop with ErrConsumer before it appends an
// empty record or a message after the ones the new filter skips (checked
// per message and about once a second), and it must not have appended
// anything but the stream's records, in order.
func TestPullConsumerChangedWhileRunning(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(c *jetstream.ConsumerConfig, prefix string)
	}{
		{"headers-only", func(c *jetstream.ConsumerConfig, _ string) { c.HeadersOnly = true }},
		{"filter-one-subject", func(c *jetstream.ConsumerConfig, prefix string) { c.FilterSubject = prefix + "a" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "CW" + strings.ReplaceAll(tc.name, "-", "_")
			prefix := "cw." + tc.name + "."
			if _, err := js.CreateStream(ctx, streamConfig(stream, prefix+">")); err != nil {
				t.Fatal(err)
			}
			var want []string
			pub := func(from, to uint64) {
				for seq := from; seq < to; seq++ {
					subj := prefix + "a"
					if seq%2 == 1 {
						subj = prefix + "b"
					}
					pubRecord(t, js, subj, MsgID(ID{3}, seq), payload(seq))
					want = append(want, string(payload(seq)))
				}
			}
			pub(0, 4)
			dst := filepath.Join(t.TempDir(), "dst")
			p, err := NewPuller(nc, stream, dst, &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard against a hang
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(rctx) }()
			waitProgress(t, "the puller", func() uint64 { return p.Stats().Pulled }, 4, ranEarly(done))

			cons, err := js.Consumer(ctx, stream, "c")
			if err != nil {
				t.Fatal(err)
			}
			cfg := cons.CachedInfo().Config
			tc.change(&cfg, prefix)
			if _, err := js.UpdateConsumer(ctx, stream, cfg); err != nil {
				t.Fatal(err)
			}
			pub(4, 10)
			err = <-done
			if !errors.Is(err, ErrConsumer) {
				t.Fatalf("Run: %v, want an error matching ErrConsumer", err)
			}
			got := ringRecords(t, dst)
			if len(got) > len(want) || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want[:len(got)]) {
				t.Errorf("the copy holds %.200q, want a prefix of the stream's records %.200q", got, want)
			}
		})
	}
}

// TestShipUntaggedCopyOfRecordIgnored: a shipper whose state file (and
// key) is intact publishes every record with a tagged id, so a message on
// its subject with a plain id, or a wrong tag, cannot be its own. Yet anyone who
// may publish to the subject and knows a record's bytes (the ring is
// world-readable by default and meant for other readers; a subscriber to
// the subject sees in-flight publishes; many records are predictable) can
// put a plain-id copy of a record far ahead of the position on the subject:
// the restarted shipper takes the bytes for proof and resumes after it,
// counting the records in between as shipped. They never reached the stream.
// Now bytes prove a claim only while the shipper's key is new (its state
// file was lost) and nothing under it was acknowledged.
func TestShipUntaggedCopyOfRecordIgnored(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	for _, tc := range []struct {
		name string
		id   func(id ID, seq uint64) string
	}{
		{"plain-id", func(id ID, seq uint64) string { return MsgID(id, seq) }},
		{"wrong-tag", func(id ID, seq uint64) string { return string(appendTaggedMsgID(nil, id, seq, 12345)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			createRing(t, path, 1<<20, ring.Overwrite)
			stream, subject := "PB"+strings.ReplaceAll(tc.name, "-", "_"), "pb."+tc.name
			var logs logBuffer
			opts := &ShipOptions{Subject: subject, CreateStream: true, Logger: logs.logger()}
			appendRecords(t, path, 5)
			s, err := NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			id := s.ID()
			shipUntil(t, s, 5)
			s.Close() // state file intact: position 5, key kept

			appendRecords(t, path, 15) // records 5..19, not shipped yet
			// The attacker's copy of record 15: its bytes, an id without
			// the shipper's tag, no other header.
			forgedID := tc.id(id, 15)
			pubRecord(t, js, subject, forgedID, payload(15))

			s, err = NewShipper(nc, path, stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			shipUntil(t, s, 20)
			st := s.Stats()
			s.Close()
			var ours []streamMsg
			for _, m := range readStream(t, nc, stream, subject) {
				if m.id != forgedID {
					ours = append(ours, m)
				}
			}
			checkExactlyOnce(t, ours, id, 0, 20)
			if st.Published < 15 {
				t.Errorf("published %d records after the restart, want 15 (5..19): %s", st.Published, fmtStats(st))
			}
			if l := logs.String(); strings.Contains(l, "resuming after them") {
				t.Errorf("the shipper resumed after a message it did not publish:\n%s", l)
			}
		})
	}
}

// TestPullConsumerPausedLogged: a consumer paused by someone else
// (PauseUntil) delivers nothing; the puller used to wait without a word. Now
// it logs the pause when it looks at the consumer again (about once a
// second).
func TestPullConsumerPausedLogged(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, streamConfig("PAUSED", "paused")); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	p, err := NewPuller(nc, "PAUSED", filepath.Join(t.TempDir(), "dst"), &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 16}, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pubRecord(t, js, "paused", MsgID(ID{8}, 0), payload(0))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	waitProgress(t, "the puller", func() uint64 { return p.Stats().Pulled }, 1, ranEarly(done))
	if _, err := js.PauseConsumer(ctx, "PAUSED", "c", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a log line about the paused consumer", time.Minute, func() bool {
		return strings.Contains(logs.String(), "the consumer is paused")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "the consumer is paused"); n != 1 {
		t.Errorf("the pause logged %d times, want once:\n%s", n, logs.String())
	}
}
