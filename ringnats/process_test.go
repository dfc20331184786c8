//go:build unix

package ringnats

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
)

// TestMain lets the test binary play a writer, shipper or puller process:
// the multi-process tests start it again with RINGNATS_ROLE set.
func TestMain(m *testing.M) {
	if role := os.Getenv("RINGNATS_ROLE"); role != "" {
		os.Exit(runRole(role, strings.Split(os.Getenv("RINGNATS_ARGS"), "\x1f")))
	}
	os.Exit(m.Run())
}

func runRole(role string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), sys.StopSignals...)
	defer stop()
	fmt.Println("ready") // an interrupt now ends the role cleanly
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 3
	}
	switch role {
	case "write": // ring, count: append records until the ring's next is count
		n, _ := strconv.ParseUint(args[1], 10, 64)
		w, err := ring.OpenWriter(args[0], nil)
		if err != nil {
			return fail(err)
		}
		defer w.Close()
		for seq := w.Next(); seq < n; seq++ {
			if _, err := w.AppendContext(ctx, payload(seq)); err != nil {
				return fail(err)
			}
		}
		return 0
	case "ship": // url, ring, stream, subject, reader name
		nc, err := Connect([]string{args[0]}, &ConnectOptions{Logger: quietLog()})
		if err != nil {
			return fail(err)
		}
		defer nc.Close()
		s, err := NewShipper(nc, args[1], args[2], &ShipOptions{Subject: args[3], ReaderName: args[4], Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return fail(err)
		}
		err = s.Run(ctx)
		if e := s.Close(); err == nil {
			err = e
		}
		if err != nil {
			return fail(err)
		}
		return 0
	case "pull": // url, stream, consumer, ring
		nc, err := Connect([]string{args[0]}, &ConnectOptions{Logger: quietLog()})
		if err != nil {
			return fail(err)
		}
		defer nc.Close()
		p, err := NewPuller(nc, args[1], args[3], &PullOptions{Consumer: args[2], Logger: quietLog(),
			Create: &ring.Options{Capacity: 16 << 20}, Batch: 100})
		if err != nil {
			return fail(err)
		}
		err = p.Run(ctx)
		if e := p.Close(); err == nil {
			err = e
		}
		if err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("unknown role"))
}

// child is a test process playing a role.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   strings.Builder
	ready chan struct{}
	done  chan struct{} // closed when the process has exited and been reaped
	err   error         // what Wait said
}

