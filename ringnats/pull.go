package ringnats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PullOptions tune a Puller. Consumer is required; every other zero field
// means the documented default.
type PullOptions struct {
	// Consumer is the name of the durable JetStream consumer. It is created
	// if it does not exist (delivering the whole stream, explicit acks).
	Consumer string
	// FilterSubject restricts a new consumer to one subject (e.g.
	// "events.host1"); default: the whole stream.
	FilterSubject string
	// Create, if not nil, creates the ring with this configuration when it
	// does not exist. Without it a missing ring is an error.
	Create *ring.Options
	// StatePath is the puller's state file (default: the ring's path
	// followed by ".<stream>.<consumer>.pull").
	StatePath string
	// Batch is how many messages one fetch asks for (default 256).
	Batch int
	// Logger receives skipped duplicates and retries (default
	// slog.Default()).
	Logger *slog.Logger
}

// PullStats are a puller's counters (Pulled and Skipped survive restarts).
type PullStats struct {
	Pulled    uint64 // messages appended to the ring
	Skipped   uint64 // messages acknowledged without an append: redeliveries, records shipped twice
	StreamSeq uint64 // stream sequence of the newest message appended
	RingNext  uint64 // the ring's next sequence number
}

// pullMark names one message: its stream sequence and, when its id is a
// ring record's, the source ring and record.
type pullMark struct {
	sseq  uint64
	hasID bool
	id    ID
	seq   uint64
}

// Puller appends the messages of a stream to a local ring, through a
// durable consumer.
type Puller struct {
	nc       *nats.Conn
	stream   string
	ringPath string
	opts     PullOptions
	log      *slog.Logger
	w        *ring.Writer
	st       *stateFile

	mu        sync.Mutex
	committed pullMark // newest message appended
	stats     PullStats
	closed    bool
}

