//go:build linux

package shm_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// IPC benchmarks: every transport moves the same messages between this
// process and a helper process (the test binary re-run), in the same run,
// so the numbers compare as ratios. Run with
//
//	go test -run='^$' -bench=IPC -benchtime=200000x ./shm
//
// Ping-pong reports the round trip's p50 and p99 (one-way is half);
// stream reports messages per second one way.

// endpoint is one side of a bidirectional message channel.
type endpoint interface {
	send(p []byte) error
	recv(p []byte) error // fills p
	close()
}

// fdEndpoint is a pipe pair or a socket.
type fdEndpoint struct{ r, w *os.File }

func (e *fdEndpoint) send(p []byte) error { _, err := e.w.Write(p); return err }
func (e *fdEndpoint) recv(p []byte) error { _, err := io.ReadFull(e.r, p); return err }
func (e *fdEndpoint) close() {
	e.r.Close()
	if e.w != e.r {
		e.w.Close()
	}
}

// slotEndpoint exchanges values through two Slots, one each way. It can
// only carry a message when the previous one was consumed (ping-pong).
type slotEndpoint struct {
	seg     *mmap.Region
	out, in *shm.Slot
	inSeq   uint64
	spin    bool
	ctx     context.Context
}

func (e *slotEndpoint) send(p []byte) error { return e.out.Store(p) }
func (e *slotEndpoint) recv(p []byte) error {
	var err error
	if e.spin {
		for {
			s, err := e.in.Seq()
			if err != nil {
				return err
			}
			if s != e.inSeq && s&1 == 0 {
				break
			}
		}
	} else if _, err = e.in.Wait(e.ctx, e.inSeq); err != nil {
		return err
	}
	e.inSeq, _, err = e.in.Load(e.ctx, p)
	return err
}
func (e *slotEndpoint) close() { e.seg.Close() }

const benchMaxMsg = 64 << 10

// parentEndpoint makes the parent's side of transport kind and says how the
// child gets its side (extra files, arguments).
func parentEndpoint(b *testing.B, kind string) (endpoint, []*os.File, []string) {
	b.Helper()
	switch kind {
	case "pipe":
		r1, w1, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		r2, w2, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		return &fdEndpoint{r: r2, w: w1}, []*os.File{r1, w2}, nil
	case "unix":
		f, g, err := sys.Socketpair()
		if err != nil {
			b.Fatal(err)
		}
		return &fdEndpoint{r: f, w: f}, []*os.File{g}, nil
	case "slot-spin", "slot-futex":
		name := fmt.Sprintf("mmapkit-bench-%d-%d", os.Getpid(), nameSeq.Add(1))
		size := 2 * shm.SlotSize(benchMaxMsg)
		seg, err := shm.Create(name, size, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = shm.Unlink(name) })
		a, err := shm.NewSlot(seg, 0, benchMaxMsg, nil)
		if err != nil {
			b.Fatal(err)
		}
		// like the queue's futex mode: sleep at once
		c, err := shm.NewSlot(seg, int64(shm.SlotSize(benchMaxMsg)), benchMaxMsg, &shm.SlotOptions{Spin: -1})
		if err != nil {
			b.Fatal(err)
		}
		return &slotEndpoint{seg: seg, out: a, in: c, spin: kind == "slot-spin", ctx: context.Background()}, nil, []string{name}
	}
	if e, files, args := parentQueueEndpoint(b, kind); e != nil {
		return e, files, args
	}
	b.Fatalf("unknown transport %q", kind)
	return nil, nil, nil
}

// childEndpoint opens the child's side; extra files start at fd 3.
func childEndpoint(kind string, args []string) (endpoint, error) {
	switch kind {
	case "pipe":
		return &fdEndpoint{r: os.NewFile(3, "r"), w: os.NewFile(4, "w")}, nil
	case "unix":
		f := os.NewFile(3, "unix")
		return &fdEndpoint{r: f, w: f}, nil
	case "slot-spin", "slot-futex":
		seg, err := shm.Open(args[0], mmap.ReadWrite, nil)
		if err != nil {
			return nil, err
		}
		a, err := shm.OpenSlot(seg, 0, &shm.SlotOptions{Spin: -1})
		if err != nil {
			return nil, err
		}
		c, err := shm.OpenSlot(seg, int64(shm.SlotSize(benchMaxMsg)), nil)
		if err != nil {
			return nil, err
		}
		return &slotEndpoint{seg: seg, out: c, in: a, spin: kind == "slot-spin", ctx: context.Background()}, nil
	}
	return childQueueEndpoint(kind, args)
}

