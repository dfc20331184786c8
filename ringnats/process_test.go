//go:build unix

package ringnats

import (
	"bufio"
	"context"
	"fmt"
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
	case "ship": // url, ring, stream, subject
		nc, err := Connect([]string{args[0]}, &ConnectOptions{Logger: quietLog()})
		if err != nil {
			return fail(err)
		}
		defer nc.Close()
		s, err := NewShipper(nc, args[1], args[2], &ShipOptions{Subject: args[3], Logger: quietLog()})
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
// RINGNATS_STRESS=1 runs the full 1M records and 20 kills.
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
	seed := uint64(time.Now().UnixNano())
	t.Logf("records %d, kills %d, seed %d", records, kills, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	srv := startServer(t, "")
	nc := connect(t, srv.url())
	dir := t.TempDir()
	path := filepath.Join(dir, "events")
	// Room for every record: a shipper that is dead cannot hold a writer
	// back (its reader slot is reclaimed), so a smaller ring would lose
	// records by design while the shipper is down.
	capacity := int64(1 << 20)
	for capacity < int64(records)*128 {
		capacity *= 2
	}
	createRing(t, path, capacity, ring.Block)
	const stream, subject = "EVENTS", "events.host1"
	if _, err := jsNew(t, nc).CreateStream(context.Background(), streamConfig(stream, subject)); err != nil {
		t.Fatal(err)
	}
	statePath := path + "." + stream + "." + subject + ".ship"
	writer := startChild(t, "write", path, strconv.FormatUint(records, 10))
	ship := func() *child { return startChild(t, "ship", srv.url(), path, stream, subject) }
	s := ship()
	for k := range kills {
		// Kill at a random moment after this shipper made some progress,
		// so that every incarnation ships and dies mid-stream.
		target := shipPosition(t, statePath) + 1 + rng.Uint64N(2*records/uint64(kills+1))
		waitFor(t, "the shipper to make progress", 60*time.Second, func() bool {
			return shipPosition(t, statePath) >= min(target, records) || s.exited()
		})
		if s.exited() {
			s.wait()
			t.Fatalf("shipper %d exited on its own", k)
		}
		time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		s.kill()
		t.Logf("kill %d at position %d", k+1, shipPosition(t, statePath))
		s = ship()
	}
	writer.wait()
	waitFor(t, "the last shipper to ship everything", 120*time.Second, func() bool {
		return shipPosition(t, statePath) >= records || s.exited()
	})
	s.stop()
	id, err := RingID(path)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readStream(t, nc, stream, subject), id, 0, records)
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
