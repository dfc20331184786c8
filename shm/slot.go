package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Slot errors.
var (
	// ErrNotSlot: the bytes at the offset are not a slot header (wrong magic,
	// version, or header checksum), or the capacity they state does not fit in
	// the region.
	ErrNotSlot = errors.New("shm: not a slot")
	// ErrCorrupt: the slot's shared words hold impossible values (a length
	// larger than the capacity in a stable value): a buggy or hostile peer.
	ErrCorrupt = errors.New("shm: slot holds an impossible value")
	// ErrWriterStuck: the sequence stayed odd (a store in progress) for longer
	// than the slot's stuck timeout; the writer most likely died mid-store.
	// A new writer can call Recover.
	ErrWriterStuck = errors.New("shm: slot writer stuck mid-store (died?)")
	// ErrBusy: Store found another store in progress: two writers are using
	// the slot at once, or a writer died mid-store (see Recover).
	ErrBusy = errors.New("shm: slot is being written by someone else")
	// ErrTooLarge: a value longer than the slot's capacity.
	ErrTooLarge = errors.New("shm: value larger than the slot's capacity")
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

	// MaxSlotCapacity is the largest value a Slot can hold.
	MaxSlotCapacity = 1 << 30

	// DefaultSpin is how long Wait polls before it sleeps.
	DefaultSpin = 20 * time.Microsecond

	// DefaultStuckTimeout is how long a reader tolerates a store in progress
	// before deciding the writer died mid-store.
	DefaultStuckTimeout = time.Second
)

// SlotSize returns the bytes a Slot of the given capacity occupies: a
// 128-byte header and the value area, rounded up to 8 bytes.
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
// kernel (a futex on the sequence word) instead of burning a CPU, and the
// writer pays for a wake-up system call only when a reader is actually
// asleep.
//
// A Slot is for small values: the per-word atomics make a store cost about
// 10 ns per 8 bytes on amd64 (an XCHG each). For a stream of messages, or
// large ones, use a Queue.
//
// A Slot has one writer at a time: a second concurrent Store fails with
// ErrBusy rather than interleaving. A writer that dies mid-store leaves the
// sequence odd; readers then return ErrWriterStuck after the stuck timeout
// instead of spinning forever, and a new writer calls Recover.
//
// Nothing read from the shared memory is trusted: the header is checked
// (magic, version, checksum, capacity against the region) on attach, and
// the length of every value is checked before use, so a garbage or hostile
// segment gives errors, never a panic or an out-of-range access.
//
// The methods are safe for concurrent use by multiple goroutines.
type Slot struct {
	r     *mmap.Region
	off   int // offset of the header in the Region
	cap   int // capacity in bytes (multiple of 8)
	stuck atomic.Int64
	spin  atomic.Int64
}

