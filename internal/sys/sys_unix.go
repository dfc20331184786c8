//go:build linux || darwin

package sys

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mapping is one mapping made by Map. Data covers exactly the mapped bytes.
type Mapping struct {
	Data []byte
}

// NoFile as Map's fd asks for anonymous memory.
const NoFile = ^uintptr(0)

// Granularity is the alignment that Map requires of file offsets.
func Granularity() int { return os.Getpagesize() }

// PageSize is the size of a page, the unit of residency and advice.
func PageSize() int { return os.Getpagesize() }

func protBits(p Prot) int {
	b := 0
	if p&ProtRead != 0 {
		b |= unix.PROT_READ
	}
	if p&ProtWrite != 0 {
		b |= unix.PROT_WRITE
	}
	if b == 0 {
		b = unix.PROT_NONE
	}
	return b
}

// Map maps length bytes of the file fd from offset off, which must be a multiple
// of Granularity. fd == NoFile maps anonymous memory.
func Map(fd uintptr, off int64, length int, prot Prot, flags Flags) (Mapping, error) {
	if length <= 0 {
		return Mapping{}, unix.EINVAL
	}
	f := unix.MAP_SHARED
	if flags&Private != 0 {
		f = unix.MAP_PRIVATE
	}
	ifd := int(fd)
	if fd == NoFile {
		f = unix.MAP_PRIVATE | unix.MAP_ANON
		ifd, off = -1, 0
	}
	f |= mapFlags(flags)
	populate := flags&Populate != 0 && !hasMapPopulate
	p, err := unix.MmapPtr(ifd, off, nil, uintptr(length), protBits(prot), f)
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{Data: unsafe.Slice((*byte)(p), length)}
	if flags&HugePages != 0 {
		// Huge pages are a request: a kernel without THP for this kind of
		// memory keeps the mapping in normal pages, which is still correct.
		_ = m.advise(0, length, AdvHugePage)
	}
	if populate {
		// No MAP_POPULATE here (darwin): fault the pages in as
		// MAP_POPULATE would, for writing where the memory is private and
		// writable (so each page gets its own copy now), for reading
		// otherwise. Like MAP_POPULATE, a page that cannot be read is not
		// an error here.
		adv := AdvPopulateRead
		if prot&ProtWrite != 0 && f&unix.MAP_PRIVATE != 0 {
			adv = AdvPopulateWrite
		}
		_ = m.advise(0, length, adv)
	}
	return m, nil
}

// Unmap removes the mapping. Data must not be used afterwards.
func (m *Mapping) Unmap() error {
	if len(m.Data) == 0 {
		return nil
	}
	err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(m.Data)), uintptr(len(m.Data)))
	m.Data = nil
	return err
}

// Sync writes the dirty pages of Data[off:off+n] to the file; off must be a
// multiple of PageSize.
func (m *Mapping) Sync(off, n int, async bool) error {
	b := m.Data[off : off+n]
	if len(b) == 0 {
		return nil
	}
	flags := unix.MS_SYNC
	if async {
		flags = unix.MS_ASYNC
	}
	return unix.Msync(b, flags)
}

// Advise gives the kernel an access hint for b, which must start on a page.
func Advise(b []byte, adv Advice) error {
	if len(b) == 0 {
		return nil
	}
	v, ok := adviceValue(adv)
	if !ok {
		switch adv {
		case AdvPopulateRead:
			// No MADV_POPULATE_READ (darwin): start the reads, then
			// fault every page in.
			_ = unix.Madvise(b, unix.MADV_WILLNEED)
			return touch(b, false)
		case AdvPopulateWrite:
			return touch(b, true)
		}
		return unsupported("madvise " + adv.String())
	}
	err := unix.Madvise(b, v)
	if err == unix.EINVAL && newAdvice(adv) {
		// A kernel older than the advice answers EINVAL, the same as for
		// advice that does not apply to this kind of memory; for these
		// values the first reading is by far the likelier one.
		return fmt.Errorf("madvise %s: %w by this kernel (%w)", adv, errors.ErrUnsupported, err)
	}
	return err
}

