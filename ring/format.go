package ring

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The file layout is documented byte by byte in FORMAT.md at the repository
// root; the constants here are the single source of truth for this package.
const (
	headerSize   = 4096 // the header page; the data area starts right after it
	formatV2     = 2    // version 1 (before the ring id, checksum choice and lock-based liveness) is refused
	frameAlign   = 16   // every frame starts on a 16-byte boundary, so a padding header always fits
	frameHdrSize = 16   // commit word (8) + seq32 (4) + crc (4)

	// MinCapacity and MaxCapacity bound the data area's size.
	MinCapacity = 4096
	MaxCapacity = 1 << 40
	// MaxRecordLimit is the largest MaxRecord the commit word can describe.
	MaxRecordLimit = 1<<28 - 1

	numSlots = 16 // reader slots in the header

	// MaxPosition bounds every position (a byte count since creation): at
	// 10 GB/s a ring needs 14 years to reach it. Header words beyond it
	// are damage, and so no position arithmetic can overflow.
	MaxPosition = 1 << 62

	// Byte-range locks, far past the end of any ring file (so that
	// Windows, whose locks are mandatory for ReadFile, never refuses a
	// read of the header): the writer's lock, then one per reader slot.
	lockWriterOff = 1 << 62
	lockSlot0Off  = lockWriterOff + 1
)

var magic = [8]byte{'M', 'M', 'K', 'R', 'I', 'N', 'G', 0}

// Header offsets. The static part (0..127) is written once at creation and
// covered by a CRC; each group of hot words lives on its own 128-byte block
// (two cache lines, so the adjacent-line prefetcher does not couple them).
const (
	offMagic     = 0
	offVersion   = 8
	offHdrSize   = 12
	offCapacity  = 16
	offMaxRecord = 24
	offFlags     = 28
	offCreated   = 32
	offSlots     = 40
	offAlign     = 44
	offChecksum  = 48 // u32: 0 none, 1 CRC-32 IEEE
	offID        = 56 // 16 bytes: the ring's random identity
	offStaticCRC = 124
	staticLen    = 124

	offTailPos   = 128 // hint: a committed position (lower bound of the true tail)
	offTailSeq   = 136 // sequence number of the record at offTailPos
	offLimit     = 256 // the writer never writes at or beyond this position
	offOldest    = 264 // position of the oldest retained frame
	offOldSeq    = 272 // sequence number of the first record at or after offOldest
	offOldCheck  = 280 // oldCheck(oldest, oldest seq): tells a consistent pair from a torn update or damage
	offDurable   = 384 // position up to which data has been msync'ed
	offDurSeq    = 392 // sequence number at offDurable
	offDataFtx   = 512 // u32: bumped by the writer to wake readers
	offRdrWait   = 516 // u32: non-zero when a reader may be sleeping on offDataFtx
	offSpaceFtx  = 640 // u32: bumped by readers to wake a blocked writer
	offWrWait    = 644 // u32: non-zero when the writer may be sleeping on offSpaceFtx
	offWriterPid = 768 // u32: pid of the last writer (informational)
	offSlot0     = 2048
	slotSize     = 128
	// within a slot
	slotOwner = 0  // u64: 0 = free, else pid<<32 | nonce
	slotPos   = 8  // u64: next position this reader will read (everything before is consumed)
	slotSeq   = 16 // u64: next sequence number this reader will read (informational)
	slotFlags = 24 // u32: slotDurable
	slotNameN = 28 // u32: length of the name
	slotName  = 32 // the name of a durable slot, up to MaxReaderName bytes

	slotDurable = 1 << 0 // a named slot: kept, with its position, when its reader dies
)

// MaxReaderName is the longest ReaderOptions.Name, in bytes (the room a
// reader slot has for it).
const MaxReaderName = 64

// Flags in the static header.
const (
	flagBlock  = 1 << 0
	knownFlags = flagBlock
)

// Frame kinds, in bits 28..31 of the commit word's low half.
const (
	kindData    = 1
	kindPadding = 2
	lenMask     = 1<<28 - 1
)

// commitWord packs a frame's kind, payload length and lap tag. The lap tag is
// lap+1 (mod 2^32), so a frame left over from an earlier lap never matches the
// lap a reader expects at that position, and an all-zero word is never valid
// (kind 0 does not exist).
func commitWord(kind uint32, n int, lap uint64) uint64 {
	return uint64(uint32(lap+1))<<32 | uint64(kind)<<28 | uint64(n)
}

