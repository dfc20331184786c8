package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Record is one record read from a ring.
type Record struct {
	Seq  uint64 // sequence number: 0 for the first record ever appended, then +1 each
	Data []byte // payload; valid until the next call on the Reader (copy it to keep it)
}

// Start says where a new Reader begins.
type Start int

const (
	// FromOldest starts at the oldest record in the ring.
	FromOldest Start = iota
	// FromEnd starts after the newest record: only records appended later are read.
	FromEnd
)

// ReaderOptions tune a Reader.
type ReaderOptions struct {
	Start Start
	// Observe, on a Block ring, reads without registering: the writer does not
	// wait for this reader, which may then be lapped like on an Overwrite ring.
	// Observe needs only read permission on the file.
	Observe bool
	// Spin is how long Next polls before it sleeps (default 50µs). A longer
	// spin trades CPU for latency.
	Spin time.Duration
}

// Reader reads a ring from its own position. Readers in any number, in this
// process or others, read independently. A Reader is not safe for concurrent
// use.
//
// Records are zero-copy views into the mapping when the writer cannot
// overwrite them before the next call (a registered reader of a Block ring,
// from its second lap on); otherwise (Overwrite rings, observers, a
// registered reader's first lap) each record is copied once into a buffer the
// Reader reuses, and validated after the copy, because the writer may be
// overwriting it at that very moment.
type Reader struct {
	path      string
	hreg      *mmap.Region // header page: read-write when the file allows it
	dreg      *mmap.Region // data area: always read-only
	v         view
	hdr, data []byte
	g         *geometry
	pos, seq  uint64
	copyOut   bool
	copyUntil uint64 // a registered reader copies and validates below this position
	buf       []byte
	slot      int // registered slot, or -1
	owner     uint64
	published uint64
	pubChunk  uint64
	canWait   bool // the header is writable: futex handshakes are possible
	spin      time.Duration
	closed    bool
	//lint:ignore U1000 used by fence on the architectures that need one
	fenceWord atomic.Uint64
}

// OpenReader opens a ring for reading. The data area is always mapped
// read-only. The header page is mapped read-write when the file can be opened
// for writing, because a reader that sleeps in Next sets a flag there for the
// writer, and a reader of a Block ring publishes its position there;
// otherwise Next polls, and a Block ring can only be observed.
func OpenReader(path string, opts ReaderOptions) (*Reader, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	writable := err == nil
	if err != nil {
		// Not writable to us (permissions, a read-only file system, a
		// running executable...): read-only access still allows reading.
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ring: open %s: %w", path, err)
		}
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("ring: open %s: %w", path, err)
		}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	h := make([]byte, headerSize)
	if fi.Size() >= headerSize {
		if _, err := f.ReadAt(h, 0); err != nil {
			return nil, fmt.Errorf("ring: open %s: %w", path, err)
		}
	}
	g, err := decodeStatic(h, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	register := g.policy == Block && !opts.Observe
	if register && !writable {
		return nil, fmt.Errorf("ring: open %s: a Block ring's reader must publish its position (use Observe to read without): %w", path, fs.ErrPermission)
	}
	hmode := mmap.ReadOnly
	if writable {
		hmode = mmap.ReadWrite
	}
	hreg, err := mmap.Map(f, hmode, 0, headerSize, nil)
	if err != nil {
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	dreg, err := mmap.Map(f, mmap.ReadOnly, headerSize, int(g.capacity), nil)
	if err != nil {
		hreg.Close()
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	// Fault the data pages in now (readable): one call instead of a fault
	// every few pages while following the writer.
	_ = dreg.Advise(mmap.AdvicePopulateRead)
	r := &Reader{
		path:     path,
		hreg:     hreg,
		dreg:     dreg,
		hdr:      hreg.Bytes(),
		data:     dreg.Bytes(),
		g:        g,
		copyOut:  !register,
		slot:     -1,
		canWait:  writable,
		spin:     opts.Spin,
		pubChunk: g.capacity / 16,
	}
	if r.spin <= 0 {
		r.spin = 50 * time.Microsecond
	}
	r.v = view{hdr: r.hdr, data: r.data, g: g}
	if register {
		if err := r.register(); err != nil {
			r.Close()
			return nil, err
		}
	}
	switch opts.Start {
	case FromEnd:
		err = r.SeekEnd()
	default:
		err = r.SeekOldest()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// register claims a reader slot. Its position starts at 0, which the writer
// reads as "the oldest record": the writer cannot move past the oldest record
// until this reader publishes a real position.
func (r *Reader) register() error {
	me := uint64(os.Getpid())<<32 | uint64(rand.Uint32()|1)
	for i := range r.g.slots {
		s := offSlot0 + i*slotSize
		if atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), 0, me) {
			store64(r.hdr, s+slotPos, 0)
			r.slot, r.owner = i, me
			return nil
		}
	}
	return fmt.Errorf("ring: open %s: all %d reader slots are taken: %w", r.path, r.g.slots, ErrNoSlot)
}

// Close releases the reader's slot and unmaps the ring.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.slot >= 0 {
		s := offSlot0 + r.slot*slotSize
		store64(r.hdr, s+slotPos, 0)
		atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), r.owner, 0)
		r.wakeWriter()
	}
	err := r.dreg.Close()
	if e := r.hreg.Close(); err == nil {
		err = e
	}
	return err
}

