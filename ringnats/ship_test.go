package ringnats

import (
	"context"
	"errors"
	"net"
	"path/filepath"
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
	nc := connect(t, srv.url())
	path := filepath.Join(t.TempDir(), "events")
	createRing(t, path, 1<<20, ring.Block) // smaller than the records: the writer waits for the shipper
	s, err := NewShipper(nc, path, "RS", &ShipOptions{Subject: "rs.a", CreateStream: true, Logger: quietLog(), AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	wrote := make(chan error, 1)
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
		waitFor(t, "progress", 60*time.Second, func() bool { return s.Stats().Next >= at })
		srv.stop()
		waitFor(t, "the shipper to notice", 30*time.Second, func() bool { return !s.Stats().Connected })
		srv.start()
		t.Logf("restart %d at position %d", i+1, at)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "everything shipped", 60*time.Second, func() bool { return s.Stats().Next >= records })
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