func (m *Mapping) advise(off, n int, adv Advice) error {
	return Advise(m.Data[off:off+n], adv)
}

// Lock pins the pages of b in RAM (mlock). An error matching ErrMemlock
// means the locked-memory limit refused it; ENOMEM or EAGAIN otherwise means
// that pages could not be read in (or the system is out of memory).
func Lock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	err := unix.Mlock(b)
	if err == nil {
		return nil
	}
	// A failed mlock can leave the range marked locked (Linux sets the flag
	// before reading the pages in), and a locked range refuses
	// MADV_DONTNEED: undo it.
	_ = unix.Munlock(b)
	// EPERM: the limit is 0 and the caller lacks CAP_IPC_LOCK. ENOMEM is
	// either the limit or pages that could not be read in (a file truncated
	// under the mapping): it is the limit only if the limit applies and the
	// request would pass it. (A capability in a user namespace shows in the
	// effective set but does not lift the limit, so the arithmetic decides,
	// not the capability.)
	// darwin, as the BSDs, answers EAGAIN when the system-wide limit on
	// locked memory is what stops it.
	if err == unix.EPERM || err == unix.ENOMEM && overMemlock(len(b)) || runtime.GOOS == "darwin" && err == unix.EAGAIN {
		return fmt.Errorf("%w: %w", ErrMemlock, err)
	}
	return err
}

// overMemlock reports whether locking n more bytes would pass a finite
// RLIMIT_MEMLOCK, counting what the process has locked already.
func overMemlock(n int) bool {
	limit, err := MemlockLimit()
	if err != nil || limit < 0 {
		return false
	}
	locked, err := LockedBytes()
	if err != nil {
		// Cannot count: believe the capability.
		return memlockLimited()
	}
	return locked+int64(n) > limit
}

// memlockLimited reports whether RLIMIT_MEMLOCK applies to this process: it
// is finite and (on Linux) the process lacks CAP_IPC_LOCK.
func memlockLimited() bool {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err == nil && rl.Cur == unix.RLIM_INFINITY {
		return false
	}
	return !hasCapIPCLock()
}

// Unlock undoes Lock.
func Unlock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Munlock(b)
}

// MemlockLimit returns the soft RLIMIT_MEMLOCK in bytes (or -1 for unlimited).
func MemlockLimit() (int64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return 0, err
	}
	if rl.Cur == unix.RLIM_INFINITY {
		return -1, nil
	}
	return int64(rl.Cur), nil
}

// Flock takes an advisory whole-file lock. With wait false it fails at once with
// an error matching ErrWouldBlock if another process holds a conflicting lock.
func Flock(fd uintptr, exclusive, wait bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(fd), how)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EWOULDBLOCK {
			return ErrWouldBlock
		}
		return err
	}
}

// Funlock releases a lock taken by Flock.
func Funlock(fd uintptr) error { return unix.Flock(int(fd), unix.LOCK_UN) }

// GetRusage reports the calling process's page faults and peak RSS.
func GetRusage() (Rusage, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return Rusage{}, err
	}
	return Rusage{
		MinorFaults: int64(ru.Minflt),
		MajorFaults: int64(ru.Majflt),
		MaxRSS:      int64(ru.Maxrss) * maxRSSUnit,
		UserTime:    time.Duration(ru.Utime.Nano()),
		SystemTime:  time.Duration(ru.Stime.Nano()),
		ReadBytes:   readBytes(int64(ru.Inblock)),
	}, nil
}

// Dup returns a new descriptor for the same open file, owned by the caller.
func Dup(fd uintptr) (uintptr, error) {
	nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	return uintptr(nfd), nil
}

// ProcessAlive reports whether a process with this pid exists (it may belong
// to another user). A pid can be reused after its process dies, so a true
// answer is a hint, not a proof.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// DiskFree returns the bytes available to an unprivileged user on the
// filesystem holding path (statfs f_bavail * f_bsize).
func DiskFree(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func readBytes(inblock int64) int64 {
	if inblockUnit == 0 {
		return -1
	}
	return inblock * inblockUnit
}
