package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/wait"
	"github.com/mmapkit/mmapkit/mmap"
)

// Slot errors.
var (
	// ErrNotSlot: the bytes at the offset are not a slot header (wrong magic,
	// version, or header checksum), or the capacity they state does not fit in
	// the region.
	ErrNotSlot = errors.New("not a slot")
	// ErrCorrupt: the slot's shared words hold impossible values (a length
	// larger than the capacity in a stable value): a buggy or hostile peer.
	ErrCorrupt = errors.New("slot holds an impossible value")
	// ErrWriterStuck: no consistent value could be read for longer than the
	// stuck timeout. Either a store stayed in progress (the writer most
	// likely died mid-store; a new writer can call Recover), or the writer
	// kept every copy from being consistent (a broken or hostile peer).
	ErrWriterStuck = errors.New("slot writer stuck mid-store")
	// ErrBusy: Store found another store in progress: two writers are using
	// the slot at once, or a writer died mid-store (see Recover).
	ErrBusy = errors.New("slot is being written by someone else")
	// ErrTooLarge: a value longer than the slot's capacity, or a message
	// longer than a Queue's MaxMessage.
	ErrTooLarge = errors.New("too large")
)

// Slot layout; FORMAT.md ("Shared-memory slot") is the reference.
const (
	slotMagic      = "MKSL"
	slotVersion    = 1
	slotHeaderSize = 128 // the value starts here
	offVersion     = 4
	offHdrSize     = 6
	offCapacity    = 8
	offHdrCRC      = 12
	offSeq         = 64
	offWaiters     = 72
	offLength      = 76
	offWake        = 80
)

// The Slot's limit and the defaults of SlotOptions.
const (
	// MaxSlotCapacity is the largest value a Slot can hold.
	MaxSlotCapacity = 1 << 30

	// DefaultSpin is how long Wait polls before it sleeps.
	DefaultSpin = 20 * time.Microsecond

	// DefaultStuckTimeout bounds every Load and Wait that cannot read a
	// consistent value.
	DefaultStuckTimeout = time.Second
)

// SlotOptions tune a Slot. A nil *SlotOptions and every zero field mean the
// documented default.
type SlotOptions struct {
	// Spin is how long Wait polls before it sleeps (default DefaultSpin;
	// negative: sleep at once). Polling answers within nanoseconds of a
	// Store but keeps a CPU busy, which on a machine with few cores can slow
	// the very writer being waited for.
	Spin time.Duration
	// StuckTimeout bounds how long Load and Wait go on without reading a
	// consistent value, however the writer behaves, before they return
	// ErrWriterStuck (default DefaultStuckTimeout). A store takes
	// nanoseconds, but a writer can be descheduled mid-store on a busy
	// machine: keep this well above a scheduling quantum.
	StuckTimeout time.Duration
}

// SlotSize returns the bytes a Slot of the given capacity occupies: a
// 128-byte header and the value area, rounded up to 8 bytes. A segment for
// one Slot is shm.Create(name, shm.SlotSize(capacity), nil).
func SlotSize(capacity int) int { return slotHeaderSize + roundUp8(capacity) }

func roundUp8(n int) int { return (n + 7) &^ 7 }

