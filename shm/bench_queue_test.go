//go:build linux

package shm_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/shm"
)

func transportAvailable(string) bool { return true }

// queueEndpoint sends on one Queue and receives on another.
type queueEndpoint struct {
	tx      *shm.Sender
	rx      *shm.Receiver
	ctx     context.Context
	txName  string
	pending *shm.Receiver // the parent's placeholder receiver on tx, until the child attaches
	opts    *shm.QueueOptions
}

func (e *queueEndpoint) send(p []byte) error { return e.tx.Send(e.ctx, p) }
func (e *queueEndpoint) recv(p []byte) error {
	m, err := e.rx.Receive(e.ctx)
	if err != nil {
		return err
	}
	if len(m) != len(p) {
		return fmt.Errorf("message of %d bytes, want %d", len(m), len(p))
	}
	copy(p, m)
	return nil
}
func (e *queueEndpoint) close() {
	if e.tx != nil {
		e.tx.Close()
	}
	for _, q := range []*shm.Receiver{e.rx, e.pending} {
		if q != nil {
			q.Close()
		}
	}
}

// childReady swaps the parent's placeholder receiver for the sending end,
// now that the child's receiver is registered.
func (e *queueEndpoint) childReady() error {
	if e.pending == nil {
		return nil
	}
	e.pending.Close()
	e.pending = nil
	var err error
	e.tx, err = shm.OpenSender(e.txName, e.opts)
	return err
}

func queueOpts(kind string) *shm.QueueOptions {
	if kind == "queue-spin" {
		return &shm.QueueOptions{Spin: time.Hour} // never sleep
	}
	return &shm.QueueOptions{Spin: time.Nanosecond} // sleep after a few polls
}

const benchQueueCap = 1 << 20

func parentQueueEndpoint(b *testing.B, kind string) (endpoint, []*os.File, []string) {
	opts := queueOpts(kind)
	var names [2]string
	var qs [2]*shm.Receiver
	for i := range names {
		names[i] = fmt.Sprintf("mmapkit-bench-%d-%d", os.Getpid(), nameSeq.Add(1))
		n := names[i]
		b.Cleanup(func() { _ = shm.Unlink(n) })
		q, err := shm.CreateQueue(n, &shm.QueueOptions{Capacity: benchQueueCap, MaxMessage: benchMaxMsg, Spin: opts.Spin})
		if err != nil {
			b.Fatal(err)
		}
		qs[i] = q
	}
	// names[0] carries parent -> child, names[1] child -> parent.
	return &queueEndpoint{rx: qs[1], pending: qs[0], txName: names[0], ctx: context.Background(), opts: opts}, nil, names[:]
}

func childQueueEndpoint(kind string, args []string) (endpoint, error) {
	opts := queueOpts(kind)
	rx, err := shm.OpenReceiver(args[0], opts)
	if err != nil {
		return nil, err
	}
	tx, err := shm.OpenSender(args[1], opts)
	if err != nil {
		rx.Close()
		return nil, err
	}
	return &queueEndpoint{tx: tx, rx: rx, ctx: context.Background()}, nil
}