func (c *child) output() string {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func startChild(t testing.TB, role string, args ...string) *child {
	t.Helper()
	c := &child{t: t, ready: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), "RINGNATS_ROLE="+role, "RINGNATS_ARGS="+strings.Join(args, "\x1f"))
	r, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		defer func() { c.err = c.cmd.Wait() }() // after the last read of the pipe
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c.mu.Lock()
			if sc.Text() == "ready" && c.ready != nil {
				close(c.ready)
				c.ready = nil
			} else {
				c.out.WriteString(sc.Text() + "\n")
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// kill sends SIGKILL and reaps the process.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// stop sends an interrupt once the process is ready for it and wants a
// clean exit.
func (c *child) stop() {
	c.t.Helper()
	select {
	case <-c.readyCh():
	case <-c.done:
	}
	c.cmd.Process.Signal(os.Interrupt)
	c.wait()
}

func (c *child) readyCh() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.ready
}

// wait wants the process to end by itself, cleanly.
func (c *child) wait() {
	c.t.Helper()
	out := c.output()
	if c.err != nil {
		c.t.Fatalf("%v: %v\n%s", c.cmd.Env[len(c.cmd.Env)-2], c.err, out)
	}
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestShipSurvivesKills: a writer process appends records while the
// shipper process is killed with SIGKILL at random moments and restarted;
// the stream ends with every record exactly once, in order.
// RINGNATS_STRESS=1 runs the full 1M records and 20 kills. Two rings: one
// with room for every record (a dead shipper's reader slot is reclaimed, so
// the writer does not wait for it), and a Block ring a fraction of that
// size, read by a second, fast consumer too, whose shipper keeps a durable
// reader slot (ShipOptions.ReaderName): while the shipper is dead the writer
// waits for its slot instead of going on at the other consumer's pace and
// overwriting records not shipped yet, and nothing is lost.
func TestShipSurvivesKills(t *testing.T) {
	records, kills := uint64(100_000), 5
	if raceEnabled {
		records = 25_000
	}
	if os.Getenv("RINGNATS_STRESS") != "" {
		records, kills = 1_000_000, 20
	}
	records = uint64(envInt("RINGNATS_RECORDS", int(records)))
	kills = envInt("RINGNATS_KILLS", kills)
	big := int64(1 << 20)
	for big < int64(records)*128 {
		big *= 2
	}
	for _, tc := range []struct {
		name       string
		capacity   int64
		readerName string
	}{
		{"room-for-all", big, ""},
		{"durable-reader", 1 << 16, "shipper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("records %d, kills %d, seed %d", records, kills, seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			srv := startServer(t, "")
			nc := connect(t, srv.url())
			dir := t.TempDir()
			path := filepath.Join(dir, "events")
			createRing(t, path, tc.capacity, ring.Block)
			const stream, subject = "EVENTS", "events.host1"
			if _, err := jsNew(t, nc).CreateStream(context.Background(), streamConfig(stream, subject)); err != nil {
				t.Fatal(err)
			}
			statePath := path + "." + stream + "." + subject + ".ship"
			consumed := make(chan error, 1)
			if tc.readerName != "" {
				// The durable slot exists before the writer starts (as
				// after the first run of a shipper with the name), so
				// the writer waits for it from the first record.
				slot, err := ring.OpenReader(path, &ring.ReaderOptions{Name: tc.readerName, ManualRelease: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := slot.Close(); err != nil {
					t.Fatal(err)
				}
				r, err := ring.OpenReader(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*stallLimit)
					defer cancel()
					for r.Seq() < records {
						if _, err := r.Next(ctx); err != nil {
							consumed <- err
							return
						}
					}
					consumed <- nil
				}()
			} else {
				consumed <- nil
			}
			writer := startChild(t, "write", path, strconv.FormatUint(records, 10))
			ship := func() *child { return startChild(t, "ship", srv.url(), path, stream, subject, tc.readerName) }
			position := func() uint64 { return shipPosition(t, statePath) }
			s := ship()
			exited := func() error {
				if s.exited() {
					return fmt.Errorf("the shipper exited on its own:\n%s", s.output())
				}
				return nil
			}
			for k := range kills {
				// Kill at a random moment after this shipper made some
				// progress, so that every incarnation ships and dies
				// mid-stream.
				target := min(position()+1+rng.Uint64N(2*records/uint64(kills+1)), records)
				waitProgress(t, "the shipper", position, target, exited)
				time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
				s.kill()
				t.Logf("kill %d at position %d", k+1, position())
				s = ship()
			}
			waitProgress(t, "the last shipper", position, records, exited)
			writer.wait()
			s.stop()
			if err := <-consumed; err != nil {
				t.Fatalf("the other consumer: %v", err)
			}
			id, err := RingID(path)
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, readStream(t, nc, stream, subject), id, 0, records)
			if info, err := ring.Stat(path); err != nil || len(info.Readers) != 0 && tc.readerName == "" {
				t.Fatalf("readers left: %+v (%v)", info.Readers, err)
			} else if tc.readerName != "" {
				var durable []ring.ReaderInfo
				for _, ri := range info.Readers {
					if ri.Name != "" {
						durable = append(durable, ri)
					}
				}
				if len(durable) != 1 || durable[0].Name != tc.readerName || durable[0].Next != records || durable[0].Open {
					t.Fatalf("want the durable slot %q at %d, closed; readers %+v", tc.readerName, records, info.Readers)
				}
				if err := ForgetReader(path, tc.readerName); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestPullSurvivesKills: a puller process appending a stream into a second
// ring is killed with SIGKILL and restarted; the second ring ends with the
// same records as the first, each once.
func TestPullSurvivesKills(t *testing.T) {
	records, kills := uint64(20_000), 5
	if os.Getenv("RINGNATS_STRESS") != "" {
		records, kills = 200_000, 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("records %d, kills %d, seed %d", records, kills, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	createRing(t, src, 16<<20, ring.Overwrite)
	appendRecords(t, src, records)
	s, err := NewShipper(nc, src, "COPY", &ShipOptions{Subject: "copy.src", CreateStream: true, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	shipUntil(t, s, records)
	s.Close()

	next := func() uint64 {
		info, err := ring.Stat(dst)
		if err != nil {
			return 0
		}
		return info.Next
	}
	pull := func() *child { return startChild(t, "pull", srv.url(), "COPY", "copier", dst) }
	p := pull()
	for k := range kills {
		target := next() + 1 + rng.Uint64N(2*records/uint64(kills+1))
		waitFor(t, "the puller to make progress", 60*time.Second, func() bool { return next() >= min(target, records) || p.exited() })
		if p.exited() {
			p.wait()
			t.Fatalf("puller %d exited on its own", k)
		}
		time.Sleep(time.Duration(rng.IntN(5_000)) * time.Microsecond)
		p.kill()
		t.Logf("kill %d at %d records", k+1, next())
		p = pull()
	}
	// Everything is in the stream: wait for the ring to hold as many
	// records, then for the puller to stop cleanly. A doubled record would
	// show up as a difference below, or as more records than the source.
	waitFor(t, "the puller to pull everything", 120*time.Second, func() bool { return next() >= records || p.exited() })
	p.stop()
	compareRings(t, src, dst)
}

// compareRings asserts that two rings hold the same records, in order.
func compareRings(t testing.TB, a, b string) {
	t.Helper()
	ra, err := ring.OpenReader(a, &ring.ReaderOptions{Observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := ring.OpenReader(b, &ring.ReaderOptions{Observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	n := 0
	for {
		x, errA := ra.TryNext()
		y, errB := rb.TryNext()
		if errA == ring.ErrEmpty && errB == ring.ErrEmpty {
			break
		}
		if errA != nil || errB != nil {
			t.Fatalf("record %d: %v / %v (one ring is longer, or unreadable)", n, errA, errB)
		}
		if x.Seq != y.Seq || string(x.Data) != string(y.Data) {
			t.Fatalf("record %d: %d %x != %d %x", n, x.Seq, x.Data, y.Seq, y.Data)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no records compared")
	}
}