func decodeCommit(w uint64) (kind uint32, n int, lapTag uint32) {
	return uint32(w>>28) & 0xF, int(w & lenMask), uint32(w >> 32)
}

func align(n int) int { return (n + frameAlign - 1) &^ (frameAlign - 1) }

// frameSize is the bytes a record of n payload bytes occupies.
func frameSize(n int) int { return align(frameHdrSize + n) }

func crcOf(p []byte) uint32 { return crc32.ChecksumIEEE(p) }

// u64 and u32 return pointers to words inside mapped memory. Offsets are
// always 8- (or 4-) byte aligned and mappings are page aligned, so the
// pointers are aligned, which the atomic instructions need.
func u64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func u32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

func load64(b []byte, off int) uint64     { return atomic.LoadUint64(u64(b, off)) }
func store64(b []byte, off int, v uint64) { atomic.StoreUint64(u64(b, off), v) }
func load32(b []byte, off int) uint32     { return atomic.LoadUint32(u32(b, off)) }
func store32(b []byte, off int, v uint32) { atomic.StoreUint32(u32(b, off), v) }

// geometry is what the static header says about a ring.
type geometry struct {
	capacity  uint64
	mask      uint64
	shift     uint
	maxRecord int
	policy    Policy
	created   int64
	slots     int
	crc       bool // frames carry a CRC-32 of their payload
	id        ID
}

func (g *geometry) lap(pos uint64) uint64 { return pos >> g.shift }

// checksum reports the ring's checksum choice.
func (g *geometry) checksum() Checksum {
	if g.crc {
		return ChecksumCRC32
	}
	return ChecksumNone
}

// Checksum values in the static header.
const (
	sumNone  = 0
	sumCRC32 = 1
)

// encodeStatic writes the static header into h (len ≥ headerSize).
func encodeStatic(h []byte, g *geometry) {
	le := binary.LittleEndian
	copy(h[offMagic:], magic[:])
	le.PutUint32(h[offVersion:], formatV2)
	le.PutUint32(h[offHdrSize:], headerSize)
	le.PutUint64(h[offCapacity:], g.capacity)
	le.PutUint32(h[offMaxRecord:], uint32(g.maxRecord))
	var flags uint32
	if g.policy == Block {
		flags |= flagBlock
	}
	le.PutUint32(h[offFlags:], flags)
	le.PutUint64(h[offCreated:], uint64(g.created))
	le.PutUint32(h[offSlots:], uint32(g.slots))
	le.PutUint32(h[offAlign:], frameAlign)
	sum := uint32(sumNone)
	if g.crc {
		sum = sumCRC32
	}
	le.PutUint32(h[offChecksum:], sum)
	copy(h[offID:], g.id[:])
	le.PutUint32(h[offStaticCRC:], crc32.ChecksumIEEE(h[:staticLen]))
}

