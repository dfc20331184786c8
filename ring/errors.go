package ring

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/mmapkit/mmapkit/mmap"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is; an error about a file is a
// *fs.PathError whose Op names the package and the operation and whose Path
// is the file ("ring: open /dev/shm/events: not a ring file (...)").
var (
	// ErrNotRing: the file is not a ring (wrong magic or too short). The file
	// is never modified.
	ErrNotRing = errors.New("not a ring file")
	// ErrVersion: the file is a ring of a format version (or with feature
	// flags) this package does not know. The file is never modified.
	ErrVersion = errors.New("unsupported ring format version")
	// ErrBadHeader: the header fails its checksum or holds impossible or
	// mutually inconsistent values. The file is never modified.
	ErrBadHeader = errors.New("damaged ring header")
	// ErrLocked: another writer holds the ring. It is mmap.ErrLocked; the
	// message names the holder's pid, or says that the holder is another
	// Writer of this process.
	ErrLocked = mmap.ErrLocked
	// ErrTooLarge: a record longer than the ring's MaxRecord.
	ErrTooLarge = errors.New("record larger than the ring's max record")
	// ErrEmpty: TryNext found no new record. TryNext returns it unwrapped
	// (it is a signal, like io.EOF, returned on the polling path without
	// allocating), so err == ErrEmpty works.
	ErrEmpty = errors.New("no record available")
	// ErrLapped: the writer overwrote records this reader had not read yet.
	// The error wraps a *LappedError with the exact count; the reader has
	// moved on to the oldest record still available.
	ErrLapped = errors.New("reader was lapped by the writer")
	// ErrCorrupt: a record failed its checks (checksum, sequence number,
	// length) after the writer had committed it, or a header word changed
	// into an impossible value while the ring was open.
	ErrCorrupt = errors.New("corrupt record")
	// ErrNotFound: SeekSeq asked for a sequence number that is not in the ring.
	ErrNotFound = errors.New("sequence number not in the ring")
	// ErrNoSlot: all reader slots of a Block ring are taken.
	ErrNoSlot = errors.New("no free reader slot")
	// ErrEvicted: a registered reader's slot was taken from it (its writer
	// judged it dead), so the writer no longer waited for it. The reader
	// reads on as an observer.
	ErrEvicted = errors.New("reader slot taken over")
	// ErrNotRegular: the path names a FIFO, directory, symbolic link (with
	// NoFollow) or anything else than a regular file. It is
	// mmap.ErrNotRegular; nothing was opened, read or written.
	ErrNotRegular = mmap.ErrNotRegular
	// ErrClosed: the Writer or Reader was closed. It is mmap.ErrClosed.
	ErrClosed = mmap.ErrClosed
)

// LappedError reports how many records a reader lost to the writer. It
// matches ErrLapped. Reads return it wrapped in a *fs.PathError naming the
// ring; errors.As finds it.
type LappedError struct {
	Missed uint64 // records between the reader's position and the oldest one left
	Next   uint64 // sequence number the reader continues with
}

func (e *LappedError) Error() string {
	return fmt.Sprintf("lapped by the writer: %d records missed, continuing at sequence %d", e.Missed, e.Next)
}

// Is makes errors.Is(err, ErrLapped) true.
func (e *LappedError) Is(target error) bool { return target == ErrLapped }

// LockedError says who holds the writer lock of a ring that OpenWriter (or
// Create) found locked. It matches ErrLocked; errors.As finds it inside the
// *fs.PathError naming the ring.
type LockedError struct {
	PID         int  // the holder's pid as recorded in the ring (0: unknown)
	ThisProcess bool // held by another Writer of this process
}

func (e *LockedError) Error() string {
	switch {
	case e.ThisProcess:
		return fmt.Sprintf("locked by another Writer of this process (pid %d): close it first, or share it (a Writer is safe for concurrent use)", e.PID)
	case e.PID > 0:
		return fmt.Sprintf("locked by another writer, pid %d (as recorded in the ring): OpenWriterWait (mmapkit ring append --wait) waits for it", e.PID)
	}
	return "locked by another writer: OpenWriterWait (mmapkit ring append --wait) waits for it"
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// pathErr returns err as the *fs.PathError of operation op ("open",
// "append", ...) on path. An underlying *fs.PathError for the same path is
// unwrapped first, so the path appears once.
func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		if pe.Op == "ring: "+op {
			return err
		}
		// Keep our own text around the inner error: only drop the inner
		// Op and Path when err is exactly that PathError.
		if err == error(pe) {
			err = pe.Err
		}
	}
	return &fs.PathError{Op: "ring: " + op, Path: path, Err: err}
}
