package ring

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"time"
)

// DefaultCapacity is the data area of a ring made with a zero
// Options.Capacity: 1 MiB, as for `mmapkit ring create` and shm queues.
const DefaultCapacity = 1 << 20

// Options tune Create, OpenWriter and OpenWriterWait. A nil *Options and
// every zero field mean the documented default.
type Options struct {
	// Capacity is the size of the data area in bytes: a power of two
	// between MinCapacity and MaxCapacity (default DefaultCapacity, 1 MiB).
	// The file is one 4 KiB header page larger. Create only.
	Capacity int
	// MaxRecord is the largest payload Append accepts. A frame for it must
	// fit in half the capacity. 0 means the largest that fits, at most
	// 1 MiB. Create only.
	MaxRecord int
	// Policy is what a full ring does: Overwrite (default) or Block.
	// Create only.
	Policy Policy
	// Perm is the new file's permission bits (default 0644). Create only.
	Perm fs.FileMode
	// Checksum is what protects each record's payload (default
	// ChecksumAuto: CRC-32 unless the file lives in memory). Create only.
	Checksum Checksum
	// Replace lets Create replace an existing file at the path (atomically,
	// with a rename). Without it Create refuses an existing file with an
	// error matching fs.ErrExist. Create only.
	Replace bool

	// NoFollow refuses a symbolic link as the last component of the path
	// (with an error matching ErrNotRegular): the rule for names in shared
	// directories such as /dev/shm, where anyone may plant a link.
	NoFollow bool

	// Durability is when appended records reach stable storage (default
	// SyncNone).
	Durability Durability
	// Interval is the sync period of SyncInterval (default 100 ms).
	Interval time.Duration
}

// ReaderOptions tune OpenReader. A nil *ReaderOptions and every zero field
// mean the documented default.
type ReaderOptions struct {
	// Start is where the reader begins: FromOldest (default) or FromEnd.
	Start Start
	// Observe, on a Block ring, reads without registering: the writer does
	// not wait for this reader, which may then be lapped like on an
	// Overwrite ring. Observe needs only read permission on the file.
	Observe bool
	// Spin is how long Next polls before it sleeps (default 50µs). A longer
	// spin trades CPU for latency; a negative one sleeps at once.
	Spin time.Duration
	// NoFollow refuses a symbolic link as the last component of the path,
	// as Options.NoFollow.
	NoFollow bool
	// Name, on a Block ring, registers the reader in a durable slot of
	// that name (1 to MaxReaderName bytes): when the reader closes or its
	// process dies, the slot keeps its position and the writer keeps
	// waiting for it, so no record is lost while the consumer is away. A
	// reader opened later with the same name resumes where the last one
	// stopped (Start is then ignored); RemoveReader deletes the slot. A
	// name can be open in one Reader at a time.
	Name string
	// ManualRelease, on a registered reader of a Block ring, makes the
	// writer wait for records the reader released (Reader.Release), not
	// merely read: the reader may read ahead, and its views of records
	// stay valid until released.
	ManualRelease bool
}

// Policy says what Append does when the ring is full.
type Policy int

const (
	// Overwrite makes the ring a bounded log: the oldest records are
	// overwritten; a reader that falls a whole lap behind gets ErrLapped with
	// the number of records it missed.
	Overwrite Policy = iota
	// Block makes the ring a queue: Append waits until every registered reader
	// has consumed enough to make room. No record is lost.
	Block
)

func (p Policy) String() string {
	switch p {
	case Overwrite:
		return "overwrite"
	case Block:
		return "block"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// Checksum says what protects each record's payload. It is chosen when the
// ring is created and recorded in its header.
type Checksum int

const (
	// ChecksumAuto is CRC-32 for a file on a persistent file system and
	// none for a file in memory (tmpfs, such as /dev/shm, where every shm
	// Queue lives), unless the ring is created with a Durability that syncs.
	// A checksum only matters for what can outlive a power loss: a crash of
	// any process cannot tear a frame, because its commit word is stored
	// last, with one atomic store, after the payload.
	ChecksumAuto Checksum = iota
	// ChecksumCRC32 stores a CRC-32 (IEEE, Python's zlib.crc32) of each
	// payload, checked by every reader and by recovery: a record torn by a
	// power loss is told from an intact one. SyncInterval and
	// SyncEveryAppend need it.
	ChecksumCRC32
	// ChecksumNone stores no checksum. Appends and reads are faster; a
	// writer that syncs (SyncInterval, SyncEveryAppend) is refused.
	ChecksumNone
)

func (c Checksum) String() string {
	switch c {
	case ChecksumAuto:
		return "auto"
	case ChecksumCRC32:
		return "crc32"
	case ChecksumNone:
		return "none"
	}
	return fmt.Sprintf("checksum(%d)", int(c))
}

// ID is a ring's identity: 128 random bits chosen at Create and kept in its
// header. Two rings never share one, even at the same path (a ring deleted
// and created again gets a new one), so an ID and a sequence number name a
// record for good.
type ID [16]byte

// String returns the ID as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Durability says when appended records reach stable storage.
type Durability int

const (
	// SyncNone leaves writing back to the kernel. A record survives the
	// crash of any process (it is in the page cache the moment Append
	// returns) but not a power loss or kernel crash.
	SyncNone Durability = iota
	// SyncInterval syncs in the background every Options.Interval. A power
	// loss loses at most the records of the last interval; recovery drops
	// them cleanly.
	SyncInterval
	// SyncEveryAppend syncs before Append returns: a record whose Append
	// returned survives a power loss. Concurrent appenders share one sync
	// (group commit).
	SyncEveryAppend
)

func (d Durability) String() string {
	switch d {
	case SyncNone:
		return "none"
	case SyncInterval:
		return "interval"
	case SyncEveryAppend:
		return "every-append"
	}
	return fmt.Sprintf("durability(%d)", int(d))
}

// Start says where a new Reader begins.
type Start int

const (
	// FromOldest starts at the oldest record in the ring.
	FromOldest Start = iota
	// FromEnd starts after the newest record: only records appended later are read.
	FromEnd
)

func (s Start) String() string {
	switch s {
	case FromOldest:
		return "oldest"
	case FromEnd:
		return "end"
	}
	return fmt.Sprintf("start(%d)", int(s))
}