// Slot is a single-writer, many-reader cell that holds the latest value of
// something (a counter and a timestamp, a position, a small struct), shared
// between processes through a mapped Region. It is a seqlock:
//
//   - the writer makes the sequence word odd, writes the length and the
//     bytes, then makes it even again (two more than before);
//   - a reader reads the sequence, copies the value, and reads the sequence
//     again: if it was odd or changed, the copy may be torn and the reader
//     retries. So Load never returns a half-old, half-new value, and the
//     writer never waits for readers.
//
// Every shared word is accessed with sync/atomic, the value too (one 64-bit
// atomic per 8 bytes): the atomics order the value's bytes against the
// sequence on every architecture (a plain copy is not ordered on arm64), and
// they are hardware operations on the shared physical page, which is what
// makes them work between processes (the Go memory model itself speaks only
// of goroutines).
//
// Wait blocks until the value changes: after a short spin it sleeps in the
// kernel (a futex in the slot's header) instead of burning a CPU, and the
// writer pays for a wake-up system call only when a reader is actually
// asleep.
//
// A Slot is for small values: the per-word atomics make a store cost about
// 10 ns per 8 bytes on amd64 (an XCHG each). For a stream of messages, or
// large ones, use a Queue.
//
// A Slot has one writer at a time: a second concurrent Store fails with
// ErrBusy rather than interleaving. The writer is another process, so
// nothing it does may hang a reader: Load and Wait give up with
// ErrWriterStuck when they cannot read a consistent value for
// SlotOptions.StuckTimeout, whether the writer died mid-store or keeps the
// sequence odd on purpose, and both take a context. A new writer calls
// Recover after a dead one.
//
// Nothing read from the shared memory is trusted: the header is checked
// (magic, version, checksum, capacity against the region) on attach, and
// the length of every value is checked before use, so a garbage or hostile
// segment gives errors, never a panic or an out-of-range access.
//
// Errors are *fs.PathError values naming the operation and the Region's
// file. The methods are safe for concurrent use by multiple goroutines; a
// Slot is valid as long as its Region: after the Region's Close every
// method returns an error matching mmap.ErrClosed.
type Slot struct {
	r     *mmap.Region
	off   int // offset of the header in the Region
	cap   int // capacity in bytes (multiple of 8)
	spin  time.Duration
	stuck time.Duration
}

func newSlot(r *mmap.Region, off int, opts *SlotOptions) *Slot {
	s := &Slot{r: r, off: off, spin: DefaultSpin, stuck: DefaultStuckTimeout}
	if opts != nil {
		if opts.Spin != 0 {
			s.spin = opts.Spin
		}
		if opts.StuckTimeout > 0 {
			s.stuck = opts.StuckTimeout
		}
	}
	return s
}

// err wraps an error of operation op in a *fs.PathError naming the Region's
// file (once: an mmap error about the same file is unwrapped first).
func (s *Slot) err(op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == s.r.Path() {
		err = pe.Err
	}
	return &fs.PathError{Op: "shm: " + op, Path: s.r.Path(), Err: err}
}

// NewSlot writes a fresh Slot header at offset off of r (which must be
// writable, 8-byte aligned, with SlotSize(capacity) bytes from off) and returns
// the Slot. The value starts empty with sequence 0. Only the creator calls
// NewSlot; other processes attach with OpenSlot.
func NewSlot(r *mmap.Region, off int64, capacity int, opts *SlotOptions) (*Slot, error) {
	s := newSlot(r, 0, opts)
	if capacity <= 0 || capacity > MaxSlotCapacity {
		return nil, s.err("new slot", fmt.Errorf("%w: capacity %d outside 1..%d", ErrTooLarge, capacity, MaxSlotCapacity))
	}
	capacity = roundUp8(capacity)
	if r.Mode() != mmap.ReadWrite {
		return nil, s.err("new slot", mmap.ErrReadOnly)
	}
	s.cap = capacity
	err := r.Do(func(b []byte) error {
		o, err := checkPlace(b, off, SlotSize(capacity))
		if err != nil {
			return err
		}
		s.off = o
		h := b[o : o+slotHeaderSize]
		clear(h[:offSeq])
		copy(h, slotMagic)
		binary.LittleEndian.PutUint16(h[offVersion:], slotVersion)
		binary.LittleEndian.PutUint16(h[offHdrSize:], slotHeaderSize)
		binary.LittleEndian.PutUint32(h[offCapacity:], uint32(capacity))
		binary.LittleEndian.PutUint32(h[offHdrCRC:], crc32.ChecksumIEEE(h[:offHdrCRC]))
		atomic.StoreUint32(s.word32(b, offLength), 0)
		atomic.StoreUint32(s.word32(b, offWaiters), 0)
		for i := offWake; i < slotHeaderSize; i += 8 {
			atomic.StoreUint64(s.word64(b, i), 0)
		}
		for i := 0; i < capacity; i += 8 {
			atomic.StoreUint64(s.word64(b, slotHeaderSize+i), 0)
		}
		atomic.StoreUint64(s.word64(b, offSeq), 0)
		return nil
	})
	if err != nil {
		return nil, s.err("new slot", fmt.Errorf("at offset %d: %w", off, err))
	}
	return s, nil
}

