package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Durability says when appended records reach stable storage.
type Durability int

const (
	// None leaves writing back to the kernel. A record survives the crash of
	// any process (it is in the page cache the moment Append returns) but not
	// a power loss or kernel crash.
	None Durability = iota
	// Interval msyncs in the background every WriterOptions.Interval. A power
	// loss loses at most the records of the last interval; recovery drops
	// them cleanly.
	Interval
	// EveryAppend msyncs before Append (or Commit) returns: a record whose
	// Append returned survives a power loss. Concurrent callers share one
	// msync (group commit).
	EveryAppend
)

func (d Durability) String() string {
	switch d {
	case None:
		return "none"
	case Interval:
		return "interval"
	case EveryAppend:
		return "every-append"
	}
	return fmt.Sprintf("durability(%d)", int(d))
}

// Config describes a new ring.
type Config struct {
	// Capacity is the size of the data area in bytes: a power of two between
	// MinCapacity and MaxCapacity. The file is one 4 KiB header page larger.
	Capacity int64
	// MaxRecord is the largest payload Append accepts. A frame for it must fit
	// in half the capacity. 0 means the largest that fits, at most 1 MiB.
	MaxRecord int
	// Policy is what a full ring does: Overwrite (default) or Block.
	Policy Policy
	// Perm is the new file's permission bits (default 0644).
	Perm fs.FileMode
}

// WriterOptions tune a Writer.
type WriterOptions struct {
	Durability Durability
	// Interval is the msync period for Durability Interval (default 100 ms).
	Interval time.Duration
}

// mark remembers where the first frame starting in a block of the data area
// is, so that moving the oldest position never has to walk a whole lap of
// frames (only those of one block).
type mark struct{ pos, seq uint64 }

// Recovery describes what OpenWriter found in the file.
type Recovery struct {
	Oldest, Next uint64 // sequence numbers of the oldest kept record and of the next one
	Records      uint64 // intact records kept
	Invalidated  uint64 // frame headers after the last intact record that were invalidated
	Durable      uint64 // sequence number up to which the file was known durable
}

// Writer appends records to a ring. Only one Writer exists per ring file at a
// time, across all processes: it holds an exclusive flock, which the kernel
// releases if the process dies.
//
// A Writer is safe for concurrent use; appends are serialised. Between Reserve
// and Commit the Writer is held by the reserving goroutine.
type Writer struct {
	mu   sync.Mutex
	path string
	lock *mmap.FileLock
	reg  *mmap.Region
	hdr  []byte
	data []byte
	g    *geometry
	opts WriterOptions

	pos, seq      uint64 // next frame position, next sequence number
	limit         uint64 // may write below this position
	oldest, oldSq uint64 // oldest retained frame and its sequence number
	chunk         uint64 // how far limit moves ahead at once
	marks         []mark // first frame starting in each block of the data area
	markShift     uint   // log2 of the block size
	lastBlock     uint64 // block of the last frame start recorded (+1; 0 = none)
	resPos        uint64
	resN          int
	reserving     atomic.Bool
	closing       atomic.Bool // Close was called: a Block append waiting for room gives up
	closed        bool
	rec           Recovery

	// durability
	syncMu  sync.Mutex
	durPos  uint64
	stop    chan struct{}
	done    chan struct{}
	syncErr atomic.Pointer[error]

	// Test hooks (power-loss simulation): beforeSync runs when a sync is
	// about to start; flushed runs after each successful msync of a range.
	beforeSync func()
	flushed    func(off, n int64)
}

func (c *Config) check() (*geometry, error) {
	if c.Capacity < MinCapacity || c.Capacity > MaxCapacity || c.Capacity&(c.Capacity-1) != 0 {
		return nil, fmt.Errorf("capacity %d is not a power of two in [%d, %d]", c.Capacity, MinCapacity, int64(MaxCapacity))
	}
	maxRec := c.MaxRecord
	largest := int(c.Capacity/2) - frameHdrSize
	if largest > MaxRecordLimit {
		largest = MaxRecordLimit
	}
	if maxRec == 0 {
		maxRec = min(largest, 1<<20)
	}
	if maxRec < 1 || maxRec > largest {
		return nil, fmt.Errorf("max record %d: must be in [1, %d] for capacity %d", maxRec, largest, c.Capacity)
	}
	if c.Policy != Overwrite && c.Policy != Block {
		return nil, fmt.Errorf("unknown policy %d", int(c.Policy))
	}
	return &geometry{
		capacity:  uint64(c.Capacity),
		maxRecord: maxRec,
		policy:    c.Policy,
		created:   time.Now().UnixNano(),
		slots:     numSlots,
	}, nil
}

