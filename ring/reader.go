package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/wait"
)

// Record is one record read from a ring.
type Record struct {
	Seq uint64 // sequence number: 0 for the first record ever appended, then +1 each
	// Data is the payload. It is valid until the next call on the Reader
	// (Next, TryNext, a Seek, Close, or the next step of an iterator): it
	// is either a buffer the Reader reuses or, on a registered reader of a
	// Block ring, a view into the mapping that the writer may reuse once
	// the reader has moved on, and that Close unmaps. Copy it to keep it;
	// using it after Close is a bug (it may fault).
	Data []byte
}

// Reader reads a ring from its own position. Readers in any number, in this
// process or others, read independently. A Reader is not safe for concurrent
// use: to stop a Next blocked in another goroutine, cancel its context, then
// Close.
//
// Records are zero-copy views into the mapping when the writer cannot
// overwrite them before the next call (a registered reader of a Block ring,
// from its second lap on); otherwise (Overwrite rings, observers, a
// registered reader's first lap) each record is copied once into a buffer the
// Reader reuses, and validated after the copy, because the writer may be
// overwriting it at that very moment.
type Reader struct {
	path      string
	f         *os.File
	dmap      sys.Mapping // the whole file, read-only (the data area lies after the header)
	hmap      sys.Mapping // the header page read-write, when the file allows it
	v         view
	hdr, data []byte
	g         *geometry
	// The geometry's fields tryNext reads, kept here.
	mask      uint64
	shift     uint
	capacity  int
	maxRecord int
	crc       bool
	ownerOff  int // the owner word of our slot
	pos, seq  uint64
	durable   bool   // registered in a named, durable slot
	manual    bool   // ReaderOptions.ManualRelease on a registered reader
	relPos    uint64 // with manual: position and sequence number released up to
	relSeq    uint64
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

// OpenReader opens a ring for reading; nil opts means the defaults (from the
// oldest record, registered on a Block ring). The data area is always mapped
// read-only. The header page is mapped read-write when the file can be opened
// for writing, because a reader that sleeps in Next sets a flag there for the
// writer, and a reader of a Block ring publishes its position there;
// otherwise Next polls, and a Block ring can only be observed.
func OpenReader(path string, opts *ReaderOptions) (*Reader, error) {
	var o ReaderOptions
	if opts != nil {
		o = *opts
	}
	r, err := openReader(path, o)
	if err != nil {
		return nil, pathErr("open", path, err)
	}
	return r, nil
}

func openReader(path string, opts ReaderOptions) (*Reader, error) {
	f, err := openRegular(path, os.O_RDWR, opts.NoFollow)
	writable := err == nil
	if err != nil {
		// Not writable to us (permissions, a read-only file system, a
		// running executable...): read-only access still allows reading.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegularFile) {
			return nil, err
		}
		if f, err = openRegular(path, os.O_RDONLY, opts.NoFollow); err != nil {
			return nil, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	h := make([]byte, headerSize)
	if fi.Size() >= headerSize {
		if _, err := f.ReadAt(h, 0); err != nil {
			f.Close()
			return nil, err
		}
	}
	g, err := decodeStatic(h, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	register := g.policy == Block && !opts.Observe
	if register && !writable {
		f.Close()
		return nil, fmt.Errorf("a Block ring's reader must publish its position (use Observe to read without): %w", fs.ErrPermission)
	}
	r := &Reader{
		path:      path,
		f:         f,
		g:         g,
		mask:      g.mask,
		shift:     g.shift,
		capacity:  int(g.capacity),
		maxRecord: g.maxRecord,
		crc:       g.crc,
		copyOut:   !register,
		slot:      -1,
		canWait:   writable,
		spin:      opts.Spin,
		pubChunk:  g.capacity / 16,
	}
	// One read-only mapping of the whole file (a mapping must start at a
	// multiple of the allocation granularity, 64 KiB on Windows, so the
	// data area is not mapped on its own), and the header page read-write
	// for the words a reader writes.
	if r.dmap, err = sys.Map(f.Fd(), 0, headerSize+int(g.capacity), sys.ProtRead, 0); err != nil {
		f.Close()
		return nil, err
	}
	r.data = r.dmap.Data[headerSize:]
	r.hdr = r.dmap.Data[:headerSize]
	if writable {
		if r.hmap, err = sys.Map(f.Fd(), 0, headerSize, sys.ProtRead|sys.ProtWrite, 0); err != nil {
			r.release()
			return nil, err
		}
		r.hdr = r.hmap.Data
	}
	// Fault the data pages in now (readable): one call instead of a fault
	// every few pages while following the writer.
	_ = sys.Advise(r.data, sys.AdvPopulateRead)
	r.v = view{hdr: r.hdr, data: r.data, g: g}
	r.manual = register && opts.ManualRelease
	if opts.Name != "" && (!register || len(opts.Name) > MaxReaderName) {
		r.release()
		if !register {
			return nil, fmt.Errorf("reader name %q: only registered readers of a Block ring have names", opts.Name)
		}
		return nil, fmt.Errorf("reader name %q is longer than %d bytes", opts.Name, MaxReaderName)
	}
	resumed := false
	if register {
		if resumed, err = r.register(opts.Name); err != nil {
			r.release()
			return nil, err
		}
	}
	switch {
	case resumed:
		// Where the last reader of this name stopped: the writer waited
		// for it, so its records are all still there.
		s := offSlot0 + r.slot*slotSize
		err = r.seekSeq(load64(r.hdr, s+slotSeq))
		if errors.Is(err, ErrNotFound) {
			err = r.seekOldest() // a ring recovered or rewritten since
		}
	case opts.Start == FromEnd:
		err = r.seekEnd()
	default:
		err = r.seekOldest()
	}
	if err != nil {
		r.Close()
		if errors.Is(err, ErrCorrupt) {
			// Header words that do not fit together, found at open.
			err = fmt.Errorf("%w: %w", ErrBadHeader, err)
		}
		return nil, err
	}
	return r, nil
}

// register claims a reader slot. Its position starts at 0, which the writer
// reads as "the oldest record": the writer cannot move past the oldest record
// until this reader publishes a real position.
//
// A slot is this reader's while it holds the slot's lock (FORMAT.md, "Locks"),
// which the kernel releases when the process dies, whatever its pid
// namespace, even before its parent reaps it. The owner word then only names
// the holder (pid and a nonce) and lets the reader notice that someone took
// the slot away. Where the OS has no such locks (darwin), the owner word is
// claimed with a compare-and-swap and a slot's liveness is its pid's.
func (r *Reader) register(name string) (resumed bool, err error) {
	me := uint64(uint32(os.Getpid()))<<32 | uint64(rand.Uint32()|1)
	if name != "" {
		// A durable slot of this name: resume it.
		for i := range r.g.slots {
			s := offSlot0 + i*slotSize
			if load64(r.hdr, s+slotOwner) == 0 || !slotHasName(r.hdr, s, name) {
				continue
			}
			if sys.CanLockRange {
				if err := sys.LockRange(r.f.Fd(), lockSlot0Off+int64(i), 1); err != nil {
					if errors.Is(err, sys.ErrWouldBlock) {
						return false, fmt.Errorf("reader %q is open (in this or another process): %w", name, ErrLocked)
					}
					return false, fmt.Errorf("lock reader slot %d: %w", i, err)
				}
				store64(r.hdr, s+slotOwner, me)
			} else {
				old := load64(r.hdr, s+slotOwner)
				if sys.ProcessAlive(int(old>>32)) || !atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), old, me) {
					return false, fmt.Errorf("reader %q is open (in this or another process): %w", name, ErrLocked)
				}
			}
			r.slot, r.owner, r.ownerOff, r.durable = i, me, s+slotOwner, true
			return true, nil
		}
	}
	for i := range r.g.slots {
		s := offSlot0 + i*slotSize
		if sys.CanLockRange {
			if err := sys.LockRange(r.f.Fd(), lockSlot0Off+int64(i), 1); err != nil {
				if errors.Is(err, sys.ErrWouldBlock) {
					continue // a live reader's
				}
				return false, fmt.Errorf("lock reader slot %d: %w", i, err)
			}
			if load64(r.hdr, s+slotOwner) != 0 && load32(r.hdr, s+slotFlags)&slotDurable != 0 {
				// A durable slot whose reader is away: not ours to take.
				_ = sys.UnlockRange(r.f.Fd(), lockSlot0Off+int64(i), 1)
				continue
			}
			// Ours, whatever a dead reader left in it. The position first:
			// the writer reads the words of slots with an owner.
			store64(r.hdr, s+slotPos, 0)
			store64(r.hdr, s+slotSeq, 0)
			setSlotName(r.hdr, s, name)
			store64(r.hdr, s+slotOwner, me)
		} else {
			if !atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), 0, me) {
				continue
			}
			store64(r.hdr, s+slotPos, 0)
			setSlotName(r.hdr, s, name)
		}
		r.slot, r.owner, r.ownerOff, r.durable = i, me, s+slotOwner, name != ""
		return false, nil
	}
	return false, fmt.Errorf("all %d reader slots are taken: %w", r.g.slots, ErrNoSlot)
}

