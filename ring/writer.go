package ring

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/wait"
)

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
// time, across all processes: it holds a lock on the file, which the kernel
// releases if the process dies.
//
// A Writer is safe for concurrent use; appends are serialised. Close waits
// for running AppendFunc fills and makes appends waiting for room return
// ErrClosed.
type Writer struct {
	closeMu sync.Mutex // serialises Close
	mu      sync.Mutex
	path    string
	f       *os.File    // holds the writer lock; kept open for syncs
	m       sys.Mapping // the whole file, read-write
	hdr     []byte
	data    []byte
	g       *geometry
	opts    Options
	fid     fileID

	// The geometry's fields the append path reads, kept here (one load
	// each instead of two).
	mask, capacity uint64
	maxRecord      int
	shift          uint
	crc            bool
	pos, seq       uint64      // next frame position, next sequence number
	limit          uint64      // may write below this position
	oldest, oldSq  uint64      // oldest retained frame and its sequence number
	chunk          uint64      // how far limit moves ahead at once
	marks          []mark      // first frame starting in each block of the data area
	markShift      uint        // log2 of the block size
	lastBlock      uint64      // block of the last frame start recorded (+1; 0 = none)
	resPos         uint64      // position of the frame being filled
	tailPub        uint64      // position of the last tail hint published
	closing        atomic.Bool // Close was called: a Block append waiting for room gives up
	closed         bool
	rec            Recovery

	// durability
	syncMu    sync.Mutex           // guards the group-commit state below
	syncCond  sync.Cond            // signalled when a sync ends
	syncing   bool                 // a leader is syncing
	durPos    uint64               // positions below are durable
	durPub    atomic.Pointer[mark] // durable position and sequence number, for publishTail
	arrivals  int                  // callers waiting to be covered since the last sync started
	lastGroup int                  // callers the last sync covered
	lastDur   time.Duration
	stop      chan struct{}
	done      chan struct{}
	syncErr   atomic.Pointer[error]

	// Test hooks (power-loss simulation): beforeSync runs when a sync is
	// about to start; flushed runs after each successful sync of a range of
	// the file (the whole file: off 0, n -1).
	beforeSync func()
	flushed    func(off, n int64)
	afterSync  func() // after a sync and the durable words' update
}

func (o *Options) geometry(dir string) (*geometry, error) {
	c := o.Capacity
	if c == 0 {
		c = DefaultCapacity
	}
	if c < MinCapacity || int64(c) > MaxCapacity || c&(c-1) != 0 {
		return nil, fmt.Errorf("capacity %d is not a power of two in [%d, %d]", c, MinCapacity, int64(MaxCapacity))
	}
	maxRec := o.MaxRecord
	largest := c/2 - frameHdrSize
	if largest > MaxRecordLimit {
		largest = MaxRecordLimit
	}
	if maxRec == 0 {
		maxRec = min(largest, 1<<20)
	}
	if maxRec < 1 || maxRec > largest {
		return nil, fmt.Errorf("max record %d: must be in [1, %d] for capacity %d", maxRec, largest, c)
	}
	if o.Policy != Overwrite && o.Policy != Block {
		return nil, fmt.Errorf("unknown policy %d", int(o.Policy))
	}
	g := &geometry{
		capacity:  uint64(c),
		maxRecord: maxRec,
		policy:    o.Policy,
		created:   time.Now().UnixNano(),
		slots:     numSlots,
	}
	switch o.Checksum {
	case ChecksumAuto:
		// A checksum only matters for what can outlive a power loss.
		inMemory, _ := sys.InMemoryFS(dir)
		g.crc = !inMemory || o.Durability != SyncNone
	case ChecksumCRC32:
		g.crc = true
	case ChecksumNone:
		if o.Durability != SyncNone {
			return nil, fmt.Errorf("durability %v needs checksums (ChecksumNone asked for): a record torn by a power loss could not be told from an intact one", o.Durability)
		}
	default:
		return nil, fmt.Errorf("unknown checksum %d", int(o.Checksum))
	}
	if _, err := rand.Read(g.id[:]); err != nil {
		return nil, fmt.Errorf("ring id: %w", err)
	}
	return g, nil
}

func (o *Options) checkWriter() error {
	if o.Durability < SyncNone || o.Durability > SyncEveryAppend {
		return fmt.Errorf("unknown durability %d", int(o.Durability))
	}
	if o.Interval < 0 {
		return fmt.Errorf("negative sync interval %v", o.Interval)
	}
	return nil
}

