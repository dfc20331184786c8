package ringnats

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkShip ships b.N records of 64 B and 1 KiB from a ring to a
// file-backed stream of an in-process server (".../ring"), beside a plain
// nats.go async-publish loop of the same records to the same kind of
// stream (".../plain": no ring, no message ids, no position). With -count
// the two alternate, so a change in the machine's load hits both. Compare
// the pairs' ns/op (benchstat): the ring, the ids and the durable position
// are what ship adds.
func BenchmarkShip(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("%dB/ring", size), func(b *testing.B) { benchRing(b, size, false) })
		b.Run(fmt.Sprintf("%dB/ring-shared", size), func(b *testing.B) { benchRing(b, size, true) })
		b.Run(fmt.Sprintf("%dB/plain", size), func(b *testing.B) { benchPlain(b, size, "") })
		b.Run(fmt.Sprintf("%dB/plain-ids", size), func(b *testing.B) { benchPlain(b, size, "ids") })
		b.Run(fmt.Sprintf("%dB/plain-seq", size), func(b *testing.B) { benchPlain(b, size, "seq") })
	}
}

func benchRing(b *testing.B, size int, shared bool) {
	srv := startServer(b, "")
	nc := connect(b, srv.url())
	path := filepath.Join(b.TempDir(), "bench")
	capacity := int64(1 << 20)
	for capacity < int64(b.N)*int64(size+32)+1<<20 {
		capacity *= 2
	}
	createRing(b, path, capacity, ring.Overwrite)
	w, err := ring.OpenWriter(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, size)
	for range b.N {
		if _, err := w.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	// The stream exists before the clock starts, as for the plain loop.
	if _, err := jsNew(b, nc).CreateStream(context.Background(), streamConfig("B", "b.x")); err != nil {
		b.Fatal(err)
	}
	s, err := NewShipper(nc, path, "B", &ShipOptions{Subject: "b.x", SharedStream: shared, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(size))
	cpu := startCPU(b)
	b.ResetTimer()
	shipUntil(b, s, uint64(b.N))
	b.StopTimer()
	cpu()
	if st := s.Stats(); st.Shipped != uint64(b.N) {
		b.Fatalf("%+v", st)
	}
}

// benchPlain publishes b.N records with a plain async-publish loop. mode
// "ids" adds a message id per record (MsgID's plain form, a little shorter
// than a shipper's; JetStream deduplicates them),
// "seq" instead a header of our own with the id plus the stream sequence
// the stream must end at before each record (Nats-Expected-Last-Sequence,
// predicted: only the publisher writes to the stream).
func benchPlain(b *testing.B, size int, mode string) {
	srv := startServer(b, "")
	nc := connect(b, srv.url())
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), streamConfig("B", "b.x")); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, size)
	stall := jetstream.WithStallWait(time.Minute)
	b.SetBytes(int64(size))
	cpu := startCPU(b)
	b.ResetTimer()
	var id ID
	for i := range b.N {
		switch mode {
		case "ids":
			_, err = js.PublishAsync("b.x", rec, stall, jetstream.WithMsgID(MsgID(id, uint64(i))))
		case "seq":
			m := &nats.Msg{Subject: "b.x", Data: rec, Header: nats.Header{
				"Mmapkit-Record":                {MsgID(id, uint64(i))},
				jetstream.ExpectedLastSeqHeader: {strconv.Itoa(i)},
			}}
			_, err = js.PublishMsgAsync(m, stall)
		default:
			_, err = js.PublishAsync("b.x", rec, stall)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.StopTimer()
	cpu()
	if str, err := js.Stream(context.Background(), "B"); err != nil || str.CachedInfo().State.Msgs != uint64(b.N) {
		b.Fatalf("the stream holds %v messages (%v), %d published", str.CachedInfo().State.Msgs, err, b.N)
	}
}

// startCPU notes the process's CPU time; the function it returns reports
// the CPU time per op since as "cpu-ns/op". The server runs in this
// process, so that is the whole cost of a record, and it is much less
// sensitive than wall time to other processes on a loaded machine.
func startCPU(b *testing.B) func() {
	before, err := sys.GetRusage()
	if err != nil {
		return func() {}
	}
	return func() {
		after, err := sys.GetRusage()
		if err != nil {
			return
		}
		used := after.UserTime + after.SystemTime - before.UserTime - before.SystemTime
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