// slotHasName reports whether the slot at s is durable and named name.
func slotHasName(hdr []byte, s int, name string) bool {
	if load32(hdr, s+slotFlags)&slotDurable == 0 {
		return false
	}
	n := int(load32(hdr, s+slotNameN))
	return n == len(name) && n <= MaxReaderName && string(hdr[s+slotName:s+slotName+n]) == name
}

// slotName returns the name of a durable slot ("" for others).
func slotNameOf(hdr []byte, s int) string {
	n := int(load32(hdr, s+slotNameN))
	if load32(hdr, s+slotFlags)&slotDurable == 0 || n > MaxReaderName {
		return ""
	}
	return string(hdr[s+slotName : s+slotName+n])
}

// setSlotName makes the slot at s durable under name, or plain for "".
func setSlotName(hdr []byte, s int, name string) {
	copy(hdr[s+slotName:s+slotName+MaxReaderName], make([]byte, MaxReaderName))
	copy(hdr[s+slotName:], name)
	store32(hdr, s+slotNameN, uint32(len(name)))
	flags := uint32(0)
	if name != "" {
		flags = slotDurable
	}
	store32(hdr, s+slotFlags, flags)
}

// evicted checks that the reader's slot is still its own. A writer frees
// the slot of a reader it judges dead; a reader that finds its slot taken
// has lost the writer's promise to wait for it. It becomes an observer and
// reports ErrEvicted once.
func (r *Reader) evicted() error {
	if r.slot < 0 || load64(r.hdr, offSlot0+r.slot*slotSize+slotOwner) == r.owner {
		return nil
	}
	slot := r.slot
	if sys.CanLockRange {
		_ = sys.UnlockRange(r.f.Fd(), lockSlot0Off+int64(slot), 1)
	}
	r.slot, r.copyOut = -1, true
	return pathErr("read", r.path, fmt.Errorf("reader slot %d was taken from this reader (the writer judged it dead); it reads on as an observer, and records may be lost: %w", slot, ErrEvicted))
}

