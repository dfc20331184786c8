package ringnats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ShipOptions tune a Shipper. Subject is required; every other zero field
// means the documented default.
type ShipOptions struct {
	// Subject is the subject every record is published to, e.g.
	// "events.host1". The stream must capture it.
	Subject string
	// StatePath is the shipper's state file (default: the ring's path
	// followed by ".<stream>.<subject>.ship", in the ring's directory; a
	// character of the subject that does not belong in a file name, such
	// as '/', ':' or '%', is written as '%' and its hex code). One file per
	// ring and destination; a second shipper with the same file is
	// refused.
	StatePath string
	// CreateStream creates the stream, capturing Subject, if it does not
	// exist. Without it a missing stream is an error matching ErrNoStream.
	CreateStream bool
	// Window is how many publishes may await their acknowledgement at once
	// (default 4096).
	Window int
	// AckTimeout is how long a publish may await its acknowledgement before
	// it counts as failed and the shipper publishes again from the first
	// record not acknowledged (default 10 s).
	AckTimeout time.Duration
	// SharedStream says that other publishers write to the stream too. By
	// default every publish names its predecessor's message id as the
	// stream's expected last message id, so the server refuses a record
	// whose predecessor is missing and the stream can never hold a record
	// after its successors; that check is per stream and would fail at
	// every interleaved message of another publisher. With SharedStream
	// the check is off: order then rests on the connection's FIFO order,
	// and a record the server dropped while it stored later ones (an
	// overloaded ingest queue, a leader change) is stored after them and
	// counted in Stats.Reordered.
	SharedStream bool
	// StateInterval is the longest time between two writes of the state
	// file while records are acknowledged (default 10 ms). The state is
	// only a lower bound of what the stream holds: what a crash loses of it
	// is published again and dropped as a duplicate.
	StateInterval time.Duration
	// ReaderName, on a Block ring, puts the shipper's reader in the durable
	// reader slot of that name (ring.ReaderOptions.Name, 1 to
	// ring.MaxReaderName bytes): while no shipper runs (killed, stopped,
	// being upgraded) the slot stays, and the ring's writer waits for it
	// rather than overwrite records not shipped yet. The next shipper with
	// the name takes the slot over. Without it a dead shipper's slot is
	// reclaimed and the writer may overwrite what it had not shipped (then
	// counted in Lost). A durable slot holds the writer back until the
	// shipper returns or the slot is removed (ForgetReader): use it only
	// where a writer may wait for the shipper indefinitely.
	ReaderName string
	// Logger receives records lost to overwrite, restarts after failed
	// publishes and resumptions (default slog.Default()).
	Logger *slog.Logger
}

// Stats are a shipper's counters. Next, Shipped, ShippedBytes, Lost and
// Reordered are kept in the state file and survive restarts; the others
// count since NewShipper.
type Stats struct {
	Ring         ID
	Next         uint64 // first record not known to be in the stream (every record before it is stored or lost)
	Read         uint64 // next record the shipper will read from the ring
	Shipped      uint64 // records acknowledged by JetStream (including duplicates)
	ShippedBytes uint64 // their payload bytes
	Lost         uint64 // records overwritten in the ring before they were known to be in the stream
	Reordered    uint64 // SharedStream only: records stored after a predecessor the server dropped
	StreamSeq    uint64 // stream sequence number of the newest acknowledged record
	Published    uint64 // publishes sent (one per record)
	Duplicates   uint64 // acknowledgements that said "duplicate" (one acknowledgement can vouch for up to 64 records; see the package documentation)
	Restarts     uint64 // times publishing started over from Next after a failure
	Connected    bool
	Server       string // the server connected to (credentials removed)
}

// entry is one record read from the ring and published (or a run of
// records lost to overwrite), awaiting its fate.
type entry struct {
	seq   uint64
	size  int
	lost  uint64 // a marker for lost records [seq, seq+lost); resolved at once
	state uint8
	dup   bool
	tok   bool // holds a window slot (a publish); markers hold none
	ack   bool // published asking for an acknowledgement, which vouches for the records from..seq
	from  uint64
	sseq  uint64
}

const (
	pending = iota
	acked
	failed
)

// Shipper ships one ring to one JetStream stream and subject.
type Shipper struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   string
	subject  string
	ringPath string
	opts     ShipOptions
	log      *slog.Logger
	id       ID
	key      [16]byte // the secret of the message ids' tags, kept in the state file
	tags     tagger
	// keyUnproven: the key was made by this shipper's NewShipper (a new
	// state file, one reset for a new ring, or one from before tags) and
	// no publish under it has been acknowledged yet. Only then may the
	// stream's last message be proven by its bytes instead of its tag
	// (see resumeAfterStream). Kept in the state file; guarded by mu.
	keyUnproven bool
	policy      ring.Policy
	fi          os.FileInfo // the ring's file when NewShipper opened it (see checkRing)
	st          *stateFile
	// rd reads ahead and publishes. On a Block ring it is a registered
	// reader with manual release: the writer waits for the records rd
	// released, which are those JetStream acknowledged. Only Run's
	// goroutine uses it (a Reader is not safe for concurrent use).
	rd       *ring.Reader
	released uint64 // records before it are released (Block rings)
	// gaps maps the first record after records lost to overwrite to their
	// number, for LostHeader; entries before the position are dropped.
	gaps    map[uint64]uint64
	reopen  bool // rd lost its slot: open another before reading on
	prevErr nats.ErrHandler

	mu        sync.Mutex
	q         []entry // in read order; q[qh] is the oldest unresolved
	qh        int
	readSeq   uint64
	next      uint64
	stats     Stats
	inflight  int           // entries in q that are pending
	idle      chan struct{} // closed when inflight drops to 0 while draining
	failure   error         // first failed publish of this run
	fatal     error
	fatalC    chan struct{} // closed when fatal is set
	cancelRun context.CancelFunc
	sem       chan struct{}
	kick      chan struct{} // wakes the committer
	relKick   chan struct{} // wakes the reading loop to release acknowledged records
	maxAcked  uint64        // SharedStream: 1 + the newest record acknowledged as stored
	prepared  bool          // prepare ran once (the first resumes from the stream's last record)
	closed    bool
	running   bool

	stMu    sync.Mutex // the state file
	saved   shipPayload
	savedAt time.Time
}

