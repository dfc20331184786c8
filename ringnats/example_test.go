package ringnats_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/ringnats"
)

// Connect with the reconnect policy a shipper needs (forever, with backoff
// and jitter), authenticating with a credentials file. (Not run: it needs a
// NATS server.)
func ExampleConnect() {
	nc, err := ringnats.Connect([]string{"nats://10.0.0.5:4222", "nats://10.0.0.6:4222"},
		&ringnats.ConnectOptions{Name: "events-shipper", CredsFile: "/etc/nats/shipper.creds"})
	if err != nil {
		log.Fatal(err) // no server reachable, or refused credentials
	}
	defer nc.Close()
	fmt.Println("connected to", nc.ConnectedUrlRedacted())
}

// Ship a ring to a JetStream stream until SIGINT, exactly once and in order:
// the shipper can be killed at any moment and started again. (Not run: it
// needs a NATS server.)
func ExampleNewShipper() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := ringnats.Connect([]string{"nats://127.0.0.1:4222"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	s, err := ringnats.NewShipper(nc, "/dev/shm/events", "EVENTS", &ringnats.ShipOptions{
		Subject:      "events.host1", // required: where every record is published
		CreateStream: true,           // make the stream if it does not exist
	})
	if err != nil {
		log.Fatal(err) // no such ring, or another shipper holds the state file (ErrLocked)
	}
	defer s.Close()
	if err := s.Run(ctx); err != nil {
		log.Fatal(err) // fatal only: lost connections are waited out
	}
	st := s.Stats()
	fmt.Printf("shipped %d records, next %d, lost to overwrite %d\n", st.Shipped, st.Next, st.Lost)
}

// Pull a stream into a local ring, creating the ring on first use; each
// message is appended once, in stream order, across crashes. (Not run: it
// needs a NATS server.)
func ExampleNewPuller() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := ringnats.Connect([]string{"nats://10.0.0.5:4222"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	p, err := ringnats.NewPuller(nc, "EVENTS", "/var/lib/events.copy", &ringnats.PullOptions{
		Consumer: "copy",                             // required: the durable consumer's name
		Create:   &ring.Options{Capacity: 256 << 20}, // create the ring if it is missing
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Stats().Pulled, "messages appended")
}

// What a shipper has done, read from its state file and the ring without
// disturbing a running shipper (what `mmapkit ring ship --status` prints).
// Here no shipper has run yet: every record is still to ship.
func ExampleReadShipStatus() {
	dir, _ := os.MkdirTemp("", "ringnats-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.ring")
	w, err := ring.Create(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{"alpha", "beta", "gamma"} {
		if _, err := w.Append([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}

	st, err := ringnats.ReadShipStatus(path, "EVENTS", &ringnats.ShipOptions{Subject: "events.host1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fresh %v, running %v, %d records (%d bytes) to ship, %d lost\n",
		st.Fresh, st.Running, st.LagRecords, st.LagBytes, st.Lost)
	fmt.Println(filepath.Base(st.StateFile))
	// Output:
	// fresh true, running false, 3 records (14 bytes) to ship, 0 lost
	// events.ring.EVENTS.events.host1.ship
}