// Close releases the reader's slot and unmaps the ring. Record.Data slices
// the Reader returned must not be used afterwards. Close of a closed Reader
// returns nil; every other method returns an error matching ErrClosed.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.slot >= 0 {
		s := offSlot0 + r.slot*slotSize
		if r.durable {
			// A durable slot stays, with its position, for the next
			// reader of its name.
			r.publish(true)
		} else {
			// Free the slot, then let go of its lock (closing the file
			// below).
			atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), r.owner, 0)
			r.wakeWriter()
		}
	}
	if err := r.release(); err != nil {
		return pathErr("close", r.path, err)
	}
	return nil
}

// release unmaps the ring and closes the file.
func (r *Reader) release() error {
	r.closed = true
	r.hdr, r.data, r.buf = nil, nil, nil
	r.v = view{}
	err := r.dmap.Unmap()
	if e := r.hmap.Unmap(); err == nil {
		err = e
	}
	if e := r.f.Close(); err == nil {
		err = e
	}
	return err
}

func (r *Reader) errClosed(op string) error { return pathErr(op, r.path, ErrClosed) }

// Path returns the ring file's name.
func (r *Reader) Path() string { return r.path }

// ID returns the ring's identity.
func (r *Reader) ID() ID { return r.g.id }

// Checksum returns what protects the ring's records: ChecksumCRC32 or
// ChecksumNone.
func (r *Reader) Checksum() Checksum { return r.g.checksum() }

// Seq returns the sequence number the next record read will have.
func (r *Reader) Seq() uint64 { return r.seq }