// OpenSlot attaches to the Slot whose header is at offset off of r, after
// checking the header. A ReadOnly Region gives a Slot that can Load and Wait
// but not Store.
func OpenSlot(r *mmap.Region, off int64, opts *SlotOptions) (*Slot, error) {
	s := newSlot(r, 0, opts)
	err := r.Do(func(b []byte) error {
		o, err := checkPlace(b, off, slotHeaderSize)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotSlot, err)
		}
		var h [16]byte // copy first: a peer may change the bytes while we check them
		copy(h[:], b[o:])
		c, err := parseSlotHeader(h[:])
		if err != nil {
			return err
		}
		if c > len(b)-o-slotHeaderSize {
			return fmt.Errorf("%w: capacity %d needs %d bytes from offset %d, the region has %d", ErrNotSlot, c, SlotSize(c), o, len(b)-o)
		}
		s.off, s.cap = o, c
		return nil
	})
	if err != nil {
		return nil, s.err("open slot", fmt.Errorf("at offset %d: %w", off, err))
	}
	return s, nil
}

// parseSlotHeader validates the static header (at least 16 bytes) and returns
// the capacity.
func parseSlotHeader(h []byte) (int, error) {
	if string(h[:4]) != slotMagic {
		return 0, fmt.Errorf("%w: magic %q, want %q", ErrNotSlot, h[:4], slotMagic)
	}
	if got, want := binary.LittleEndian.Uint32(h[offHdrCRC:]), crc32.ChecksumIEEE(h[:offHdrCRC]); got != want {
		return 0, fmt.Errorf("%w: header checksum %#08x, computed %#08x", ErrNotSlot, got, want)
	}
	if v := binary.LittleEndian.Uint16(h[offVersion:]); v != slotVersion {
		return 0, fmt.Errorf("%w: version %d, this code reads version %d", ErrNotSlot, v, slotVersion)
	}
	if hs := binary.LittleEndian.Uint16(h[offHdrSize:]); hs != slotHeaderSize {
		return 0, fmt.Errorf("%w: header size %d, want %d", ErrNotSlot, hs, slotHeaderSize)
	}
	c := binary.LittleEndian.Uint32(h[offCapacity:])
	if c == 0 || c > MaxSlotCapacity || c%8 != 0 {
		return 0, fmt.Errorf("%w: capacity %d is not a multiple of 8 in 8..%d", ErrNotSlot, c, MaxSlotCapacity)
	}
	return int(c), nil
}

// checkPlace checks that n bytes at off fit in b and are 8-byte aligned, and
// returns off as an int.
func checkPlace(b []byte, off int64, n int) (int, error) {
	if off < 0 || off > int64(len(b)) || int64(n) > int64(len(b))-off {
		return 0, fmt.Errorf("%w: %d bytes at offset %d do not fit in the region (%d bytes)", mmap.ErrOutOfRange, n, off, len(b))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 || off%8 != 0 {
		return 0, fmt.Errorf("%w: a slot must start on an 8-byte boundary (offset %d)", mmap.ErrOutOfRange, off)
	}
	return int(off), nil
}

func (s *Slot) word64(b []byte, at int) *uint64 {
	return (*uint64)(unsafe.Pointer(&b[s.off+at]))
}

func (s *Slot) word32(b []byte, at int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[s.off+at]))
}

