package ringnats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strconv"
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
	// followed by ".<stream>.<consumer>.pull", in the ring's directory,
	// escaped as for ShipOptions.StatePath). Beside it, StatePath followed
	// by ".runs" keeps where the puller appended each source ring's
	// records, to recognise records shipped twice.
	StatePath string
	// Batch is how many messages one fetch asks for (default 256).
	Batch int
	// Logger receives skipped duplicates and retries (default
	// slog.Default()).
	Logger *slog.Logger
}

// PullStats are a puller's counters (Pulled, Skipped and Suspect survive
// restarts).
type PullStats struct {
	Pulled  uint64 // messages appended to the ring
	Skipped uint64 // messages acknowledged without an append: redeliveries, records shipped twice
	// Suspect counts messages appended (they are also in Pulled) whose id
	// names a ring record that does not fit what the puller saw of that
	// ring: an id appended before with other bytes, or a sequence number
	// that neither follows one of the ring's runs of records nor skips
	// exactly the records the shipper noted as lost (LostHeader; a gap of
	// more than 2^32 records is not believed), or whose earlier append the
	// local ring has overwritten since (it cannot be compared, so it is
	// appended again: perhaps a record shipped twice, now in the copy
	// twice). A forged id counts here unless it names exactly the next
	// record of its ring, or a record within a gap a forged LostHeader
	// claims (up to 2^32 records ahead): ids and headers are equally easy
	// to forge, and such a message is appended like any other. So do a
	// record of a shared stream stored after its successors and, rarely,
	// the first record after records lost to overwrite that a restarted
	// shipper published. Each is logged. See the package documentation,
	// "Pulling".
	Suspect   uint64
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

// A run is a stretch of one source ring's records that the puller appended
// one right after the other: records lo..hi of ring id are the local ring's
// records at..at+hi-lo. The puller remembers runs per source ring (see
// runTable; the state file's slot keeps the maxRuns extended last); they let
// it recognise a record it appended before by comparing bytes (see
// Puller.seen).
type run struct {
	id     ID
	lo, hi uint64
	at     uint64
}

const (
	maxRuns = 16
	runLen  = 40
)

// LostHeader is the header a Shipper puts on the first record it publishes
// after records lost to overwrite: their number, in decimal. A Puller reads
// it to tell the gap from a forged sequence number (PullStats.Suspect).
const LostHeader = "Mmapkit-Lost"

// maxLostGap is the largest gap a LostHeader explains (2^32 records, hours
// of records of the busiest ring while no shipper ran): a larger one counts
// as suspect, so that a forged id far ahead cannot hide behind a forged
// header.
const maxLostGap = 1 << 32

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
	rd       *ring.Reader // observes the local ring, to compare would-be duplicates (opened when needed)
	checked  time.Time    // when the consumer's configuration was last checked (Run's goroutine only)
	gapOK    uint64       // a stream sequence whose jump the consumer's configuration explained
	// pauseLogged: the consumer was seen paused, and that was logged.
	pauseLogged bool

	mu        sync.Mutex
	committed pullMark // newest message appended
	runs      []run    // most recently extended first, at most maxRuns (the slot's)
	table     *runTable
	runsPath  string      // the table's file
	local     ID          // the local ring's ID
	runsSaved time.Time   // when the table was last written (guarded by mu)
	fi        os.FileInfo // the ring's file when NewPuller opened it (see checkRing)
	created   int64       // the stream's creation time (Unix ns; 0: not known yet)
	stats     PullStats
	closed    bool
	running   bool
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
		return nil, op(fmt.Errorf("consumer name %q: %w", o.Consumer, ErrBadName))
	}
	if err := checkStream(stream); err != nil {
		return nil, op(err)
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.StatePath == "" {
		o.StatePath = defaultStatePath(ringPath, stream, o.Consumer, "pull")
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
	if p.fi, err = os.Stat(ringPath); err != nil {
		p.w.Close()
		return nil, op(unwrapPath(err))
	}
	st, payload, _, err := openState(o.StatePath, stateHeader{kind: kindPull, ring: info.ID, stream: stream, name: o.Consumer})
	if err != nil {
		p.w.Close()
		return nil, err
	}
	p.st = st
	p.local, p.runsPath, p.table = info.ID, o.StatePath+".runs", newRunTable()
	if payload != nil {
		// Runs only help to recognise records shipped twice: a runs file
		// that cannot be used is reported and started over.
		saved, err := readRuns(p.runsPath, p.local)
		if err != nil {
			p.log.Warn("ringnats: the puller's table of runs cannot be used; records shipped twice before are appended again (and counted as suspect)", "err", err)
		}
		for _, r := range saved {
			p.table.put(r)
		}
	}
	if payload != nil {
		var pp pullPayload
		if err := pp.decode(payload); err != nil {
			p.Close()
			return nil, &fs.PathError{Op: "ringnats: open state", Path: o.StatePath, Err: err}
		}
		p.committed, p.runs, p.created = pp.committed, pp.runs, pp.created
		p.stats.Pulled, p.stats.Skipped, p.stats.Suspect = pp.pulled, pp.skipped, pp.suspect
		// The slot's runs are newer than the runs file's.
		for i := len(p.runs) - 1; i >= 0; i-- {
			p.table.put(p.runs[i])
		}
		// The intent was written before its append: if the ring holds a
		// record at the intended sequence number, the append happened.
		if pp.hasIntent && p.w.Next() > pp.intentAt {
			p.committed = pp.intent
			p.runs = addRun(p.runs, pp.intent, pp.intentAt)
			p.table.add(pp.intent, pp.intentAt)
			p.stats.Pulled++
			if pp.intentSuspect {
				p.stats.Suspect++
			}
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
	closed, running := p.closed, p.running
	if !closed && !running {
		p.running = true
	}
	p.mu.Unlock()
	if closed {
		return &fs.PathError{Op: "ringnats: pull", Path: p.ringPath, Err: ErrClosed}
	}
	if running {
		return &fs.PathError{Op: "ringnats: pull", Path: p.ringPath, Err: ErrRunning}
	}
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()
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
	if err := p.checkStream(rctx, js); err != nil {
		return nil, err
	}
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
	if errors.Is(err, jetstream.ErrNotPullConsumer) {
		return nil, &fatalError{p.errorf("consumer %q of stream %q pushes its messages (%v): %w: delete it, or use another name", p.opts.Consumer, p.stream, err, ErrConsumer)}
	}
	if err != nil && isPermission(err) {
		return nil, &fatalError{p.errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)
	}
	if err := p.checkConsumer(cons.CachedInfo().Config); err != nil {
		return nil, err
	}
	p.checked = time.Now()
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

// checkConsumer refuses a consumer (made, or changed, by someone else)
// that would not deliver what the puller asks for: one that does not wait
// for acknowledgements (a crash would lose messages), filters other
// subjects than PullOptions.FilterSubject asks for ("": none; a narrower
// filter silently never delivers the others), delivers headers only (every
// record would be appended empty), or pushes its messages.
func (p *Puller) checkConsumer(cfg jetstream.ConsumerConfig) error {
	var why string
	f := p.opts.FilterSubject
	switch {
	case cfg.AckPolicy != jetstream.AckExplicitPolicy:
		why = fmt.Sprintf("does not wait for explicit acknowledgements (ack policy %s)", cfg.AckPolicy)
	case !filterIs(cfg, f):
		want := fmt.Sprintf("%q", f)
		if f == "" {
			want = "none (the whole stream)"
		}
		why = fmt.Sprintf("has the filter %q %q, not %s", cfg.FilterSubject, cfg.FilterSubjects, want)
	case cfg.HeadersOnly:
		why = "delivers headers only"
	case cfg.DeliverSubject != "":
		why = fmt.Sprintf("pushes its messages to %q", cfg.DeliverSubject)
	default:
		return nil
	}
	return &fatalError{p.errorf("consumer %q of stream %q %s: %w: delete it, or use another name", p.opts.Consumer, p.stream, why, ErrConsumer)}
}

// filterIs reports whether a consumer filters exactly the subject f ("":
// delivers the whole stream).
func filterIs(cfg jetstream.ConsumerConfig, f string) bool {
	switch {
	case cfg.FilterSubject != "" && len(cfg.FilterSubjects) > 0:
		return false
	case f == "":
		return cfg.FilterSubject == "" && len(cfg.FilterSubjects) == 0
	case len(cfg.FilterSubjects) > 0:
		return len(cfg.FilterSubjects) == 1 && cfg.FilterSubjects[0] == f
	}
	return cfg.FilterSubject == f
}

// consumerInterval is how often a running puller looks at its consumer's
// configuration again (someone may change it while it runs).
const consumerInterval = time.Second

// recheckConsumer asks the server for the consumer's configuration and
// checks it.
func (p *Puller) recheckConsumer(ctx context.Context, cons jetstream.Consumer) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cons.Info(rctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return &fatalError{p.errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)}
	}
	if err != nil {
		return fmt.Errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)
	}
	p.checked = time.Now()
	// A consumer paused by someone else delivers nothing, and nothing
	// else would say why the copy stopped growing.
	if info.Paused && !p.pauseLogged {
		p.log.Warn("ringnats: the consumer is paused (by someone else); nothing is pulled until it resumes", "stream", p.stream, "consumer", p.opts.Consumer, "pause_remaining", info.PauseRemaining)
	}
	p.pauseLogged = info.Paused
	return p.checkConsumer(info.Config)
}

// checkStream makes sure the stream is the one the state file's stream
// sequence numbers belong to. A stream deleted and created again under the
// same name numbers its messages from 1 again: resuming after the old
// number would skip the new stream's messages up to it.
func (p *Puller) checkStream(ctx context.Context, js jetstream.JetStream) error {
	str, err := js.Stream(ctx, p.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return &fatalError{p.errorf("stream %q: %w", p.stream, ErrNoStream)}
	}
	if err != nil && isPermission(err) {
		return &fatalError{p.errorf("stream %q: %w", p.stream, err)}
	}
	if err != nil {
		return fmt.Errorf("stream %q: %w", p.stream, err)
	}
	info := str.CachedInfo()
	created := info.Created.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.committed
	switch {
	case p.created != 0 && p.created != created:
		p.log.Warn("ringnats: the stream was created anew since the last pull; pulling its messages from its first", "stream", p.stream, "consumer", p.opts.Consumer, "created", info.Created, "pulled_up_to", c.sseq)
	case c.sseq > info.State.LastSeq:
		p.log.Warn("ringnats: the stream's last message is older than the last one pulled: it is another stream of the same name; pulling its messages from its first", "stream", p.stream, "consumer", p.opts.Consumer, "last_seq", info.State.LastSeq, "pulled_up_to", c.sseq)
	default:
		p.created = created
		return nil
	}
	// The runs stay: records of the same rings shipped again to the new
	// stream are still recognised.
	p.committed, p.created = pullMark{}, created
	return nil
}

// fetch appends one batch.
func (p *Puller) fetch(ctx context.Context, cons jetstream.Consumer) error {
	if time.Since(p.checked) >= consumerInterval {
		if err := p.recheckConsumer(ctx, cons); err != nil {
			return err
		}
	}
	batch, err := cons.Fetch(p.opts.Batch, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return &fatalError{p.errorf("consumer %q of stream %q: %w", p.opts.Consumer, p.stream, err)}
		}
		return err
	}
	for m := range batch.Messages() {
		if err := p.handle(ctx, cons, m); err != nil {
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
//
// Which messages are "already in the ring": a message whose stream
// sequence number is at most the last one appended was delivered before
// (a redelivery): the stream numbers its messages itself, so that is
// certain. A message with a later stream sequence number whose id names a
// record the puller appended before is a record shipped twice (a restarted
// shipper publishes its unacknowledged records again; beyond the stream's
// duplicate window they are stored again) - or a forgery: anyone who may
// publish to the stream can put any id on a message. The puller used to
// skip every message whose id named a record at or before the newest one
// appended of that ring; one forged id with a large sequence number then
// made it skip every later genuine record, silently.
//
// Now a message is skipped for its id only when the local ring holds the
// same bytes for that record: the puller remembers where it appended each
// ring's records (runs, see run) and compares. A skip then loses nothing,
// whoever published the message. Anything else is appended. So a forged
// id can add a record to the local ring (as any foreign message can) but
// never hide a genuine one; a genuine record shipped twice is recognised as
// long as the puller remembers its run (see runTable) and
// the local ring still holds it. When the local ring has overwritten the
// record since, the message is appended and counted as suspect: the run
// only proves that a message with that id was appended, not that it held
// these bytes (a forgery of the next record looks like a genuine one), and
// a visible duplicate is better than a silent loss.
//
// An appended message whose id does not fit its ring's order (see
// PullStats.Suspect) is counted and logged: forged, or out of order.
// Refusing such messages instead would not be safe: genuine records jump
// ahead (records lost to overwrite, a stream's limits removing messages the
// consumer had not reached) or arrive late (a shared stream), and the
// puller cannot tell them from forgeries.
func (p *Puller) handle(ctx context.Context, cons jetstream.Consumer, m jetstream.Msg) error {
	md, err := m.Metadata()
	if err != nil {
		return err
	}
	mark := pullMark{sseq: md.Sequence.Stream}
	if err := p.checkDelivery(ctx, cons, m, mark.sseq); err != nil {
		return err
	}
	if err := p.checkRing(); err != nil {
		return &fatalError{err}
	}
	msgID := m.Headers().Get(jetstream.MsgIDHeader)
	if id, seq, err := ParseMsgID(msgID); err == nil {
		mark.hasID, mark.id, mark.seq = true, id, seq
	}
	p.mu.Lock()
	c := p.committed
	p.mu.Unlock()
	skip, why := mark.sseq <= c.sseq, ""
	if !skip && mark.hasID {
		skip, why = p.seen(mark, m.Data())
		if !skip && why == "" {
			why = p.outOfOrder(mark, m.Headers().Get(LostHeader))
		}
	}
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
	pp := pullPayload{
		pid: uint32(pid), committed: c, runs: p.runs, created: p.created,
		hasIntent: true, intent: mark, intentAt: at, intentSuspect: why != "",
		pulled: p.stats.Pulled, skipped: p.stats.Skipped, suspect: p.stats.Suspect, updated: time.Now().UnixNano(),
	}
	p.mu.Unlock()
	if err := p.st.write(pp.encode()); err != nil {
		return &fatalError{err}
	}
	if _, err := p.w.AppendContext(ctx, m.Data()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &fatalError{p.errorf("stream sequence %d: %w", mark.sseq, unwrapPath(err))}
	}
	p.mu.Lock()
	p.committed = mark
	p.runs = addRun(p.runs, mark, at)
	p.table.add(mark, at)
	p.stats.Pulled++
	p.stats.StreamSeq = mark.sseq
	if why != "" {
		p.stats.Suspect++
	}
	p.mu.Unlock()
	if why != "" {
		p.log.Warn("ringnats: a message's id does not fit its ring's records (forged, or out of order); appended", "stream", p.stream, "stream_seq", mark.sseq, "msg_id", msgID, "why", why, "ring_seq", at)
	}
	p.mu.Lock()
	save := time.Since(p.runsSaved) >= time.Second
	p.mu.Unlock()
	if save {
		p.saveRuns()
	}
	return m.Ack()
}

// seen tells whether the local ring still holds the record mark names, with
// the same bytes. If it holds other bytes for it, or held it and has
// overwritten it since (nothing left to compare), why says so.
func (p *Puller) seen(mark pullMark, data []byte) (dup bool, why string) {
	p.mu.Lock()
	runs := p.table.lookup(mark.id)
	p.mu.Unlock()
	for _, r := range runs {
		if mark.seq < r.lo || mark.seq > r.hi {
			continue
		}
		local := r.at + (mark.seq - r.lo)
		switch same, err := p.localRecord(local, data); {
		case err == nil && same:
			return true, ""
		case errors.Is(err, errOverwritten):
			// The run proves that a message with this id was appended,
			// not that it held these bytes (it may have been a forgery
			// of the next record): skipping could lose the genuine
			// record. Appended, counted and logged instead; a genuine
			// record shipped twice is then in the copy twice, visibly.
			if why == "" {
				why = fmt.Sprintf("record %d of ring %s was appended before (at %d), and the local ring has overwritten it since: the bytes cannot be compared, so it is appended, perhaps a second time", mark.seq, mark.id, local)
			}
		case err == nil:
			why = fmt.Sprintf("record %d of ring %s was appended before (at %d) with other bytes", mark.seq, mark.id, local)
		default:
			// The ring does not hold what the run says (a state file
			// that does not match the ring): no proof either way.
		}
	}
	return false, why
}

var errOverwritten = errors.New("overwritten")

// checkRing fails with ErrReplaced when another file has taken the ring's
// path (ring.Create with Replace does not wait for the puller's writer):
// appending to the old file, and acknowledging, would lose every message
// from then on. It runs before each message is appended or skipped (a
// stat of the path, cheap next to a message's round trip).
func (p *Puller) checkRing() error {
	fi, err := os.Stat(p.ringPath)
	if err == nil && sameFile(fi, p.fi) {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p.errorf("%w", unwrapPath(err))
	}
	if err != nil {
		return p.errorf("the ring was removed from its path while the puller appended to it: %w", ErrReplaced)
	}
	return p.errorf("another file took the ring's path while the puller appended to it (the ring was created anew?); start the puller again to pull into the new ring: %w", ErrReplaced)
}

// msgSizeHeader is the header a headers-only consumer puts in place of the
// payload.
const msgSizeHeader = "Nats-Msg-Size"

// checkDelivery looks, before a message is appended, for signs that the
// consumer was changed since it was checked: a headers-only delivery (the
// server's Nats-Msg-Size header), a subject outside the filter, or, with
// no filter, a stream sequence number that skips messages. A sign is
// confirmed with the consumer's configuration from the server (a publisher
// can set any header, and a stream's limits can remove messages): a
// consumer that would not deliver what was asked for ends Run before
// anything of it is acknowledged.
func (p *Puller) checkDelivery(ctx context.Context, cons jetstream.Consumer, m jetstream.Msg, sseq uint64) error {
	p.mu.Lock()
	last := p.committed.sseq
	p.mu.Unlock()
	f := p.opts.FilterSubject
	var sign string
	switch {
	case m.Headers().Get(msgSizeHeader) != "":
		sign = "a message with the headers-only delivery's " + msgSizeHeader + " header"
	case f != "" && !subjectMatches(f, m.Subject()):
		// The server filters: only a changed consumer delivers this.
		return &fatalError{p.errorf("consumer %q of stream %q delivered stream sequence %d of subject %q, outside the filter %q: %w (changed while the puller ran?)", p.opts.Consumer, p.stream, sseq, m.Subject(), f, ErrConsumer)}
	case f == "" && last != 0 && sseq > last+1 && !p.gapChecked(sseq):
		sign = fmt.Sprintf("stream sequence %d after %d", sseq, last)
	default:
		return nil
	}
	if err := p.recheckConsumer(ctx, cons); err != nil {
		p.log.Warn("ringnats: the consumer delivered "+sign+"; it was changed", "stream", p.stream, "consumer", p.opts.Consumer)
		return err
	}
	p.gapOK = sseq
	return nil
}

// gapChecked reports whether the jump to sseq was already found harmless
// (messages removed from the stream, not a consumer that skips them).
func (p *Puller) gapChecked(sseq uint64) bool { return p.gapOK == sseq }

// localRecord compares data with the local ring's record seq. Only this
// puller appends to the ring, and only from the goroutine that calls this.
func (p *Puller) localRecord(seq uint64, data []byte) (bool, error) {
	if seq >= p.w.Next() {
		return false, ring.ErrNotFound
	}
	if p.rd == nil {
		rd, err := ring.OpenReader(p.ringPath, &ring.ReaderOptions{Observe: true})
		if err != nil {
			return false, err
		}
		p.rd = rd
	}
	if err := p.rd.SeekSeq(seq); err != nil {
		if p.rd.SeekOldest() == nil && seq < p.rd.Seq() {
			return false, errOverwritten
		}
		return false, err
	}
	rec, err := p.rd.TryNext()
	if errors.As(err, new(*ring.LappedError)) {
		return false, errOverwritten
	}
	if err != nil {
		return false, err
	}
	if rec.Seq != seq {
		return false, ring.ErrNotFound
	}
	return bytes.Equal(rec.Data, data), nil
}

// outOfOrder says why a record about to be appended does not follow any run
// of its ring ("" if it does, or if it is the first record seen of its
// ring). lost is the shipper's LostHeader, if any.
func (p *Puller) outOfOrder(mark pullMark, lost string) string {
	gap, err := strconv.ParseUint(lost, 10, 64)
	if err != nil || strconv.FormatUint(gap, 10) != lost || gap > maxLostGap {
		// Not the shipper's header, or a gap no ring loses: the header is
		// as easy to forge as the id, so it explains only what a ring
		// could plausibly have lost.
		gap = 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	newest := uint64(0)
	known := false
	for _, r := range p.table.lookup(mark.id) {
		if r.hi < math.MaxUint64 && (r.hi+1 == mark.seq || (gap > 0 && r.hi+1 <= math.MaxUint64-gap && r.hi+1+gap == mark.seq)) {
			return ""
		}
		if !known {
			newest, known = r.hi, true
		}
	}
	if !known {
		return ""
	}
	if gap > 0 {
		return fmt.Sprintf("record %d follows none of the ring's records the puller saw (the last appended is %d), not even after the %d records the shipper notes as lost", mark.seq, newest, gap)
	}
	if lost != "" {
		return fmt.Sprintf("record %d follows none of the ring's records the puller saw (the last appended is %d), and its %s header %.30q is no gap a ring loses", mark.seq, newest, LostHeader, lost)
	}
	return fmt.Sprintf("record %d follows none of the ring's records the puller saw (the last appended is %d)", mark.seq, newest)
}

// addRun records that mark's record was appended at the local sequence
// number at: it extends the run it follows, or starts a new one (dropping
// the run extended longest ago beyond maxRuns). It returns a new slice: the
// old one may be in a payload being written.
func addRun(runs []run, mark pullMark, at uint64) []run {
	if !mark.hasID {
		return runs
	}
	out := make([]run, 0, min(len(runs)+1, maxRuns))
	for i, r := range runs {
		if r.id == mark.id && r.hi < math.MaxUint64 && r.hi+1 == mark.seq && r.at+(r.hi-r.lo)+1 == at {
			r.hi++
			out = append(append(out, r), runs[:i]...)
			return append(out, runs[i+1:]...)
		}
	}
	out = append(out, run{id: mark.id, lo: mark.seq, hi: mark.seq, at: at})
	return append(out, runs[:min(len(runs), maxRuns-1)]...)
}

// saveRuns writes the table of runs to its file (a failure is logged: the
// table only helps to recognise records shipped twice). Only the goroutine
// that appends calls it, or Close.
func (p *Puller) saveRuns() {
	p.mu.Lock()
	runs := p.table.all()
	p.runsSaved = time.Now()
	p.mu.Unlock()
	if err := writeRuns(p.runsPath, p.local, runs); err != nil {
		p.log.Warn("ringnats: cannot save the puller's table of runs", "err", err)
	}
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
	pp := pullPayload{
		pid: uint32(pid), committed: p.committed, runs: p.runs, created: p.created,
		pulled: p.stats.Pulled, skipped: p.stats.Skipped, suspect: p.stats.Suspect, updated: time.Now().UnixNano(),
	}
	p.mu.Unlock()
	p.saveRuns()
	err := p.w.Close()
	if p.rd != nil {
		if e := p.rd.Close(); err == nil {
			err = e
		}
	}
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

// pullPayload is a puller's state-file slot: 120 bytes (the first
// version), then the suspect count, the stream's creation time, the number
// of runs, 4 zero bytes and the runs, 40 bytes each.
type pullPayload struct {
	pid                      uint32
	updated                  int64
	pulled, skipped, suspect uint64
	committed, intent        pullMark
	hasIntent                bool
	intentSuspect            bool   // the intended append counts in suspect
	intentAt                 uint64 // ring sequence number the intended record gets
	created                  int64
	runs                     []run
}

const (
	pullPayloadV1 = 40 + 2*40
	pullPayloadV2 = pullPayloadV1 + 24
)

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
	b := make([]byte, pullPayloadV2+runLen*len(p.runs))
	binary.LittleEndian.PutUint32(b[0:], p.pid)
	flags := uint32(0)
	if p.hasIntent {
		flags |= 1
	}
	if p.intentSuspect {
		flags |= 2
	}
	binary.LittleEndian.PutUint32(b[4:], flags)
	binary.LittleEndian.PutUint64(b[8:], uint64(p.updated))
	binary.LittleEndian.PutUint64(b[16:], p.pulled)
	binary.LittleEndian.PutUint64(b[24:], p.skipped)
	binary.LittleEndian.PutUint64(b[32:], p.intentAt)
	putMark(b[40:], p.committed)
	putMark(b[80:], p.intent)
	binary.LittleEndian.PutUint64(b[120:], p.suspect)
	binary.LittleEndian.PutUint64(b[128:], uint64(p.created))
	binary.LittleEndian.PutUint32(b[136:], uint32(len(p.runs)))
	for i, r := range p.runs {
		o := b[pullPayloadV2+runLen*i:]
		copy(o, r.id[:])
		binary.LittleEndian.PutUint64(o[16:], r.lo)
		binary.LittleEndian.PutUint64(o[24:], r.hi)
		binary.LittleEndian.PutUint64(o[32:], r.at)
	}
	return b
}

func (p *pullPayload) decode(b []byte) error {
	if len(b) != pullPayloadV1 && (len(b) < pullPayloadV2 || (len(b)-pullPayloadV2)%runLen != 0) {
		return fmt.Errorf("puller state of %d bytes: %w", len(b), ErrNotState)
	}
	flags := binary.LittleEndian.Uint32(b[4:])
	if flags > 3 || (len(b) == pullPayloadV1 && flags > 1) {
		return fmt.Errorf("puller state: bad flags %#x: %w", flags, ErrNotState)
	}
	var err error
	*p = pullPayload{
		pid:           binary.LittleEndian.Uint32(b[0:]),
		hasIntent:     flags&1 != 0,
		intentSuspect: flags&2 != 0,
		updated:       int64(binary.LittleEndian.Uint64(b[8:])),
		pulled:        binary.LittleEndian.Uint64(b[16:]),
		skipped:       binary.LittleEndian.Uint64(b[24:]),
		intentAt:      binary.LittleEndian.Uint64(b[32:]),
	}
	if p.committed, err = getMark(b[40:]); err != nil {
		return err
	}
	if p.intent, err = getMark(b[80:]); err != nil {
		return err
	}
	if len(b) == pullPayloadV1 {
		return nil
	}
	p.suspect = binary.LittleEndian.Uint64(b[120:])
	p.created = int64(binary.LittleEndian.Uint64(b[128:]))
	n := int(binary.LittleEndian.Uint32(b[136:]))
	if n > maxRuns || n != (len(b)-pullPayloadV2)/runLen || binary.LittleEndian.Uint32(b[140:]) != 0 {
		return fmt.Errorf("puller state: %d runs in %d bytes: %w", n, len(b), ErrNotState)
	}
	if n > 0 {
		p.runs = make([]run, n)
	}
	for i := range p.runs {
		o := b[pullPayloadV2+runLen*i:]
		r := run{id: ID(o[:16]), lo: binary.LittleEndian.Uint64(o[16:]), hi: binary.LittleEndian.Uint64(o[24:]), at: binary.LittleEndian.Uint64(o[32:])}
		if r.lo > r.hi || r.at > math.MaxUint64-(r.hi-r.lo) {
			return fmt.Errorf("puller state: impossible run %d..%d at %d: %w", r.lo, r.hi, r.at, ErrNotState)
		}
		p.runs[i] = r
	}
	return nil
}