// publish tells the writer of a Block ring that everything before pos is
// consumed: at once when the writer waits for room, else every capacity/16
// bytes (one shared-memory store per batch instead of per record).
func (r *Reader) publish(force bool) {
	pos, seq := r.pos, r.seq
	if r.manual {
		pos, seq = r.relPos, r.relSeq
	}
	if r.slot < 0 || pos == r.published {
		return
	}
	s := offSlot0 + r.slot*slotSize
	if !force && pos-r.published < r.pubChunk && load32(r.hdr, offWrWait) == 0 {
		return
	}
	if load64(r.hdr, s+slotOwner) != r.owner {
		return // not ours any more: tryNext reports it
	}
	store64(r.hdr, s+slotSeq, seq)
	store64(r.hdr, s+slotPos, pos)
	r.published = pos
	// Dekker with a writer going to sleep: we store the position, then check
	// its flag; it sets the flag, then re-reads the positions.
	if load32(r.hdr, offWrWait) != 0 {
		r.wakeWriter()
	}
}

// Release tells the writer of a Block ring that the records before
// sequence number seq may be overwritten. It is for a reader opened with
// ReaderOptions.ManualRelease, whose slot holds what was released rather
// than what was read: the writer waits for released records, so a consumer
// can read ahead and give records up only once it has dealt with them (a
// shipper, once the other side acknowledged them). Views of records read
// but not released stay valid until they are released.
//
// The release is published at once: when Release returns, the writer may
// reuse the released records' room (and one waiting for it is woken), even
// if the reader makes no other call for a while. Publishing costs two stores
// to shared memory, so a consumer that releases once per batch (say, per
// acknowledgement) pays it once per batch.
//
// seq may not pass the reader's position (Seq); releasing less than was
// already released does nothing. On other readers Release does nothing.
// A SeekSeq (any seek) also releases what lies before the new position.
func (r *Reader) Release(seq uint64) error {
	if r.closed {
		return r.errClosed("release")
	}
	if !r.manual || seq <= r.relSeq {
		return nil
	}
	if seq > r.seq {
		return pathErr("release", r.path, fmt.Errorf("sequence %d not read yet (the reader is at %d): %w", seq, r.seq, ErrNotFound))
	}
	// Walk the frames from the last release: they are in place, since the
	// writer waits for them (but for one lap after a seek, see setPos: a
	// walk the writer overtakes starts again from the oldest record).
	pos, s := r.relPos, r.relSeq
	for try := 0; ; try++ {
		p, ps, how := r.walk(pos, s, seq, r.pos-pos)
		if how == walkFound || how == walkBudget {
			pos, s = p, ps
			break
		}
		if how == walkInvalid || try == maxWalks {
			return pathErr("release", r.path, fmt.Errorf("no valid frame at position %d (sequence %d) to release: %w", p, ps, ErrCorrupt))
		}
		oldest, oldSeq, err := r.oldestNow()
		if err != nil {
			return pathErr("release", r.path, err)
		}
		if oldSeq > r.seq || oldest > r.pos {
			// The reader itself was overtaken (its next read says so):
			// what it read is gone.
			pos, s = r.pos, r.seq
			break
		}
		if oldSeq >= seq {
			pos, s = oldest, oldSeq // what was to be released is gone already
			break
		}
		pos, s = oldest, oldSeq
	}
	r.relPos, r.relSeq = pos, s
	r.publish(true)
	return nil
}

func (r *Reader) wakeWriter() {
	if !r.canWait {
		return
	}
	store32(r.hdr, offWrWait, 0)
	wait.Wake(u32(r.hdr, offSpaceFtx))
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
	// A hint past the limit is impossible (a damaged word): it proves nothing.
	tail := load64(r.hdr, offTailPos)
	return tail > pos && tail <= load64(r.hdr, offLimit)
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
	oldest, seq, err := r.oldestNow()
	if err != nil {
		return pathErr("read", r.path, err)
	}
	missed := seq - r.seq
	if seq < r.seq {
		missed = 0
		seq = r.seq
	}
	r.pos, r.seq = oldest, seq
	if r.relPos < oldest { // released or not, those records are gone
		r.relPos, r.relSeq = oldest, seq
	}
	return pathErr("read", r.path, &LappedError{Missed: missed, Next: seq})
}

