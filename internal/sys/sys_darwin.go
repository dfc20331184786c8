package sys

import (
	"time"

	"golang.org/x/sys/unix"
)

// ru_maxrss is in bytes on darwin.
const maxRSSUnit = 1

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

// Fallocate: darwin's F_PREALLOCATE is not wired up; callers fall back to truncate.
func Fallocate(uintptr, int64, int64) error { return unsupported("fallocate") }

// CanFutex reports whether FutexWait and FutexWake work on this system.
const CanFutex = false

// FutexWait is unavailable on darwin; callers poll.
func FutexWait(*uint32, uint32, time.Duration) error { return unsupported("futex") }

// FutexWake is unavailable on darwin; callers poll.
func FutexWake(*uint32, int) error { return unsupported("futex") }
