package ring

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mmapkit/mmapkit/mmap"
)

// Info describes a ring file, as Stat sees it at one moment.
type Info struct {
	Path      string
	Capacity  uint64 // data area bytes
	MaxRecord int
	Policy    Policy
	Created   time.Time
	Oldest    uint64 // sequence number of the oldest record
	Next      uint64 // sequence number the next record will get
	Records   uint64 // records in the ring (Next - Oldest)
	Used      uint64 // bytes of the data area holding them
	Durable   uint64 // records before this sequence number are known durable
	WriterPID int    // pid of the process holding the writer lock, 0 if none
	Readers   []ReaderInfo
}

// ReaderInfo describes one registered reader of a Block ring.
type ReaderInfo struct {
	Slot int
	PID  int
	Next uint64 // next sequence number it will read (as last published)
}

// Stat reads a ring's header and walks its records to report what it holds.
// It never modifies the file. To tell whether a writer is alive it tries a
// shared lock for an instant: a writer opening at that very moment with
// OpenWriter (not OpenWriterWait) can get ErrLocked.
func Stat(path string) (Info, error) {
	r, err := OpenReader(path, ReaderOptions{Observe: true})
	if err != nil {
		return Info{}, err
	}
	defer r.Close()
	end, next, _, _, err := r.scanEnd()
	if err != nil {
		return Info{}, err
	}
	if err := r.SeekOldest(); err != nil {
		return Info{}, err
	}
	info := Info{
		Path:      path,
		Capacity:  r.g.capacity,
		MaxRecord: r.g.maxRecord,
		Policy:    r.g.policy,
		Created:   time.Unix(0, r.g.created),
		Oldest:    r.seq,
		Next:      next,
		Records:   next - r.seq,
		Used:      end - r.pos,
		Durable:   load64(r.hdr, offDurSeq),
	}
	if pid, err := writerPID(path, int(load32(r.hdr, offWriterPid))); err != nil {
		return Info{}, err
	} else {
		info.WriterPID = pid
	}
	for i := range r.g.slots {
		s := offSlot0 + i*slotSize
		if owner := load64(r.hdr, s+slotOwner); owner != 0 {
			info.Readers = append(info.Readers, ReaderInfo{Slot: i, PID: int(owner >> 32), Next: load64(r.hdr, s+slotSeq)})
		}
	}
	return info, nil
}

// writerPID returns the writer's pid if the writer lock is held.
func writerPID(path string, pid int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("ring: stat %s: %w", path, err)
	}
	defer f.Close()
	l, err := mmap.TryLockFile(f, false)
	if errors.Is(err, mmap.ErrLocked) {
		if pid == 0 {
			pid = -1 // locked, pid unknown
		}
		return pid, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ring: stat %s: %w", path, err)
	}
	l.Unlock()
	return 0, nil
}
