package ring

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Multi-process tests re-execute the test binary: TestHelperProcess does the
// child's part when MMAPKIT_RING_HELPER names one.

const (
	envHelper = "MMAPKIT_RING_HELPER"
	envPath   = "MMAPKIT_RING_PATH"
	envMaxRec = "MMAPKIT_RING_MAXREC"
	envCount  = "MMAPKIT_RING_COUNT"
)

func helperCmd(t testing.TB, mode, path string, extra ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper for the multi-process tests")
	}
	path := os.Getenv(envPath)
	maxRec, _ := strconv.Atoi(os.Getenv(envMaxRec))
	count, _ := strconv.Atoi(os.Getenv(envCount))
	var err error
	switch mode {
	case "crash-writer":
		err = helperCrashWriter(path, maxRec)
	case "writer":
		err = helperWriter(path, maxRec, count)
	case "burst-writer":
		err = helperBurstWriter(path, maxRec)
	case "idle-writer":
		err = helperIdleWriter(path)
	case "idle-reader":
		err = helperIdleReader(path)
	case "named-reader":
		err = helperNamedReader(path)
	case "creator":
		err = helperCreator(path)
	case "bench-reader":
		err = helperBenchReader(path, count)
	case "latency-reader":
		err = helperLatencyReader(path, count)
	default:
		err = fmt.Errorf("unknown helper %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// helperCrashWriter appends as fast as it can and reports, through stdout, the
// sequence numbers of records whose Append has returned, until it is killed.
func helperCrashWriter(path string, maxRec int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := OpenWriterWait(ctx, path, nil)
	if err != nil {
		return err
	}
	report := os.Stdout
	var buf [8 * 16]byte
	k := 0
	for seq := w.Next(); ; seq++ {
		got, err := w.Append(payload(seq, maxRec))
		if err != nil {
			return err
		}
		if got != seq {
			return fmt.Errorf("appended %d, expected %d", got, seq)
		}
		binary.LittleEndian.PutUint64(buf[8*k:], seq)
		if k++; k == 16 {
			if _, err := report.Write(buf[:]); err != nil {
				return err
			}
			k = 0
		}
	}
}

func helperWriter(path string, maxRec, count int) error {
	w, err := OpenWriter(path, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	for i := range count {
		if _, err := w.Append(payload(uint64(i), maxRec)); err != nil {
			return err
		}
	}
	return nil
}

// helperBurstWriter appends bursts of records on command: a line with a
// count on stdin, "ok" on stdout when done.
func helperBurstWriter(path string, maxRec int) error {
	w, err := OpenWriter(path, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	in := bufio.NewScanner(os.Stdin)
	seq := uint64(0)
	for in.Scan() {
		n, err := strconv.Atoi(in.Text())
		if err != nil {
			return err
		}
		for range n {
			if _, err := w.Append(payload(seq, maxRec)); err != nil {
				return err
			}
			seq++
		}
		fmt.Println("ok")
	}
	return in.Err()
}

// TestCrashKill9 kills a writer process with SIGKILL at random moments while
// it appends as fast as it can, then checks the ring after each kill.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns hundreds of processes")
	}
	kills := 200
	if runtime.GOOS == "windows" {
		// Starting a process takes ~100 times longer than fork and exec
		// (and more under Wine).
		kills = 20
	}
	if os.Getenv("MMAPKIT_RING_LONG") != "" {
		kills = 2000
	}
	const maxRec = 300
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d kills", seed, kills)
	rng := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "crash.ring")
	w, err := Create(path, &Options{Capacity: 64 << 10, MaxRecord: maxRec})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	next := uint64(0) // the sequence number the next writer must continue at
	var totalReported, totalAppended uint64
	for it := range kills {
		cmd := helperCmd(t, "crash-writer", path, envMaxRec+"="+strconv.Itoa(maxRec))
		// The reports come through the child's stdout (not an extra
		// descriptor, which Windows cannot pass).
		pr, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var maxReported, minReported atomic.Uint64
		minReported.Store(^uint64(0))
		first := make(chan struct{})
		eof := make(chan int)
		go func() {
			var b [8]byte
			n := 0
			for {
				if _, err := io.ReadFull(pr, b[:]); err != nil {
					eof <- n
					return
				}
				s := binary.LittleEndian.Uint64(b[:])
				if n == 0 {
					minReported.Store(s)
					close(first)
				}
				maxReported.Store(s)
				n++
			}
		}()
		select {
		case <-first:
		case n := <-eof:
			cmd.Wait()
			t.Fatalf("kill %d: writer exited before appending (%d reports)", it, n)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("kill %d: writer did not start", it)
		}
		// The random moment: anywhere in the first few milliseconds of
		// appending, which spans many laps of this small ring.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		reports := <-eof
		cmd.Wait()
		if minReported.Load() != next {
			t.Fatalf("kill %d: new writer started at %d, want %d (right after the last intact record)", it, minReported.Load(), next)
		}
		hi := maxReported.Load()
		// Read-only check first: a reader sees contiguous intact records up
		// to at least the last reported one.
		r, err := OpenReader(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		oldest, last, n := r.Seq(), uint64(0), 0
		for rec, err := range r.Records() {
			if err != nil {
				t.Fatalf("kill %d: %v", it, err)
			}
			if rec.Seq != oldest+uint64(n) {
				t.Fatalf("kill %d: sequence %d after %d records from %d", it, rec.Seq, n, oldest)
			}
			checkPayload(t, rec, maxRec)
			last = rec.Seq
			n++
		}
		r.Close()
		if n == 0 || last < hi {
			t.Fatalf("kill %d: newest record %d (of %d read), but the writer reported %d as appended", it, last, n, hi)
		}
		if oldest > hi {
			t.Fatalf("kill %d: oldest %d newer than last reported %d: nothing reported survived", it, oldest, hi)
		}
		// Recovery agrees with the reader.
		w, err := OpenWriter(path, nil)
		if err != nil {
			t.Fatalf("kill %d: %v", it, err)
		}
		rec := w.Recovery()
		w.Close()
		if rec.Oldest != oldest || rec.Next != last+1 {
			t.Fatalf("kill %d: recovery %+v, reader saw %d..%d", it, rec, oldest, last)
		}
		totalReported += uint64(reports)
		totalAppended += last + 1 - next
		next = last + 1
	}
	t.Logf("%d kills: %d records appended in total, %d reported before the kills", kills, totalAppended, totalReported)
	// A new writer continues after the last kill.
	w, err = OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := w.Append(payload(next, maxRec)); err != nil || seq != next {
		t.Fatalf("final append: %d %v, want %d", seq, err, next)
	}
	w.Close()
}

// TestCrossProcessBlockNoLoss: a writer process fills a small Block ring
// through hundreds of wraps while this process reads; nothing is lost.
func TestCrossProcessBlockNoLoss(t *testing.T) {
	const maxRec, count = 200, 200000
	path := filepath.Join(t.TempDir(), "q.ring")
	w, err := Create(path, &Options{Capacity: 64 << 10, MaxRecord: maxRec, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := openTestReader(t, path, &ReaderOptions{})
	cmd := helperCmd(t, "writer", path, envMaxRec+"="+strconv.Itoa(maxRec), envCount+"="+strconv.Itoa(count))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range count {
		rec, err := r.Next(ctx)
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Seq != uint64(i) {
			t.Fatalf("got sequence %d, want %d", rec.Seq, i)
		}
		checkPayload(t, rec, maxRec)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if r.pos < 100*r.g.capacity {
		t.Fatalf("only %d bytes went through a %d-byte ring", r.pos, r.g.capacity)
	}
}

// TestCrossProcessOverwriteLapped: a writer process laps this reader in
// bursts; every ErrLapped counts exactly the records that were overwritten.
func TestCrossProcessOverwriteLapped(t *testing.T) {
	const maxRec = 200
	path := filepath.Join(t.TempDir(), "log.ring")
	w, err := Create(path, &Options{Capacity: 64 << 10, MaxRecord: maxRec})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := openTestReader(t, path, &ReaderOptions{})
	cmd := helperCmd(t, "burst-writer", path, envMaxRec+"="+strconv.Itoa(maxRec))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	acks := bufio.NewScanner(stdout)
	burst := func(n int) {
		t.Helper()
		fmt.Fprintln(stdin, n)
		if !acks.Scan() || acks.Text() != "ok" {
			t.Fatalf("writer did not finish its burst: %q %v", acks.Text(), acks.Err())
		}
	}
	hdrOldest := func() uint64 { return load64(r.hdr, offOldSeq) }
	var appended, read, missed uint64
	for round := range 10 {
		n := 2000 + 1000*round // each burst is several laps
		burst(n)
		appended += uint64(n)
		// Read a few records: the first read must report the exact loss.
		for k := 0; k < 50; k++ {
			rec, err := r.TryNext()
			var le *LappedError
			if errors.As(err, &le) {
				if k != 0 {
					t.Fatalf("round %d: lapped after %d reads with the writer idle", round, k)
				}
				if want := hdrOldest() - (read + missed); le.Missed != want {
					t.Fatalf("round %d: missed %d, want %d", round, le.Missed, want)
				}
				missed += le.Missed
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Seq != read+missed {
				t.Fatalf("round %d: sequence %d, want %d", round, rec.Seq, read+missed)
			}
			checkPayload(t, rec, maxRec)
			read++
		}
		if missed == 0 {
			t.Fatalf("round %d: a burst of %d records did not lap the reader", round, n)
		}
	}
	// Now read while the writer writes: whatever happens, every record is
	// either read intact or counted as missed.
	done := make(chan struct{})
	go func() {
		burst(100000)
		close(done)
	}()
	appended += 100000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for read+missed < appended {
		rec, err := r.Next(ctx)
		var le *LappedError
		if errors.As(err, &le) {
			if le.Next != read+missed+le.Missed {
				t.Fatalf("lapped: next %d, missed %d, read+missed so far %d", le.Next, le.Missed, read+missed)
			}
			missed += le.Missed
			continue
		}
		if err != nil {
			t.Fatalf("after %d read and %d missed of %d: %v", read, missed, appended, err)
		}
		if rec.Seq != read+missed {
			t.Fatalf("sequence %d, want %d", rec.Seq, read+missed)
		}
		checkPayload(t, rec, maxRec)
		read++
	}
	<-done
	t.Logf("read %d, missed %d, appended %d", read, missed, appended)
}

// TestDeadReaderSlotReclaimed: a registered reader process dies without
// closing; the Block writer reclaims its slot instead of waiting forever.
func TestDeadReaderSlotReclaimed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := helperCmd(t, "idle-reader", path)
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("reader: %q", lines.Text())
	}
	info, err := Stat(path)
	if err != nil || len(info.Readers) != 1 || info.Readers[0].PID != cmd.Process.Pid {
		t.Fatalf("stat: %+v %v", info.Readers, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// A new consumer takes over; the dead one's slot must not hold the
	// writer back for ever.
	r := openTestReader(t, path, &ReaderOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 500 // many laps
	done := make(chan error, 1)
	go func() {
		for i := range n {
			rec, err := r.Next(ctx)
			if err == nil && rec.Seq != uint64(i) {
				err = fmt.Errorf("got %d, want %d", rec.Seq, i)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		if _, err := w.AppendContext(ctx, payload(uint64(i), 100)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if info, err := Stat(path); err != nil || len(info.Readers) != 1 || info.Readers[0].PID != os.Getpid() {
		t.Fatalf("readers after the reclaim: %+v %v", info.Readers, err)
	}
}

// helperIdleReader registers on a Block ring and waits to be killed.
func helperIdleReader(path string) error {
	r, err := OpenReader(path, nil)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return r.Close()
}

// TestSecondWriterProcessRefused: a writer in another process holds the
// ring; this one is refused, Stat names the holder, and once the holder is
// killed the kernel's release of the flock lets a new writer in.
func TestSecondWriterProcessRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.ring")
	w, err := Create(path, &Options{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	cmd := helperCmd(t, "idle-writer", path)
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("writer: %q", lines.Text())
	}
	if _, err := OpenWriter(path, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	if info, err := Stat(path); err != nil || info.WriterPID != cmd.Process.Pid {
		t.Fatalf("stat: writer %d, want %d (%v)", info.WriterPID, cmd.Process.Pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err = OpenWriterWait(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if seq, err := w.Append([]byte("after")); err != nil || seq != 1 {
		t.Fatalf("append: %d %v", seq, err)
	}
}

// helperIdleWriter holds the writer lock (after one append) until killed.
func helperIdleWriter(path string) error {
	w, err := OpenWriter(path, nil)
	if err != nil {
		return err
	}
	if _, err := w.Append([]byte("held")); err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return w.Close()
}

// TestZombieReaderReleasesItsSlot: a registered reader process killed but
// not yet reaped by its parent (a zombie: its pid still exists) must not
// stall a Block ring: its slot's lock went away when it died.
func TestZombieReaderReleasesItsSlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zombie.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := helperCmd(t, "idle-reader", path)
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("reader: %q", lines.Text())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait() // reaped only at the end: a zombie meanwhile
	// A live consumer reads three laps of appends; the writer needs the
	// dead reader's slot back to go on.
	r := openTestReader(t, path, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 150
	done := make(chan error, 1)
	go func() {
		for range n {
			if _, err := r.Next(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		if _, err := w.AppendContext(ctx, payload(uint64(i), 100)); err != nil {
			t.Fatalf("append %d with a zombie reader registered: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLiveReaderWithForeignPid: a live registered reader whose recorded pid
// means nothing here (it runs in another pid namespace, or its pid was
// reused) keeps its slot: the writer judges it by its lock, not its pid.
// A reader declared dead by pid lost 368 records of a queue that promises none.
func TestLiveReaderWithForeignPid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := openTestReader(t, path, nil)
	// A pid that exists in no namespace this test can see: a child that
	// has exited and been reaped.
	gone := exec.Command(os.Args[0], "-test.run=^$")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	owner := uint64(gone.Process.Pid)<<32 | r.owner&0xFFFFFFFF
	store64(r.hdr, offSlot0+r.slot*slotSize+slotOwner, owner)
	r.owner = owner
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 2000 // many laps of a 4 KiB ring
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := w.AppendContext(ctx, payload(uint64(i), 100)); err != nil {
				errc <- err
				return
			}
			if i%64 == 0 {
				w.mu.Lock()
				w.reclaimDead() // as a writer waiting for room does every 10 ms
				w.mu.Unlock()
			}
		}
		errc <- nil
	}()
	for i := range n {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Seq != uint64(i) {
			t.Fatalf("got sequence %d, want %d: records lost", rec.Seq, i)
		}
		checkPayload(t, rec, 100)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestEvictedReaderIsTold: a reader whose slot was taken from it learns it
// (ErrEvicted, once) instead of publishing into a slot it no longer owns.
func TestEvictedReaderIsTold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ev.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := openTestReader(t, path, nil)
	if _, err := w.Append([]byte("one")); err != nil {
		t.Fatal(err)
	}
	slot := offSlot0 + r.slot*slotSize
	// Someone (a writer that judged the reader dead) frees the slot, and
	// another reader takes it.
	store64(r.hdr, slot+slotOwner, 0)
	store64(r.hdr, slot+slotOwner, 42<<32|7)
	store64(r.hdr, slot+slotPos, 12345)
	if _, err := r.TryNext(); !errors.Is(err, ErrEvicted) || !strings.Contains(err.Error(), path) {
		t.Fatalf("TryNext after eviction: %v, want ErrEvicted naming the file", err)
	}
	if rec, err := r.TryNext(); err != nil || string(rec.Data) != "one" {
		t.Fatalf("reading on as an observer: %q %v", rec.Data, err)
	}
	r.publish(true)
	if load64(r.hdr, slot+slotOwner) != 42<<32|7 || load64(r.hdr, slot+slotPos) != 12345 {
		t.Fatal("the evicted reader wrote into the slot it lost")
	}
}

// helperNamedReader opens the durable reader "ship" with ManualRelease,
// reads 10 records, releases the first 4 and waits to be killed.
func helperNamedReader(path string) error {
	r, err := OpenReader(path, &ReaderOptions{Name: "ship", ManualRelease: true})
	if err != nil {
		return err
	}
	for range 10 {
		if _, err := r.Next(context.Background()); err != nil {
			return err
		}
	}
	if err := r.Release(4); err != nil {
		return err
	}
	r.publish(true)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return r.Close()
}

// TestDurableNamedReader: a named reader's slot outlives its process: the
// Block ring's writer keeps every record it has not released while it is
// away, and a reader opened with the same name resumes there.
func TestDurableNamedReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "named.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 20 {
		if _, err := w.Append(payload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := helperCmd(t, "named-reader", path)
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("reader: %q", lines.Text())
	}
	if _, err := OpenReader(path, &ReaderOptions{Name: "ship"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second reader of the same name: %v, want ErrLocked", err)
	}
	if err := RemoveReader(path, "ship"); !errors.Is(err, ErrLocked) {
		t.Fatalf("RemoveReader of an open reader: %v, want ErrLocked", err)
	}
	// Stat tells an open slot from an abandoned one: by its lock where the
	// OS can test a lock without taking it (Linux), elsewhere by the
	// recorded pid.
	if info, err := Stat(path); err != nil || len(info.Readers) != 1 || !info.Readers[0].Open {
		t.Fatalf("stat while the reader lives: %+v %v", info.Readers, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	info, err := Stat(path)
	if err != nil || len(info.Readers) != 1 || info.Readers[0].Name != "ship" || info.Readers[0].Open || info.Readers[0].Next != 4 {
		t.Fatalf("stat after the reader died: %+v %v", info.Readers, err)
	}
	// The writer fills the ring up to the dead reader's released position,
	// and no further: the records it did not release are kept.
	var n uint64 = 20
	for ; ; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err := w.AppendContext(ctx, payload(n, 100))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A new reader of that name resumes at record 4, and reads on.
	r := openTestReader(t, path, &ReaderOptions{Name: "ship"})
	for i := uint64(4); i < n; i++ {
		rec, err := r.TryNext()
		if err != nil || rec.Seq != i {
			t.Fatalf("resumed reader: record %d, %v; want %d", rec.Seq, err, i)
		}
		checkPayload(t, rec, 100)
	}
	r.Close()
	if err := RemoveReader(path, "ship"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveReader(path, "ship"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveReader: %v, want ErrNotFound", err)
	}
	// Without the slot the ring has no reader: a fresh one takes the slot.
	if _, err := OpenReader(path, &ReaderOptions{Name: strings.Repeat("x", MaxReaderName+1)}); err == nil {
		t.Fatal("a name longer than MaxReaderName was accepted")
	}
}

// helperCreator says "go", then creates a 64 MiB ring (allocating and
// pre-faulting it takes a while) and, if not killed first, says "done".
// envTempName makes the creator helper build its ring under a temporary
// name, as it must where the system has no unnamed files.
const envTempName = "MMAPKIT_RING_TEMPNAME"

// withoutUnnamed makes Create take the temporary-name path until the
// returned function is called.
func withoutUnnamed() (restore func()) {
	createUnnamed = func(string, os.FileMode) (*os.File, error) {
		return nil, fmt.Errorf("no unnamed files (test): %w", errors.ErrUnsupported)
	}
	return func() { createUnnamed = sys.CreateUnnamed }
}

func helperCreator(path string) error {
	if os.Getenv(envTempName) != "" {
		withoutUnnamed()
	}
	fmt.Println("go")
	w, err := Create(path, &Options{Capacity: 64 << 20})
	if err != nil {
		return err
	}
	fmt.Println("done")
	return w.Close()
}

// TestCreateKill9LeavesNoTemporaryName: a process killed at any moment of
// Create leaves either no ring or a complete one, and never a second
// (hidden, temporary) name for it, which would keep its memory allocated
// after the ring is deleted. (A temporary name removed by a deferred call
// at the end of Create survived 4 of 6 such kills.) Where the file must
// have a temporary name while it is built, a kill may leave it, and the
// next Create of that ring removes it. (Under Windows, before it had
// unnamed files and stale names were removed, the third kill left
// ".big.ring.tmp3741857354".)
func TestCreateKill9LeavesNoTemporaryName(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 64 MiB rings")
	}
	base := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		// Where rings for queues live, and where a leftover costs memory.
		d, err := os.MkdirTemp("/dev/shm", "ring-create-kill")
		if err == nil {
			base = d
			defer os.RemoveAll(d)
		}
	}
	for _, tc := range []struct {
		name     string
		tempName bool // force the temporary-name path
	}{
		{"unnamed", false},
		{"temporary name", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.tempName {
				if f, err := sys.CreateUnnamed(base, 0o600); err != nil {
					t.Skipf("no unnamed files here (the other case covers it): %v", err)
				} else {
					f.Close()
				}
			}
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
			complete, cleaned := 0, 0
			for i := range 12 {
				dir := filepath.Join(base, fmt.Sprintf("%v-%d", tc.tempName, i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "big.ring")
				var extra []string
				if tc.tempName {
					extra = append(extra, envTempName+"=1")
				}
				cmd := helperCmd(t, "creator", path, extra...)
				stdout, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(stdout)
				if !lines.Scan() || lines.Text() != "go" {
					t.Fatalf("creator: %q", lines.Text())
				}
				time.Sleep(time.Duration(rng.IntN(40000)) * time.Microsecond)
				cmd.Process.Kill()
				cmd.Wait()
				names := dirNames(t, dir)
				var temps []string
				ring := false
				for _, n := range names {
					switch {
					case n == "big.ring":
						ring = true
					case tc.tempName && isTempName(n, ".big.ring.tmp"):
						temps = append(temps, n)
					default:
						t.Fatalf("kill %d: the directory holds %q", i, names)
					}
				}
				if ring {
					// Complete if it is there at all.
					r, err := OpenReader(path, &ReaderOptions{Observe: true})
					if err != nil {
						t.Fatalf("kill %d: the ring left behind is not whole: %v", i, err)
					}
					r.Close()
					complete++
				}
				if len(temps) == 0 {
					continue
				}
				// The next Create of the ring removes what the dead one left.
				cleaned++
				restore := withoutUnnamed()
				w, err := Create(path, &Options{Capacity: 4096, Replace: true})
				restore()
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
				if names := dirNames(t, dir); len(names) != 1 || names[0] != "big.ring" {
					t.Fatalf("kill %d left %q; after the next Create the directory holds %q", i, temps, names)
				}
			}
			t.Logf("12 kills during Create: %d left a complete ring, %d nothing, %d a temporary name the next Create removed",
				complete, 12-complete, cleaned)
		})
	}
}

// dirNames lists dir's entries by name.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCreateRemovesStaleTemporaries: Create removes the temporary names of
// its ring whose creator is gone (their lock is free), and leaves alone a
// live creator's name (locked), other rings' names and other files.
func TestCreateRemovesStaleTemporaries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace bool
		noNames bool // the temporary-name path of Create itself
	}{
		{"create", false, false},
		{"replace", true, false},
		{"create with a temporary name", false, true},
		{"replace with a temporary name", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "r.ring")
			write := func(name string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte("left by a dead creator"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			write(".r.ring.tmp123")
			write(".r.ring.tmp9876543210")
			live := write(".r.ring.tmp456")
			keep := []string{".other.ring.tmp789", ".r.ring.tmpx", "r.ring.tmp1", ".r.ring.tmp456"}
			for _, n := range keep[:3] {
				write(n)
			}
			if tc.replace {
				write("r.ring")
			}
			lf, err := os.Open(live)
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()
			if err := sys.Flock(lf.Fd(), true, false); err != nil {
				t.Fatal(err)
			}
			if tc.noNames {
				defer withoutUnnamed()()
			}
			w, err := Create(path, &Options{Capacity: 4096, Replace: tc.replace})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			want := append([]string{"r.ring"}, keep...)
			slices.Sort(want)
			if got := dirNames(t, dir); !slices.Equal(got, want) {
				t.Fatalf("the directory holds %q, want %q", got, want)
			}
			// The live creator is gone: the next Create removes its name.
			lf.Close()
			w, err = Create(path, &Options{Capacity: 4096, Replace: true})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			want = slices.DeleteFunc(want, func(n string) bool { return n == ".r.ring.tmp456" })
			if got := dirNames(t, dir); !slices.Equal(got, want) {
				t.Fatalf("after the live creator closed, the directory holds %q, want %q", got, want)
			}
		})
	}
}
