package ring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Info describes a ring file, as Stat sees it at one moment.
type Info struct {
	Path      string
	ID        ID       // the ring's identity, chosen at Create
	Checksum  Checksum // ChecksumCRC32 or ChecksumNone
	Capacity  int      // data area bytes
	MaxRecord int
	Policy    Policy
	Created   time.Time
	Oldest    uint64 // sequence number of the oldest record
	Next      uint64 // sequence number the next record will get
	Records   uint64 // records in the ring (Next - Oldest)
	Used      int    // bytes of the data area holding them
	Durable   uint64 // records before this sequence number are known durable (at least)
	WriterPID int    // pid of the process holding the writer lock, 0 if none, -1 if locked by an unknown process
	Readers   []ReaderInfo
}

// ReaderInfo describes one registered reader of a Block ring.
type ReaderInfo struct {
	Slot int
	PID  int    // as the reader recorded it (in its own pid namespace)
	Next uint64 // next sequence number it will read (as last published)
	// Name is the name of a durable slot (ReaderOptions.Name), "" for
	// others. A durable slot stays when its reader is away (Open false).
	Name string
	// Open says whether a reader holds the slot now: it holds the slot's
	// lock (Linux). Where a lock cannot be tested without taking it
	// (Windows, darwin), whether the recorded PID is a live process (a
	// reused pid reads as open).
	Open bool
}

// Stat reads a ring's header and walks its records to report what it holds.
// It never modifies the file, and it never makes a writer opening the ring
// at the same moment fail.
func Stat(path string) (Info, error) {
	r, err := openReader(path, ReaderOptions{Observe: true})
	if err != nil {
		return Info{}, pathErr("stat", path, err)
	}
	defer r.Close()
	end, next, _, _, err := r.scanEnd()
	if err != nil {
		return Info{}, pathErr("stat", path, err)
	}
	if err := r.seekOldest(); err != nil {
		return Info{}, pathErr("stat", path, err)
	}
	info := Info{
		Path:      path,
		Capacity:  int(r.g.capacity),
		MaxRecord: r.g.maxRecord,
		Policy:    r.g.policy,
		Created:   time.Unix(0, r.g.created),
		Oldest:    r.seq,
		Next:      next,
		Records:   next - r.seq,
		Used:      int(end - r.pos),
		Durable:   min(max(load64(r.hdr, offDurSeq), r.seq), next),
		ID:        r.g.id,
		Checksum:  r.g.checksum(),
	}
	pid, err := writerPID(r.f, int(load32(r.hdr, offWriterPid)))
	if err != nil {
		return Info{}, pathErr("stat", path, err)
	}
	info.WriterPID = pid
	for i := range r.g.slots {
		s := offSlot0 + i*slotSize
		if owner := load64(r.hdr, s+slotOwner); owner != 0 {
			pid := int(owner >> 32)
			open := true
			if held, err := sys.RangeLocked(r.f.Fd(), lockSlot0Off+int64(i), 1); err == nil {
				open = held
			} else if errors.Is(err, errors.ErrUnsupported) {
				// Never take the lock to test it: that would make the
				// reader of the slot fail to take it in that moment.
				open = sys.ProcessAlive(pid)
			}
			info.Readers = append(info.Readers, ReaderInfo{Slot: i, PID: pid, Next: load64(r.hdr, s+slotSeq), Name: slotNameOf(r.hdr, s), Open: open})
		}
	}
	return info, nil
}

// writerPID returns the writer's pid if the writer lock is held. Where the
// OS cannot say whether a lock is held without taking it (which would make a
// writer opening at that moment fail), the pid recorded in the header is
// checked for a live process instead.
func writerPID(f *os.File, pid int) (int, error) {
	held, err := writerLocked(f)
	if errors.Is(err, errors.ErrUnsupported) {
		if pid > 0 && sys.ProcessAlive(pid) {
			return pid, nil
		}
		return 0, nil
	}
	if err != nil || !held {
		return 0, err
	}
	if pid == 0 {
		pid = -1 // locked, pid unknown
	}
	return pid, nil
}

// RemoveReader deletes the durable reader slot called name from the ring at
// path, so the writer of the Block ring no longer waits for it. It fails
// with ErrNotFound if there is no such slot, and with ErrLocked while a
// Reader has it open.
func RemoveReader(path, name string) error {
	r, err := openReader(path, ReaderOptions{Observe: true})
	if err != nil {
		return pathErr("remove reader", path, err)
	}
	defer r.Close()
	if !r.canWait {
		return pathErr("remove reader", path, fmt.Errorf("the file is read-only to this process: %w", fs.ErrPermission))
	}
	for i := range r.g.slots {
		s := offSlot0 + i*slotSize
		owner := load64(r.hdr, s+slotOwner)
		if owner == 0 || !slotHasName(r.hdr, s, name) {
			continue
		}
		if sys.CanLockRange {
			if err := sys.LockRange(r.f.Fd(), lockSlot0Off+int64(i), 1); err != nil {
				if errors.Is(err, sys.ErrWouldBlock) {
					err = fmt.Errorf("reader %q is open: %w", name, ErrLocked)
				}
				return pathErr("remove reader", path, err)
			}
			defer sys.UnlockRange(r.f.Fd(), lockSlot0Off+int64(i), 1)
		} else if sys.ProcessAlive(int(owner >> 32)) {
			return pathErr("remove reader", path, fmt.Errorf("reader %q is open: %w", name, ErrLocked))
		}
		store32(r.hdr, s+slotFlags, 0)
		if !atomic.CompareAndSwapUint64(u64(r.hdr, s+slotOwner), owner, 0) {
			return pathErr("remove reader", path, fmt.Errorf("reader %q was opened meanwhile: %w", name, ErrLocked))
		}
		r.wakeWriter() // it may be waiting for exactly this slot
		return nil
	}
	return pathErr("remove reader", path, fmt.Errorf("no reader named %q: %w", name, ErrNotFound))
}