// Create makes a new ring file at path (which must not exist) and returns its
// Writer. The file's blocks are allocated up front (fallocate, where the OS
// has it), so a full disk fails here rather than as a SIGBUS later, and every
// page is faulted in writable, so the first lap runs at full speed.
//
// The file appears at path complete: it is built under a temporary name in
// the same directory and linked into place, so no reader ever sees a half-made
// header. Any directory works, including /dev/shm.
func Create(path string, cfg Config, opts WriterOptions) (*Writer, error) {
	g, err := cfg.check()
	if err != nil {
		return nil, fmt.Errorf("ring: create %s: %w", path, err)
	}
	perm := cfg.Perm
	if perm == 0 {
		perm = 0o644
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("ring: create %s: %w", path, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("ring: create %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	defer tmp.Close()
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("ring: create %s: %w", path, err)
	}
	size := int64(headerSize + g.capacity)
	if err := sys.Fallocate(tmp.Fd(), 0, size); err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			return nil, fmt.Errorf("ring: create %s: allocate %d bytes: %w", path, size, err)
		}
		// No fallocate here: a sparse file is the best the OS offers.
		if err := tmp.Truncate(size); err != nil {
			return nil, fmt.Errorf("ring: create %s: %w", path, err)
		}
	}
	h := make([]byte, headerSize)
	encodeStatic(h, g)
	if _, err := tmp.WriteAt(h, 0); err != nil {
		return nil, fmt.Errorf("ring: create %s: write header: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("ring: create %s: %w", path, err)
	}
	// Link fails if path appeared meanwhile: Create never replaces a file.
	if err := os.Link(tmpName, path); err != nil {
		return nil, fmt.Errorf("ring: create %s: %w", path, err)
	}
	w, err := openWriter(context.Background(), path, opts, false)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// OpenWriter opens an existing ring for appending. If another process (or
// another Writer in this one) holds the ring, it fails at once with an error
// matching ErrLocked.
//
// Opening recovers the ring: it validates the header (a file that is not a
// ring, has an unknown version or a damaged header is refused and never
// modified), walks the records from the oldest one, keeps every intact record
// and invalidates whatever follows the last one (a record torn by a crash).
func OpenWriter(path string, opts WriterOptions) (*Writer, error) {
	return openWriter(context.Background(), path, opts, false)
}

// OpenWriterWait is OpenWriter that waits for the current writer to go away
// (or ctx to end) instead of failing with ErrLocked.
func OpenWriterWait(ctx context.Context, path string, opts WriterOptions) (*Writer, error) {
	return openWriter(ctx, path, opts, true)
}

func openWriter(ctx context.Context, path string, opts WriterOptions, wait bool) (*Writer, error) {
	if opts.Durability < None || opts.Durability > EveryAppend {
		return nil, fmt.Errorf("ring: open %s: unknown durability %d", path, int(opts.Durability))
	}
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	defer f.Close()
	var lock *mmap.FileLock
	if wait {
		lock, err = mmap.LockFile(ctx, f, true)
	} else {
		lock, err = mmap.TryLockFile(f, true)
	}
	if err != nil {
		return nil, fmt.Errorf("ring: open %s for writing: %w", path, err)
	}
	fail := func(err error) (*Writer, error) {
		lock.Unlock()
		return nil, fmt.Errorf("ring: open %s: %w", path, err)
	}
	// Validate with pread before mapping: a file that is not a ring is never
	// mapped writable, let alone modified.
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	h := make([]byte, headerSize)
	if fi.Size() >= headerSize {
		if _, err := f.ReadAt(h, 0); err != nil {
			return fail(err)
		}
	}
	g, err := decodeStatic(h, fi.Size())
	if err != nil {
		return fail(err)
	}
	reg, err := mmap.Map(f, mmap.ReadWrite, 0, 0, nil)
	if err != nil {
		return fail(err)
	}
	b := reg.Bytes()
	w := &Writer{
		path: path,
		lock: lock,
		reg:  reg,
		hdr:  b[:headerSize],
		data: b[headerSize:],
		g:    g,
		opts: opts,
		resN: -1,
	}
	w.chunk = max(g.capacity/16, 4096)
	w.markShift = uint(max(6, int(g.shift)-14)) // at most 16384 marks (256 KiB), blocks of at least 64 B
	w.marks = make([]mark, g.capacity>>w.markShift)
	if err := w.recover(); err != nil {
		reg.Close()
		return fail(err)
	}
	// Fault every data page in writable now, so appends never take a write
	// fault (50-100x slower than a steady append on this kind of machine).
	// On a disk file system this marks the whole ring dirty once (written
	// back by the kernel in the background). Unsupported advice (older
	// kernels, other systems) only costs speed.
	_ = reg.AdviseRange(headerSize, int(g.capacity), mmap.AdvicePopulateWrite)
	store32(w.hdr, offWriterPid, uint32(os.Getpid()))
	w.publishTail()
	if opts.Durability != None {
		if err := reg.Flush(); err != nil {
			w.closeLocked()
			return nil, fmt.Errorf("ring: open %s: %w", path, err)
		}
		w.durPos = w.pos
	}
	if opts.Durability == Interval {
		w.stop = make(chan struct{})
		w.done = make(chan struct{})
		go w.syncLoop()
	}
	return w, nil
}

// recover rebuilds the writer's state from the file.
func (w *Writer) recover() error {
	g := w.g
	oldest := load64(w.hdr, offOldest)
	oldSeq := load64(w.hdr, offOldSeq)
	limit := load64(w.hdr, offLimit)
	if limit == 0 && oldest == 0 {
		limit = g.capacity // a new ring: the first lap is free
	}
	if oldest > limit || limit-oldest > g.capacity || oldest&(frameAlign-1) != 0 || limit&(frameAlign-1) != 0 {
		return fmt.Errorf("oldest position %d and write limit %d are inconsistent: %w", oldest, limit, ErrBadHeader)
	}
	durable := load64(w.hdr, offDurable)
	durSeq := load64(w.hdr, offDurSeq)
	// The oldest position and its sequence number are two stores: a writer
	// killed between them leaves the new position with the old number. The
	// frame at the position carries the low 32 bits of the right one.
	off := int(oldest & g.mask)
	if kind, _, tag := decodeCommit(load64(w.data, off)); tag == uint32(g.lap(oldest)+1) && (kind == kindData || kind == kindPadding) {
		s32 := load32(w.data, off+8)
		oldSeq += uint64(int64(int32(s32 - uint32(oldSeq))))
	}
	v := view{hdr: w.hdr, data: w.data, g: g}
	pos, seq := oldest, oldSeq
	var records uint64
	// Walk every valid frame, even past the limit word: a valid frame there
	// means the header lies, and the file is refused rather than "repaired".
	for pos < oldest+g.capacity {
		kind, n, ok := v.frame(pos, seq, true)
		if !ok {
			break
		}
		pos += v.size(pos, kind, n)
		if kind == kindData {
			seq++
			records++
		}
	}
	if pos > limit {
		return fmt.Errorf("records run to position %d, past the write limit %d: %w", pos, limit, ErrBadHeader)
	}
	// Invalidate every commit word in the dead part of the ring that carries
	// the lap tag of its position: after a power loss a frame written after
	// a torn one may have survived, and a crashed record's payload may hold
	// anything. Such a word must never be taken for a new record at the same
	// place. Words of earlier laps carry other tags and are left alone.
	torn := w.invalidate(pos, oldest+g.capacity)
	w.pos, w.seq = pos, seq
	w.limit = limit
	w.oldest, w.oldSq = oldest, oldSeq
	store64(w.hdr, offLimit, limit)
	store64(w.hdr, offOldest, oldest)
	store64(w.hdr, offOldSeq, oldSeq)
	if durable > pos || durable < oldest {
		durable, durSeq = pos, seq
		if oldest > durable {
			durable, durSeq = oldest, oldSeq
		}
	}
	store64(w.hdr, offDurable, durable)
	store64(w.hdr, offDurSeq, durSeq)
	w.rec = Recovery{Oldest: oldSeq, Next: seq, Records: records, Invalidated: torn, Durable: durSeq}
	if g.policy == Block {
		w.reclaimDead()
	}
	return nil
}

// invalidate zeroes the commit words in positions [from, to) whose lap tag
// matches their position, and returns how many it found.
func (w *Writer) invalidate(from, to uint64) uint64 {
	var n uint64
	for p := from; p < to; p += frameAlign {
		off := int(p & w.g.mask)
		if _, _, tag := decodeCommit(load64(w.data, off)); tag == uint32(w.g.lap(p)+1) {
			store64(w.data, off, 0)
			n++
		}
	}
	return n
}

// Recovery reports what opening the ring found.
func (w *Writer) Recovery() Recovery { return w.rec }

// Path returns the ring file's name.
func (w *Writer) Path() string { return w.path }

// Next returns the sequence number the next record will get.
func (w *Writer) Next() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// MaxRecord returns the largest payload the ring accepts.
func (w *Writer) MaxRecord() int { return w.g.maxRecord }

// Append copies p into the ring as one record and returns its sequence
// number. On a Block ring it waits for readers to make room.
func (w *Writer) Append(p []byte) (uint64, error) {
	return w.AppendContext(context.Background(), p)
}

// AppendContext is Append that gives up when ctx ends while waiting for room
// on a Block ring.
func (w *Writer) AppendContext(ctx context.Context, p []byte) (uint64, error) {
	w.mu.Lock()
	b, err := w.reserveLocked(ctx, len(p))
	if err != nil {
		w.mu.Unlock()
		return 0, err
	}
	copy(b, p)
	return w.commitAndUnlock()
}

// Reserve claims room for a record of n bytes and returns it, so the caller
// can build the record in place (zero copies). Commit publishes it; Abort
// drops it. Until then other appends wait.
func (w *Writer) Reserve(n int) ([]byte, error) {
	return w.ReserveContext(context.Background(), n)
}

// ReserveContext is Reserve that gives up when ctx ends while waiting for
// room on a Block ring.
func (w *Writer) ReserveContext(ctx context.Context, n int) ([]byte, error) {
	w.mu.Lock()
	b, err := w.reserveLocked(ctx, n)
	if err != nil {
		w.mu.Unlock()
		return nil, err
	}
	w.reserving.Store(true)
	return b, nil
}

// Commit publishes the record built in the slice Reserve returned and returns
// its sequence number. The slice must not be used afterwards.
func (w *Writer) Commit() (uint64, error) {
	if !w.reserving.Load() {
		return 0, fmt.Errorf("ring: commit %s: %w", w.path, ErrNoReservation)
	}
	w.reserving.Store(false)
	return w.commitAndUnlock()
}

// Abort drops a pending reservation; nothing is published.
func (w *Writer) Abort() error {
	if !w.reserving.Load() {
		return fmt.Errorf("ring: abort %s: %w", w.path, ErrNoReservation)
	}
	w.reserving.Store(false)
	w.resN = -1
	w.mu.Unlock()
	return nil
}

// reserveLocked makes room for a frame of n payload bytes, writing a padding
// frame first if the record does not fit before the end of the data area.
func (w *Writer) reserveLocked(ctx context.Context, n int) ([]byte, error) {
	if w.closed {
		return nil, fmt.Errorf("ring: append to %s: %w", w.path, ErrClosed)
	}
	if n < 0 || n > w.g.maxRecord {
		return nil, fmt.Errorf("ring: append %d bytes to %s (max record %d): %w", n, w.path, w.g.maxRecord, ErrTooLarge)
	}
	size := uint64(frameSize(n))
	off := w.pos & w.g.mask
	pad := uint64(0)
	if off+size > w.g.capacity {
		pad = w.g.capacity - off
	}
	if end := w.pos + pad + size; end > w.limit {
		if err := w.makeRoom(ctx, end); err != nil {
			return nil, err
		}
	}
	if pad != 0 {
		w.mark(w.pos)
		binary.LittleEndian.PutUint32(w.data[off+8:], uint32(w.seq))
		binary.LittleEndian.PutUint32(w.data[off+12:], 0)
		store64(w.data, int(off), commitWord(kindPadding, int(pad-frameHdrSize), w.g.lap(w.pos)))
		w.pos += pad
		off = 0
	}
	binary.LittleEndian.PutUint32(w.data[off+8:], uint32(w.seq))
	w.mark(w.pos)
	w.resPos = w.pos
	w.resN = n
	return w.data[off+frameHdrSize : off+frameHdrSize+uint64(n) : off+frameHdrSize+uint64(n)], nil
}

// commitAndUnlock publishes the reserved record, releases the writer lock
// and, with EveryAppend durability, waits for an msync covering the record
// (taken outside the lock, so concurrent appenders share one: group commit).
func (w *Writer) commitAndUnlock() (uint64, error) {
	seq, end := w.commitLocked()
	w.mu.Unlock()
	if w.opts.Durability == EveryAppend {
		if err := w.syncTo(end); err != nil {
			return seq, err
		}
	}
	return seq, nil
}

// commitLocked checksums the reserved payload and publishes the frame with
// one atomic store of its commit word: a reader sees either nothing or the
// whole record.
func (w *Writer) commitLocked() (seq, end uint64) {
	off := w.resPos & w.g.mask
	n := w.resN
	p := w.data[off+frameHdrSize : off+frameHdrSize+uint64(n)]
	binary.LittleEndian.PutUint32(w.data[off+12:], crcOf(p))
	// The store is a full barrier on amd64 (XCHG) and a release on arm64
	// (STLR): the payload, seq and CRC are visible before the commit word,
	// in this process and in any other mapping the same file.
	store64(w.data, int(off), commitWord(kindData, n, w.g.lap(w.resPos)))
	w.pos = w.resPos + uint64(frameSize(n))
	seq = w.seq
	w.seq++
	w.resN = -1
	// Dekker handshake with sleeping readers: they set the flag, then re-check
	// the commit word; we store the commit word, then check the flag.
	if load32(w.hdr, offRdrWait) != 0 {
		w.wakeReaders()
	}
	return seq, w.pos
}

func (w *Writer) wakeReaders() {
	store32(w.hdr, offRdrWait, 0)
	atomic.AddUint32(u32(w.hdr, offDataFtx), 1)
	if sys.CanFutex {
		_ = sys.FutexWake(u32(w.hdr, offDataFtx), math.MaxInt32)
	}
}

// publishTail stores the tail hint (a committed position and its sequence
// number). Readers do not need it to follow the ring; it makes Stat and
// SeekEnd fast.
func (w *Writer) publishTail() {
	store64(w.hdr, offTailPos, w.pos)
	store64(w.hdr, offTailSeq, w.seq)
}

// makeRoom moves the write limit to at least end. Overwrite: the oldest
// frames in the way are given up. Block: it waits until every registered
// reader is past them.
func (w *Writer) makeRoom(ctx context.Context, end uint64) error {
	c := w.g.capacity
	var newLimit uint64
	if w.g.policy == Overwrite {
		// end < pos + capacity, so the frames given up are all below pos.
		newLimit = max(end, min(end+w.chunk, w.pos+c))
		w.advanceOldest(newLimit - min(newLimit, c))
	} else {
		base := w.minReader()
		for end > base+c {
			if err := w.waitRoom(ctx, end); err != nil {
				return err
			}
			base = w.minReader()
		}
		newLimit = max(end, min(end+w.chunk, base+c))
		w.advanceOldest(base)
	}
	// Readers must learn of the new oldest frame before the limit moves, and
	// the limit must move before any byte below it is overwritten: a reader
	// that copied a record and then still sees an old enough limit knows its
	// copy is intact.
	store64(w.hdr, offOldest, w.oldest)
	store64(w.hdr, offOldSeq, w.oldSq)
	// A swap, not a store: on arm64 a store-release lets later stores (the
	// overwriting of old frames) become visible before it; a swap is
	// acquire-release and keeps them after. On amd64 both are XCHG.
	atomic.SwapUint64(u64(w.hdr, offLimit), newLimit)
	w.limit = newLimit
	w.publishTail()
	if w.opts.Durability != None {
		// After a power loss the header on disk must never claim less than
		// what the data on disk has overwritten.
		if err := w.flush(0, headerSize); err != nil {
			return fmt.Errorf("ring: %s: %w", w.path, err)
		}
	}
	return nil
}

// advanceOldest walks the oldest frames until the oldest one starts at or
// after target (or the ring is empty).
func (w *Writer) advanceOldest(target uint64) {
	g := w.g
	if w.oldest >= target {
		return
	}
	// Jump to the first frame of target's block if this writer wrote it
	// (an abandoned reservation records a mark but no frame: the walk
	// below then finds no valid frame there and the jump is not taken).
	if b := target >> w.markShift; b > 0 {
		if m := w.marks[b&uint64(len(w.marks)-1)]; m.pos>>w.markShift == b && m.pos > w.oldest && m.pos <= target && m.pos < w.pos {
			if _, _, tag := decodeCommit(load64(w.data, int(m.pos&g.mask))); tag == uint32(g.lap(m.pos)+1) {
				w.oldest, w.oldSq = m.pos, m.seq
			}
		}
	}
	for w.oldest < target && w.oldest < w.pos {
		// These frames are our own and were validated when written or when
		// the ring was recovered: the commit word alone gives their size.
		// The checks below only keep a damaged file from sending us astray.
		off := w.oldest & g.mask
		kind, n, tag := decodeCommit(load64(w.data, int(off)))
		var size uint64
		switch {
		case tag != uint32(g.lap(w.oldest)+1):
		case kind == kindData && n <= g.maxRecord && off+uint64(frameSize(n)) <= g.capacity:
			size = uint64(frameSize(n))
			w.oldSq++
		case kind == kindPadding && off+frameHdrSize+uint64(n) == g.capacity:
			size = g.capacity - off
		}
		if size == 0 {
			// Cannot happen unless the file was damaged under us: give up
			// everything rather than walk garbage.
			w.oldest, w.oldSq = w.pos, w.seq
			return
		}
		w.oldest += size
	}
}

// mark records the frame about to start at pos if it is the first in its
// block.
func (w *Writer) mark(pos uint64) {
	if b := pos>>w.markShift + 1; b != w.lastBlock {
		w.lastBlock = b
		w.marks[(b-1)&uint64(len(w.marks)-1)] = mark{pos, w.seq}
	}
}

// minReader returns the position of the slowest registered reader, or the
// oldest position if none is registered or all are ahead of it.
func (w *Writer) minReader() uint64 {
	m, found := w.oldest, false
	for i := range w.g.slots {
		s := offSlot0 + i*slotSize
		if load64(w.hdr, s+slotOwner) == 0 {
			continue
		}
		if p := load64(w.hdr, s+slotPos); !found || p < m {
			m, found = p, true
		}
	}
	// A slot still at 0 (registering) or behind the oldest frame holds
	// the writer at the oldest frame; one past the writer is garbage.
	return min(max(m, w.oldest), w.pos)
}

// reclaimDead frees the slots of readers whose process is gone, so a crashed
// consumer cannot stall a Block ring forever.
func (w *Writer) reclaimDead() {
	for i := range w.g.slots {
		s := offSlot0 + i*slotSize
		owner := load64(w.hdr, s+slotOwner)
		if owner == 0 || sys.ProcessAlive(int(owner>>32)) {
			continue
		}
		store64(w.hdr, s+slotPos, 0)
		atomic.CompareAndSwapUint64(u64(w.hdr, s+slotOwner), owner, 0)
	}
}

// waitRoom waits on a Block ring until readers move or ctx ends: a short spin,
// then a futex sleep on the space word (Dekker: set the waiting flag, re-check,
// sleep; readers publish, then check the flag).
func (w *Writer) waitRoom(ctx context.Context, end uint64) error {
	w.publishTail()
	c := w.g.capacity
	for i := 0; i < 200; i++ {
		if end <= w.minReader()+c {
			return nil
		}
		runtime.Gosched()
	}
	word := u32(w.hdr, offSpaceFtx)
	stop := context.AfterFunc(ctx, func() {
		atomic.AddUint32(word, 1)
		if sys.CanFutex {
			_ = sys.FutexWake(word, math.MaxInt32)
		}
	})
	defer stop()
	pause := 50 * time.Microsecond
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ring: append to %s: waiting for readers: %w", w.path, err)
		}
		if w.closing.Load() {
			return fmt.Errorf("ring: append to %s: %w", w.path, ErrClosed)
		}
		v := atomic.LoadUint32(word)
		store32(w.hdr, offWrWait, 1)
		if end <= w.minReader()+c {
			return nil
		}
		if sys.CanFutex {
			_ = sys.FutexWait(word, v, 100*time.Millisecond)
		} else {
			time.Sleep(pause)
			pause = min(2*pause, 5*time.Millisecond)
		}
		w.reclaimDead()
	}
}

