package ringnats

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
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
		b.Run(fmt.Sprintf("%dB/plain", size), func(b *testing.B) { benchPlain(b, size, false) })
		b.Run(fmt.Sprintf("%dB/plain-ids", size), func(b *testing.B) { benchPlain(b, size, true) })
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
	s, err := NewShipper(nc, path, "B", &ShipOptions{Subject: "b.x", CreateStream: true, SharedStream: shared, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(size))
	b.ResetTimer()
	shipUntil(b, s, uint64(b.N))
	b.StopTimer()
	if st := s.Stats(); st.Shipped != uint64(b.N) {
		b.Fatalf("%+v", st)
	}
}

func benchPlain(b *testing.B, size int, ids bool) {
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
	b.ResetTimer()
	var id ID
	for i := range b.N {
		if ids {
			_, err = js.PublishAsync("b.x", rec, stall, jetstream.WithMsgID(MsgID(id, uint64(i))))
		} else {
			_, err = js.PublishAsync("b.x", rec, stall)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.StopTimer()
}