// Capacity returns the largest value the Slot holds, in bytes.
func (s *Slot) Capacity() int { return s.cap }

// Seq returns the current sequence number: 0 before the first store, then
// 2 per store (odd while a store is in progress).
func (s *Slot) Seq() (seq uint64, err error) {
	err = s.r.Do(func(b []byte) error {
		seq = atomic.LoadUint64(s.word64(b, offSeq))
		return nil
	})
	if err != nil {
		return 0, s.err("seq", err)
	}
	return seq, nil
}

// Store publishes p as the Slot's value and wakes every Waiter. It fails with
// ErrTooLarge if p is longer than the capacity, and with ErrBusy if another
// store is in progress (see Recover). It never waits.
func (s *Slot) Store(p []byte) error {
	if len(p) > s.cap {
		return s.err("store", fmt.Errorf("%w: %d bytes, the slot's capacity is %d", ErrTooLarge, len(p), s.cap))
	}
	if s.r.Mode() != mmap.ReadWrite {
		return s.err("store", mmap.ErrReadOnly)
	}
	err := s.r.Do(func(b []byte) error {
		seqp := s.word64(b, offSeq)
		seq := atomic.LoadUint64(seqp)
		if seq&1 != 0 || !atomic.CompareAndSwapUint64(seqp, seq, seq+1) {
			return fmt.Errorf("%w (sequence %d)", ErrBusy, seq)
		}
		atomic.StoreUint32(s.word32(b, offLength), uint32(len(p)))
		data := b[s.off+slotHeaderSize:]
		i := 0
		for ; i+8 <= len(p); i += 8 {
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&data[i])), binary.NativeEndian.Uint64(p[i:]))
		}
		if i < len(p) {
			var w [8]byte
			copy(w[:], p[i:])
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&data[i])), binary.NativeEndian.Uint64(w[:]))
		}
		// Sequentially consistent: the store of the even sequence is ordered
		// before the load of the waiters count, and a waiter increments the
		// count before re-reading the sequence (wait.Waiter's Arm), so
		// either we see the waiter or it sees the new sequence.
		atomic.StoreUint64(seqp, seq+2)
		if atomic.LoadUint32(s.word32(b, offWaiters)) != 0 {
			wait.Wake(s.word32(b, offWake))
		}
		return nil
	})
	if err != nil {
		return s.err("store", err)
	}
	return nil
}

// Recover ends a store that a dead writer left half done: if the sequence is
// odd it sets the value to empty and makes the sequence even, and reports
// true. Call it only when no other writer can be alive (for example while
// holding a lock the old writer held), or it can corrupt a store in progress.
func (s *Slot) Recover() (bool, error) {
	if s.r.Mode() != mmap.ReadWrite {
		return false, s.err("recover", mmap.ErrReadOnly)
	}
	var did bool
	err := s.r.Do(func(b []byte) error {
		seqp := s.word64(b, offSeq)
		seq := atomic.LoadUint64(seqp)
		if seq&1 == 0 {
			return nil
		}
		atomic.StoreUint32(s.word32(b, offLength), 0)
		did = atomic.CompareAndSwapUint64(seqp, seq, seq+1)
		if did {
			wait.Wake(s.word32(b, offWake))
		}
		return nil
	})
	if err != nil {
		return false, s.err("recover", err)
	}
	return did, nil
}