// NewShipper prepares to ship the ring at ringPath to stream through nc. It
// opens (or creates) its state file and the ring's readers; Run ships. nc
// should come from Connect, or at least have a reconnect policy.
func NewShipper(nc *nats.Conn, ringPath, stream string, opts *ShipOptions) (*Shipper, error) {
	var o ShipOptions
	if opts != nil {
		o = *opts
	}
	op := func(err error) error { return &fs.PathError{Op: "ringnats: ship", Path: ringPath, Err: err} }
	if err := checkSubject(o.Subject); err != nil {
		return nil, op(err)
	}
	if err := checkStream(stream); err != nil {
		return nil, op(err)
	}
	if o.Window <= 0 {
		o.Window = 4096
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.StateInterval <= 0 {
		o.StateInterval = 10 * time.Millisecond
	}
	if o.StatePath == "" {
		o.StatePath = defaultStatePath(ringPath, stream, o.Subject, "ship")
	}
	s := &Shipper{
		nc:       nc,
		stream:   stream,
		subject:  o.Subject,
		ringPath: ringPath,
		opts:     o,
		log:      o.Logger,
		sem:      make(chan struct{}, o.Window),
		kick:     make(chan struct{}, 1),
		relKick:  make(chan struct{}, 1),
		fatalC:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	info, err := ring.Stat(ringPath)
	if err != nil {
		return nil, err
	}
	s.id, s.policy = info.ID, info.Policy
	if o.ReaderName != "" && s.policy != ring.Block {
		return nil, op(fmt.Errorf("a durable reader (ReaderName %q) needs a Block ring; an Overwrite ring never waits for readers: %w", o.ReaderName, errors.ErrUnsupported))
	}
	s.stats.Ring = s.id
	st, payload, reset, err := openState(o.StatePath, stateHeader{kind: kindShip, ring: s.id, stream: stream, name: o.Subject})
	if err != nil {
		return nil, err
	}
	s.st = st
	if reset {
		s.log.Warn("ringnats: the ring was created anew since the state file was written; shipping starts at its oldest record", "ring", ringPath, "state", o.StatePath)
	}
	keyed := false
	if payload != nil {
		var sp shipPayload
		if err := sp.decode(payload); err != nil {
			st.close()
			return nil, &fs.PathError{Op: "ringnats: open state", Path: o.StatePath, Err: err}
		}
		s.next = sp.next
		s.stats.Shipped, s.stats.ShippedBytes, s.stats.Lost, s.stats.Reordered, s.stats.StreamSeq = sp.shipped, sp.shippedBytes, sp.lost, sp.reordered, sp.streamSeq
		s.key, keyed, s.keyUnproven = sp.key, sp.hasKey, sp.keyUnproven
	}
	s.readSeq = s.next
	s.stats.Next = s.next
	if !keyed {
		// A new secret, saved before anything is published with it: a
		// shipper that published under a key it then lost would publish
		// the same records again under other ids after a crash, and the
		// duplicate window would not recognise them.
		s.key = newKey()
		s.keyUnproven = true
		if err := s.writeState(); err != nil {
			st.close()
			return nil, err
		}
	}
	s.tags = newTagger(s.key)
	if s.rd, err = s.openReader(); err != nil {
		st.close()
		return nil, err
	}
	if s.fi, err = os.Stat(ringPath); err != nil {
		s.rd.Close()
		st.close()
		return nil, &fs.PathError{Op: "ringnats: ship", Path: ringPath, Err: unwrapPath(err)}
	}
	return s, nil
}

// sameFile reports whether a and b (from os.Stat) describe one file, by
// device and inode. Where a FileInfo carries neither (Windows, where
// os.SameFile would open the path again), it says yes: there a file that
// is mapped, as the ring is while it is shipped or appended to, can be
// neither replaced nor removed.
func sameFile(a, b os.FileInfo) bool {
	da, ia, _, okA := sys.FileID(a)
	db, ib, _, okB := sys.FileID(b)
	return !okA || !okB || (da == db && ia == ib)
}

// ringCheckInterval is how often an idle shipper looks whether its ring
// is still the file at its path.
const ringCheckInterval = time.Second

// checkRing fails with ErrReplaced when another file has taken the ring's
// path (a producer created the ring anew with Replace): the shipper reads
// the old file, which nobody writes any more. A ring removed from its path
// is no error: its writer may still append to it.
func (s *Shipper) checkRing() error {
	fi, err := os.Stat(s.ringPath)
	if err != nil || sameFile(fi, s.fi) {
		return nil
	}
	return s.errorf("another file took the ring's path while it was shipped (the ring was created anew?); start the shipper again to ship the new ring: %w", ErrReplaced)
}

// openReader opens the shipper's reader: on a Block ring a registered one
// that holds the writer back at the first record it has not released.
func (s *Shipper) openReader() (*ring.Reader, error) {
	if s.policy == ring.Block {
		return ring.OpenReader(s.ringPath, &ring.ReaderOptions{ManualRelease: true, Name: s.opts.ReaderName})
	}
	return ring.OpenReader(s.ringPath, &ring.ReaderOptions{Observe: true})
}

// ForgetReader removes the durable reader slot a shipper with
// ShipOptions.ReaderName keeps in the ring at ringPath, so that the ring's
// writer no longer waits for it. It fails (matching ErrLocked) while a
// shipper holds the slot.
func ForgetReader(ringPath, name string) error {
	return ring.RemoveReader(ringPath, name)
}

// checkSubject refuses subjects a publish cannot use.
func checkSubject(subj string) error {
	if subj == "" {
		return fmt.Errorf("no subject to publish to (ShipOptions.Subject): %w", ErrBadName)
	}
	for _, tok := range strings.Split(subj, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("subject %q: a publish subject has non-empty tokens without wildcards or spaces: %w", subj, ErrBadName)
		}
	}
	return nil
}

// checkStream refuses names JetStream does not allow for a stream.
func checkStream(stream string) error {
	if stream == "" || strings.ContainsAny(stream, ". *>/\\\t\r\n") {
		return fmt.Errorf("stream name %q: %w", stream, ErrBadName)
	}
	return nil
}

// subjectMatches reports whether a stream subject (with * and > wildcards)
// captures a literal subject.
func subjectMatches(pattern, subj string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subj, ".")
	for i, t := range p {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

// ID returns the identity of the ring being shipped.
func (s *Shipper) ID() ID { return s.id }

// StatePath returns the shipper's state file.
func (s *Shipper) StatePath() string { return s.opts.StatePath }

// Stats returns the shipper's counters. It is safe to call while Run runs.
func (s *Shipper) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.Next, st.Read = s.next, s.readSeq
	s.mu.Unlock()
	st.Connected = s.nc.IsConnected()
	if st.Connected {
		st.Server = s.nc.ConnectedUrlRedacted()
	}
	return st
}

// Run ships records until ctx ends (it then waits up to AckTimeout for the
// publishes in flight, saves the position and returns nil) or a fatal error
// occurs: the stream is missing (see ShipOptions.CreateStream) or does not
// capture the subject, the account may not publish to the subject, a record
// is larger than the server accepts, or the ring is damaged. Lost
// connections, timeouts and refused publishes are not fatal: the shipper
// waits for the server and publishes again from its position.
func (s *Shipper) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return &fs.PathError{Op: "ringnats: ship", Path: s.ringPath, Err: ErrClosed}
	}
	if s.running {
		s.mu.Unlock()
		return &fs.PathError{Op: "ringnats: ship", Path: s.ringPath, Err: ErrRunning}
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	js, err := jetstream.New(s.nc,
		jetstream.WithPublishAsyncMaxPending(2*s.opts.Window),
		jetstream.WithPublishAsyncTimeout(s.opts.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(s.onAck),
		jetstream.WithPublishAsyncErrHandler(s.onErr),
	)
	if err != nil {
		return s.errorf("%w", err)
	}
	s.js = js
	// A publish the account may not make is reported by the server on the
	// connection, not to the publish: catch it to fail at once.
	s.prevErr = s.nc.ErrorHandler()
	s.nc.SetErrorHandler(s.onAsyncErr)
	defer s.nc.SetErrorHandler(s.prevErr)

	commitDone := make(chan struct{})
	commitCtx, stopCommit := context.WithCancel(context.Background())
	go s.committer(commitCtx, commitDone)
	defer func() {
		stopCommit()
		<-commitDone
	}()

	backoff := time.Duration(0)
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		startNext := s.position()
		ictx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.cancelRun = cancel
		s.mu.Unlock()
		err := s.prepare(ictx)
		if err == nil {
			err = s.runOnce(ctx, ictx)
		}
		s.mu.Lock()
		s.cancelRun = nil
		s.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if f := s.fatalErr(); f != nil {
			s.log.Error("ringnats: shipping stopped", "ring", s.ringPath, "next", s.position(), "err", f)
			return f
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			s.log.Error("ringnats: shipping stopped", "ring", s.ringPath, "next", s.position(), "err", fe.err)
			return fe.err
		}
		if err == nil {
			continue
		}
		s.mu.Lock()
		s.stats.Restarts++
		s.mu.Unlock()
		if s.position() > startNext {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
		}
		s.log.Warn("ringnats: publishing failed; publishing again from the first record not acknowledged", "ring", s.ringPath, "next", s.position(), "retry_in", backoff, "err", err)
		if err := s.waitConnected(ctx, backoff); err != nil {
			return nil
		}
	}
}