// Seq returns the sequence number the next record read will have.
func (r *Reader) Seq() uint64 { return r.seq }

// publish tells the writer of a Block ring that everything before pos is
// consumed: at once when the writer waits for room, else every capacity/16
// bytes (one shared-memory store per batch instead of per record).
func (r *Reader) publish(force bool) {
	if r.slot < 0 || r.pos == r.published {
		return
	}
	s := offSlot0 + r.slot*slotSize
	if !force && r.pos-r.published < r.pubChunk && load32(r.hdr, offWrWait) == 0 {
		return
	}
	store64(r.hdr, s+slotSeq, r.seq)
	store64(r.hdr, s+slotPos, r.pos)
	r.published = r.pos
	// Dekker with a writer going to sleep: we store the position, then check
	// its flag; it sets the flag, then re-reads the positions.
	if load32(r.hdr, offWrWait) != 0 {
		r.wakeWriter()
	}
}

func (r *Reader) wakeWriter() {
	if !r.canWait {
		return
	}
	store32(r.hdr, offWrWait, 0)
	atomic.AddUint32(u32(r.hdr, offSpaceFtx), 1)
	if sys.CanFutex {
		_ = sys.FutexWake(u32(r.hdr, offSpaceFtx), math.MaxInt32)
	}
}

// unsure decides what to make of a frame at the reader's position that fails
// its checks: "nothing yet" (ErrEmpty) while the writer may not have written
// it, one more look (again) the first time after the writer has passed it,
// and damage (neither) after that.
func (r *Reader) unsure(rechecked *bool) (again bool, err error) {
	if !r.committed(r.pos) {
		return false, ErrEmpty
	}
	if !*rechecked {
		*rechecked = true
		return true, nil
	}
	return false, nil
}

// committed reports whether the writer has certainly committed the frame at
// pos, judged by the tail hint it publishes now and then. Until it has, bytes
// at pos that look like a frame of this lap but fail its checks are not
// damage: they can be the payload of a frame from the previous lap (frame
// boundaries differ from lap to lap), whose bytes happen to carry this lap's
// tag, with the new seq32 already written by a pending append. So such a
// frame reads as "nothing yet" (ErrEmpty) and only becomes ErrCorrupt once
// the tail hint has passed it and a second look still fails. A reader of a
// damaged ring whose writer has stopped before publishing its tail again
// therefore waits at the damage; the next writer's recovery cuts it off.
func (r *Reader) committed(pos uint64) bool {
	r.fence()
	return load64(r.hdr, offTailPos) > pos
}