// Create makes a new ring file at path and returns its Writer. It refuses
// an existing file (an error matching fs.ErrExist, the file untouched)
// unless opts.Replace is set. A nil opts means a 1 MiB Overwrite ring.
//
// The file's blocks are allocated up front (fallocate, where the OS has it),
// so a full disk fails here rather than as a SIGBUS later, and every page is
// faulted in writable, so the first lap runs at full speed.
//
// The file appears at path complete: it is built without a name (Linux's
// O_TMPFILE; on Windows a name the system removes if the process dies) and
// linked into place, so no reader ever sees a half-made header and a crash
// leaves no second name behind. Where the file system cannot (darwin, or a
// Linux file system without O_TMPFILE), and for the rename step of Replace,
// the file has a temporary name in the same directory (".NAME.tmp" and
// digits), locked by its creator while it exists: a crash at that moment
// leaves that name, and the next Create of the ring in that directory
// removes it. Any directory works, including /dev/shm.
func Create(path string, opts *Options) (*Writer, error) {
	if opts == nil {
		opts = &Options{}
	}
	g, err := opts.geometry(filepath.Dir(path))
	if err == nil {
		err = opts.checkWriter()
	}
	if err != nil {
		return nil, pathErr("create", path, err)
	}
	if err := createFile(path, g, opts); err != nil {
		return nil, pathErr("create", path, err)
	}
	return openWriter(context.Background(), path, opts, false)
}

// createUnnamed is sys.CreateUnnamed; tests replace it to exercise the
// temporary-name path on systems that have unnamed files.
var createUnnamed = sys.CreateUnnamed

// A temporary name in the ring's directory is "." + base + ".tmp" + digits.
// Its creator holds an exclusive flock on the file for as long as the name
// exists, so a temporary name whose lock can be taken was left by a process
// that died (a kill during Create) and Create removes it.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp" }

// isTempName reports whether name is a temporary name with that prefix.
func isTempName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStale removes the temporary names of path's ring left in dir by
// creators that died: those whose lock it can take. A live creator holds
// its lock, so its name is skipped; errors only mean a name stays.
func removeStale(dir, path string) {
	prefix := tempPrefix(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !isTempName(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := openRegular(name, os.O_RDONLY, true)
		if err != nil {
			continue
		}
		if sys.Flock(f.Fd(), true, false) != nil {
			f.Close() // its creator is alive
			continue
		}
		// The name must still be the file we locked (another cleaner may
		// have removed it, and a creator made a new file under it).
		same := false
		if fi, err := os.Lstat(name); err == nil {
			if st, err := f.Stat(); err == nil {
				same = os.SameFile(fi, st)
			}
		}
		if runtime.GOOS == "windows" {
			// Windows refuses to remove a file open without
			// FILE_SHARE_DELETE. A stale name can never become live
			// again (creators only take names that do not exist), so
			// letting go of the lock first is safe.
			f.Close()
		}
		if same {
			_ = os.Remove(name)
		}
		if runtime.GOOS != "windows" {
			f.Close()
		}
	}
}

// lockTemp takes the creator's lock on f, whose temporary name is tmp, and
// reports whether tmp still names f: a cleaner may have taken the lock
// between the name's creation and this call, and removed it.
func lockTemp(f *os.File, tmp string) (bool, error) {
	if err := sys.Flock(f.Fd(), true, false); err != nil {
		if errors.Is(err, sys.ErrWouldBlock) {
			return false, nil
		}
		return false, err
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		return false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, st), nil
}

// createTemp creates a new file under a temporary name of path's ring in
// dir and returns it locked (see tempPrefix).
func createTemp(dir, path string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
		if err != nil {
			return nil, err
		}
		ok, err := lockTemp(f, f.Name())
		if ok {
			return f, nil
		}
		f.Close()
		if err != nil || try == 100 {
			_ = os.Remove(f.Name())
			if err == nil {
				err = fmt.Errorf("temporary name %s: removed by another process 100 times", f.Name())
			}
			return nil, err
		}
	}
}

