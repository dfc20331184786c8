package shm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
)

// DefaultQueueCapacity is a Queue's capacity when QueueOptions.Capacity is 0:
// the same 1 MiB as a ring's default.
const DefaultQueueCapacity = ring.DefaultCapacity

// QueueOptions tune CreateQueue, OpenSender and OpenReceiver. A nil
// *QueueOptions and every zero field mean the documented default.
type QueueOptions struct {
	// Capacity is the bytes of messages in flight: a power of two, at least
	// 4096 (default DefaultQueueCapacity, 1 MiB). Each message takes 16
	// bytes of header plus its length, rounded up to 16. Create only.
	Capacity int
	// MaxMessage is the longest message (default: the largest that fits in
	// half the capacity, at most 1 MiB). Create only.
	MaxMessage int
	// Replace lets CreateQueue replace an existing segment of that name
	// (processes attached to the old queue keep it). Without it CreateQueue
	// refuses an existing name with an error matching fs.ErrExist. Create
	// only.
	Replace bool
	// Perm is the new segment's permission bits (default 0600: owner
	// only). Create only.
	Perm fs.FileMode
	// Spin is how long Receive polls for a message before it sleeps in the
	// kernel (default 50 µs; negative: sleep at once). Polling answers in
	// nanoseconds but burns a CPU; sleeping costs a wake-up of some
	// microseconds. Receiver only.
	Spin time.Duration
}

type (
	// Sender is the sending end of a Queue, a message queue between
	// processes in a named segment (see CreateQueue). OpenSender attaches
	// it; Send and SendFunc deliver messages. Not safe for concurrent use
	// by several goroutines.
	Sender struct {
		name string
		w    *ring.Writer
	}
	// Receiver is a receiving end of a Queue, a message queue between
	// processes in a named segment (see CreateQueue). CreateQueue and
	// OpenReceiver attach one; Receive takes the next message. Not safe for
	// concurrent use by several goroutines.
	Receiver struct {
		name string
		r    *ring.Reader
	}
)

// readerOptions are the ring options of a receiver: a shared name is opened
// without following a symbolic link (and, as every ring open, never blocks
// on a FIFO).
func (o *QueueOptions) readerOptions() *ring.ReaderOptions {
	return &ring.ReaderOptions{Spin: o.Spin, NoFollow: true}
}

// queueErr makes an error of a queue operation a *fs.PathError naming the
// segment once.
func queueErr(op, p string, err error) error {
	if errors.Is(err, ring.ErrTooLarge) {
		err = tooLarge{err}
	}
	return sys.WrapPath("shm: "+op, p, err)
}

// senderLocked says which Sender holds the queue. It matches ring.ErrLocked.
type senderLocked struct{ le *ring.LockedError }

func (e senderLocked) Error() string {
	switch {
	case e.le.ThisProcess:
		return fmt.Sprintf("another Sender of this process (pid %d) is attached: close it first (a queue has one Sender, and a Sender is not safe for concurrent use)", e.le.PID)
	case e.le.PID > 0:
		return fmt.Sprintf("another Sender is attached, pid %d (as recorded in the queue): it is released when that Sender closes or its process dies", e.le.PID)
	}
	return "another Sender is attached: it is released when that Sender closes or its process dies"
}

func (e senderLocked) Unwrap() error { return e.le }

// tooLarge makes ring's ErrTooLarge match this package's too.
type tooLarge struct{ err error }

func (e tooLarge) Error() string        { return e.err.Error() }
func (e tooLarge) Unwrap() error        { return e.err }
func (e tooLarge) Is(target error) bool { return target == ErrTooLarge }

// CreateQueue creates the named queue and returns its first receiving end.
// It refuses an existing name with an error matching fs.ErrExist unless
// opts.Replace.
//
// A Queue is an inter-process message queue in a named segment: a ring (see
// package ring) with the Block policy, so a message is never lost to a full
// queue; the sender waits for room instead. Messages are delivered whole, in
// order, each checked by a CRC. Its two ends are distinct types, so using
// the wrong one does not compile:
//
//   - CreateQueue makes the queue and returns its first *Receiver, so a
//     receiver exists before any sender can attach: the usual shape is a
//     process that creates its inbox and senders that OpenSender it.
//   - OpenSender attaches the one *Sender (one at a time, across processes:
//     a second gets an error matching ring.ErrLocked until the first closes
//     or dies).
//   - OpenReceiver attaches another *Receiver. Every receiver gets every
//     message (broadcast), and the sender waits for the slowest one.
//
// Receivers are registered in the segment. When none is left (all closed, or
// their processes died: the sender notices dead ones), Send keeps messages
// rather than drop them: it waits while the queue is full until a receiver
// attaches (OpenReceiver starts at the oldest message still queued, so it
// gets them all) or until its context ends. No message is ever lost.
//
// The segment is a ring file (FORMAT.md, "Ring file"), so `mmapkit ring
// tail` and the Python package can follow it too (as observers: the sender
// does not wait for them).
//
// A Sender or Receiver is not safe for concurrent use by several goroutines;
// open one per goroutine.
func CreateQueue(name string, opts *QueueOptions) (*Receiver, error) {
	if opts == nil {
		opts = &QueueOptions{}
	}
	p, err := checkName("create queue", name)
	if err != nil {
		return nil, err
	}
	if err := ensureDir(); err != nil {
		return nil, queueErr("create queue", p, err)
	}
	perm := opts.Perm
	if perm == 0 {
		perm = 0o600
	}
	w, err := ring.Create(p, &ring.Options{
		Capacity:  opts.Capacity,
		MaxRecord: opts.MaxMessage,
		Policy:    ring.Block,
		Perm:      perm,
		Replace:   opts.Replace,
		NoFollow:  true,
	})
	if err != nil {
		return nil, queueErr("create queue", p, err)
	}
	// Register the receiver while holding the writer lock, so no sender can
	// append before a receiver exists; then let senders in.
	r, err := ring.OpenReader(p, opts.readerOptions())
	if cerr := w.Close(); err == nil && cerr != nil {
		r.Close()
		err = cerr
	}
	if err != nil {
		_ = Unlink(name)
		return nil, queueErr("create queue", p, err)
	}
	return &Receiver{name: name, r: r}, nil
}