// lapped reports whether the frame at pos may have been overwritten: the
// writer may write anywhere below its published limit, which covers the
// bytes of position pos once limit > pos + capacity.
func (r *Reader) lapped(pos uint64) bool {
	// The limit must be read after the copied bytes (Agrona's validate()).
	r.fence()
	lim := load64(r.hdr, offLimit)
	return lim > r.g.capacity && pos < lim-r.g.capacity
}

// jump moves a lapped reader to the oldest record and returns the error that
// tells the caller how many records it lost.
func (r *Reader) jump() error {
	for range 64 {
		oldest := load64(r.hdr, offOldest)
		hint := load64(r.hdr, offOldSeq)
		seq, ok := r.seqAt(oldest, hint)
		if !ok || r.lapped(oldest) {
			continue
		}
		missed := seq - r.seq
		if seq < r.seq {
			missed = 0
			seq = r.seq
		}
		r.pos, r.seq = oldest, seq
		return &LappedError{Path: r.path, Missed: missed, Next: seq}
	}
	return fmt.Errorf("ring: %s: cannot find the oldest record (header inconsistent): %w", r.path, ErrCorrupt)
}

// seqAt returns the sequence number of the frame at pos, given a hint that
// is close to it (header words are published one at a time, so the hint may
// come from a neighbouring update). With no valid frame at pos (an empty
// ring) the hint is the answer.
func (r *Reader) seqAt(pos, hint uint64) (uint64, bool) {
	off := int(pos & r.g.mask)
	kind, _, tag := decodeCommit(load64(r.data, off))
	if tag != uint32(r.g.lap(pos)+1) || (kind != kindData && kind != kindPadding) {
		return hint, true
	}
	s32 := load32(r.data, off+8)
	return hint + uint64(int64(int32(s32-uint32(hint)))), true
}

// TryNext returns the next record, or ErrEmpty at once if there is none yet.
// After ErrLapped (a *LappedError) the reader continues at the oldest record.
// A frame that fails its checks (the torn tail of a ring cut by a power loss,
// or damage) gives ErrCorrupt and the reader stays at it; a writer opening
// the ring truncates there, and SeekSeq can move past it.
func (r *Reader) TryNext() (Record, error) {
	if r.closed {
		return Record{}, ErrClosed
	}
	r.publish(false)
	return r.tryNext()
}

func (r *Reader) tryNext() (Record, error) {
	recheck := false
	for range 8 {
		off := int(r.pos & r.g.mask)
		kind, n, tag := decodeCommit(load64(r.data, off))
		if tag != uint32(r.g.lap(r.pos)+1) {
			if r.lapped(r.pos) {
				return Record{}, r.jump()
			}
			return Record{}, ErrEmpty
		}
		room := int(r.g.capacity) - off - frameHdrSize
		s32 := load32(r.data, off+8)
		if s32 != uint32(r.seq) || (kind == kindPadding && n != room) || (kind == kindData && (n > r.g.maxRecord || n > room)) || (kind != kindData && kind != kindPadding) {
			if r.lapped(r.pos) {
				return Record{}, r.jump()
			}
			if again, err := r.unsure(&recheck); again {
				continue
			} else if err != nil {
				return Record{}, err
			}
			return Record{}, fmt.Errorf("ring: %s: bad frame at position %d (sequence %d): kind %d, length %d, seq32 %d: %w", r.path, r.pos, r.seq, kind, n, s32, ErrCorrupt)
		}
		if kind == kindPadding {
			r.pos += uint64(room + frameHdrSize)
			continue
		}
		crc := binary.LittleEndian.Uint32(r.data[off+12:])
		p := r.data[off+frameHdrSize : off+frameHdrSize+n : off+frameHdrSize+n]
		copyOut := r.copyOut || r.pos < r.copyUntil
		if copyOut {
			r.buf = append(r.buf[:0], p...)
			p = r.buf
			if r.lapped(r.pos) {
				return Record{}, r.jump()
			}
		}
		if crcOf(p) != crc {
			if copyOut && r.lapped(r.pos) {
				return Record{}, r.jump()
			}
			if again, err := r.unsure(&recheck); again {
				continue
			} else if err != nil {
				return Record{}, err
			}
			// The reader stays put: after a power loss this is the torn
			// tail, which the next writer's recovery rewrites.
			return Record{}, fmt.Errorf("ring: %s: record %d fails its checksum: %w", r.path, r.seq, ErrCorrupt)
		}
		rec := Record{Seq: r.seq, Data: p}
		r.pos += uint64(frameSize(n))
		r.seq++
		return rec, nil
	}
	return Record{}, fmt.Errorf("ring: %s: padding frames in a row at position %d: %w", r.path, r.pos, ErrCorrupt)
}