// createFile builds the ring file and gives it its name.
func createFile(path string, g *geometry, opts *Options) error {
	perm := opts.Perm
	if perm == 0 {
		perm = 0o644
	}
	dir := filepath.Dir(path)
	removeStale(dir, path)
	if !opts.Replace {
		if _, err := os.Lstat(path); err == nil {
			return fs.ErrExist
		}
	}
	fill := func(f *os.File) error {
		// Creation applies the umask; the ring gets the bits asked for.
		if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
			return err
		}
		size := int64(headerSize + g.capacity)
		if err := sys.Fallocate(f.Fd(), 0, size); err != nil {
			if !errors.Is(err, errors.ErrUnsupported) {
				return fmt.Errorf("allocate %d bytes: %w", size, err)
			}
			// No fallocate here: a sparse file is the best the OS offers.
			if err := f.Truncate(size); err != nil {
				return err
			}
		}
		if opts.Durability != SyncNone {
			// Allocated blocks are "unwritten" extents to ext4, XFS and
			// btrfs: the first write to each would make a sync commit
			// the file system's journal too. A ring made for durable
			// appends gets its blocks written once, now, so that each
			// durable append costs one data write and one device flush.
			if inMemory, _ := sys.InMemoryFS(dir); !inMemory {
				zero := make([]byte, 1<<20)
				for off := int64(headerSize); off < size; off += int64(len(zero)) {
					if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
						return fmt.Errorf("write the data area: %w", err)
					}
				}
			}
		}
		h := make([]byte, headerSize)
		encodeStatic(h, g)
		if _, err := f.WriteAt(h, 0); err != nil {
			return fmt.Errorf("write header: %w", err)
		}
		return f.Sync()
	}
	f, err := createUnnamed(dir, perm)
	if err == nil {
		// No name until it is complete: a crash leaves nothing behind.
		// (On Windows the file has a name the system removes when the
		// process ends, see sys.CreateUnnamed.)
		defer f.Close()
		if err := fill(f); err != nil {
			return err
		}
		if !opts.Replace {
			if err := sys.LinkUnnamed(f, path); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fs.ErrExist // Create never replaces a file unasked
				}
				return err
			}
			return syncDir(dir, opts)
		}
		// Replace: link under a temporary name, locked before it exists,
		// then rename over path.
		if err := sys.Flock(f.Fd(), true, false); err != nil {
			return fmt.Errorf("lock the new file: %w", err)
		}
		tmp := filepath.Join(dir, fmt.Sprintf("%s%d", tempPrefix(path), time.Now().UnixNano()))
		if err := sys.LinkUnnamed(f, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			_ = os.Remove(tmp)
			return err
		}
		return syncDir(dir, opts)
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	// A temporary name, locked while it exists (see tempPrefix), so that a
	// crash leaves a name the next Create removes.
	tf, err := createTemp(dir, path)
	if err != nil {
		return err
	}
	tmp := tf.Name()
	err = fill(tf)
	if runtime.GOOS == "windows" || err != nil {
		// Windows refuses to remove or rename a file open without
		// FILE_SHARE_DELETE: every handle is closed first.
		if e := tf.Close(); err == nil {
			err = e
		}
	} else {
		defer tf.Close() // the lock lasts until the name is gone
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if opts.Replace {
		if err := os.Rename(tmp, path); err != nil {
			_ = os.Remove(tmp)
			return err
		}
		return syncDir(dir, opts)
	}
	// Link fails if path appeared meanwhile: Create never replaces a file
	// unasked. The temporary name goes at once.
	lerr := os.Link(tmp, path)
	if err := os.Remove(tmp); err != nil {
		if lerr == nil {
			_ = os.Remove(path)
		}
		return fmt.Errorf("remove the temporary name %s: %w", tmp, err)
	}
	if lerr != nil {
		if errors.Is(lerr, fs.ErrExist) {
			return fs.ErrExist
		}
		return lerr
	}
	return syncDir(dir, opts)
}

