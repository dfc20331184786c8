package ringnats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// payload is the deterministic content of record seq: its sequence number,
// then filler, 8 to 8+(seq%97) bytes long, so that sizes vary and frames
// wrap the ring at many offsets.
func payload(seq uint64) []byte {
	b := make([]byte, 8+seq%97)
	binary.LittleEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq>>3) + byte(i)
	}
	return b
}

func createRing(t testing.TB, path string, capacity int64, policy ring.Policy) {
	t.Helper()
	w, err := ring.Create(path, &ring.Options{Capacity: int(capacity), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendRecords(t testing.TB, path string, n uint64) {
	t.Helper()
	w, err := ring.OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range n {
		seq := w.Next()
		if _, err := w.Append(payload(seq)); err != nil {
			t.Fatal(err)
		}
	}
}

// streamMsg is one message of a stream as a test reads it back.
type streamMsg struct {
	id   string
	data []byte
	sseq uint64
	lost string // LostHeader
}

// readStream returns every message of stream on subject, in stream order.
func readStream(t testing.TB, nc *nats.Conn, stream, subject string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := info.NumPending
	var out []streamMsg
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(min(want-uint64(len(out)), 10000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, streamMsg{id: m.Headers().Get(jetstream.MsgIDHeader), data: m.Data(), sseq: md.Sequence.Stream, lost: m.Headers().Get(LostHeader)})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
	}
	return out
}

// checkExactlyOnce asserts that msgs are the records from..to-1 of the ring
// id, each once, in order, with their payloads.
func checkExactlyOnce(t testing.TB, msgs []streamMsg, id ID, from, to uint64) {
	t.Helper()
	if uint64(len(msgs)) != to-from {
		t.Errorf("stream holds %d records, want %d (records %d..%d)", len(msgs), to-from, from, to-1)
	}
	want := from
	for i, m := range msgs {
		gotID, seq, err := ParseMsgID(m.id)
		if err != nil || gotID != id {
			t.Fatalf("message %d (stream seq %d): id %q: not a record of ring %s (%v)", i, m.sseq, m.id, id, err)
		}
		if seq != want {
			t.Fatalf("message %d (stream seq %d): record %d, want %d (a record lost, doubled or out of order)", i, m.sseq, seq, want)
		}
		if !bytes.Equal(m.data, payload(seq)) {
			t.Fatalf("record %d: payload %x, want %x", seq, m.data, payload(seq))
		}
		want++
	}
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := Connect([]string{url}, &ConnectOptions{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func quietLog() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// shipUntil runs a Shipper until its position reaches n, then stops it.
func shipUntil(t testing.TB, s *Shipper, n uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitProgress(t, "the shipper", func() uint64 { return s.Stats().Next }, n, ranEarly(done))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// stallLimit is how long a test waits without any progress before it calls
// the wait a hang. Slowness is no failure (a loaded machine under the race
// detector can be ten times slower than an idle one); no progress at all for
// this long is.
const stallLimit = 3 * time.Minute

// waitProgress waits until progress() reaches target. It fails the test
// when progress() stays the same for stallLimit, or when check reports an
// error (e.g. a goroutine the test waits on stopped early).
func waitProgress(t testing.TB, what string, progress func() uint64, target uint64, check func() error) {
	t.Helper()
	last, since := progress(), time.Now()
	for last < target {
		if check != nil {
			if err := check(); err != nil {
				t.Fatalf("waiting for %s to reach %d (at %d): %v", what, target, last, err)
			}
		}
		time.Sleep(time.Millisecond)
		if p := progress(); p != last {
			last, since = p, time.Now()
		} else if time.Since(since) > stallLimit {
			t.Fatalf("waiting for %s to reach %d: no progress from %d for %v", what, target, last, stallLimit)
		}
	}
}

// ranEarly turns the channel a Run's result arrives on into a check for
// waitProgress: Run returning while the test still waits is an error.
func ranEarly(done <-chan error) func() error {
	return func() error {
		select {
		case err := <-done:
			return fmt.Errorf("Run returned early: %v", err)
		default:
			return nil
		}
	}
}

func fmtStats(s Stats) string { return fmt.Sprintf("%+v", s) }

func jsNew(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamConfig(name string, subjects ...string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: subjects}
}

// shipPosition reads a shipper's saved position (0 before any).
func shipPosition(t testing.TB, statePath string) uint64 {
	t.Helper()
	_, payload, _, err := readState(statePath)
	if err != nil || payload == nil {
		return 0
	}
	var sp shipPayload
	if err := sp.decode(payload); err != nil {
		t.Fatal(err)
	}
	return sp.next
}

// waitFor polls cond every millisecond until it holds, or fails the test
// after limit: a guard against a hang, for waits without a measure of
// progress (keep limit generous).
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// testLog returns a logger that keeps every line (with microsecond times)
// and prints them when the test fails, so a stall can be read afterwards.
func testLog(t testing.TB) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("RINGNATS_LOG") != "" {
			mu.Lock()
			t.Logf("log:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.String("t", a.Value.Time().Format("15:04:05.000000"))
			}
			return a
		},
	}))
}
