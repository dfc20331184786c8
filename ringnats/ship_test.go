package ringnats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mmapkit/mmapkit/ring"
)

func TestShipExactlyOnceAcrossRuns(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name   string
		policy ring.Policy
		shared bool
		window int
	}{
		{"overwrite", ring.Overwrite, false, 0},
		{"block", ring.Block, false, 0},
		{"block-shared", ring.Block, true, 0},
		{"window-1", ring.Overwrite, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			createRing(t, path, 1<<20, tc.policy)
			stream := "S_" + tc.name[:1] + tc.name[len(tc.name)-1:]
			subject := "ev." + tc.name
			opts := &ShipOptions{Subject: subject, CreateStream: true, SharedStream: tc.shared, Window: tc.window, Logger: quietLog()}
			var id ID
			for run, n := range []uint64{1000, 1, 0, 2500} {
				appendRecords(t, path, n)
				s, err := NewShipper(nc, path, stream, opts)
				if err != nil {
					t.Fatal(err)
				}
				id = s.ID()
				info, err := ring.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				shipUntil(t, s, info.Next)
				st := s.Stats()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if st.Lost != 0 || st.Shipped != info.Next {
					t.Fatalf("run %d: %s", run, fmtStats(st))
				}
			}
			checkExactlyOnce(t, readStream(t, nc, stream, subject), id, 0, 3501)
		})
	}
}