// OpenSender attaches the sending end of the named queue. There is one
// Sender at a time, across processes: while another is attached it fails
// with an error matching ring.ErrLocked that names the holder; the kernel
// releases the lock when that Sender closes or its process dies. No field of
// opts applies to a sender (they are for CreateQueue and receivers).
func OpenSender(name string, opts *QueueOptions) (*Sender, error) {
	p, err := checkName("open sender", name)
	if err != nil {
		return nil, err
	}
	w, err := ring.OpenWriter(p, &ring.Options{NoFollow: true})
	if err != nil {
		var le *ring.LockedError
		if errors.As(err, &le) {
			// The ring's wording speaks of Writers, which may be shared;
			// a Sender may not.
			err = senderLocked{le}
		}
		return nil, queueErr("open sender", p, err)
	}
	if w.Policy() != ring.Block {
		w.Close()
		return nil, queueErr("open sender", p, errors.New("a ring with the Overwrite policy, not a queue"))
	}
	return &Sender{name: name, w: w}, nil
}

// OpenReceiver attaches another receiving end of the named queue. It starts
// at the oldest message still in the queue.
func OpenReceiver(name string, opts *QueueOptions) (*Receiver, error) {
	if opts == nil {
		opts = &QueueOptions{}
	}
	p, err := checkName("open receiver", name)
	if err != nil {
		return nil, err
	}
	r, err := ring.OpenReader(p, opts.readerOptions())
	if err != nil {
		return nil, queueErr("open receiver", p, err)
	}
	return &Receiver{name: name, r: r}, nil
}

// Name returns the queue's segment name.
func (q *Sender) Name() string { return q.name }

// Send delivers a copy of p to every receiver. While the queue is full it
// waits for the slowest receiver to make room (or, with no receiver left,
// for one to attach) until ctx ends. A message longer than the queue's
// MaxMessage gives an error matching ErrTooLarge.
func (q *Sender) Send(ctx context.Context, p []byte) error {
	if _, err := q.w.AppendContext(ctx, p); err != nil {
		return queueErr("send", q.w.Path(), err)
	}
	return nil
}

// SendFunc sends a message of n bytes that fill writes in place, straight
// into the shared memory (no copy). fill must write all n bytes and must not
// keep the slice; if it returns an error nothing is sent and SendFunc returns
// that error. It waits for room like Send.
func (q *Sender) SendFunc(ctx context.Context, n int, fill func(msg []byte) error) error {
	if _, err := q.w.AppendFunc(ctx, n, fill); err != nil {
		return queueErr("send", q.w.Path(), err)
	}
	return nil
}

// MaxMessage returns the longest message the queue takes.
func (q *Sender) MaxMessage() int { return q.w.MaxRecord() }

// Close detaches the sender; another one can attach. The queue stays until
// Unlink.
func (q *Sender) Close() error {
	if err := q.w.Close(); err != nil {
		return queueErr("close sender", q.w.Path(), err)
	}
	return nil
}

// Name returns the queue's segment name.
func (q *Receiver) Name() string { return q.name }

// Receive returns the next message, waiting for one until ctx ends. The
// returned slice points into the shared memory (no copy) and is valid until
// the next Receive or Close: copy it to keep it.
func (q *Receiver) Receive(ctx context.Context) ([]byte, error) {
	rec, err := q.r.Next(ctx)
	if err != nil {
		return nil, queueErr("receive", path(q.name), err)
	}
	return rec.Data, nil
}

// Close detaches this receiver: it no longer holds the sender back. The
// queue stays until Unlink.
func (q *Receiver) Close() error {
	if err := q.r.Close(); err != nil {
		return queueErr("close receiver", path(q.name), err)
	}
	return nil
}