// fatalError wraps an error that ends Run.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (s *Shipper) errorf(format string, args ...any) error {
	return &fs.PathError{Op: "ringnats: ship", Path: s.ringPath, Err: fmt.Errorf(format, args...)}
}

func (s *Shipper) fatalErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func (s *Shipper) setFatal(err error) {
	s.mu.Lock()
	s.setFatalLocked(err)
	s.mu.Unlock()
}

// setFatalLocked records the first fatal error and stops the current run.
func (s *Shipper) setFatalLocked(err error) {
	if s.fatal != nil {
		return
	}
	s.fatal = err
	close(s.fatalC)
	if s.cancelRun != nil {
		s.cancelRun()
	}
}

func (s *Shipper) position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// waitConnected waits d, then until the connection is up (or ctx ends).
func (s *Shipper) waitConnected(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	for pause := 10 * time.Millisecond; !s.nc.IsConnected(); pause = min(2*pause, 500*time.Millisecond) {
		if s.nc.IsClosed() {
			return s.errorf("connection closed: %w", nats.ErrConnectionClosed)
		}
		t.Reset(pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// prepare checks the stream, learns from it where to resume, and moves the
// readers there.
func (s *Shipper) prepare(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.opts.AckTimeout)
	defer cancel()
	str, err := s.js.Stream(rctx, s.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !s.opts.CreateStream {
			return &fatalError{s.errorf("stream %q: %w (create it, or ask the shipper to)", s.stream, ErrNoStream)}
		}
		str, err = s.js.CreateStream(rctx, jetstream.StreamConfig{Name: s.stream, Subjects: []string{s.subject}})
		if err == nil {
			s.log.Info("ringnats: created stream", "stream", s.stream, "subject", s.subject)
		}
	}
	if err != nil {
		if isPermission(err) {
			return &fatalError{s.errorf("stream %q: %w", s.stream, err)}
		}
		return fmt.Errorf("stream %q: %w", s.stream, err)
	}
	cfg := str.CachedInfo().Config
	captured := false
	for _, p := range cfg.Subjects {
		captured = captured || subjectMatches(p, s.subject)
	}
	if !captured {
		return &fatalError{s.errorf("stream %q (subjects %s) and subject %q: %w", s.stream, strings.Join(cfg.Subjects, " "), s.subject, ErrSubject)}
	}
	// The state file is the authority on the position. The stream's last
	// message may move it forward (the state file lags the
	// acknowledgements: a killed shipper resumes from a position up to
	// StateInterval old, and records stored beyond the duplicate window
	// would be stored twice), but only when it is proven to be this
	// shipper's record: anyone who may publish to the subject can put this
	// ring's id on a message (it is in every shipped message), and
	// believing a forged one would skip records never shipped. See
	// resumeAfterStream.
	// On a shared stream the last record proves its predecessors stored
	// only after a crash (the state file lags the acknowledgements): within
	// a run the shipper knows what was acknowledged, and a record stored
	// after its failed predecessor does not prove the predecessor stored.
	first := !s.prepared
	s.prepared = true
	m, err := str.GetLastMsgForSubject(rctx, s.subject)
	switch {
	case err == nil:
		if first || !s.opts.SharedStream {
			s.resumeAfterStream(m)
		}
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case isPermission(err):
		s.log.Debug("ringnats: may not read the stream's last message; resuming from the state file", "err", err)
	default:
		return fmt.Errorf("stream %q: last message of %q: %w", s.stream, s.subject, err)
	}
	return s.seek()
}

// resumeAfterStream moves the position past m, the stream's last message on
// the subject, when m is this shipper's publish of a record at or past the
// position. That is proven when m's id carries the tag of this shipper's key.
// Only while the key is new (made by this NewShipper, as when the state
// file was lost, and no publish under it acknowledged yet), a message
// without the tag (an older key's, or a plain id) is proven when its id
// names this ring and a record the ring has already appended, and m's
// payload and the headers the shipper sets are exactly what the shipper
// would have published for that record, read from the ring now. Once the
// key is proven, bytes prove nothing: anyone who can read the ring, or
// subscribe to the subject, can copy them. Without the proof m is ignored for positioning
// (with a warning naming it): records from the saved position on are
// published again, and those the stream holds already are dropped as
// duplicates within its duplicate window.
//
// A claimed record that the ring has overwritten since cannot be checked.
// Ignoring the claim then costs nothing more than the overwrite did: every
// record before it is gone from the ring too, and seek counts them, from the
// saved position on, in Lost (records the shipper does not know to be in
// the stream). Believing it would have counted them as shipped on the word
// of a message anyone could have written.
func (s *Shipper) resumeAfterStream(m *jetstream.RawStreamMsg) {
	msgID := m.Header.Get(jetstream.MsgIDHeader)
	id, seq, tag, tagged, err := parseMsgID(msgID)
	if err != nil || id != s.id {
		return // another publisher's message, or another ring's
	}
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	if seq < next {
		return
	}
	s.mu.Lock()
	unproven := s.keyUnproven
	s.mu.Unlock()
	if tagged && tag == s.tags.tag(seq) {
		// Only this shipper's key makes the tag: proven, even when the
		// ring has overwritten the record since.
	} else if !unproven {
		// Every record this shipper published carries its tag (the key
		// came with the state file, or a publish under it was
		// acknowledged): a message without it is someone else's, whatever
		// bytes it holds (a ring is readable by its other readers, a
		// subscriber to the subject sees every publish, records can be
		// predictable). Believing the bytes would skip records never
		// shipped; ignoring a genuine message costs duplicates at most.
		s.log.Warn("ringnats: the stream's last message carries this ring's id but not this shipper's tag; ignored, shipping resumes from the saved position", "ring", s.ringPath, "stream", s.stream, "stream_seq", m.Sequence, "msg_id", msgID, "next", next)
		return
	} else if why := s.provenOurs(m, seq); why != "" {
		s.log.Warn("ringnats: the stream's last message carries this ring's id but is not proven to be its record; ignored, shipping resumes from the saved position", "ring", s.ringPath, "stream", s.stream, "stream_seq", m.Sequence, "msg_id", msgID, "why", why, "next", next)
		return
	}
	s.mu.Lock()
	if seq+1 > s.next {
		s.log.Info("ringnats: the stream holds records past the saved position; resuming after them", "ring", s.ringPath, "saved", s.next, "stream_last", seq, "stream_seq", m.Sequence)
		s.stats.Shipped += seq + 1 - s.next
		s.next = seq + 1
		s.stats.StreamSeq = m.Sequence
	}
	s.mu.Unlock()
}

// provenOurs checks m against record seq of the ring, as resumeAfterStream
// describes, and says why it is not proven ("" when it is).
func (s *Shipper) provenOurs(m *jetstream.RawStreamMsg, seq uint64) string {
	if m.Subject != "" && m.Subject != s.subject {
		return fmt.Sprintf("it was published to %q", m.Subject)
	}
	// The predecessor's id, or nothing on the first publish of a run.
	if prev := m.Header.Values(jetstream.ExpectedLastMsgIDHeader); len(prev) > 1 ||
		(len(prev) == 1 && !s.isMsgIDOf(prev[0], seq-1)) {
		return fmt.Sprintf("its %s header %q is not what the shipper sets", jetstream.ExpectedLastMsgIDHeader, prev)
	}
	// An observer reads without holding the writer back or releasing what
	// the shipper's own reader holds.
	rd, err := ring.OpenReader(s.ringPath, &ring.ReaderOptions{Observe: true})
	if err != nil {
		return fmt.Sprintf("cannot read the ring to check it: %v", err)
	}
	defer rd.Close()
	if err := rd.SeekSeq(seq); err != nil {
		if rd.SeekOldest() == nil && seq < rd.Seq() {
			return fmt.Sprintf("record %d was overwritten in the ring (its oldest is %d): it cannot be checked", seq, rd.Seq())
		}
		if rd.SeekEnd() == nil && seq >= rd.Seq() {
			return fmt.Sprintf("the ring has not appended record %d yet (its next is %d)", seq, rd.Seq())
		}
		return fmt.Sprintf("cannot find record %d in the ring: %v", seq, err)
	}
	rec, err := rd.TryNext()
	switch {
	case err != nil && errors.As(err, new(*ring.LappedError)):
		return fmt.Sprintf("record %d was overwritten in the ring while it was checked", seq)
	case errors.Is(err, ring.ErrEmpty):
		return fmt.Sprintf("the ring has not appended record %d yet", seq)
	case err != nil:
		return fmt.Sprintf("cannot read record %d of the ring: %v", seq, err)
	case rec.Seq != seq:
		return fmt.Sprintf("the ring gave record %d for %d", rec.Seq, seq)
	case !bytes.Equal(rec.Data, m.Data):
		return fmt.Sprintf("its payload (%d bytes) differs from record %d of the ring (%d bytes)", len(m.Data), seq, len(rec.Data))
	}
	return ""
}

// noteGap remembers that the n records before seq were lost, for the
// LostHeader of seq's publish (and of its publishes again after a failure);
// it forgets the gaps before the position next. Only Run's goroutine uses
// gaps.
func (s *Shipper) noteGap(seq, n, next uint64) {
	if s.gaps == nil {
		s.gaps = make(map[uint64]uint64)
	}
	// A gap that ended where this one begins had its first record lost
	// too, unpublished: one gap.
	if m, ok := s.gaps[seq-n]; ok {
		n += m
		delete(s.gaps, seq-n)
	}
	for k := range s.gaps {
		if k < next {
			delete(s.gaps, k)
		}
	}
	s.gaps[seq] = n
}

// isMsgIDOf reports whether msgID is an id this ring's records are
// published with (plain or tagged) for record seq.
func (s *Shipper) isMsgIDOf(msgID string, seq uint64) bool {
	id, got, _, _, err := parseMsgID(msgID)
	return err == nil && id == s.id && got == seq
}

// seek moves the readers to s.next, counting records overwritten since as
// lost.
func (s *Shipper) seek() error {
	if s.reopen {
		rd, err := s.openReader()
		if err != nil {
			return err // not fatal: the ring may be busy
		}
		s.rd.Close()
		s.rd, s.reopen, s.released = rd, false, 0
	}
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	// SeekSeq walks the ring from its oldest record, and a writer
	// overwriting the frames ahead of the walk (released ones, or any on an
	// Overwrite ring) can make it miss a record that is there: it then says
	// "not found". Only the ring's bounds, read afterwards, tell a record
	// overwritten (next < oldest) or a ring that is not the one shipped
	// (next > end) from such a race, which is tried again.
	for try := 1; ; try++ {
		err := s.rd.SeekSeq(next)
		if err == nil {
			break
		}
		if !errors.Is(err, ring.ErrNotFound) {
			return &fatalError{err}
		}
		if e := s.rd.SeekOldest(); e != nil {
			return &fatalError{e}
		}
		oldest := s.rd.Seq()
		if oldest > next {
			s.mu.Lock()
			lost := oldest - next
			s.noteGap(oldest, lost, next)
			s.stats.Lost += lost
			s.next = oldest
			next = oldest
			s.mu.Unlock()
			s.log.Warn("ringnats: records overwritten before they could be shipped", "ring", s.ringPath, "lost", lost, "from", oldest-lost, "to", oldest-1)
			s.saveState(true)
			break // the reader is at the oldest record
		}
		if e := s.rd.SeekEnd(); e != nil {
			return &fatalError{e}
		}
		if end := s.rd.Seq(); next > end {
			return &fatalError{s.errorf("the saved position %d is past the ring's newest record %d: the ring is not the one shipped (restored from a copy?): %w", next, int64(end)-1, ErrStateMismatch)}
		}
		if try == 1000 {
			return s.errorf("cannot find record %d in the ring (between its oldest %d and its end): %w", next, oldest, unwrapPath(err))
		}
	}
	// A seek releases the records before the new position.
	s.mu.Lock()
	s.readSeq = next
	s.released = next
	s.mu.Unlock()
	return nil
}

// release lets the writer of a Block ring reuse the records JetStream
// acknowledged. It runs on Run's goroutine, which owns the reader.
func (s *Shipper) release() {
	if s.policy != ring.Block {
		return
	}
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	if next <= s.released || next > s.rd.Seq() {
		return
	}
	if err := s.rd.Release(next); err != nil {
		s.log.Warn("ringnats: cannot release shipped records", "ring", s.ringPath, "next", next, "err", err)
		return
	}
	s.released = next
}

// runOnce publishes from s.next until rctx ends (ctx ended, a publish
// failed, or a fatal error), then waits for every publish in flight to
// resolve and leaves s.next at the first record not acknowledged.
func (s *Shipper) runOnce(ctx, rctx context.Context) error {
	s.mu.Lock()
	s.failure = nil
	s.mu.Unlock()

	var readErr error
	p := s.newPublisher()
	for {
		select {
		case <-s.relKick:
			s.release()
		default:
		}
		got := false
		select {
		case s.sem <- struct{}{}:
			got = true
		default:
			// The window is full: what is held back must be
			// acknowledged for a slot to come free.
			if p.flush() != nil {
				break
			}
			select {
			case s.sem <- struct{}{}:
				got = true
			case <-s.relKick:
				s.release()
				continue
			case <-rctx.Done():
			}
		}
		if rctx.Err() != nil || p.failed {
			if got {
				<-s.sem
			}
			break
		}
		rec, err := s.rd.TryNext()
		if err == ring.ErrEmpty {
			// Nothing more for now: the record held back is the
			// last, and gets its acknowledgement.
			if p.flush() != nil {
				<-s.sem
				break
			}
			rec, err = s.nextRecord(rctx)
		}
		if err != nil {
			<-s.sem
			var le *ring.LappedError
			if errors.As(err, &le) {
				// Missed can be 0: the reader found itself lapped,
				// yet the oldest record left is the one it was to
				// read (only padding was overwritten).
				s.mu.Lock()
				if le.Missed > 0 {
					s.push(entry{seq: le.Next - le.Missed, lost: le.Missed, state: acked})
					s.noteGap(le.Next, le.Missed, s.next)
				}
				s.readSeq = le.Next
				s.mu.Unlock()
				if le.Missed > 0 {
					s.log.Warn("ringnats: records overwritten before they could be shipped", "ring", s.ringPath, "lost", le.Missed, "from", le.Next-le.Missed, "to", le.Next-1)
				}
				s.advance()
				continue
			}
			if errors.Is(err, ring.ErrEvicted) {
				// The writer took the reader's slot (it judged the
				// shipper dead): register again and resume from the
				// position; what was overwritten meanwhile is counted.
				s.reopen = true
				readErr = err
				break
			}
			if rctx.Err() == nil {
				readErr = &fatalError{err}
			}
			break
		}
		s.mu.Lock()
		s.push(entry{seq: rec.Seq, size: len(rec.Data), tok: true})
		s.readSeq = rec.Seq + 1
		s.mu.Unlock()
		if p.hold(rec) != nil {
			break
		}
	}
	if s.fatalErr() == nil {
		p.flush()
	}
	// Drain: every publish in flight resolves (acknowledged, refused, timed
	// out or failed by a disconnect) before anything is published again.
	// When ctx ended, the wait is bounded by AckTimeout; after a fatal
	// error there is none. Either way the position never claims a record
	// that was not acknowledged.
	s.mu.Lock()
	var idle chan struct{}
	if s.inflight > 0 {
		idle = make(chan struct{})
		s.idle = idle
	}
	s.mu.Unlock()
	done := ctx.Done()
	var grace <-chan time.Time
	for idle != nil {
		select {
		case <-idle:
			idle = nil
		case <-s.fatalC:
			idle = nil
		case <-done:
			done = nil
			t := time.NewTimer(s.opts.AckTimeout)
			defer t.Stop()
			grace = t.C
		case <-grace:
			idle = nil
		}
	}
	s.mu.Lock()
	s.idle = nil
	failure := s.failure
	// Everything acknowledged at the head has been popped by advance; the
	// head is now the first failure, if any. Later entries the stream
	// stored anyway are out of order (SharedStream) or duplicates.
	held := 0 // window slots held by the entries dropped here
	for _, e := range s.q[s.qh:] {
		if e.tok {
			held++
		}
	}
	if len(s.q) > s.qh {
		s.next = s.q[s.qh].seq
		s.readSeq = s.next
	}
	s.q, s.qh = s.q[:0], 0
	s.inflight = 0
	s.stats.Next = s.next
	s.mu.Unlock()
	for range held {
		<-s.sem
	}
	s.release()
	s.saveState(true)
	if readErr != nil {
		return readErr
	}
	if failure != nil {
		return failure
	}
	return nil
}

// Acknowledgements. JetStream's acknowledgement of a publish is a message
// of its own, which the server encodes and sends and the client decodes
// (JSON) and matches to its publish: a good part of the cost of a record.
// On a stream only this shipper writes to (not SharedStream), one
// acknowledgement can vouch for many records: every publish but a run's
// first names its predecessor's id as the stream's expected last message
// id, so the server stores a record only right after its predecessor (or
// after a copy of it stored before, which the duplicate window matched),
// and a record stored, or acknowledged as a duplicate of one stored
// earlier, proves every record of the run before it stored. (The tags of
// the ids make sure that the predecessor the server saw is the shipper's.)
// So the shipper publishes most records without a reply subject (the
// server stores them and answers nothing; a refused one, e.g. a dropped
// predecessor, makes every later one be refused too, up to the next
// acknowledged publish, which then fails and the shipper starts over from
// the first record not acknowledged) and asks for an acknowledgement every
// ackEvery records, when the ring has no record ready, when the window is
// full, and for the first record of each run: after a failure the shipper
// resumes after the stream's last record (see resumeAfterStream), so a
// record the server refuses by itself (one too large for the stream, say)
// comes first and is named by its own refusal. A record is held back until
// the next one is read, to know which of these it is. With SharedStream
// every record is acknowledged on its own, as order rests on nothing else
// there.
const ackEvery = 64

// publisher publishes the records of one run of runOnce. Only Run's
// goroutine uses it.
type publisher struct {
	s      *Shipper
	retry  jetstream.PublishOpt
	prevID string
	idBuf  []byte
	// The record held back (its data copied: the reader reuses its
	// buffer), and the first record its acknowledgement will vouch for.
	held    bool
	seq     uint64
	data    []byte
	from    uint64
	started bool // a record was published in this run (from is set)
	failed  bool // a publish failed at once: the run ends
	// The message of the publishes without acknowledgement, reused (nats.go
	// encodes it before PublishMsg returns and keeps nothing of it).
	msg   nats.Msg
	ids   []string
	chain []string
	lost  []string
}

func (s *Shipper) newPublisher() *publisher {
	p := &publisher{s: s, retry: jetstream.WithRetryAttempts(0), idBuf: make([]byte, 0, 64), ids: make([]string, 1), chain: make([]string, 1), lost: make([]string, 1)}
	p.msg = nats.Msg{Subject: s.subject, Header: nats.Header{}}
	return p
}

// hold holds rec back, publishing the record held before (acknowledged if
// ackEvery records are due).
func (p *publisher) hold(rec ring.Record) error {
	if p.held {
		ack := p.s.opts.SharedStream || !p.started || p.seq+1-p.from >= ackEvery
		if err := p.publish(ack); err != nil {
			return err
		}
	}
	p.held, p.seq = true, rec.Seq
	p.data = append(p.data[:0], rec.Data...)
	return nil
}

// flush publishes the record held back, if any, asking for its
// acknowledgement.
func (p *publisher) flush() error {
	if !p.held {
		return nil
	}
	return p.publish(true)
}

// publish publishes the record held back.
func (p *publisher) publish(ack bool) error {
	s, seq := p.s, p.seq
	p.held = false
	if !p.started {
		p.started, p.from = true, seq
	}
	p.idBuf = appendTaggedMsgID(p.idBuf[:0], s.id, seq, s.tags.tag(seq))
	id := string(p.idBuf)
	var hdr nats.Header
	if ack {
		hdr = nats.Header{jetstream.MsgIDHeader: {id}}
		if p.prevID != "" && !s.opts.SharedStream {
			hdr[jetstream.ExpectedLastMsgIDHeader] = []string{p.prevID}
		}
	} else {
		hdr = p.msg.Header
		clear(hdr)
		p.ids[0] = id
		hdr[jetstream.MsgIDHeader] = p.ids
		if p.prevID != "" && !s.opts.SharedStream {
			p.chain[0] = p.prevID
			hdr[jetstream.ExpectedLastMsgIDHeader] = p.chain
		}
	}
	if len(s.gaps) > 0 {
		if n, ok := s.gaps[seq]; ok {
			if ack {
				hdr[LostHeader] = []string{strconv.FormatUint(n, 10)}
			} else {
				p.lost[0] = strconv.FormatUint(n, 10)
				hdr[LostHeader] = p.lost
			}
		}
	}
	p.prevID = id
	s.mu.Lock()
	s.stats.Published++
	if ack {
		s.markAck(seq, p.from)
		s.inflight++
	}
	s.mu.Unlock()
	var err error
	size := len(p.data)
	if ack {
		_, err = s.js.PublishMsgAsync(&nats.Msg{Subject: s.subject, Data: p.data, Header: hdr}, p.retry)
		// A new buffer: nats.go keeps the message until its
		// acknowledgement (its data is not read again, but stays the
		// caller's).
		p.data = nil
		p.from = seq + 1
	} else {
		p.msg.Data = p.data
		err = s.nc.PublishMsg(&p.msg)
	}
	if err != nil {
		p.failed = true
		if !ack {
			s.mu.Lock()
			s.markAck(seq, p.from)
			s.inflight++
			s.mu.Unlock()
		}
		s.resolve(seq, nil, err)
		if errors.Is(err, nats.ErrMaxPayload) {
			s.setFatal(s.errorf("record %d (%d bytes): %w", seq, size, err))
		}
	}
	return err
}

// markAck makes the entry of record seq the one whose acknowledgement
// vouches for the records from..seq.
func (s *Shipper) markAck(seq, from uint64) {
	live := s.q[s.qh:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i < len(live) && live[i].seq == seq && live[i].lost == 0 {
		live[i].ack, live[i].from = true, from
	}
}

func (s *Shipper) onAck(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
	if _, seq, err := ParseMsgID(m.Header.Get(jetstream.MsgIDHeader)); err == nil {
		s.resolve(seq, ack, nil)
	}
}

func (s *Shipper) onErr(_ jetstream.JetStream, m *nats.Msg, err error) {
	if _, seq, perr := ParseMsgID(m.Header.Get(jetstream.MsgIDHeader)); perr == nil {
		s.resolve(seq, nil, err)
	}
}

// onAsyncErr sees errors the server reports on the connection; a refused
// publish to our subject is fatal.
func (s *Shipper) onAsyncErr(nc *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(strings.ToLower(err.Error()), "publish to \""+strings.ToLower(s.subject)+"\"") {
		s.setFatal(s.errorf("publish to %q: %w", s.subject, err))
	}
	if s.prevErr != nil {
		s.prevErr(nc, sub, err)
	}
}

// push appends an entry to the queue. The queue is a slice whose head
// moves forward as entries resolve; its live part is moved to the front
// only when the dead part is the larger, so each entry is moved O(1) times.
func (s *Shipper) push(e entry) {
	if s.qh > 0 && s.qh >= len(s.q)-s.qh && len(s.q) == cap(s.q) {
		s.q = s.q[:copy(s.q, s.q[s.qh:])]
		s.qh = 0
	}
	s.q = append(s.q, e)
}

// resolve records the fate of the publish of record seq and advances the
// position over the acknowledged head of the queue.
func (s *Shipper) resolve(seq uint64, ack *jetstream.PubAck, err error) {
	s.mu.Lock()
	live := s.q[s.qh:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i == len(live) || live[i].seq != seq || live[i].lost != 0 || live[i].state != pending || !live[i].ack {
		s.mu.Unlock()
		return
	}
	e := &live[i]
	if err == nil && !s.opts.SharedStream {
		// The acknowledgement vouches for the records published before
		// it without one (see ackEvery).
		for j := i - 1; j >= 0 && live[j].seq >= e.from; j-- {
			if live[j].state == pending && !live[j].ack {
				live[j].state = acked
			}
		}
	}
	if err != nil {
		e.state = failed
		if s.failure == nil {
			s.failure = fmt.Errorf("record %d: %w", seq, err)
			if s.cancelRun != nil {
				s.cancelRun()
			}
		}
		if isFatalPublish(err) {
			s.setFatalLocked(s.errorf("record %d: %w", seq, err))
		}
	} else {
		e.state, e.dup, e.sseq = acked, ack.Duplicate, ack.Sequence
		if ack.Duplicate {
			s.stats.Duplicates++
		} else if seq < s.maxAcked {
			// Stored now, after a successor stored earlier: its first
			// publish failed and was not stored (only possible with
			// SharedStream, where the server does not check the order).
			s.stats.Reordered++
			s.log.Error("ringnats: a record was stored after its successors (its first publish was lost); it is out of order in the stream", "ring", s.ringPath, "record", seq)
		}
		s.maxAcked = max(s.maxAcked, seq+1)
	}
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.advanceLocked()
	s.mu.Unlock()
}

func (s *Shipper) advance() {
	s.mu.Lock()
	s.advanceLocked()
	s.mu.Unlock()
}

// advanceLocked pops the acknowledged head of the queue: the position moves
// past it, and the window gets its slots back.
func (s *Shipper) advanceLocked() {
	n := s.qh
	released := 0
	for n < len(s.q) && s.q[n].state == acked {
		e := s.q[n]
		if e.lost != 0 {
			s.stats.Lost += e.lost
		} else {
			s.stats.Shipped++
			s.stats.ShippedBytes += uint64(e.size)
			s.keyUnproven = false // the stream holds a publish under the key
			s.stats.StreamSeq = max(s.stats.StreamSeq, e.sseq)
		}
		if e.tok {
			released++
		}
		n++
	}
	if n == s.qh {
		return
	}
	s.qh = n
	if s.qh == len(s.q) {
		s.q, s.qh = s.q[:0], 0
	}
	if len(s.q) > s.qh {
		s.next = s.q[s.qh].seq
	} else {
		s.next = s.readSeq
	}
	for range released {
		<-s.sem
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	select {
	case s.relKick <- struct{}{}:
	default:
	}
}

// committer saves the state, at most every StateInterval.
func (s *Shipper) committer(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.opts.StateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		s.saveState(false)
	}
}

// saveState writes the state if it changed (force: even if written less
// than StateInterval ago).
func (s *Shipper) saveState(force bool) {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	if s.st == nil {
		return
	}
	sp := s.payload()
	if !force && sp == s.saved && time.Since(s.savedAt) < time.Second {
		return
	}
	if !force && time.Since(s.savedAt) < s.opts.StateInterval {
		return
	}
	if err := s.writePayload(sp); err != nil {
		s.log.Error("ringnats: cannot save the shipper's position", "err", err)
	}
}

// writeState saves the state now.
func (s *Shipper) writeState() error {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	return s.writePayload(s.payload())
}

// payload is what saveState would write (without its time).
func (s *Shipper) payload() shipPayload {
	s.mu.Lock()
	sp := shipPayload{
		next: s.next, lost: s.stats.Lost, shipped: s.stats.Shipped, shippedBytes: s.stats.ShippedBytes,
		streamSeq: s.stats.StreamSeq, reordered: s.stats.Reordered, key: s.key, hasKey: true,
		keyFlags: true, keyUnproven: s.keyUnproven,
	}
	s.stats.Next = s.next
	s.mu.Unlock()
	sp.pid = uint32(pid)
	if s.nc.IsConnected() {
		sp.conn, sp.url = connUp, s.nc.ConnectedUrlRedacted()
	} else if s.nc.IsClosed() {
		sp.conn = connClosed
	} else {
		sp.conn = connDown
	}
	return sp
}

// writePayload writes sp with the time now; the caller holds stMu.
func (s *Shipper) writePayload(sp shipPayload) error {
	sp.updated = time.Now().UnixNano()
	if err := s.st.write(sp.encode()); err != nil {
		return err
	}
	sp.updated = 0
	s.saved, s.savedAt = sp, time.Now()
	return nil
}

// Close saves the position, closes the ring's readers and releases the
// state file. It does not close the NATS connection.
func (s *Shipper) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.saveState(true)
	err := s.closeReaders()
	if e := s.st.sync(); err == nil {
		err = e
	}
	if e := s.st.close(); err == nil {
		err = e
	}
	return err
}

func (s *Shipper) closeReaders() error {
	if s.rd == nil {
		return nil
	}
	return s.rd.Close()
}

// isFatalPublish tells the refusals that publishing again cannot cure.
func isFatalPublish(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum:
			return true
		}
	}
	return errors.Is(err, nats.ErrMaxPayload) || isPermission(err)
}

func isPermission(err error) bool {
	return errors.Is(err, nats.ErrPermissionViolation) || errors.Is(err, nats.ErrAuthorization) ||
		strings.Contains(strings.ToLower(fmt.Sprint(err)), "permissions violation")
}

// Connection states in the state file.
const (
	connNone   = 0
	connUp     = 1
	connDown   = 2
	connClosed = 3
)

// shipPayload is a shipper's state-file slot.
type shipPayload struct {
	pid, conn                                               uint32
	next, lost, shipped, shippedBytes, streamSeq, reordered uint64
	updated                                                 int64
	url                                                     string
	// key is the secret of the message ids' tags; hasKey is false in the
	// slots of shippers that published plain ids (it then comes last,
	// after url, 16 bytes).
	key    [16]byte
	hasKey bool
	// keyFlags: a flags byte follows the key (bit 0: keyUnproven, see
	// Shipper.keyUnproven). Slots written before it existed have none;
	// their key counts as proven.
	keyFlags    bool
	keyUnproven bool
}

func (p *shipPayload) encode() []byte {
	url := p.url
	if len(url) > 256 {
		url = url[:256]
	}
	b := make([]byte, 66, 66+len(url)+len(p.key)+1)
	binary.LittleEndian.PutUint32(b[0:], p.pid)
	binary.LittleEndian.PutUint32(b[4:], p.conn)
	binary.LittleEndian.PutUint64(b[8:], p.next)
	binary.LittleEndian.PutUint64(b[16:], p.lost)
	binary.LittleEndian.PutUint64(b[24:], p.shipped)
	binary.LittleEndian.PutUint64(b[32:], p.shippedBytes)
	binary.LittleEndian.PutUint64(b[40:], p.streamSeq)
	binary.LittleEndian.PutUint64(b[48:], uint64(p.updated))
	binary.LittleEndian.PutUint64(b[56:], p.reordered)
	binary.LittleEndian.PutUint16(b[64:], uint16(len(url)))
	b = append(b, url...)
	if p.hasKey {
		b = append(b, p.key[:]...)
		if p.keyFlags {
			flags := byte(0)
			if p.keyUnproven {
				flags |= 1
			}
			b = append(b, flags)
		}
	}
	return b
}

func (p *shipPayload) decode(b []byte) error {
	if len(b) < 66 {
		return fmt.Errorf("shipper state of %d bytes: %w", len(b), ErrNotState)
	}
	n := int(binary.LittleEndian.Uint16(b[64:]))
	rest := len(b) - 66 - n
	hasKey, keyFlags := rest == len(p.key) || rest == len(p.key)+1, rest == len(p.key)+1
	if n > 256 || (rest != 0 && !hasKey) {
		return fmt.Errorf("shipper state: bad server length %d: %w", n, ErrNotState)
	}
	if keyFlags && b[len(b)-1] > 1 {
		return fmt.Errorf("shipper state: bad key flags %#x: %w", b[len(b)-1], ErrNotState)
	}
	*p = shipPayload{
		pid:          binary.LittleEndian.Uint32(b[0:]),
		conn:         binary.LittleEndian.Uint32(b[4:]),
		next:         binary.LittleEndian.Uint64(b[8:]),
		lost:         binary.LittleEndian.Uint64(b[16:]),
		shipped:      binary.LittleEndian.Uint64(b[24:]),
		shippedBytes: binary.LittleEndian.Uint64(b[32:]),
		streamSeq:    binary.LittleEndian.Uint64(b[40:]),
		updated:      int64(binary.LittleEndian.Uint64(b[48:])),
		reordered:    binary.LittleEndian.Uint64(b[56:]),
		url:          string(b[66 : 66+n]),
		hasKey:       hasKey,
		keyFlags:     keyFlags,
		keyUnproven:  keyFlags && b[len(b)-1]&1 != 0,
	}
	if hasKey {
		p.key = [16]byte(b[66+n:])
	}
	return nil
}

// payloadPID reads the pid both payload kinds keep in their first word.
func payloadPID(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return int(binary.LittleEndian.Uint32(b))
}

var pid = os.Getpid()

// nextRecord waits for the next record: TryNext, then short sleeps that
// grow to 1 ms while the ring stays empty. (Reader.Next would sleep on the
// ring's futex instead, but cancelling its context races with Close.)
func (s *Shipper) nextRecord(ctx context.Context) (ring.Record, error) {
	rec, err := s.rd.TryNext()
	if err != ring.ErrEmpty {
		return rec, err
	}
	var t *time.Timer
	checked := time.Now()
	for pause := 20 * time.Microsecond; ; pause = min(2*pause, time.Millisecond) {
		if t == nil {
			t = time.NewTimer(pause)
			defer t.Stop()
		} else {
			t.Reset(pause)
		}
		select {
		case <-ctx.Done():
			return ring.Record{}, ctx.Err()
		case <-t.C:
		}
		// The writer of a Block ring may be waiting for the records
		// acknowledged meanwhile: nothing else releases them while the
		// ring looks empty.
		s.release()
		if rec, err = s.rd.TryNext(); err != ring.ErrEmpty {
			return rec, err
		}
		if time.Since(checked) >= ringCheckInterval {
			checked = time.Now()
			if err := s.checkRing(); err != nil {
				return ring.Record{}, err
			}
		}
	}
}