// TestShipServerRestart: the server is stopped and started again (same
// store) while a writer appends and the shipper ships; the shipper waits,
// reconnects and resumes, and the stream holds every record once, in order.
func TestShipServerRestart(t *testing.T) {
	const records = 30_000
	srv := startServer(t, "")
	log := testLog(t)
	nc, err := Connect([]string{srv.url()}, &ConnectOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<20, ring.Block) // smaller than the records: the writer waits for the shipper
	s, err := NewShipper(nc, path, "RS", &ShipOptions{Subject: "rs.a", CreateStream: true, Logger: log, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	go func() { // for the log printed when the test fails
		for ctx.Err() == nil {
			st := s.Stats()
			log.Debug("test: stats", "next", st.Next, "read", st.Read, "published", st.Published, "restarts", st.Restarts, "connected", st.Connected, "reconnects", nc.Stats().Reconnects)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	wrote := make(chan error, 1)
	wroteAll := false
	check := func() error { // the writer or the shipper stopped early
		if !wroteAll {
			select {
			case err := <-wrote:
				if err != nil {
					return fmt.Errorf("writer: %w", err)
				}
				wroteAll = true
			default:
			}
		}
		return ranEarly(runErr)()
	}
	next := func() uint64 { return s.Stats().Next }
	go func() {
		w, err := ring.OpenWriter(path, nil)
		if err != nil {
			wrote <- err
			return
		}
		defer w.Close()
		for seq := w.Next(); seq < records; seq++ {
			if _, err := w.AppendContext(ctx, payload(seq)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	for i, at := range []uint64{records / 4, records / 2, 3 * records / 4} {
		waitProgress(t, "the shipper", next, at, check)
		log.Debug("test: stopping the server")
		srv.stop()
		waitFor(t, "the shipper to notice", stallLimit, func() bool { return !s.Stats().Connected })
		srv.start()
		log.Debug("test: server started")
		t.Logf("restart %d at position %d", i+1, at)
	}
	waitProgress(t, "the shipper", next, records, check)
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Lost != 0 || st.Shipped != records || nc.Stats().Reconnects < 3 {
		t.Fatalf("stats %s, reconnects %d", fmtStats(st), nc.Stats().Reconnects)
	}
	checkExactlyOnce(t, readStream(t, nc, "RS", "rs.a"), s.ID(), 0, records)
}

// TestShipBadInput: what cannot work fails at once with a clear error, and
// the saved position never moves past what the stream acknowledged.
func TestShipBadInput(t *testing.T) {
	srv := startServer(t, authConf)
	dir := t.TempDir()
	path := filepath.Join(dir, "events")
	createRing(t, path, 1<<16, ring.Overwrite)
	appendRecords(t, path, 10)
	admin, err := Connect([]string{srv.url()}, &ConnectOptions{User: "shipper", Password: "s3cret", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := jsNew(t, admin).CreateStream(context.Background(), streamConfig("OK", "ok.>", "events.>")); err != nil {
		t.Fatal(err)
	}
	closed := func() string { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "nats://" + l.Addr().String()
	}()
	for _, tc := range []struct {
		name, url, user, stream, subject string
		want                             error
	}{
		{"unreachable", closed, "shipper", "OK", "ok.a", nats.ErrNoServers},
		{"wrong-password", srv.url(), "nobody", "OK", "ok.a", nats.ErrAuthorization},
		{"no-stream", srv.url(), "shipper", "MISSING", "ok.a", ErrNoStream},
		{"not-captured", srv.url(), "shipper", "OK", "other.a", ErrSubject},
		{"forbidden-subject", srv.url(), "limited", "OK", "events.a", nats.ErrPermissionViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := Connect([]string{tc.url}, &ConnectOptions{User: tc.user, Password: "s3cret", Logger: quietLog()})
			if err != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("connect: %v, want %v", err, tc.want)
				}
				return
			}
			defer nc.Close()
			opts := &ShipOptions{Subject: tc.subject, StatePath: filepath.Join(dir, tc.name+".ship"), Logger: quietLog(), AckTimeout: 30 * time.Second}
			s, err := NewShipper(nc, path, tc.stream, opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = s.Run(ctx)
			if ctx.Err() != nil {
				t.Fatalf("Run did not fail at once (it returned %v after the deadline)", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run: %v, want %v", err, tc.want)
			}
			if st := s.Stats(); st.Next != 0 || st.Shipped != 0 {
				t.Fatalf("nothing was stored, yet %s", fmtStats(st))
			}
			s.Close()
			if got := shipPosition(t, opts.StatePath); got != 0 {
				t.Fatalf("saved position %d, nothing was stored", got)
			}
		})
	}
	if info, err := jsNew(t, admin).Stream(context.Background(), "OK"); err != nil || info.CachedInfo().State.Msgs != 0 {
		t.Fatalf("stream OK: %v, %+v", err, info.CachedInfo().State)
	}
}

// TestShipCountsLostRecords: records an Overwrite ring dropped before the
// shipper read them are counted exactly (in Stats, in the state file and
// in a log line), and shipping goes on with the oldest record left; with a
// writer lapping a running shipper, every record is shipped or counted.
func TestShipCountsLostRecords(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "small")
	createRing(t, path, 1<<12, ring.Overwrite) // 4 KiB: a few dozen records
	appendRecords(t, path, 1000)
	info, err := ring.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Oldest == 0 {
		t.Fatal("the ring kept every record; the test needs it to drop some")
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	opts := &ShipOptions{Subject: "small.a", CreateStream: true, Logger: log}
	s, err := NewShipper(nc, path, "SMALL", opts)
	if err != nil {
		t.Fatal(err)
	}
	shipUntil(t, s, 1000)
	st := s.Stats()
	if st.Lost != info.Oldest || st.Shipped != 1000-info.Oldest {
		t.Fatalf("oldest record %d: %s", info.Oldest, fmtStats(st))
	}
	mu.Lock()
	line := fmt.Sprintf("lost=%d from=0 to=%d", info.Oldest, info.Oldest-1)
	if !strings.Contains(logs.String(), line) {
		t.Fatalf("no log line with %q:\n%s", line, logs.String())
	}
	mu.Unlock()
	first := readStream(t, nc, "SMALL", "small.a")
	checkExactlyOnce(t, first, s.ID(), info.Oldest, 1000)
	if first[0].lost != fmt.Sprint(info.Oldest) {
		t.Fatalf("the first record shipped, %d, has %s %q, want %d", info.Oldest, LostHeader, first[0].lost, info.Oldest)
	}
	// Now a writer laps the running shipper: whatever it overwrote first is
	// counted, the rest is in the stream, in order, once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	appendRecords(t, path, 20_000)
	waitProgress(t, "the shipper", func() uint64 { return s.Stats().Next }, 21_000, ranEarly(done))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("with a writer lapping the shipper: %s", fmtStats(st))
	if st.Lost+st.Shipped != 21_000 {
		t.Fatalf("lost %d + shipped %d != 21000 appended", st.Lost, st.Shipped)
	}
	var saved shipPayload
	if _, p, _, err := readState(path + ".SMALL.small.a.ship"); err != nil || saved.decode(p) != nil || saved.lost != st.Lost || saved.next != 21_000 {
		t.Fatalf("state %+v (%v), stats %s", saved, err, fmtStats(st))
	}
	msgs := readStream(t, nc, "SMALL", "small.a")
	if uint64(len(msgs)) != st.Shipped {
		t.Fatalf("stream holds %d records, shipped %d", len(msgs), st.Shipped)
	}
	prev := int64(info.Oldest) - 1
	for i, m := range msgs {
		_, seq, err := ParseMsgID(m.id)
		if err != nil || int64(seq) <= prev || !bytes.Equal(m.data, payload(seq)) {
			t.Fatalf("record %d after %d (%v): out of order, doubled or damaged", seq, prev, err)
		}
		// Every gap but the first (before it the shipper ran) is noted in
		// the first record after it, and nothing else is.
		want := fmt.Sprint(int64(seq) - prev - 1)
		if want == "0" {
			want = ""
		}
		if i > 0 && m.lost != want {
			t.Fatalf("record %d after %d: %s %q, want %q", seq, prev, LostHeader, m.lost, want)
		}
		prev = int64(seq)
	}
	// A puller copying the stream sees the gaps as noted, none suspect.
	p, err := NewPuller(nc, "SMALL", filepath.Join(t.TempDir(), "copy"), &PullOptions{Consumer: "copy", Create: &ring.Options{Capacity: 1 << 20}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if pst := pullAll(t, p, uint64(len(msgs))); pst.Pulled != uint64(len(msgs)) || pst.Suspect != 0 {
		t.Fatalf("puller: %+v, stream holds %d", pst, len(msgs))
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestShipFreesBlockRing: the shipper's registered reader on a Block ring
// holds the writer at the first record JetStream has not acknowledged: the
// writer may reuse the space of acknowledged records (it fills the ring
// many times over here), and never that of records not acknowledged.
func TestShipFreesBlockRing(t *testing.T) {
	const capacity = 1 << 16
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, capacity, ring.Block)
	s, err := NewShipper(nc, path, "FREE", &ShipOptions{Subject: "free.a", CreateStream: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	w, err := ring.OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const records = 8 * capacity / 1000
	wrote := make(chan error, 1)
	go func() {
		rec := make([]byte, 1000)
		for range records {
			if _, err := w.AppendContext(ctx, rec); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	check := func() error {
		select {
		case err := <-wrote:
			if err != nil {
				return fmt.Errorf("writer: %w", err)
			}
			wrote <- nil
		default:
		}
		info, err := ring.Stat(path)
		if err != nil {
			return err
		}
		// The reader's published position first, the shipper's after:
		// what was released then was acknowledged by now.
		if len(info.Readers) != 1 {
			return fmt.Errorf("%d registered readers, want the shipper's", len(info.Readers))
		}
		if held, acked := info.Readers[0].Next, s.Stats().Next; held > acked {
			return fmt.Errorf("the writer may overwrite records up to %d, JetStream acknowledged those before %d", held, acked)
		}
		return ranEarly(done)()
	}
	waitProgress(t, "the shipper", func() uint64 { return s.Stats().Next }, records, check)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestShipSeekWhileWriterOverwrites: finding the position to resume from
// walks the ring from its oldest record, while a writer may overwrite the
// frames ahead of the walk. The walk then missed a record that was there,
// and the shipper took "not found" for "the ring is not the one shipped"
// and stopped for good (it stalled TestShipServerRestart under load: the
// writer, released by the acknowledgements, overwrote the frames the
// shipper walked after a reconnect).
func TestShipSeekWhileWriterOverwrites(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<16, ring.Overwrite)
	appendRecords(t, path, 2000)
	s, err := NewShipper(nc, path, "SEEK", &ShipOptions{Subject: "seek.a", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := ring.OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var head atomic.Uint64 // every record before it is appended
	head.Store(w.Next())
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			seq, err := w.Append(payload(w.Next()))
			if err != nil {
				wrote <- err
				return
			}
			head.Store(seq + 1)
		}
	}()
	for i := range 20_000 {
		want := head.Load() - 1 // the newest record: certainly in the ring
		s.mu.Lock()
		s.next = want
		s.mu.Unlock()
		if err := s.seek(); err != nil {
			close(stop)
			t.Fatalf("seek %d to record %d (appended): %v", i, want, err)
		}
		if got := s.rd.Seq(); got < want {
			close(stop)
			t.Fatalf("seek %d to record %d: the reader is at %d", i, want, got)
		}
	}
	close(stop)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// TestShipForeignMessage: a message of another publisher in the stream
// (which a stream without SharedStream should not get) breaks the chain of
// expected predecessors; the shipper starts over from what the stream
// holds and still stores every record once, in order. (A scheme that
// predicts stream sequence numbers instead, Nats-Expected-Last-Sequence,
// failed this: the foreign message shifted the stream by one, so the record
// after the refused one matched its prediction and was stored without its
// predecessor, which was then lost.)
func TestShipForeignMessage(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<20, ring.Overwrite)
	appendRecords(t, path, 1000)
	s, err := NewShipper(nc, path, "FOREIGN", &ShipOptions{Subject: "foreign.a", CreateStream: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	next := func() uint64 { return s.Stats().Next }
	waitProgress(t, "the shipper", next, 1000, ranEarly(done))
	if _, err := jsNew(t, nc).Publish(context.Background(), "foreign.a", []byte("not a record")); err != nil {
		t.Fatal(err)
	}
	appendRecords(t, path, 1000)
	waitProgress(t, "the shipper", next, 2000, ranEarly(done))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ours []streamMsg
	foreign := 0
	for _, m := range readStream(t, nc, "FOREIGN", "foreign.a") {
		if m.id == "" {
			foreign++
			continue
		}
		ours = append(ours, m)
	}
	if foreign != 1 {
		t.Fatalf("%d foreign messages in the stream, want 1", foreign)
	}
	checkExactlyOnce(t, ours, s.ID(), 0, 2000)
	if st := s.Stats(); st.Restarts == 0 {
		t.Fatalf("the shipper never started over, yet its prediction was wrong: %s", fmtStats(st))
	}
}

// TestShipRecordRefusedByStream: a record the stream refuses by itself (too
// large for its MaxMsgSize) in the middle of records published without an
// acknowledgement each: nothing after it is stored (each publish names its
// predecessor), the shipper finds the record by publishing the records
// since the last acknowledgement one by one, and stops with an error that
// names it.
func TestShipRecordRefusedByStream(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	cfg := streamConfig("SMALLMSG", "small.msg")
	cfg.MaxMsgSize = 400 // headers and payload
	if _, err := jsNew(t, nc).CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<20, ring.Overwrite)
	appendRecords(t, path, 100)
	w, err := ring.OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	appendRecords(t, path, 99)
	s, err := NewShipper(nc, path, "SMALLMSG", &ShipOptions{Subject: "small.msg", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "record 100:") {
		t.Fatalf("Run: %v, want an error naming record 100", err)
	}
	// One start over after the refusal showed: it resumes after the
	// stream's last record, so the refused one comes first, with its own
	// acknowledgement.
	if st := s.Stats(); st.Next != 100 || st.Shipped != 100 || st.Restarts != 1 {
		t.Errorf("stats %s", fmtStats(st))
	}
	checkExactlyOnce(t, readStream(t, nc, "SMALLMSG", "small.msg"), s.ID(), 0, 100)
}