// NewSlot writes a fresh Slot header at offset off of r (which must be
// writable, 8-byte aligned, with SlotSize(capacity) bytes from off) and returns
// the Slot. The value starts empty with sequence 0. Only the creator calls
// NewSlot; other processes attach with OpenSlot.
func NewSlot(r *mmap.Region, off int, capacity int) (*Slot, error) {
	if capacity <= 0 || capacity > MaxSlotCapacity {
		return nil, fmt.Errorf("shm: new slot: capacity %d outside 1..%d: %w", capacity, MaxSlotCapacity, ErrTooLarge)
	}
	capacity = roundUp8(capacity)
	if r.Mode() == mmap.ReadOnly {
		return nil, fmt.Errorf("shm: new slot: %w", mmap.ErrReadOnly)
	}
	s := &Slot{r: r, off: off, cap: capacity}
	s.stuck.Store(int64(DefaultStuckTimeout))
	s.spin.Store(int64(DefaultSpin))
	err := r.Do(func(b []byte) error {
		if err := checkPlace(b, off, SlotSize(capacity)); err != nil {
			return err
		}
		h := b[off : off+slotHeaderSize]
		clear(h[:offSeq])
		copy(h, slotMagic)
		binary.LittleEndian.PutUint16(h[offVersion:], slotVersion)
		binary.LittleEndian.PutUint16(h[offHdrSize:], slotHeaderSize)
		binary.LittleEndian.PutUint32(h[offCapacity:], uint32(capacity))
		binary.LittleEndian.PutUint32(h[offHdrCRC:], crc32.ChecksumIEEE(h[:offHdrCRC]))
		atomic.StoreUint32(s.word32(b, offLength), 0)
		atomic.StoreUint32(s.word32(b, offWaiters), 0)
		for i := 80; i < slotHeaderSize; i += 8 {
			atomic.StoreUint64(s.word64(b, i), 0)
		}
		for i := 0; i < capacity; i += 8 {
			atomic.StoreUint64(s.word64(b, slotHeaderSize+i), 0)
		}
		atomic.StoreUint64(s.word64(b, offSeq), 0)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shm: new slot at offset %d: %w", off, err)
	}
	return s, nil
}

// OpenSlot attaches to the Slot whose header is at offset off of r, after
// checking the header. A ReadOnly Region gives a Slot that can Load and Wait
// but not Store.
func OpenSlot(r *mmap.Region, off int) (*Slot, error) {
	s := &Slot{r: r, off: off}
	s.stuck.Store(int64(DefaultStuckTimeout))
	s.spin.Store(int64(DefaultSpin))
	err := r.Do(func(b []byte) error {
		if err := checkPlace(b, off, slotHeaderSize); err != nil {
			return fmt.Errorf("%w: %w", ErrNotSlot, err)
		}
		var h [16]byte // copy first: a peer may change the bytes while we check them
		copy(h[:], b[off:])
		c, err := parseSlotHeader(h[:])
		if err != nil {
			return err
		}
		if c > len(b)-off-slotHeaderSize {
			return fmt.Errorf("%w: capacity %d needs %d bytes from offset %d, the region has %d", ErrNotSlot, c, SlotSize(c), off, len(b)-off)
		}
		s.cap = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shm: open slot at offset %d: %w", off, err)
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

func checkPlace(b []byte, off, n int) error {
	if off < 0 || off > len(b) || n > len(b)-off {
		return fmt.Errorf("%w: %d bytes at offset %d do not fit in the region (%d bytes)", mmap.ErrOutOfRange, n, off, len(b))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 || off%8 != 0 {
		return fmt.Errorf("%w: a slot must start on an 8-byte boundary (offset %d)", mmap.ErrOutOfRange, off)
	}
	return nil
}

func (s *Slot) word64(b []byte, at int) *uint64 {
	return (*uint64)(unsafe.Pointer(&b[s.off+at]))
}

func (s *Slot) word32(b []byte, at int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[s.off+at]))
}

// futexWord is the low 32 bits of the sequence, which change on every store.
func (s *Slot) futexWord(b []byte) *uint32 {
	if sys.LittleEndian {
		return s.word32(b, offSeq)
	}
	return s.word32(b, offSeq+4)
}

// Capacity returns the largest value the Slot holds, in bytes.
func (s *Slot) Capacity() int { return s.cap }

// SetStuckTimeout sets how long Load and Wait tolerate a store in progress
// before returning ErrWriterStuck (DefaultStuckTimeout unless set). A store
// takes nanoseconds, but a writer can be descheduled mid-store on a busy
// machine: keep this well above a scheduling quantum.
func (s *Slot) SetStuckTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultStuckTimeout
	}
	s.stuck.Store(int64(d))
}

// SetSpin sets how long Wait polls before it sleeps (DefaultSpin unless
// set; 0 sleeps after a few polls). Polling answers within nanoseconds of a
// Store but keeps a CPU busy, which on a machine with few cores can slow the
// very writer being waited for.
func (s *Slot) SetSpin(d time.Duration) {
	s.spin.Store(int64(max(d, 0)))
}

// Seq returns the current sequence number: 0 before the first store, then
// 2 per store (odd while a store is in progress).
func (s *Slot) Seq() (seq uint64, err error) {
	err = s.r.Do(func(b []byte) error {
		seq = atomic.LoadUint64(s.word64(b, offSeq))
		return nil
	})
	return seq, err
}

// Store publishes p as the Slot's value and wakes every Waiter. It fails with
// ErrTooLarge if p is longer than the capacity, and with ErrBusy if another
// store is in progress (see Recover).
func (s *Slot) Store(p []byte) error {
	if len(p) > s.cap {
		return fmt.Errorf("shm: slot store of %d bytes: %w (%d)", len(p), ErrTooLarge, s.cap)
	}
	if s.r.Mode() == mmap.ReadOnly {
		return fmt.Errorf("shm: slot store: %w", mmap.ErrReadOnly)
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
		// count before re-reading the sequence (the Dekker handshake in
		// Wait), so either we see the waiter or it sees the new sequence.
		atomic.StoreUint64(seqp, seq+2)
		if atomic.LoadUint32(s.word32(b, offWaiters)) != 0 && sys.CanFutex {
			_ = sys.FutexWake(s.futexWord(b), math.MaxInt32)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shm: slot store: %w", err)
	}
	return nil
}

// Recover ends a store that a dead writer left half done: if the sequence is
// odd it sets the value to empty and makes the sequence even, and reports
// true. Call it only when no other writer can be alive (for example while
// holding a lock the old writer held), or it can corrupt a store in progress.
func (s *Slot) Recover() (bool, error) {
	if s.r.Mode() == mmap.ReadOnly {
		return false, fmt.Errorf("shm: slot recover: %w", mmap.ErrReadOnly)
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
		if did && sys.CanFutex {
			_ = sys.FutexWake(s.futexWord(b), math.MaxInt32)
		}
		return nil
	})
	return did, err
}

// Load copies the current value into buf and returns its sequence number
// and length. The value is never torn: it is exactly what one Store wrote.
// If buf is too short, Load returns the length needed and an error matching
// io.ErrShortBuffer. Before the first Store the value is empty, with
// sequence 0.
//
// If a store stays in progress for longer than the stuck timeout, Load
// returns ErrWriterStuck. Under a writer storing continuously, Load retries
// until it gets a clean copy.
func (s *Slot) Load(buf []byte) (seq uint64, n int, err error) {
	err = s.r.Do(func(b []byte) error {
		seq, n, err = s.load(b, buf)
		return err
	})
	if err != nil {
		err = fmt.Errorf("shm: slot load: %w", err)
	}
	return seq, n, err
}

func (s *Slot) load(b, buf []byte) (uint64, int, error) {
	seqp := s.word64(b, offSeq)
	lenp := s.word32(b, offLength)
	data := b[s.off+slotHeaderSize : s.off+slotHeaderSize+s.cap]
	var (
		oddSeq   uint64
		oddSince time.Time
	)
	for i := 0; ; i++ {
		s1 := atomic.LoadUint64(seqp)
		if s1&1 == 0 {
			n := int(atomic.LoadUint32(lenp))
			switch {
			case n > len(data):
				if atomic.LoadUint64(seqp) == s1 {
					return s1, 0, fmt.Errorf("%w: length %d, capacity %d (sequence %d)", ErrCorrupt, n, len(data), s1)
				}
			case n > len(buf):
				if atomic.LoadUint64(seqp) == s1 {
					return s1, n, fmt.Errorf("value of %d bytes, buffer of %d: %w", n, len(buf), io.ErrShortBuffer)
				}
			default:
				copyOut(buf[:n], data)
				if atomic.LoadUint64(seqp) == s1 {
					return s1, n, nil
				}
			}
			continue // the writer moved on: try again at once
		}
		// A store is in progress: it takes nanoseconds unless the writer was
		// descheduled or died. Spin a little, then yield, then sleep, and
		// give up when the same store stays open too long.
		if s1 != oddSeq {
			oddSeq, oddSince = s1, time.Time{}
			i = 0
		}
		if err := s.backoff(i, &oddSince, s1); err != nil {
			return s1, 0, err
		}
	}
}

// backoff pauses a reader that found store s1 in progress, for the i-th
// time, and returns ErrWriterStuck once that store has been open longer
// than the stuck timeout.
func (s *Slot) backoff(i int, since *time.Time, s1 uint64) error {
	switch {
	case i < 100:
		return nil // spin
	case i < 200:
		runtime.Gosched()
		return nil
	}
	now := time.Now()
	if since.IsZero() {
		*since = now
	} else if d := now.Sub(*since); d > time.Duration(s.stuck.Load()) {
		return fmt.Errorf("%w: sequence %d odd for %v", ErrWriterStuck, s1, d.Round(time.Millisecond))
	}
	time.Sleep(50 * time.Microsecond)
	return nil
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

// Wait blocks until the Slot's sequence differs from seq and no store is in
// progress, then returns the new sequence. Pass the sequence of the last
// value you loaded (0 waits for the first store). It returns at once if the
// value already changed.
//
// It polls for the spin time (SetSpin), then sleeps in the kernel on the
// sequence word (a shared futex, Linux) and is woken by Store. Sleeping means
// counting itself in the slot's waiters word, so it needs a ReadWrite attach
// (the reader still never writes the value): through a ReadOnly or
// CopyOnWrite attach, and on systems without futexes, Wait polls with short
// sleeps growing to 1 ms instead. If ctx is done it returns ctx's error
// promptly; if a store stays in progress longer than the stuck timeout it
// returns ErrWriterStuck.
func (s *Slot) Wait(ctx context.Context, seq uint64) (uint64, error) {
	// Poll first: a change that comes within the spin time costs no system
	// call on either side.
	spinUntil := time.Now().Add(time.Duration(s.spin.Load()))
	for i := 0; ; i++ {
		cur, err := s.Seq()
		if err != nil {
			return cur, fmt.Errorf("shm: slot wait: %w", err)
		}
		if cur != seq && cur&1 == 0 {
			return cur, nil
		}
		if i&63 == 63 {
			if err := ctx.Err(); err != nil {
				return cur, fmt.Errorf("shm: slot wait: %w", err)
			}
			if time.Now().After(spinUntil) {
				break
			}
		}
	}
	return s.sleep(ctx, seq)
}

// sleep is Wait after the spin: futex sleeps, or polls with pauses.
func (s *Slot) sleep(ctx context.Context, seq uint64) (uint64, error) {
	var (
		cur      uint64
		addr     *uint32
		oddSeq   uint64
		oddSince time.Time
		stop     func() bool
	)
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	// Sleeping needs the waiters count, which only a ReadWrite mapping can
	// change: a write to a ReadOnly mapping faults, and one to a
	// CopyOnWrite mapping would detach the page from the writer's.
	canSleep := sys.CanFutex && s.r.Mode() == mmap.ReadWrite
	for i := 1; ; i++ {
		asleep := false // we counted ourselves in the waiters word
		err := s.r.Do(func(b []byte) error {
			seqp := s.word64(b, offSeq)
			cur = atomic.LoadUint64(seqp)
			if !canSleep || cur != seq && cur&1 == 0 {
				return nil
			}
			// Announce the sleep, then look again: Store writes the
			// sequence before reading the count, so one of us sees the
			// other (both sides are sequentially consistent atomics).
			addr = s.futexWord(b)
			atomic.AddUint32(s.word32(b, offWaiters), 1)
			asleep = true
			cur = atomic.LoadUint64(seqp)
			return nil
		})
		if err != nil {
			return cur, fmt.Errorf("shm: slot wait: %w", err)
		}
		if cur != seq && cur&1 == 0 {
			if asleep {
				s.leaveWait()
			}
			return cur, nil
		}
		if err := ctx.Err(); err != nil {
			if asleep {
				s.leaveWait()
			}
			return cur, fmt.Errorf("shm: slot wait: %w", err)
		}
		limit := waitBackstop // see the AfterFunc below
		if cur&1 != 0 {
			now := time.Now()
			if cur != oddSeq {
				oddSeq, oddSince = cur, now
			}
			stuck := time.Duration(s.stuck.Load())
			open := now.Sub(oddSince)
			if open > stuck {
				if asleep {
					s.leaveWait()
				}
				return cur, fmt.Errorf("shm: slot wait: %w: sequence %d odd for %v", ErrWriterStuck, cur, open.Round(time.Millisecond))
			}
			limit = min(limit, stuck-open+time.Millisecond)
		}
		if !asleep {
			if err := sleepCtx(ctx, min(limit, pollPause(i))); err != nil {
				return cur, fmt.Errorf("shm: slot wait: %w", err)
			}
			continue
		}
		if stop == nil {
			// Cancelling ctx wakes the sleepers on this word (all of them,
			// in every process: a spurious wake-up only makes them look
			// again). If the cancel lands between the check above and the
			// sleep, the timeout limits the damage.
			a := addr
			stop = context.AfterFunc(ctx, func() { _ = sys.FutexWake(a, math.MaxInt32) })
		}
		futexSleeps.Add(1)
		err = sys.FutexWait(addr, uint32(cur), limit)
		s.leaveWait()
		if err != nil && !errors.Is(err, sys.ErrTimeout) {
			return cur, fmt.Errorf("shm: slot wait: futex: %w", err)
		}
	}
}

func (s *Slot) leaveWait() {
	_ = s.r.Do(func(b []byte) error {
		atomic.AddUint32(s.word32(b, offWaiters), ^uint32(0))
		return nil
	})
}

// waitBackstop bounds one futex sleep, so that a context cancelled in the
// instant between Wait's check and its sleep is still seen. Tests lengthen it
// to prove that no wake-up depends on it.
var waitBackstop = 100 * time.Millisecond

// futexSleeps counts Wait's kernel sleeps, so tests can check the futex path
// ran.
var futexSleeps atomic.Int64

// pollPause is the pause between polls where there is no futex: short at
// first for latency, growing to 1 ms to bound the CPU spent.
func pollPause(i int) time.Duration {
	d := time.Duration(i) * 10 * time.Microsecond
	return min(d, time.Millisecond)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