// Sync makes every record appended so far durable (msync of the data, then of
// the header's durable position), whatever the Durability.
func (w *Writer) Sync() error {
	w.mu.Lock()
	end := w.pos
	w.mu.Unlock()
	return w.syncTo(end)
}

// syncTo makes positions below target durable. Callers that arrive while an
// msync is running wait for it and usually find their record already covered
// by it or the next one: one msync serves a whole group of appends.
func (w *Writer) syncTo(target uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.durPos >= target {
		return nil
	}
	w.mu.Lock()
	end, seq := w.pos, w.seq
	w.mu.Unlock()
	if w.beforeSync != nil {
		w.beforeSync()
	}
	from := w.durPos
	if end-from >= w.g.capacity {
		from = end - w.g.capacity
	}
	for from < end {
		off := from & w.g.mask
		n := min(end-from, w.g.capacity-off)
		if err := w.flush(int64(headerSize+off), int64(n)); err != nil {
			return fmt.Errorf("ring: sync %s: %w", w.path, err)
		}
		from += n
	}
	store64(w.hdr, offDurSeq, seq)
	store64(w.hdr, offDurable, end)
	if err := w.flush(0, headerSize); err != nil {
		return fmt.Errorf("ring: sync %s: %w", w.path, err)
	}
	w.durPos = end
	return nil
}

