package shm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

// ErrWrongEnd: Send on a receiving end of a Queue, or Receive on a sending end.
var ErrWrongEnd = errors.New("shm: wrong end of the queue")

// QueueConfig describes a new Queue.
type QueueConfig struct {
	// Capacity is the bytes of messages in flight: a power of two, at least
	// 4096 (default 1 MiB). Each message takes 16 bytes of header plus its
	// length, rounded up to 16.
	Capacity int64
	// MaxMessage is the longest message (default: the largest that fits in
	// half the capacity, at most 1 MiB).
	MaxMessage int
}

// QueueOptions tune one end of a Queue.
type QueueOptions struct {
	// Spin is how long Receive polls for a message before it sleeps in the
	// kernel (default 50 µs). Polling answers in nanoseconds but burns a
	// CPU; sleeping costs a wake-up of some microseconds.
	Spin time.Duration
}

// QueueEnd says which end of a Queue OpenQueue attaches.
type QueueEnd int

const (
	// Sender attaches the sending end. One sender at a time: a second one
	// gets an error matching ring.ErrLocked until the first closes or dies.
	Sender QueueEnd = iota
	// Receiver attaches another receiving end. Every receiver gets every
	// message (broadcast), and the sender waits for the slowest one.
	Receiver
)

// Queue is an inter-process message queue in a named segment: a ring (see
// package ring) with the Block policy, so a message is never lost to a full
// queue; the sender waits for room instead. Messages are delivered whole, in
// order, each checked by a CRC.
//
// CreateQueue makes the queue and returns its first receiving end, so a
// receiver is registered before any sender can attach: the usual shape is a
// process that creates its inbox and senders that OpenQueue(name, Sender).
// Receivers are registered in the segment; if every receiver is closed (or
// its process dies: the sender notices dead ones), the sender no longer waits
// and messages nobody will read are overwritten.
//
// The segment is a ring file (FORMAT.md, "Ring file"), so `mmapkit ring
// tail` and the Python package in python/ can follow it too. A Queue end is not safe for
// concurrent use by several goroutines; open one end per goroutine.
type Queue struct {
	name string
	w    *ring.Writer
	r    *ring.Reader
}

// CreateQueue creates the named queue (mode 0600; it fails with ErrExists if
// the name is taken) and returns its first receiving end.
func CreateQueue(name string, cfg QueueConfig, opts QueueOptions) (*Queue, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 1 << 20
	}
	if err := ensureDir(); err != nil {
		return nil, fmt.Errorf("shm: create queue %s: %w", name, err)
	}
	p := path(name)
	w, err := ring.Create(p, &ring.Options{Capacity: int(cfg.Capacity), MaxRecord: cfg.MaxMessage, Policy: ring.Block, Perm: 0o600})
	if err != nil {
		return nil, fmt.Errorf("shm: create queue %s: %w", name, fsErr(err))
	}
	// Register the receiver while holding the writer lock, so no sender can
	// append before a receiver exists; then let senders in.
	r, err := ring.OpenReader(p, &ring.ReaderOptions{Spin: opts.Spin})
	if cerr := w.Close(); err == nil && cerr != nil {
		r.Close()
		err = cerr
	}
	if err != nil {
		_ = Unlink(name)
		return nil, fmt.Errorf("shm: create queue %s: %w", name, err)
	}
	return &Queue{name: name, r: r}, nil
}

// OpenQueue attaches to the named queue as a Sender or a Receiver. A new
// Receiver starts at the oldest message still in the queue.
func OpenQueue(name string, end QueueEnd, opts QueueOptions) (*Queue, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	q := &Queue{name: name}
	var err error
	switch end {
	case Sender:
		q.w, err = ring.OpenWriter(path(name), nil)
	case Receiver:
		q.r, err = ring.OpenReader(path(name), &ring.ReaderOptions{Spin: opts.Spin})
	default:
		return nil, fmt.Errorf("shm: open queue %s: %w: end %d", name, ErrWrongEnd, int(end))
	}
	if err != nil {
		return nil, fmt.Errorf("shm: open queue %s: %w", name, fsErr(err))
	}
	return q, nil
}

// Name returns the queue's segment name.
func (q *Queue) Name() string { return q.name }

// Send delivers a copy of p to every receiver, waiting while the queue is
// full (for the slowest receiver) until ctx ends.
func (q *Queue) Send(ctx context.Context, p []byte) error {
	if q.w == nil {
		return fmt.Errorf("shm: send on queue %s: %w (a receiving end)", q.name, ErrWrongEnd)
	}
	if _, err := q.w.AppendContext(ctx, p); err != nil {
		return fmt.Errorf("shm: send on queue %s: %w", q.name, err)
	}
	return nil
}

// Receive returns the next message, waiting for one until ctx ends. The
// returned slice points into the shared memory (no copy) and is valid until
// the next Receive or Close: copy it to keep it.
func (q *Queue) Receive(ctx context.Context) ([]byte, error) {
	if q.r == nil {
		return nil, fmt.Errorf("shm: receive on queue %s: %w (the sending end)", q.name, ErrWrongEnd)
	}
	rec, err := q.r.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("shm: receive on queue %s: %w", q.name, err)
	}
	return rec.Data, nil
}

// Close detaches this end. A receiver that closes no longer holds the sender
// back. The queue itself stays until Unlink.
func (q *Queue) Close() error {
	var err error
	if q.w != nil {
		err = q.w.Close()
	}
	if q.r != nil {
		if e := q.r.Close(); err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("shm: close queue %s: %w", q.name, err)
	}
	return nil
}