// decodeStatic validates the static header and returns the geometry. It
// reads only; every field is checked before it is used.
func decodeStatic(h []byte, fileSize int64) (*geometry, error) {
	le := binary.LittleEndian
	if len(h) < headerSize || fileSize < headerSize {
		return nil, fmt.Errorf("%w (%d bytes, shorter than a ring header)", ErrNotRing, fileSize)
	}
	if [8]byte(h[offMagic:offMagic+8]) != magic {
		return nil, fmt.Errorf("%w (%s)", ErrNotRing, describeMagic(h[offMagic:offMagic+8]))
	}
	if v := le.Uint32(h[offVersion:]); v != formatV2 {
		if v == 1 {
			return nil, fmt.Errorf("format version 1, made by an earlier mmapkit; this package reads version %d (recreate the ring): %w", formatV2, ErrVersion)
		}
		return nil, fmt.Errorf("format version %d, this package reads version %d: %w", v, formatV2, ErrVersion)
	}
	if got, want := le.Uint32(h[offStaticCRC:]), crc32.ChecksumIEEE(h[:staticLen]); got != want {
		return nil, fmt.Errorf("header checksum %#08x, computed %#08x: %w", got, want, ErrBadHeader)
	}
	g := &geometry{
		capacity:  le.Uint64(h[offCapacity:]),
		maxRecord: int(le.Uint32(h[offMaxRecord:])),
		created:   int64(le.Uint64(h[offCreated:])),
		slots:     int(le.Uint32(h[offSlots:])),
		id:        ID(h[offID : offID+16]),
	}
	flags := le.Uint32(h[offFlags:])
	sum := le.Uint32(h[offChecksum:])
	switch {
	case le.Uint32(h[offHdrSize:]) != headerSize:
		return nil, fmt.Errorf("header size %d, want %d: %w", le.Uint32(h[offHdrSize:]), headerSize, ErrBadHeader)
	case le.Uint32(h[offAlign:]) != frameAlign:
		return nil, fmt.Errorf("frame alignment %d, want %d: %w", le.Uint32(h[offAlign:]), frameAlign, ErrBadHeader)
	case flags&^knownFlags != 0:
		return nil, fmt.Errorf("unknown flags %#x: %w", flags&^knownFlags, ErrVersion)
	case sum != sumNone && sum != sumCRC32:
		return nil, fmt.Errorf("unknown checksum kind %d: %w", sum, ErrVersion)
	case g.capacity < MinCapacity || g.capacity > MaxCapacity || g.capacity&(g.capacity-1) != 0:
		return nil, fmt.Errorf("capacity %d is not a power of two in [%d, %d]: %w", g.capacity, MinCapacity, uint64(MaxCapacity), ErrBadHeader)
	case g.maxRecord < 1 || uint64(frameSize(g.maxRecord)) > g.capacity/2:
		return nil, fmt.Errorf("max record %d does not fit capacity %d: %w", g.maxRecord, g.capacity, ErrBadHeader)
	case g.slots != numSlots:
		return nil, fmt.Errorf("%d reader slots, want %d: %w", g.slots, numSlots, ErrBadHeader)
	case uint64(fileSize) != headerSize+g.capacity:
		return nil, fmt.Errorf("file is %d bytes, header says %d: %w", fileSize, headerSize+g.capacity, ErrBadHeader)
	}
	if flags&flagBlock != 0 {
		g.policy = Block
	}
	g.crc = sum == sumCRC32
	g.mask = g.capacity - 1
	g.shift = uint(bits.TrailingZeros64(g.capacity))
	return g, nil
}

// oldCheck is the check word stored after the oldest position and its
// sequence number. A writer stores the three words one after the other, so
// a reader may see a pair from two updates; the check word tells it so (and
// tells damage to either word, which no other checksum covers, from a
// consistent pair). Damage to one word always changes it: both factors are
// odd, so a non-zero change times either is non-zero modulo 2^64.
func oldCheck(oldest, oldSeq uint64) uint64 {
	return ^(oldest*0x9E3779B97F4A7C15 + oldSeq*0xC2B2AE3D27D4EB4F)
}

// seqBounds returns the range a sequence number at position pos can be in:
// every frame takes at least 16 bytes, and besides data frames each lap has
// at most one padding frame, shorter than the largest data frame.
func (g *geometry) seqBounds(pos uint64) (lo, hi uint64) {
	fs := uint64(frameSize(g.maxRecord))
	hi = pos / frameAlign
	pad := (g.lap(pos) + 1) * (fs - frameHdrSize)
	if pos > pad {
		lo = (pos - pad) / fs
	}
	return lo, hi
}

// checkOldest validates the oldest position, its sequence number and the
// write limit against each other (header words no checksum covers). It
// returns a description of the damage, or "".
func (g *geometry) checkOldest(oldest, oldSeq, limit uint64) string {
	switch {
	case limit > MaxPosition:
		return fmt.Sprintf("write limit %d is past the largest position %d", limit, uint64(MaxPosition))
	case oldest > limit || limit-oldest > g.capacity || oldest&(frameAlign-1) != 0 || limit&(frameAlign-1) != 0:
		return fmt.Sprintf("oldest position %d and write limit %d are inconsistent", oldest, limit)
	}
	if lo, hi := g.seqBounds(oldest); oldSeq < lo || oldSeq > hi {
		return fmt.Sprintf("oldest sequence number %d is impossible at position %d (must be in [%d, %d])", oldSeq, oldest, lo, hi)
	}
	return ""
}