// syncDir makes a durable ring's new name durable too.
func syncDir(dir string, opts *Options) error {
	if opts.Durability == SyncNone || runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// OpenWriter opens an existing ring for appending. A nil opts means
// durability SyncNone; the ring's own fields of Options (Capacity,
// MaxRecord, Policy, Perm, Replace) are ignored.
//
// If another Writer holds the ring, it fails at once with an error matching
// ErrLocked that names the holder's pid (or says it is another Writer of
// this process); OpenWriterWait waits instead.
//
// Opening recovers the ring: it validates the header (a file that is not a
// ring, has an unknown version or a damaged header is refused and never
// modified), walks the records from the oldest one, keeps every intact record
// and invalidates whatever follows the last one (a record torn by a crash).
func OpenWriter(path string, opts *Options) (*Writer, error) {
	return openWriter(context.Background(), path, opts, false)
}

// OpenWriterWait is OpenWriter that waits for the current writer to close
// (or die) instead of failing with ErrLocked. It returns ctx's error
// (wrapped) when ctx ends first.
func OpenWriterWait(ctx context.Context, path string, opts *Options) (*Writer, error) {
	return openWriter(ctx, path, opts, true)
}

func openWriter(ctx context.Context, path string, opts *Options, wait bool) (*Writer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.checkWriter(); err != nil {
		return nil, pathErr("open", path, err)
	}
	if o.Interval == 0 {
		o.Interval = 100 * time.Millisecond
	}
	f, err := openRegular(path, os.O_RDWR, o.NoFollow)
	if err != nil {
		return nil, pathErr("open", path, err)
	}
	w, err := newWriter(ctx, f, path, o, wait)
	if err != nil {
		f.Close()
		return nil, pathErr("open", path, err)
	}
	return w, nil
}

func newWriter(ctx context.Context, f *os.File, path string, o Options, wait bool) (*Writer, error) {
	// Validate with pread before anything else: a file that is not a ring
	// is never locked, mapped writable or modified.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := make([]byte, headerSize)
	if fi.Size() >= headerSize {
		if _, err := f.ReadAt(h, 0); err != nil {
			return nil, err
		}
	}
	if _, err := decodeStatic(h, fi.Size()); err != nil {
		return nil, err
	}
	id := fileID{fi}
	if err := lockWriter(ctx, f, id, wait); err != nil {
		return nil, err
	}
	fail := func(err error) (*Writer, error) {
		unlockWriter(f, id)
		return nil, err
	}
	// The header may have changed while we waited for the lock.
	if fi, err = f.Stat(); err != nil {
		return fail(err)
	}
	if _, err := f.ReadAt(h, 0); err != nil {
		return fail(err)
	}
	g, err := decodeStatic(h, fi.Size())
	if err != nil {
		return fail(err)
	}
	if !g.crc && o.Durability != SyncNone {
		return fail(fmt.Errorf("durability %v needs a ring with checksums, and this one has none (a record torn by a power loss could not be told from an intact one): %w", o.Durability, errors.ErrUnsupported))
	}
	m, err := sys.Map(f.Fd(), 0, headerSize+int(g.capacity), sys.ProtRead|sys.ProtWrite, 0)
	if err != nil {
		return fail(err)
	}
	w := &Writer{
		path: path,
		f:    f,
		m:    m,
		hdr:  m.Data[:headerSize],
		data: m.Data[headerSize:],
		g:    g,
		opts: o,
		fid:  id,
	}
	w.mask, w.capacity, w.maxRecord, w.shift, w.crc = g.mask, g.capacity, g.maxRecord, g.shift, g.crc
	w.syncCond.L = &w.syncMu
	w.chunk = max(g.capacity/16, 4096)
	w.markShift = uint(max(6, int(g.shift)-14)) // at most 16384 marks (256 KiB), blocks of at least 64 B
	w.marks = make([]mark, g.capacity>>w.markShift)
	if err := w.recover(); err != nil {
		_ = m.Unmap()
		return fail(err)
	}
	// Fault every data page in writable now, so appends never take a write
	// fault (50-100x slower than a steady append on this kind of machine).
	// On a disk file system this marks the whole ring dirty once (written
	// back by the kernel in the background). Unsupported advice (older
	// kernels, other systems) only costs speed.
	_ = sys.Advise(w.data, sys.AdvPopulateWrite)
	store32(w.hdr, offWriterPid, uint32(os.Getpid()))
	w.publishTail()
	if o.Durability != SyncNone {
		if err := w.syncFile(); err != nil {
			_ = m.Unmap()
			return fail(err)
		}
		w.durPos = w.pos
	}
	if o.Durability == SyncInterval {
		w.stop = make(chan struct{})
		w.done = make(chan struct{})
		go w.syncLoop()
	}
	return w, nil
}

// recover rebuilds the writer's state from the file. Header words no
// checksum covers are checked against each other and against the frames;
// what does not fit is refused (ErrBadHeader), never "repaired".
func (w *Writer) recover() error {
	g := w.g
	oldest := load64(w.hdr, offOldest)
	oldSeq := load64(w.hdr, offOldSeq)
	check := load64(w.hdr, offOldCheck)
	limit := load64(w.hdr, offLimit)
	if limit == 0 && oldest == 0 && oldSeq == 0 && check == 0 {
		limit = g.capacity // a new ring: the first lap is free
		check = oldCheck(0, 0)
	}
	if msg := g.checkOldest(oldest, oldSeq, limit); msg != "" {
		return fmt.Errorf("%s: %w", msg, ErrBadHeader)
	}
	durable := load64(w.hdr, offDurable)
	durSeq := load64(w.hdr, offDurSeq)
	// The frame at the oldest position carries the low 32 bits of its
	// sequence number (of the next record, for padding).
	off := int(oldest & g.mask)
	kind, _, tag := decodeCommit(load64(w.data, off))
	framed := tag == uint32(g.lap(oldest)+1) && (kind == kindData || kind == kindPadding)
	s32 := load32(w.data, off+8)
	if check == oldCheck(oldest, oldSeq) {
		// A consistent pair: the frame must agree with it.
		if framed && s32 != uint32(oldSeq) {
			return fmt.Errorf("the oldest frame carries sequence number %d, the header says %d: %w", s32, uint32(oldSeq), ErrBadHeader)
		}
	} else if framed {
		// A writer killed between the three stores left a new position
		// with an older number (and check word): the frame has the low
		// bits of the right one, which lies at most a lap of records
		// ahead of the stale one.
		d := s32 - uint32(oldSeq)
		if uint64(d) > g.capacity/frameAlign {
			return fmt.Errorf("oldest sequence number %d and its check word disagree, and the oldest frame carries %d: %w", oldSeq, s32, ErrBadHeader)
		}
		oldSeq += uint64(d)
		if lo, hi := g.seqBounds(oldest); oldSeq < lo || oldSeq > hi {
			return fmt.Errorf("oldest sequence number %d is impossible at position %d: %w", oldSeq, oldest, ErrBadHeader)
		}
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
	w.tailPub = pos
	w.limit = limit
	w.oldest, w.oldSq = oldest, oldSeq
	store64(w.hdr, offLimit, limit)
	w.publishOldest()
	if durable > pos || durable < oldest || durSeq > seq || durSeq < oldSeq {
		durable, durSeq = oldest, oldSeq // claim no more than is known
	}
	store64(w.hdr, offDurable, durable)
	store64(w.hdr, offDurSeq, durSeq)
	w.rec = Recovery{Oldest: oldSeq, Next: seq, Records: records, Invalidated: torn, Durable: durSeq}
	if g.policy == Block {
		w.reclaimDead()
	}
	return nil
}

// publishOldest stores the oldest position, its sequence number and their
// check word, in that order.
func (w *Writer) publishOldest() {
	store64(w.hdr, offOldest, w.oldest)
	store64(w.hdr, offOldSeq, w.oldSq)
	store64(w.hdr, offOldCheck, oldCheck(w.oldest, w.oldSq))
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

// ID returns the ring's identity.
func (w *Writer) ID() ID { return w.g.id }

// Checksum returns what protects the ring's records: ChecksumCRC32 or
// ChecksumNone.
func (w *Writer) Checksum() Checksum { return w.g.checksum() }

// Capacity returns the size of the ring's data area in bytes.
func (w *Writer) Capacity() int { return int(w.g.capacity) }

// Policy returns what the ring does when it is full.
func (w *Writer) Policy() Policy { return w.g.policy }

// Append copies p into the ring as one record and returns its sequence
// number. On a Block ring it waits for readers to make room; with
// SyncEveryAppend it returns once the record is durable.
func (w *Writer) Append(p []byte) (uint64, error) {
	return w.AppendContext(context.Background(), p)
}

// AppendContext is Append that gives up when ctx ends while waiting for room
// on a Block ring.
func (w *Writer) AppendContext(ctx context.Context, p []byte) (uint64, error) {
	n := len(p)
	w.mu.Lock()
	// The common case inline: the frame fits before the end of the data
	// area and below the limit (no padding, no room to make) and the
	// writer is open. Everything else goes through reserveLocked.
	pos := w.pos
	off := pos & w.mask
	size := uint64(frameSize(n))
	if uint(n) > uint(w.maxRecord) || off+size > w.capacity || pos+size > w.limit || w.closing.Load() {
		b, err := w.reserveLocked(ctx, n)
		if err != nil {
			w.mu.Unlock()
			return 0, err
		}
		copy(b, p)
		return w.commitAndUnlock(n)
	}
	w.mark(pos)
	w.resPos = pos
	copy(w.data[off+frameHdrSize:off+frameHdrSize+uint64(n)], p)
	return w.commitAndUnlock(n)
}

// AppendFunc appends one record of n bytes that fill writes in place, in
// the ring's memory (no copy), and returns its sequence number. If fill
// returns an error, nothing is published and AppendFunc returns that error
// as it is. On a Block ring it first waits for room until ctx ends.
//
// The slice is valid only while fill runs: it must not be kept, and fill
// must not call the Writer's methods (appends are serialised, so that would
// wait for itself). Close waits for a running fill to return, so a fill
// never writes into memory that was unmapped. A fill that panics publishes
// nothing; the panic goes on.
func (w *Writer) AppendFunc(ctx context.Context, n int, fill func(b []byte) error) (seq uint64, err error) {
	w.mu.Lock()
	var b []byte
	pos := w.pos
	off := pos & w.mask
	if size := uint64(frameSize(n)); uint(n) <= uint(w.maxRecord) && off+size <= w.capacity && pos+size <= w.limit && !w.closing.Load() {
		// The common case, as in AppendContext.
		w.mark(pos)
		w.resPos = pos
		b = w.data[off+frameHdrSize : off+frameHdrSize+uint64(n) : off+frameHdrSize+uint64(n)]
	} else {
		b, err = w.reserveLocked(ctx, n)
	}
	if err != nil {
		w.mu.Unlock()
		return 0, err
	}
	done := false
	defer func() {
		if !done { // fill panicked: drop the reservation, free the writer
			w.mu.Unlock()
		}
	}()
	if err := fill(b); err != nil {
		done = true
		w.mu.Unlock()
		return 0, err
	}
	done = true
	return w.commitAndUnlock(n)
}

// reserveLocked makes room for a frame of n payload bytes, writing a padding
// frame first if the record does not fit before the end of the data area.
// Nothing is published until commitLocked; dropping the reservation needs no
// undo (the next append reuses the same position).
func (w *Writer) reserveLocked(ctx context.Context, n int) ([]byte, error) {
	if w.closing.Load() { // set before closed, and read by the fast path
		return nil, pathErr("append", w.path, ErrClosed)
	}
	if n < 0 || n > w.g.maxRecord {
		return nil, pathErr("append", w.path, fmt.Errorf("%d bytes, max record %d: %w", n, w.g.maxRecord, ErrTooLarge))
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
	w.mark(w.pos)
	w.resPos = w.pos
	return w.data[off+frameHdrSize : off+frameHdrSize+uint64(n) : off+frameHdrSize+uint64(n)], nil
}

// commitAndUnlock publishes the reserved record of n bytes, releases the
// writer lock and, with SyncEveryAppend, waits for a sync covering the
// record (taken outside the lock, so concurrent appenders share one: group
// commit).
func (w *Writer) commitAndUnlock(n int) (uint64, error) {
	seq, end := w.commitLocked(n)
	w.mu.Unlock()
	if w.opts.Durability == SyncEveryAppend {
		if err := w.syncTo(end); err != nil {
			return seq, err
		}
	}
	return seq, nil
}

// commitLocked checksums the reserved payload and publishes the frame with
// one atomic store of its commit word: a reader sees either nothing or the
// whole record.
func (w *Writer) commitLocked(n int) (seq, end uint64) {
	off := w.resPos & w.mask
	// seq32 and the CRC (0 without checksums) in one store.
	word := uint64(uint32(w.seq))
	if w.crc {
		word |= uint64(crcOf(w.data[off+frameHdrSize:off+frameHdrSize+uint64(n)])) << 32
	}
	binary.LittleEndian.PutUint64(w.data[off+8:], word)
	// The store is a full barrier on amd64 (XCHG) and a release on arm64
	// (STLR): the payload, seq and CRC are visible before the commit word,
	// in this process and in any other mapping the same file.
	store64(w.data, int(off), uint64(uint32(w.resPos>>w.shift+1))<<32|kindData<<28|uint64(n))
	w.pos = w.resPos + uint64(frameSize(n))
	seq = w.seq
	w.seq++
	if w.pos-w.tailPub >= tailEvery {
		w.publishTail()
	}
	// Dekker handshake with sleeping readers: they set the flag, then re-check
	// the commit word; we store the commit word, then check the flag.
	if load32(w.hdr, offRdrWait) != 0 {
		w.wakeReaders()
	}
	return seq, w.pos
}

func (w *Writer) wakeReaders() {
	store32(w.hdr, offRdrWait, 0)
	wait.Wake(u32(w.hdr, offDataFtx))
}

// publishTail stores the tail hint (a committed position and its sequence
// number). Readers do not need it to follow the ring; it makes Stat and
// SeekEnd fast.
func (w *Writer) publishTail() {
	// The sequence number first, then the position: a reader loads them in
	// the other order, so a pair torn by an update it raced with always has
	// a committed frame at its position that carries another sequence
	// number, which tells it apart (see Reader.tailHint).
	store64(w.hdr, offTailSeq, w.seq)
	store64(w.hdr, offTailPos, w.pos)
	w.tailPub = w.pos
	if w.opts.Durability != SyncNone {
		// The durable words go with the tail hint rather than after every
		// sync: a store to the header page after each sync would make the
		// next sync write that page too (two device writes per append
		// instead of one). They are informational, and lag a little.
		if d := w.durPub.Load(); d != nil {
			store64(w.hdr, offDurSeq, d.seq)
			store64(w.hdr, offDurable, d.pos)
		}
	}
}

// tailEvery is how many bytes of frames the writer appends between two
// publications of the tail hint: a reader seeking the end walks at most
// about this far from the hint.
const tailEvery = 4096

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
		if end > base+c {
			if err := w.waitRoom(ctx, end); err != nil {
				return err
			}
			base = w.minReader()
		}
		newLimit = max(end, min(end+w.chunk, base+c))
		w.advanceOldest(base)
	}
	if w.oldest == w.pos {
		// Nothing is left: the oldest frame is the one about to be
		// written. Its commit word is cleared first, so that stale bytes
		// there (a payload of the previous lap can look like a frame of
		// this one) are never read as the oldest record.
		store64(w.data, int(w.pos&w.g.mask), 0)
	}
	// Readers must learn of the new oldest frame before the limit moves, and
	// the limit must move before any byte below it is overwritten: a reader
	// that copied a record and then still sees an old enough limit knows its
	// copy is intact.
	w.publishOldest()
	// A swap, not a store: on arm64 a store-release lets later stores (the
	// overwriting of old frames) become visible before it; a swap is
	// acquire-release and keeps them after. On amd64 both are XCHG.
	atomic.SwapUint64(u64(w.hdr, offLimit), newLimit)
	w.limit = newLimit
	w.publishTail()
	if w.opts.Durability != SyncNone {
		// After a power loss the header on disk must never claim less than
		// what the data on disk has overwritten.
		if err := w.syncFile(); err != nil {
			return pathErr("append", w.path, err)
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
	// (a dropped reservation records a mark but no frame: the walk below
	// then finds no valid frame there and the jump is not taken).
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

// reclaimDead frees the slots of readers that died, so a crashed consumer
// cannot stall a Block ring forever. A reader is alive while it holds its
// slot's lock (see Reader.register), which the kernel releases when it dies.
func (w *Writer) reclaimDead() {
	for i := range w.g.slots {
		s := offSlot0 + i*slotSize
		owner := load64(w.hdr, s+slotOwner)
		if owner == 0 || load32(w.hdr, s+slotFlags)&slotDurable != 0 {
			continue // free, or a named slot kept for its reader's return
		}
		alive, release := slotAlive(w.f, i, int(owner>>32))
		if !alive {
			atomic.CompareAndSwapUint64(u64(w.hdr, s+slotOwner), owner, 0)
		}
		release()
	}
}

// waitRoom waits on a Block ring until readers make room for a frame ending
// at end, Close is called or ctx ends. Readers publish their positions, then
// wake the writer if it set its waiting flag (internal/wait's handshake).
func (w *Writer) waitRoom(ctx context.Context, end uint64) error {
	w.publishTail()
	c := w.g.capacity
	last := time.Now()
	wt := wait.Waiter{
		Word: u32(w.hdr, offSpaceFtx),
		Arm:  func() { store32(w.hdr, offWrWait, 1) },
	}
	err := wt.Wait(ctx, func() bool {
		if w.closing.Load() || end <= w.minReader()+c {
			return true
		}
		// A reader that died holds its slot until reclaimed: look now and
		// then (each look costs a system call per registered slot).
		if now := time.Now(); now.Sub(last) > 10*time.Millisecond {
			last = now
			w.reclaimDead()
		}
		return false
	})
	if err != nil {
		return pathErr("append", w.path, fmt.Errorf("waiting for readers to make room: %w", err))
	}
	if w.closing.Load() {
		return pathErr("append", w.path, ErrClosed)
	}
	return nil
}

// Sync makes every record appended so far durable, whatever the Durability.
func (w *Writer) Sync() error {
	w.mu.Lock()
	end, closed := w.pos, w.closed
	w.mu.Unlock()
	if closed {
		return pathErr("sync", w.path, ErrClosed)
	}
	return w.syncTo(end)
}

// syncTo makes positions below target durable, sharing syncs between
// callers (group commit). One caller at a time leads: it syncs the file up
// to the writer's position at that moment, while the others wait; the
// sync's end wakes them all, and those it covered return. A new leader
// first lets the callers the last sync released append their next records
// (until as many have arrived, for at most an eighth of the last sync's
// duration), so that with many appenders each sync covers all of them
// rather than alternating halves.
func (w *Writer) syncTo(target uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.durPos >= target {
		return nil
	}
	w.arrivals++
	for w.durPos < target {
		if w.syncing {
			w.syncCond.Wait()
			continue
		}
		w.syncing = true
		if w.lastGroup > 1 {
			deadline := time.Now().Add(min(w.lastDur/8, 200*time.Microsecond))
			for w.arrivals < w.lastGroup && time.Now().Before(deadline) {
				w.syncMu.Unlock()
				runtime.Gosched()
				w.syncMu.Lock()
			}
		}
		group := w.arrivals
		w.arrivals = 0
		w.mu.Lock()
		end, seq, closed := w.pos, w.seq, w.closed
		w.mu.Unlock()
		if closed {
			w.syncing = false
			w.syncCond.Broadcast()
			return pathErr("sync", w.path, ErrClosed)
		}
		before, after := w.beforeSync, w.afterSync
		w.syncMu.Unlock()
		if before != nil {
			before()
		}
		t0 := time.Now()
		// One sync of the whole file, data and header together (one
		// device flush).
		err := w.syncFile()
		dur := time.Since(t0)
		w.syncMu.Lock()
		w.syncing = false
		if err == nil {
			// The durable position is published after the sync (with
			// the next tail hint), so it never claims more than is on
			// the disk.
			w.durPub.Store(&mark{end, seq})
			w.durPos = end
			w.lastGroup, w.lastDur = group, dur
		}
		w.syncCond.Broadcast()
		if err != nil {
			return pathErr("sync", w.path, err)
		}
		if after != nil {
			after()
		}
	}
	return nil
}

// syncFile makes everything written to the file so far durable.
func (w *Writer) syncFile() error {
	if err := sys.SyncMapping(&w.m, w.f.Fd()); err != nil {
		return err
	}
	if w.flushed != nil {
		w.flushed(0, -1)
	}
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
// SyncNone was asked for, unmaps the ring and releases the writer lock. It
// waits for running AppendFunc fills; an append waiting for room on a Block
// ring returns ErrClosed. Close of a closed Writer returns nil; every other
// method returns an error matching ErrClosed.
func (w *Writer) Close() error {
	// An append waiting for room on a Block ring holds the lock: make it
	// give up. (The wake-up is in the mapping, which stays valid until the
	// lock is ours.)
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	if !w.closing.Swap(true) {
		wait.Wake(u32(w.hdr, offSpaceFtx))
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.publishTail()
	end := w.pos
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	var err error
	if w.opts.Durability != SyncNone {
		err = w.syncTo(end)
		w.mu.Lock()
		w.publishTail() // with the final durable words
		w.mu.Unlock()
	}
	if p := w.syncErr.Load(); p != nil && err == nil {
		err = *p
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	for w.syncing { // a leader still syncs the mapping: let it finish
		w.syncCond.Wait()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.release(); err == nil {
		err = e
	}
	if err != nil {
		return pathErr("close", w.path, err)
	}
	return nil
}

// release unmaps the ring, drops the lock and closes the file.
func (w *Writer) release() error {
	w.closed = true
	store32(w.hdr, offWriterPid, 0)
	w.hdr, w.data = nil, nil
	err := w.m.Unmap()
	unlockWriter(w.f, w.fid)
	if e := w.f.Close(); err == nil {
		err = e
	}
	return err
}