// Next returns the next record, waiting for one if needed (like tail -f):
// it polls for up to the Spin time, then sleeps on a futex word in the
// mapping that the writer bumps (it polls with short sleeps where futexes do
// not exist, or when the file is read-only to this process). It returns
// ctx's error when ctx ends.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	if r.closed {
		return Record{}, ErrClosed
	}
	r.publish(false)
	rec, err := r.tryNext()
	if err != ErrEmpty {
		return rec, err
	}
	deadline := time.Now().Add(r.spin)
	for i := 0; ; i++ {
		rec, err = r.tryNext()
		if err != ErrEmpty {
			return rec, err
		}
		if i&63 == 63 && time.Now().After(deadline) {
			break
		}
	}
	r.publish(true)
	word := u32(r.hdr, offDataFtx)
	var stop func() bool
	if r.canWait && sys.CanFutex {
		stop = context.AfterFunc(ctx, func() {
			atomic.AddUint32(word, 1)
			_ = sys.FutexWake(word, math.MaxInt32)
		})
		defer stop()
	}
	pause := 20 * time.Microsecond
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		if stop != nil {
			v := atomic.LoadUint32(word)
			store32(r.hdr, offRdrWait, 1)
			if rec, err = r.tryNext(); err != ErrEmpty {
				return rec, err
			}
			_ = sys.FutexWait(word, v, 200*time.Millisecond)
		} else {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return Record{}, ctx.Err()
			case <-t.C:
			}
			pause = min(2*pause, 2*time.Millisecond)
		}
		if rec, err = r.tryNext(); err != ErrEmpty {
			return rec, err
		}
	}
}

// Follow yields every record from the reader's position on, waiting for new
// ones, until ctx ends or the loop body stops. ErrLapped is yielded and
// reading continues; ErrCorrupt is yielded and ends the iteration. The
// iteration ends quietly when ctx ends.
func (r *Reader) Follow(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.Next(ctx)
			if err != nil && ctx.Err() != nil {
				return
			}
			if !yield(rec, err) {
				return
			}
			if errors.Is(err, ErrClosed) || errors.Is(err, ErrCorrupt) {
				return
			}
		}
	}
}

// Records yields the records available now, from the reader's position to
// the newest one, without waiting. ErrLapped is yielded and reading
// continues; ErrCorrupt is yielded and ends the iteration.
func (r *Reader) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.TryNext()
			if err == ErrEmpty || !yield(rec, err) || errors.Is(err, ErrClosed) || errors.Is(err, ErrCorrupt) {
				return
			}
		}
	}
}

// SeekOldest moves to the oldest record in the ring.
//
// The Seek methods work on every Reader. On a registered reader of a Block
// ring, moving backwards is allowed but records the writer reused after this
// reader consumed them are gone: they are reported with ErrLapped. For one
// lap after opening or seeking, a registered reader copies records like an
// observer (the writer may still act on a position it published before).
func (r *Reader) SeekOldest() error {
	if r.closed {
		return ErrClosed
	}
	for range 64 {
		oldest := load64(r.hdr, offOldest)
		seq, _ := r.seqAt(oldest, load64(r.hdr, offOldSeq))
		if r.lapped(oldest) {
			continue
		}
		r.setPos(oldest, seq)
		return nil
	}
	return fmt.Errorf("ring: %s: cannot find the oldest record (header inconsistent): %w", r.path, ErrCorrupt)
}