// NewPuller opens (or, with PullOptions.Create, creates) the ring at
// ringPath for writing and the puller's state file. The Puller is the
// ring's only writer while it exists; Run pulls.
func NewPuller(nc *nats.Conn, stream, ringPath string, opts *PullOptions) (*Puller, error) {
	var o PullOptions
	if opts != nil {
		o = *opts
	}
	op := func(err error) error { return &fs.PathError{Op: "ringnats: pull", Path: ringPath, Err: err} }
	if o.Consumer == "" || strings.ContainsAny(o.Consumer, ". *>/\\\t\r\n") {
		return nil, op(fmt.Errorf("bad consumer name %q", o.Consumer))
	}
	if stream == "" || strings.ContainsAny(stream, ". *>/\\\t\r\n") {
		return nil, op(fmt.Errorf("bad stream name %q", stream))
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.StatePath == "" {
		o.StatePath = ringPath + "." + stream + "." + o.Consumer + ".pull"
	}
	p := &Puller{nc: nc, stream: stream, ringPath: ringPath, opts: o, log: o.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	var err error
	p.w, err = ring.OpenWriter(ringPath, nil)
	if errors.Is(err, fs.ErrNotExist) && o.Create != nil {
		p.w, err = ring.Create(ringPath, o.Create)
	}
	if err != nil {
		return nil, err
	}
	info, err := ring.Stat(ringPath)
	if err != nil {
		p.w.Close()
		return nil, err
	}
	st, payload, _, err := openState(o.StatePath, stateHeader{kind: kindPull, ring: info.ID, stream: stream, name: o.Consumer})
	if err != nil {
		p.w.Close()
		return nil, err
	}
	p.st = st
	if payload != nil {
		var pp pullPayload
		if err := pp.decode(payload); err != nil {
			p.Close()
			return nil, &fs.PathError{Op: "ringnats: open state", Path: o.StatePath, Err: err}
		}
		p.committed = pp.committed
		p.stats.Pulled, p.stats.Skipped = pp.pulled, pp.skipped
		// The intent was written before its append: if the ring holds a
		// record at the intended sequence number, the append happened.
		if pp.hasIntent && p.w.Next() > pp.intentAt {
			p.committed = pp.intent
			p.stats.Pulled++
		}
	}
	p.stats.StreamSeq = p.committed.sseq
	return p, nil
}

// Stats returns the puller's counters. It is safe to call while Run runs.
func (p *Puller) Stats() PullStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.RingNext = p.w.Next()
	return s
}

// Run pulls until ctx ends (then it returns nil) or a fatal error occurs
// (the stream does not exist, the ring refuses a record). A lost
// connection is waited out.
func (p *Puller) Run(ctx context.Context) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return &fs.PathError{Op: "ringnats: pull", Path: p.ringPath, Err: ErrClosed}
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return p.errorf("%w", err)
	}
	var cons jetstream.Consumer
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if cons == nil {
			cons, err = p.consumer(ctx, js)
		} else {
			err = p.fetch(ctx, cons)
			if err != nil {
				// Messages delivered to this session and never
				// acknowledged would come back only after the ack wait,
				// behind later ones: start the consumer over after the
				// last appended message instead.
				cons = nil
			}
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return fe.err
		}
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
		p.log.Warn("ringnats: pulling failed; retrying", "stream", p.stream, "consumer", p.opts.Consumer, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

func (p *Puller) errorf(format string, args ...any) error {
	return &fs.PathError{Op: "ringnats: pull", Path: p.ringPath, Err: fmt.Errorf(format, args...)}
}

// consumer finds or creates the durable consumer.
func (p *Puller) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(rctx, p.stream, p.opts.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(rctx, p.stream, jetstream.ConsumerConfig{
			Durable:       p.opts.Consumer,
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: p.opts.FilterSubject,
			AckWait:       30 * time.Second,
			MaxAckPending: 4 * p.opts.Batch,
		})
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, &fatalError{p.errorf("stream %q: %w", p.stream, ErrNoStream)}
	}
	if err != nil && isPermission(err) {
		return nil, &fatalError{p.errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)
	}
	// Deliver from the message after the last one appended, in order: what
	// an earlier puller had delivered and not acknowledged (it was killed,
	// or its connection dropped) comes first, not after the ack wait.
	p.mu.Lock()
	from := p.committed.sseq + 1
	p.mu.Unlock()
	if _, err := js.ResetConsumerToSequence(rctx, p.stream, p.opts.Consumer, from); err != nil {
		if errors.Is(err, jetstream.ErrConsumerInvalidReset) {
			return nil, &fatalError{p.errorf("consumer %q of stream %q cannot restart at stream sequence %d (its deliver policy starts later): %w", p.opts.Consumer, p.stream, from, err)}
		}
		return nil, fmt.Errorf("consumer %q of stream %q: restart at stream sequence %d: %w", p.opts.Consumer, p.stream, from, err)
	}
	return cons, nil
}

// fetch appends one batch.
func (p *Puller) fetch(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(p.opts.Batch, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return &fatalError{p.errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)}
		}
		return err
	}
	for m := range batch.Messages() {
		if err := p.handle(ctx, m); err != nil {
			return err
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	return nil
}

// handle appends one message unless it is already in the ring, then
// acknowledges it.
func (p *Puller) handle(ctx context.Context, m jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		return err
	}
	mark := pullMark{sseq: md.Sequence.Stream}
	if id, seq, err := ParseMsgID(m.Headers().Get(jetstream.MsgIDHeader)); err == nil {
		mark.hasID, mark.id, mark.seq = true, id, seq
	}
	p.mu.Lock()
	c := p.committed
	p.mu.Unlock()
	skip := mark.sseq <= c.sseq || (mark.hasID && c.hasID && mark.id == c.id && mark.seq <= c.seq)
	if skip {
		p.mu.Lock()
		p.stats.Skipped++
		p.mu.Unlock()
		return m.Ack()
	}
	// Note the intent first: after a crash, the ring's next sequence
	// number tells whether this append happened.
	at := p.w.Next()
	p.mu.Lock()
	pp := pullPayload{pid: uint32(pid), committed: c, hasIntent: true, intent: mark, intentAt: at, pulled: p.stats.Pulled, skipped: p.stats.Skipped, updated: time.Now().UnixNano()}
	p.mu.Unlock()
	if err := p.st.write(pp.encode()); err != nil {
		return &fatalError{err}
	}
	if _, err := p.w.AppendContext(ctx, m.Data()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &fatalError{p.errorf("stream sequence %d: %w", mark.sseq, err)}
	}
	p.mu.Lock()
	p.committed = mark
	p.stats.Pulled++
	p.stats.StreamSeq = mark.sseq
	p.mu.Unlock()
	return m.Ack()
}