// oldestNow reads the oldest position and its sequence number. The writer
// stores them, then their check word, with three stores: a pair whose check
// word does not fit is read again (the writer is between the stores), and
// one that never fits is either a writer killed between the stores (the
// oldest frame then carries the low bits of the right number) or damage.
func (r *Reader) oldestNow() (pos, seq uint64, err error) {
	g := r.g
	why := ""
	for i := range 200 {
		if i >= 100 {
			runtime.Gosched() // a descheduled writer between two stores
		}
		oldest := load64(r.hdr, offOldest)
		s := load64(r.hdr, offOldSeq)
		check := load64(r.hdr, offOldCheck)
		lim := load64(r.hdr, offLimit)
		if oldest == 0 && s == 0 && check == 0 && lim == 0 {
			return 0, 0, nil // no writer has opened the ring yet
		}
		if msg := g.checkOldest(oldest, s, lim); msg != "" {
			why = msg
			continue
		}
		off := int(oldest & g.mask)
		kind, _, tag := decodeCommit(load64(r.data, off))
		framed := tag == uint32(g.lap(oldest)+1) && (kind == kindData || kind == kindPadding)
		s32 := load32(r.data, off+8)
		if r.lapped(oldest) {
			continue // the writer moved on meanwhile
		}
		if check == oldCheck(oldest, s) {
			if framed && s32 != uint32(s) {
				why = fmt.Sprintf("the oldest frame carries sequence number %d, the header says %d", s32, uint32(s))
				continue
			}
			return oldest, s, nil
		}
		why = fmt.Sprintf("oldest position %d and sequence number %d do not match their check word", oldest, s)
		if i < 199 || !framed {
			continue
		}
		// The last try: a writer killed between the stores.
		if d := s32 - uint32(s); uint64(d) <= g.capacity/frameAlign {
			s += uint64(d)
			if lo, hi := g.seqBounds(oldest); s >= lo && s <= hi {
				return oldest, s, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("cannot find the oldest record: %s: %w", why, ErrCorrupt)
}

// TryNext returns the next record, or ErrEmpty at once if there is none yet.
// After ErrLapped (a *LappedError) the reader continues at the oldest record.
// A frame that fails its checks (the torn tail of a ring cut by a power loss,
// or damage) gives ErrCorrupt and the reader stays at it; a writer opening
// the ring truncates there, and SeekSeq can move past it.
func (r *Reader) TryNext() (Record, error) {
	if r.closed {
		return Record{}, r.errClosed("read")
	}
	r.publish(false)
	return r.tryNext()
}

func (r *Reader) tryNext() (Record, error) {
	if r.slot >= 0 && load64(r.hdr, r.ownerOff) != r.owner {
		if err := r.evicted(); err != nil {
			return Record{}, err
		}
	}
	recheck := false
	for range 8 {
		off := int(r.pos & r.mask)
		// The frame header in one load: commit word, then seq32 and CRC
		// (the commit word's load is the acquire that orders the rest).
		kind, n, tag := decodeCommit(load64(r.data, off))
		if tag != uint32(r.pos>>r.shift+1) {
			if r.lapped(r.pos) {
				return Record{}, r.jump()
			}
			return Record{}, ErrEmpty
		}
		room := r.capacity - off - frameHdrSize
		s32 := load32(r.data, off+8)
		if s32 != uint32(r.seq) || (kind == kindPadding && n != room) || (kind == kindData && (n > r.maxRecord || n > room)) || (kind != kindData && kind != kindPadding) {
			if r.lapped(r.pos) {
				return Record{}, r.jump()
			}
			if again, err := r.unsure(&recheck); again {
				continue
			} else if err != nil {
				return Record{}, err
			}
			return Record{}, pathErr("read", r.path, fmt.Errorf("bad frame at position %d (sequence %d): kind %d, length %d, seq32 %d: %w", r.pos, r.seq, kind, n, s32, ErrCorrupt))
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
		if r.crc && crcOf(p) != crc {
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
			return Record{}, pathErr("read", r.path, fmt.Errorf("record %d fails its checksum: %w", r.seq, ErrCorrupt))
		}
		rec := Record{Seq: r.seq, Data: p}
		r.pos += uint64(frameSize(n))
		r.seq++
		return rec, nil
	}
	return Record{}, pathErr("read", r.path, fmt.Errorf("padding frames in a row at position %d: %w", r.pos, ErrCorrupt))
}

// Next returns the next record, waiting for one if needed (like tail -f):
// it polls for up to the Spin time, then sleeps (internal/wait: on a futex
// word in the mapping that the writer bumps on Linux; elsewhere, or when the
// file is read-only to this process, in sleeps of at most a millisecond). It
// returns ctx's error (wrapped) when ctx ends.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	if r.closed {
		return Record{}, r.errClosed("read")
	}
	r.publish(false)
	rec, err := r.tryNext()
	if err != ErrEmpty {
		return rec, err
	}
	wt := wait.Waiter{Spin: r.spin, Poll: !r.canWait}
	if r.canWait {
		wt.Word = u32(r.hdr, offDataFtx)
		wt.Arm = func() {
			// Tell the writer of a Block ring where we are before
			// sleeping: it may be waiting for exactly that.
			r.publish(true)
			store32(r.hdr, offRdrWait, 1)
		}
	}
	if werr := wt.Wait(ctx, func() bool {
		rec, err = r.tryNext()
		return err != ErrEmpty
	}); werr != nil {
		return Record{}, pathErr("read", r.path, werr)
	}
	return rec, err
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
		return r.errClosed("seek")
	}
	return pathErr("seek", r.path, r.seekOldest())
}

func (r *Reader) seekOldest() error {
	oldest, seq, err := r.oldestNow()
	if err != nil {
		return err
	}
	r.setPos(oldest, seq)
	return nil
}

// setPos moves the reader; a registered reader publishes at once, since its
// slot must never claim more than it has consumed. (Moving a registered
// reader backwards cannot un-consume records: those the writer has already
// overwritten are reported with ErrLapped like on an Overwrite ring.)
func (r *Reader) setPos(pos, seq uint64) {
	r.pos, r.seq = pos, seq
	r.relPos, r.relSeq = pos, seq // a seek releases what lies before
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

// tailHint returns the tail hint if it is sane: a committed frame boundary
// between the oldest frame (at oldest, sequence number seq) and the limit,
// with a possible sequence number.
//
// The writer stores the hint's sequence number, then its position; the
// position is loaded first here. A pair torn by an update (a position with
// the sequence number of another update) then always has a frame at its
// position that the writer committed before storing the later of the two,
// carrying another sequence number; a hint whose position holds a frame of
// this lap with another sequence number is refused. (Loaded the other way,
// a writer paused between its two stores gives the new position, not
// written yet, with the old number: undetectable, and a seek to the end
// would land on the wrong sequence number.)
func (r *Reader) tailHint(oldest, seq uint64) (pos, s uint64, ok bool) {
	g := r.g
	tp := load64(r.hdr, offTailPos)
	ts := load64(r.hdr, offTailSeq)
	if lim := load64(r.hdr, offLimit); tp > oldest && tp <= lim && tp-oldest <= g.capacity && tp&(frameAlign-1) == 0 && ts >= seq {
		if lo, hi := g.seqBounds(tp); ts >= lo && ts <= hi && ts-seq <= (tp-oldest)/frameAlign {
			off := int(tp & g.mask)
			_, _, tag := decodeCommit(load64(r.data, off))
			if tag == uint32(g.lap(tp)+1) && load32(r.data, off+8) != uint32(ts) {
				return 0, 0, false // torn, or lapped (checked next)
			}
			if !r.lapped(tp) {
				return tp, ts, true
			}
		}
	}
	return 0, 0, false
}

// How a walk over the frames ended.
type walkEnd int

const (
	walkFound   walkEnd = iota // at the frame of the sequence number sought
	walkInvalid                // at a frame not (yet) written: the end of the ring
	walkLapped                 // at a frame the writer overwrote during the walk
	walkBudget                 // the walk went as far as it was allowed
)

// walk follows the valid frames from pos (sequence number s) until the frame
// of sequence number seq (a padding frame there is stepped over, so the
// position is the record's), an invalid frame, or budget bytes. A writer
// may overwrite frames ahead of the walk: an invalid frame below the
// writer's reach is told apart as walkLapped, and the caller starts again
// from the new oldest record instead of taking it for the end of the ring.
func (r *Reader) walk(pos, s, seq, budget uint64) (uint64, uint64, walkEnd) {
	for start := pos; ; {
		if s == seq {
			if kind, _, _ := decodeCommit(load64(r.data, int(pos&r.g.mask))); kind == kindPadding {
				if _, _, valid := r.v.frame(pos, s, false); valid {
					pos += r.v.size(pos, kindPadding, 0)
				}
			}
			return pos, s, walkFound
		}
		if pos-start >= budget {
			if r.lapped(pos) {
				return pos, s, walkLapped
			}
			return pos, s, walkBudget
		}
		kind, n, valid := r.v.frame(pos, s, false)
		if !valid {
			if r.lapped(pos) {
				return pos, s, walkLapped
			}
			return pos, s, walkInvalid
		}
		if kind == kindData {
			s++
		}
		pos += r.v.size(pos, kind, n)
	}
}

// maxWalks bounds how often a seek starts its walk again after the writer
// overwrote the frame it stood on.
const maxWalks = 100

// scanEnd finds the end of the ring: the position and sequence number after
// the last valid frame, and the position of the last data frame seen on the
// way (ok false when the walk saw none). It starts from the tail hint, which
// the writer publishes every tailEvery bytes, so it walks a few KiB of frames
// however large the ring; from a writer faster than the walk it stops once
// past where the end was when it started. A walk the writer laps starts
// again from the new oldest record.
func (r *Reader) scanEnd() (end, endSeq, last uint64, ok bool, err error) {
	for try := 0; ; try++ {
		oldest, seq, err := r.oldestNow()
		if err != nil {
			return 0, 0, 0, false, err
		}
		g := r.g
		pos := oldest
		budget := g.capacity
		if tp, ts, hint := r.tailHint(oldest, seq); hint {
			pos, seq = tp, ts
			budget = tailEvery + 2*uint64(frameSize(g.maxRecord)) + frameAlign
		}
		last, ok = 0, false
		how := walkBudget
		for start := pos; pos-start < budget; {
			kind, n, valid := r.v.frame(pos, seq, false)
			if !valid {
				how = walkInvalid
				if r.lapped(pos) {
					how = walkLapped
				}
				break
			}
			if kind == kindData {
				last, ok = pos, true
				seq++
			}
			pos += r.v.size(pos, kind, n)
		}
		if how == walkLapped && try < maxWalks {
			continue
		}
		return pos, seq, last, ok, nil
	}
}

// SeekEnd moves past the newest record: Next returns only records appended
// from now on.
func (r *Reader) SeekEnd() error {
	if r.closed {
		return r.errClosed("seek")
	}
	return pathErr("seek", r.path, r.seekEnd())
}

func (r *Reader) seekEnd() error {
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
		return r.errClosed("seek")
	}
	end, seq, last, ok, err := r.scanEnd()
	if err != nil {
		return pathErr("seek", r.path, err)
	}
	if ok {
		r.setPos(last, seq-1)
		return nil
	}
	// The walk from the tail hint saw no record: the newest one, if any, is
	// before the hint. Find it from the oldest one.
	if err := r.seekOldest(); err != nil {
		return pathErr("seek", r.path, err)
	}
	if r.seq >= seq {
		r.setPos(end, seq) // an empty ring
		return nil
	}
	return pathErr("seek", r.path, r.seekSeq(seq-1))
}

// SeekSeq moves to the record with sequence number seq. seq may be the next
// one to be appended (then Next waits for it); anything older than the
// oldest record or newer than that gives ErrNotFound, and the reader stays
// where it was. A writer overwriting the ring during the seek does not make
// a record that is still in the ring "not found": the walk starts again
// from the new oldest record.
func (r *Reader) SeekSeq(seq uint64) error {
	if r.closed {
		return r.errClosed("seek")
	}
	return pathErr("seek", r.path, r.seekSeq(seq))
}

func (r *Reader) seekSeq(seq uint64) error {
	var s uint64
	for try := 0; ; try++ {
		oldest, oldSeq, err := r.oldestNow()
		if err != nil {
			return err
		}
		if seq < oldSeq {
			return fmt.Errorf("sequence %d is older than the oldest record %d: %w", seq, oldSeq, ErrNotFound)
		}
		// From the tail hint when seq is at or past it: a few KiB of
		// frames to the newest records however large the ring.
		pos, s0 := oldest, oldSeq
		if tp, ts, hint := r.tailHint(oldest, oldSeq); hint && ts <= seq {
			pos, s0 = tp, ts
		}
		p, ps, how := r.walk(pos, s0, seq, r.g.capacity)
		switch {
		case how == walkFound:
			r.setPos(p, ps)
			return nil
		case how == walkLapped && try < maxWalks:
			continue // the writer overwrote the frame the walk stood on
		case how == walkLapped:
			return fmt.Errorf("sequence %d: the writer overwrote the frames ahead of the walk %d times in a row: %w", seq, maxWalks, ErrNotFound)
		}
		s = ps
		break
	}
	return fmt.Errorf("sequence %d is past the newest record (next is %d): %w", seq, s, ErrNotFound)
}