// setPos moves the reader; a registered reader publishes at once, since its
// slot must never claim more than it has consumed. (Moving a registered
// reader backwards cannot un-consume records: those the writer has already
// overwritten are reported with ErrLapped like on an Overwrite ring.)
func (r *Reader) setPos(pos, seq uint64) {
	r.pos, r.seq = pos, seq
	if r.slot >= 0 {
		// For one lap after registering or seeking, the writer may still act
		// on a scan of the slots made before this position was published:
		// copy and validate, as on an Overwrite ring, until then.
		r.copyUntil = pos + r.g.capacity
		s := offSlot0 + r.slot*slotSize
		store64(r.hdr, s+slotSeq, seq)
		store64(r.hdr, s+slotPos, pos)
		r.published = pos
	}
}

// scanEnd walks the valid frames from the reader's start and returns the
// position and sequence number after the last one, and the position of the
// last data frame (ok false when there is none).
func (r *Reader) scanEnd() (end, endSeq, last uint64, ok bool, err error) {
	if err := r.SeekOldest(); err != nil {
		return 0, 0, 0, false, err
	}
	pos, seq := r.pos, r.seq
	// Start from the tail hint when it is ahead: it is always a committed
	// frame boundary.
	if tp, ts := load64(r.hdr, offTailPos), load64(r.hdr, offTailSeq); tp > pos && !r.lapped(tp) && tp-pos <= r.g.capacity {
		if _, _, valid := r.v.frame(tp, ts, false); valid || tp == pos {
			pos, seq = tp, ts
		}
	}
	limit := pos + r.g.capacity
	for pos < limit {
		kind, n, valid := r.v.frame(pos, seq, false)
		if !valid {
			break
		}
		if kind == kindData {
			last, ok = pos, true
			seq++
		}
		pos += r.v.size(pos, kind, n)
	}
	return pos, seq, last, ok, nil
}

// SeekEnd moves past the newest record: Next returns only records appended
// from now on.
func (r *Reader) SeekEnd() error {
	if r.closed {
		return ErrClosed
	}
	end, seq, _, _, err := r.scanEnd()
	if err != nil {
		return err
	}
	r.setPos(end, seq)
	return nil
}

// SeekNewest moves to the newest record, so that Next returns it first. In
// an empty ring it is SeekEnd.
func (r *Reader) SeekNewest() error {
	if r.closed {
		return ErrClosed
	}
	end, seq, last, ok, err := r.scanEnd()
	if err != nil {
		return err
	}
	if !ok {
		r.setPos(end, seq)
		return nil
	}
	r.setPos(last, seq-1)
	return nil
}

// SeekSeq moves to the record with sequence number seq. seq may be the next
// one to be appended (then Next waits for it); anything older than the
// oldest record or newer than that gives ErrNotFound.
func (r *Reader) SeekSeq(seq uint64) error {
	if r.closed {
		return ErrClosed
	}
	if err := r.SeekOldest(); err != nil {
		return err
	}
	if seq < r.seq {
		return fmt.Errorf("ring: %s: sequence %d is older than the oldest record %d: %w", r.path, seq, r.seq, ErrNotFound)
	}
	pos, s := r.pos, r.seq
	for end := pos + r.g.capacity; pos < end; {
		if s == seq {
			if kind, _, _ := decodeCommit(load64(r.data, int(pos&r.g.mask))); kind == kindPadding {
				// land after the padding, on the record itself
				if _, _, valid := r.v.frame(pos, s, false); valid {
					pos += r.v.size(pos, kindPadding, 0)
				}
			}
			r.setPos(pos, s)
			return nil
		}
		kind, n, valid := r.v.frame(pos, s, false)
		if !valid {
			break
		}
		if kind == kindData {
			s++
		}
		pos += r.v.size(pos, kind, n)
	}
	return fmt.Errorf("ring: %s: sequence %d is past the newest record (next is %d): %w", r.path, seq, s, ErrNotFound)
}