// Load copies the current value into buf and returns its sequence number
// and length. The value is never torn: it is exactly what one Store wrote.
// If buf is too short, Load returns the length needed and an error matching
// io.ErrShortBuffer. Before the first Store the value is empty, with
// sequence 0.
//
// Load normally returns at once. It retries while a store is in progress,
// and gives up with ErrWriterStuck when it has not read a consistent value
// for the stuck timeout (SlotOptions.StuckTimeout), however the writer
// behaves, or with ctx's error when ctx ends first.
func (s *Slot) Load(ctx context.Context, buf []byte) (seq uint64, n int, err error) {
	var (
		start time.Time
		first uint64
	)
	for i := 0; ; i++ {
		var done bool
		err = s.r.Do(func(b []byte) error {
			var err error
			seq, n, done, err = s.try(b, buf)
			return err
		})
		if err != nil {
			return seq, n, s.err("load", err)
		}
		if done {
			return seq, n, nil
		}
		// A store is in progress, or one ended during the copy: that takes
		// nanoseconds unless the writer was descheduled, died, or misbehaves.
		// Retry at once, then yield, then pause, within a bounded time.
		switch {
		case i < 100:
			continue
		case i < 200:
			runtime.Gosched()
			continue
		}
		now := time.Now()
		if start.IsZero() {
			start, first = now, seq
		} else if d := now.Sub(start); d > s.stuck {
			return seq, 0, s.err("load", stuckError(first, seq, d))
		}
		if err := ctx.Err(); err != nil {
			return seq, 0, s.err("load", err)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// stuckError describes a reader that found no consistent value for d: the
// sequence went from first to last.
func stuckError(first, last uint64, d time.Duration) error {
	d = d.Round(time.Millisecond)
	if first == last {
		return fmt.Errorf("%w: sequence %d odd for %v (the writer died mid-store? see Recover)", ErrWriterStuck, last, d)
	}
	return fmt.Errorf("%w: no consistent value for %v, sequence %d then %d (a writer that never completes a store, or stores faster than a copy)", ErrWriterStuck, d, first, last)
}

// try makes one seqlock read: done reports a consistent copy.
func (s *Slot) try(b, buf []byte) (seq uint64, n int, done bool, err error) {
	seqp := s.word64(b, offSeq)
	data := b[s.off+slotHeaderSize : s.off+slotHeaderSize+s.cap]
	s1 := atomic.LoadUint64(seqp)
	if s1&1 != 0 {
		return s1, 0, false, nil
	}
	n = int(atomic.LoadUint32(s.word32(b, offLength)))
	switch {
	case n > len(data):
		if atomic.LoadUint64(seqp) == s1 {
			return s1, 0, false, fmt.Errorf("%w: length %d, capacity %d (sequence %d)", ErrCorrupt, n, len(data), s1)
		}
	case n > len(buf):
		if atomic.LoadUint64(seqp) == s1 {
			return s1, n, false, fmt.Errorf("value of %d bytes, buffer of %d: %w", n, len(buf), io.ErrShortBuffer)
		}
	default:
		copyOut(buf[:n], data)
		if atomic.LoadUint64(seqp) == s1 {
			return s1, n, true, nil
		}
	}
	return s1, 0, false, nil
}

// copyOut copies len(dst) bytes of the value with one atomic load per 8
// bytes (see Slot).
func copyOut(dst, data []byte) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		binary.NativeEndian.PutUint64(dst[i:], atomic.LoadUint64((*uint64)(unsafe.Pointer(&data[i]))))
	}
	if i < len(dst) {
		var w [8]byte
		binary.NativeEndian.PutUint64(w[:], atomic.LoadUint64((*uint64)(unsafe.Pointer(&data[i]))))
		copy(dst[i:], w[:])
	}
}

// waitSlice bounds how long Wait holds the Region (a Region's Close waits for
// running calls): a Wait with nothing to wake it lets a Close through at
// least this often, and then returns an error matching mmap.ErrClosed.
// Tests lengthen it to prove that no wake-up depends on it.
var waitSlice = 100 * time.Millisecond

// futexSleeps counts Wait's arming to sleep in the kernel, so tests can see
// that the futex path ran (one atomic add per sleep, off the fast path).
var futexSleeps atomic.Int64

// Wait blocks until the Slot's sequence differs from seq and no store is in
// progress, then returns the new sequence. Pass the sequence of the last
// value you loaded (0 waits for the first store). It returns at once if the
// value already changed.
//
// It polls for the spin time (SlotOptions.Spin), then sleeps in the kernel
// (a futex in the slot's header, on Linux) until Store wakes it. Sleeping
// means counting itself in the slot's waiters word, so it needs a ReadWrite
// attach (the reader still never writes the value): through a ReadOnly or
// CopyOnWrite attach, and on systems without futexes, Wait polls with sleeps
// growing to 1 ms instead. It returns ctx's error promptly when ctx ends,
// and ErrWriterStuck if the sequence is odd whenever it looks for longer
// than the stuck timeout (a writer that died mid-store, or one that never
// completes a store). A Close of the Region ends it within about 100 ms
// with an error matching mmap.ErrClosed.
func (s *Slot) Wait(ctx context.Context, seq uint64) (uint64, error) {
	var (
		cur      uint64
		oddSince time.Time // first seen odd since last seen even
		stuck    error
	)
	// Sleeping needs the waiters count, which only a ReadWrite mapping can
	// change: a write to a ReadOnly mapping faults, and one to a
	// CopyOnWrite mapping would detach the page from the writer's. Such a
	// Wait polls (every 1 ms at most) and sees ctx end by itself.
	poll := s.r.Mode() != mmap.ReadWrite
	if !poll {
		// Cancelling ctx wakes the sleepers on the wake word (in every
		// process: a spurious wake-up only makes the others look again). It
		// goes through Do, so it never touches the mapping after the
		// Region's Close.
		stop := context.AfterFunc(ctx, func() {
			_ = s.r.Do(func(b []byte) error { wait.Wake(s.word32(b, offWake)); return nil })
		})
		defer stop()
	}
	spin := s.spin
	for {
		var done bool
		err := s.r.Do(func(b []byte) error {
			seqp := s.word64(b, offSeq)
			waiters := s.word32(b, offWaiters)
			until := time.Now().Add(waitSlice)
			ready := func() bool {
				cur = atomic.LoadUint64(seqp)
				if cur != seq && cur&1 == 0 {
					done = true
					return true
				}
				if ctx.Err() != nil {
					return true
				}
				if cur&1 == 0 {
					oddSince = time.Time{}
					return false
				}
				// Odd: fine for nanoseconds, not for the stuck timeout,
				// counted from the last time the sequence was seen even
				// (a writer that keeps it odd while changing it must not
				// restart the clock).
				now := time.Now()
				if oddSince.IsZero() {
					oddSince = now
				} else if d := now.Sub(oddSince); d > s.stuck {
					stuck = fmt.Errorf("%w: sequence odd for %v (now %d)", ErrWriterStuck, d.Round(time.Millisecond), cur)
					return true
				}
				return now.After(until)
			}
			w := wait.Waiter{
				Word:   s.word32(b, offWake),
				Arm:    func() { atomic.AddUint32(waiters, 1); futexSleeps.Add(1) },
				Disarm: func() { atomic.AddUint32(waiters, ^uint32(0)) },
				Spin:   spin,
				Poll:   poll,
			}
			if poll {
				w.Word, w.Arm, w.Disarm = nil, nil, nil
			}
			// The Waiter gets a context that never ends: the AfterFunc
			// above does the waking (through Do), and ready watches ctx.
			// The slice deadline is checked by ready after each sleep (a
			// futex sleep lasts at most wait.FutexTimeout).
			return w.Wait(context.WithoutCancel(ctx), func() bool { return ready() || time.Now().After(until) })
		})
		switch {
		case err != nil:
			return cur, s.err("wait", err)
		case done:
			return cur, nil
		case stuck != nil:
			return cur, s.err("wait", stuck)
		case ctx.Err() != nil:
			return cur, s.err("wait", ctx.Err())
		}
		spin = -1 // spun once already
	}
}
