package sys

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ru_maxrss is in bytes on darwin.
const maxRSSUnit = 1

// ru_inblock counts input operations, not bytes, on darwin.
const inblockUnit = 0

// darwin has no MAP_POPULATE: Map asks for the pages with WillNeed instead.
const hasMapPopulate = false

func mapFlags(Flags) int { return 0 }

// newAdvice: darwin reports unknown advice through adviceValue, not EINVAL.
func newAdvice(Advice) bool { return false }

// WritebackRange: darwin has no sync_file_range (and no fadvise to use it for).
func WritebackRange(uintptr, int64, int64) error { return unsupported("sync_file_range") }

func adviceValue(a Advice) (int, bool) {
	switch a {
	case AdvNormal:
		return unix.MADV_NORMAL, true
	case AdvSequential:
		return unix.MADV_SEQUENTIAL, true
	case AdvRandom:
		return unix.MADV_RANDOM, true
	case AdvWillNeed:
		return unix.MADV_WILLNEED, true
	case AdvDontNeed:
		return unix.MADV_DONTNEED, true
	case AdvFree:
		return unix.MADV_FREE, true
	}
	return 0, false
}

// hasCapIPCLock: darwin has no capabilities; root is limited like anyone.
func hasCapIPCLock() bool { return false }

// CanRemap reports whether Remap can resize a mapping in the kernel.
const CanRemap = false

// Remap is not available on darwin (no mremap); callers unmap and map again.
func (m *Mapping) Remap(int, bool) error { return unsupported("mremap") }

// Fadvise: darwin has no posix_fadvise.
func Fadvise(uintptr, int64, int64, FileAdvice) error { return unsupported("fadvise") }

// Fallocate makes the file at least off+n bytes long with real blocks behind
// the new part, as Linux's fallocate (mode 0) does, so that a full disk is an
// error now and not a SIGBUS on a later write through a mapping:
// F_PREALLOCATE reserves the blocks past the file's physical end (in one
// piece if it can, else anywhere), then ftruncate sets the length. darwin can
// only allocate past the end of a file, so holes inside [off, off+n) stay
// holes. A file system that cannot preallocate answers ENOTSUP or EINVAL,
// which is returned as ErrUnsupported so that callers fall back to truncate.
func Fallocate(fd uintptr, off, n int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return err
	}
	end := off + n
	if end <= st.Size {
		return nil
	}
	fs := unix.Fstore_t{Flags: unix.F_ALLOCATECONTIG | unix.F_ALLOCATEALL, Posmode: unix.F_PEOFPOSMODE, Length: end - st.Size}
	err := unix.FcntlFstore(fd, unix.F_PREALLOCATE, &fs)
	if err != nil && err != unix.ENOSPC {
		fs.Flags = unix.F_ALLOCATEALL // not in one piece then
		err = unix.FcntlFstore(fd, unix.F_PREALLOCATE, &fs)
	}
	switch err {
	case nil:
	case unix.ENOTSUP, unix.EINVAL:
		return fmt.Errorf("fallocate: %w on this file system (%w)", errors.ErrUnsupported, err)
	default:
		return err
	}
	return unix.Ftruncate(int(fd), end)
}

// CanFutex reports whether FutexWait and FutexWake work on this system.
const CanFutex = false

// FutexWait is unavailable on darwin; callers poll.
func FutexWait(*uint32, uint32, time.Duration) error { return unsupported("futex") }

// FutexWake is unavailable on darwin; callers poll.
func FutexWake(*uint32, int) error { return unsupported("futex") }