// Close saves the state, closes the ring's writer and releases the state
// file. It does not close the NATS connection.
func (p *Puller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pp := pullPayload{pid: uint32(pid), committed: p.committed, pulled: p.stats.Pulled, skipped: p.stats.Skipped, updated: time.Now().UnixNano()}
	p.mu.Unlock()
	err := p.w.Close()
	if e := p.st.write(pp.encode()); err == nil {
		err = e
	}
	if e := p.st.sync(); err == nil {
		err = e
	}
	if e := p.st.close(); err == nil {
		err = e
	}
	return err
}

// pullPayload is a puller's state-file slot.
type pullPayload struct {
	pid               uint32
	updated           int64
	pulled, skipped   uint64
	committed, intent pullMark
	hasIntent         bool
	intentAt          uint64 // ring sequence number the intended record gets
}

const pullPayloadLen = 40 + 2*40

func putMark(b []byte, m pullMark) {
	binary.LittleEndian.PutUint64(b, m.sseq)
	if m.hasID {
		binary.LittleEndian.PutUint64(b[8:], 1)
	}
	copy(b[16:32], m.id[:])
	binary.LittleEndian.PutUint64(b[32:], m.seq)
}

func getMark(b []byte) (pullMark, error) {
	m := pullMark{sseq: binary.LittleEndian.Uint64(b), seq: binary.LittleEndian.Uint64(b[32:])}
	switch binary.LittleEndian.Uint64(b[8:]) {
	case 0:
	case 1:
		m.hasID = true
	default:
		return m, fmt.Errorf("puller state: bad flag: %w", ErrNotState)
	}
	copy(m.id[:], b[16:32])
	return m, nil
}

func (p *pullPayload) encode() []byte {
	b := make([]byte, pullPayloadLen)
	binary.LittleEndian.PutUint32(b[0:], p.pid)
	if p.hasIntent {
		binary.LittleEndian.PutUint32(b[4:], 1)
	}
	binary.LittleEndian.PutUint64(b[8:], uint64(p.updated))
	binary.LittleEndian.PutUint64(b[16:], p.pulled)
	binary.LittleEndian.PutUint64(b[24:], p.skipped)
	binary.LittleEndian.PutUint64(b[32:], p.intentAt)
	putMark(b[40:], p.committed)
	putMark(b[80:], p.intent)
	return b
}

func (p *pullPayload) decode(b []byte) error {
	if len(b) != pullPayloadLen {
		return fmt.Errorf("puller state of %d bytes: %w", len(b), ErrNotState)
	}
	flag := binary.LittleEndian.Uint32(b[4:])
	if flag > 1 {
		return fmt.Errorf("puller state: bad flag: %w", ErrNotState)
	}
	var err error
	*p = pullPayload{
		pid:       binary.LittleEndian.Uint32(b[0:]),
		hasIntent: flag == 1,
		updated:   int64(binary.LittleEndian.Uint64(b[8:])),
		pulled:    binary.LittleEndian.Uint64(b[16:]),
		skipped:   binary.LittleEndian.Uint64(b[24:]),
		intentAt:  binary.LittleEndian.Uint64(b[32:]),
	}
	if p.committed, err = getMark(b[40:]); err != nil {
		return err
	}
	p.intent, err = getMark(b[80:])
	return err
}