// benchChild runs the child side: "echo" sends back every message, "sink"
// reads n messages and then sends one back as the acknowledgement.
func benchChild(role, kind string, size, n int, args []string) error {
	e, err := childEndpoint(kind, args)
	if err != nil {
		return err
	}
	defer e.close()
	buf := make([]byte, size)
	fmt.Println("ready")
	for i := 0; i < n; i++ {
		if err := e.recv(buf); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if role == "echo" {
			if err := e.send(buf); err != nil {
				return err
			}
		}
	}
	if role == "sink" {
		return e.send(buf)
	}
	return nil
}

func startBenchChild(b *testing.B, e endpoint, role, kind string, size int, files []*os.File, args []string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	all := append([]string{role, kind, strconv.Itoa(size), strconv.Itoa(b.N)}, args...)
	cmd.Env = append(os.Environ(), helperEnv+"=bench", helperEnv+"_ARGS="+strings.Join(all, " "))
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		f.Close()
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		b.Fatalf("bench child did not start: %q %v", sc.Text(), sc.Err())
	}
	if h, ok := e.(readyHook); ok {
		if err := h.childReady(); err != nil {
			b.Fatal(err)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd
}

// readyHook is an endpoint that must finish its setup once the child has
// attached.
type readyHook interface{ childReady() error }

var benchTransports = []string{"queue-spin", "queue-futex", "slot-spin", "slot-futex", "pipe", "unix"}
var benchSizes = []int{64, 1 << 10, 4 << 10, 64 << 10}

// BenchmarkIPCPingPong: a message goes to the child and back; b.N round
// trips. Reports p50/p99 of the round trip.
func BenchmarkIPCPingPong(b *testing.B) {
	for _, size := range benchSizes {
		for _, kind := range benchTransports {
			if !transportAvailable(kind) || strings.HasPrefix(kind, "slot") && size > 1<<10 {
				continue // a Slot is for small values (one atomic per 8 bytes)
			}
			b.Run(sizeName(size)+"/"+kind, func(b *testing.B) {
				e, files, args := parentEndpoint(b, kind)
				defer e.close()
				cmd := startBenchChild(b, e, "echo", kind, size, files, args)
				msg := make([]byte, size)
				buf := make([]byte, size)
				rtt := make([]time.Duration, b.N)
				b.SetBytes(int64(2 * size))
				b.ResetTimer()
				for i := range b.N {
					binary.LittleEndian.PutUint64(msg, uint64(i))
					t0 := time.Now()
					if err := e.send(msg); err != nil {
						b.Fatal(err)
					}
					if err := e.recv(buf); err != nil {
						b.Fatal(err)
					}
					rtt[i] = time.Since(t0)
					if binary.LittleEndian.Uint64(buf) != uint64(i) {
						b.Fatalf("round %d: got message %d", i, binary.LittleEndian.Uint64(buf))
					}
				}
				b.StopTimer()
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				slices.Sort(rtt)
				b.ReportMetric(float64(rtt[len(rtt)/2].Nanoseconds()), "p50-rtt-ns")
				b.ReportMetric(float64(rtt[len(rtt)*99/100].Nanoseconds()), "p99-rtt-ns")
			})
		}
	}
}

// BenchmarkIPCStream: b.N messages one way, then one acknowledgement back.
func BenchmarkIPCStream(b *testing.B) {
	for _, size := range benchSizes {
		for _, kind := range benchTransports {
			if !transportAvailable(kind) || strings.HasPrefix(kind, "slot") {
				continue // a slot holds the latest value, not a stream
			}
			b.Run(sizeName(size)+"/"+kind, func(b *testing.B) {
				e, files, args := parentEndpoint(b, kind)
				defer e.close()
				cmd := startBenchChild(b, e, "sink", kind, size, files, args)
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				t0 := time.Now()
				for i := range b.N {
					binary.LittleEndian.PutUint64(msg, uint64(i))
					if err := e.send(msg); err != nil {
						b.Fatal(err)
					}
				}
				if err := e.recv(msg); err != nil {
					b.Fatal(err)
				}
				el := time.Since(t0)
				b.StopTimer()
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			})
		}
	}
}
