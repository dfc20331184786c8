package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

// message i: its number, then a pattern of a length that varies with i.
func queueMsg(i int) []byte {
	n := 8 + (i*37)%300
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, uint64(i))
	for j := 8; j < n; j++ {
		b[j] = byte(i + j)
	}
	return b
}

func TestQueueInProcess(t *testing.T) {
	name := segName(t)
	rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := shm.OpenSender(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx, cancel := testContext(t)
	defer cancel()
	// 2000 messages of up to 300 bytes through 4 KiB: the sender waits for
	// the receiver many times over, and nothing is lost.
	const n = 2000
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := tx.Send(ctx, queueMsg(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		m, err := rx.Receive(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m, queueMsg(i)) {
			t.Fatalf("message %d: got %d bytes starting %x", i, len(m), m[:min(len(m), 8)])
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestQueueErrors(t *testing.T) {
	name := segName(t)
	rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := shm.OpenSender(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx := context.Background()

	if _, err := shm.CreateQueue(name, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("create existing queue: %v, want fs.ErrExist", err)
	}
	// The second Sender is told of the first in a Sender's terms: a
	// Writer may be shared, a Sender may not.
	_, err = shm.OpenSender(name, nil)
	var le *ring.LockedError
	if !errors.Is(err, ring.ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() || !le.ThisProcess {
		t.Errorf("second sender: %v, want ErrLocked naming this process", err)
	} else if msg := err.Error(); !strings.Contains(msg, "another Sender of this process") || strings.Contains(msg, "share it") {
		t.Errorf("second sender: %q, want it to speak of the other Sender and not advise sharing it", msg)
	}
	if _, err := shm.OpenReceiver("no-such-queue-"+name, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open missing queue: %v, want fs.ErrNotExist", err)
	}
	if _, err := shm.OpenReceiver("../x", nil); !errors.Is(err, shm.ErrBadName) {
		t.Errorf("open bad name: %v, want ErrBadName", err)
	}
	if _, err := shm.CreateQueue(segName(t), &shm.QueueOptions{Capacity: 5000}); err == nil {
		t.Error("capacity 5000 (not a power of two) accepted")
	}
	if err := tx.Send(ctx, make([]byte, 4096)); !errors.Is(err, shm.ErrTooLarge) || !errors.Is(err, ring.ErrTooLarge) {
		t.Errorf("oversized message: %v, want ErrTooLarge", err)
	}

	// A context that ends: Receive on an empty queue, Send on a full one.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := rx.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("receive on empty queue: %v, want DeadlineExceeded", err)
	}
	full, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	var sent int
	for sent = 0; sent < 1000; sent++ {
		if err = tx.Send(full, make([]byte, 100)); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) || sent == 0 || sent >= 1000 {
		t.Errorf("send into a full queue: %d sent, then %v; want DeadlineExceeded", sent, err)
	}
	// everything sent before the deadline is there
	for i := range sent {
		if m, err := rx.Receive(ctx); err != nil || len(m) != 100 {
			t.Fatalf("message %d of %d: %d bytes, %v", i, sent, len(m), err)
		}
	}
}

// A sender process and a receiver process besides this one: every receiver
// gets every message, in order, whole.
func TestQueueAcrossProcesses(t *testing.T) {
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	name := segName(t)
	rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	other := startHelper(t, "queue-receive", name, strconv.Itoa(n))
	if got := other.line(t); got != "ready" {
		t.Fatalf("receiver said %q", got)
	}
	sender := startHelper(t, "queue-send", name, strconv.Itoa(n))
	ctx, cancel := testContext(t)
	defer cancel()
	for i := range n {
		m, err := rx.Receive(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m, queueMsg(i)) {
			t.Fatalf("message %d: got %d bytes starting %x", i, len(m), m[:min(len(m), 8)])
		}
	}
	sender.wait(t)
	if got, want := other.line(t), fmt.Sprintf("received %d", n); got != want {
		t.Errorf("other receiver: %q, want %q", got, want)
	}
	other.wait(t)
}

func queueHelper(name string, args []string) error {
	ctx := context.Background()
	n, _ := strconv.Atoi(args[1])
	switch name {
	case "queue-send":
		q, err := shm.OpenSender(args[0], nil)
		if err != nil {
			return err
		}
		defer q.Close()
		for i := range n {
			if err := q.Send(ctx, queueMsg(i)); err != nil {
				return err
			}
		}
		return nil
	case "queue-receive":
		q, err := shm.OpenReceiver(args[0], nil)
		if err != nil {
			return err
		}
		defer q.Close()
		fmt.Println("ready")
		for i := range n {
			m, err := q.Receive(ctx)
			if err != nil {
				return err
			}
			if !bytes.Equal(m, queueMsg(i)) {
				return fmt.Errorf("message %d: got %d bytes starting %x", i, len(m), m[:min(len(m), 8)])
			}
		}
		fmt.Println("received", n)
		return nil
	}
	return fmt.Errorf("unknown helper %q", name)
}
