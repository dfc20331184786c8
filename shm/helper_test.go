package shm_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// Multi-process tests re-run this test binary as a helper: TestMain sees the
// environment variable and runs the named helper instead of the tests.
const helperEnv = "MMAPKIT_SHM_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		if err := runHelper(h, strings.Fields(os.Getenv(helperEnv+"_ARGS"))); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", h, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper is a running helper process.
type helper struct {
	cmd *exec.Cmd
	out *bufio.Scanner
	in  io.WriteCloser
}

func startHelper(t *testing.T, name string, args ...string) *helper {
	t.Helper()
	return startHelperCmd(t, exec.Command(os.Args[0]), name, args...)
}

func startHelperCmd(t *testing.T, cmd *exec.Cmd, name string, args ...string) *helper {
	t.Helper()
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperEnv+"_ARGS="+strings.Join(args, " "))
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: bufio.NewScanner(out), in: in}
	t.Cleanup(func() {
		in.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return h
}

// line returns the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper %v: no more output (%v)", h.cmd.Args, h.out.Err())
	}
	return h.out.Text()
}

// wait waits for the helper to exit and fails the test if it failed.
func (h *helper) wait(t *testing.T) {
	t.Helper()
	for h.out.Scan() {
		t.Logf("helper: %s", h.out.Text())
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper %s: %v", h.cmd.Env[len(h.cmd.Env)-2], err)
	}
}

var nameSeq atomic.Int64

// segName returns a segment name unique to this process and test, removed
// when the test ends.
func segName(t *testing.T) string {
	t.Helper()
	n := fmt.Sprintf("mmapkit-test-%d-%d", os.Getpid(), nameSeq.Add(1))
	t.Cleanup(func() { _ = shm.Unlink(n) })
	return n
}

// The torn-read test's segment: a slot of 64 bytes at 0, then a stop word.
const (
	tornCap  = 64
	tornStop = 128 + tornCap
	tornSize = tornStop + 8
)

func stopWord(r *mmap.Region) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.Bytes()[tornStop]))
}

func runHelper(name string, args []string) error {
	ctx := context.Background()
	switch name {
	case "writer":
		// Store (counter, unix nanoseconds, counter) as fast as possible
		// until the stop word is set.
		r, err := shm.Open(args[0], mmap.ReadWrite, nil)
		if err != nil {
			return err
		}
		s, err := shm.OpenSlot(r, 0, nil)
		if err != nil {
			return err
		}
		stop := stopWord(r)
		var v [24]byte
		var i uint64
		for i = 1; atomic.LoadUint64(stop) == 0; i++ {
			binary.LittleEndian.PutUint64(v[0:], i)
			binary.LittleEndian.PutUint64(v[8:], uint64(time.Now().UnixNano()))
			binary.LittleEndian.PutUint64(v[16:], i)
			if err := s.Store(v[:]); err != nil {
				return err
			}
		}
		fmt.Println("stored", i-1)
		return nil

	case "reader":
		// Load n values through a read-only attach and check none is torn.
		n, _ := strconv.Atoi(args[1])
		r, err := shm.Open(args[0], mmap.ReadOnly, nil)
		if err != nil {
			return err
		}
		s, err := shm.OpenSlot(r, 0, healthyWriter)
		if err != nil {
			return err
		}
		if _, err := s.Wait(ctx, 0); err != nil {
			return err
		}
		buf := make([]byte, tornCap)
		var last, lastTS, distinct uint64
		// n loads, and on until the writer was seen to move (a busy machine
		// may run the writer only in bursts): the test is about overlap.
		for i := 0; i < n || distinct < 10; i++ {
			_, m, err := s.Load(ctx, buf)
			if err != nil {
				return err
			}
			if m != 24 {
				return fmt.Errorf("length %d, want 24", m)
			}
			a, ts, b := binary.LittleEndian.Uint64(buf), binary.LittleEndian.Uint64(buf[8:]), binary.LittleEndian.Uint64(buf[16:])
			if a != b {
				return fmt.Errorf("torn value: counter %d then %d", a, b)
			}
			if a < last || ts < lastTS {
				return fmt.Errorf("went back: counter %d after %d, time %d after %d", a, last, ts, lastTS)
			}
			if a != last {
				distinct++
			}
			last, lastTS = a, ts
		}
		fmt.Println("distinct", distinct)
		return nil

	case "pong":
		// For i in 1..n: store i in slot A, wait for slot B to hold i.
		n, _ := strconv.Atoi(args[1])
		defer shm.SetWaitSlice(time.Hour)()
		r, err := shm.Open(args[0], mmap.ReadWrite, nil)
		if err != nil {
			return err
		}
		a, err := shm.OpenSlot(r, 0, healthyWriter)
		if err != nil {
			return err
		}
		b, err := shm.OpenSlot(r, int64(shm.SlotSize(8)), healthyWriter)
		if err != nil {
			return err
		}
		var seq uint64
		buf := make([]byte, 8)
		for i := 1; i <= n; i++ {
			if err := a.Store(binary.LittleEndian.AppendUint64(nil, uint64(i))); err != nil {
				return err
			}
			if seq, err = b.Wait(ctx, seq); err != nil {
				return err
			}
			if _, _, err := b.Load(ctx, buf); err != nil {
				return err
			}
			if got := binary.LittleEndian.Uint64(buf); got != uint64(i) {
				return fmt.Errorf("ack %d, want %d", got, i)
			}
		}
		fmt.Println("sleeps", shm.FutexSleeps())
		return nil

	case "hostile":
		// A hostile writer: make the sequence odd and keep bumping it by 2,
		// so that no reader ever sees an even sequence although it changes
		// all the time, until stdin closes.
		r, err := shm.Open(args[0], mmap.ReadWrite, nil)
		if err != nil {
			return err
		}
		seq := (*uint64)(unsafe.Pointer(&r.Bytes()[64]))
		if atomic.LoadUint64(seq)%2 == 0 {
			atomic.AddUint64(seq, 1)
		}
		var stop atomic.Bool
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop.Store(true) }()
		fmt.Println("ready")
		for !stop.Load() {
			atomic.AddUint64(seq, 2)
			runtime.Gosched()
		}
		return nil

	case "halfstore":
		// Open a store, say so, and hang until killed.
		r, err := shm.Open(args[0], mmap.ReadWrite, nil)
		if err != nil {
			return err
		}
		s, err := shm.OpenSlot(r, 0, nil)
		if err != nil {
			return err
		}
		if err := s.BeginStoreForTest(); err != nil {
			return err
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return errors.New("stdin closed before the kill")

	case "pyserver":
		return pyServer()

	case "queue-send", "queue-receive":
		return queueHelper(name, args)

	case "bench":
		size, _ := strconv.Atoi(args[2])
		n, _ := strconv.Atoi(args[3])
		return benchChild(args[0], args[1], size, n, args[4:])

	case "open":
		// Try to attach; print the error.
		mode := mmap.ReadOnly
		if args[1] == "rw" {
			mode = mmap.ReadWrite
		}
		r, err := shm.Open(args[0], mode, nil)
		if err != nil {
			fmt.Println("error:", err, "permission:", errors.Is(err, os.ErrPermission))
			return nil
		}
		r.Close()
		fmt.Println("ok")
		return nil
	}
	return fmt.Errorf("unknown helper %q", name)
}
