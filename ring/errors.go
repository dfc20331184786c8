package ring

import (
	"errors"
	"fmt"

	"github.com/mmapkit/mmapkit/mmap"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is and names the file.
var (
	// ErrNotRing: the file is not a ring (wrong magic or too short). The file
	// is never modified.
	ErrNotRing = errors.New("ring: not a ring file")
	// ErrVersion: the file is a ring of a format version (or with feature
	// flags) this package does not know. The file is never modified.
	ErrVersion = errors.New("ring: unsupported ring format version")
	// ErrBadHeader: the header fails its checksum or holds impossible values.
	// The file is never modified.
	ErrBadHeader = errors.New("ring: damaged ring header")
	// ErrLocked: another writer holds the ring (matches mmap.ErrLocked too).
	ErrLocked = mmap.ErrLocked
	// ErrTooLarge: a record longer than the ring's MaxRecord.
	ErrTooLarge = errors.New("ring: record larger than the ring's max record")
	// ErrEmpty: TryNext found no new record.
	ErrEmpty = errors.New("ring: no record available")
	// ErrLapped: the writer overwrote records this reader had not read yet.
	// The concrete error is a *LappedError with the exact count; the reader
	// has moved on to the oldest record still available.
	ErrLapped = errors.New("ring: reader was lapped by the writer")
	// ErrCorrupt: a record failed its checksum or a frame or header word holds
	// an impossible value.
	ErrCorrupt = errors.New("ring: corrupt record")
	// ErrNotFound: SeekSeq asked for a sequence number that is not in the ring.
	ErrNotFound = errors.New("ring: sequence number not in the ring")
	// ErrNoSlot: all reader slots of a Block ring are taken.
	ErrNoSlot = errors.New("ring: no free reader slot")
	// ErrNoReservation: Commit or Abort without a pending Reserve.
	ErrNoReservation = errors.New("ring: no pending reservation")
	// ErrClosed: the Writer or Reader was closed.
	ErrClosed = errors.New("ring: closed")
)

// LappedError reports how many records a reader lost to the writer. It
// matches ErrLapped.
type LappedError struct {
	Path   string
	Missed uint64 // records between the reader's position and the oldest one left
	Next   uint64 // sequence number the reader continues with
}

func (e *LappedError) Error() string {
	return fmt.Sprintf("ring: %s: reader lapped by the writer, %d records missed, continuing at sequence %d", e.Path, e.Missed, e.Next)
}

// Is makes errors.Is(err, ErrLapped) true.
func (e *LappedError) Is(target error) bool { return target == ErrLapped }