func (w *Writer) syncLoop() {
	defer close(w.done)
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			end := w.pos
			w.mu.Unlock()
			if err := w.syncTo(end); err != nil {
				w.syncErr.Store(&err)
			}
		}
	}
}

// Close publishes the writer's position, syncs if a Durability other than
// None was asked for, unmaps the ring and releases the writer lock. A pending
// reservation is dropped, and an append waiting for room on a Block ring
// returns ErrClosed.
func (w *Writer) Close() error {
	if w.reserving.Load() {
		_ = w.Abort()
	}
	// An append waiting for room on a Block ring holds the lock: make it
	// give up. (The wake-up is in the mapping, which stays valid until the
	// lock is ours.)
	if !w.closing.Swap(true) {
		word := u32(w.hdr, offSpaceFtx)
		atomic.AddUint32(word, 1)
		if sys.CanFutex {
			_ = sys.FutexWake(word, math.MaxInt32)
		}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.publishTail()
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	var err error
	if w.opts.Durability != None {
		err = w.Sync()
	}
	if p := w.syncErr.Load(); p != nil && err == nil {
		err = *p
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.closeLocked(); err == nil {
		err = e
	}
	return err
}

func (w *Writer) closeLocked() error {
	w.closed = true
	store32(w.hdr, offWriterPid, 0)
	err := w.reg.Close()
	if e := w.lock.Unlock(); err == nil {
		err = e
	}
	return err
}

// flush msyncs [off, off+n) of the file.
func (w *Writer) flush(off, n int64) error {
	if err := w.reg.FlushRange(off, int(n)); err != nil {
		return err
	}
	if w.flushed != nil {
		w.flushed(off, n)
	}
	return nil
}
