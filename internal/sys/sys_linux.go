package sys

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ru_maxrss is in KiB on Linux.
const maxRSSUnit = 1024

// ru_inblock counts 512-byte units read from storage on Linux.
const inblockUnit = 512

// hasMapPopulate: mapFlags turns Populate into MAP_POPULATE.
const hasMapPopulate = true

func mapFlags(f Flags) int {
	if f&Populate != 0 {
		return unix.MAP_POPULATE
	}
	return 0
}

var linuxAdvice = [...]int{
	AdvNormal:        unix.MADV_NORMAL,
	AdvSequential:    unix.MADV_SEQUENTIAL,
	AdvRandom:        unix.MADV_RANDOM,
	AdvWillNeed:      unix.MADV_WILLNEED,
	AdvDontNeed:      unix.MADV_DONTNEED,
	AdvHugePage:      unix.MADV_HUGEPAGE,
	AdvNoHugePage:    unix.MADV_NOHUGEPAGE,
	AdvFree:          unix.MADV_FREE,
	AdvCold:          unix.MADV_COLD,
	AdvPageOut:       unix.MADV_PAGEOUT,
	AdvPopulateRead:  unix.MADV_POPULATE_READ,
	AdvPopulateWrite: unix.MADV_POPULATE_WRITE,
	AdvDontFork:      unix.MADV_DONTFORK,
	AdvDontDump:      unix.MADV_DONTDUMP,
}

func adviceValue(a Advice) (int, bool) {
	if a < 0 || a >= advCount {
		return 0, false
	}
	return linuxAdvice[a], true
}

// newAdvice reports whether adv is recent enough (Linux 5.4 and later) that
// EINVAL from madvise most likely means the kernel does not know it.
func newAdvice(adv Advice) bool {
	switch adv {
	case AdvCold, AdvPageOut, AdvPopulateRead, AdvPopulateWrite:
		return true
	}
	return false
}

// WritebackRange writes the file's dirty pages in [off, off+n) to disk and
// waits for them (sync_file_range), so that FadvDontNeed can drop them: the
// kernel only drops clean pages. It needs no write access to the file.
func WritebackRange(fd uintptr, off, n int64) error {
	const how = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	for {
		err := unix.SyncFileRange(int(fd), off, n, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// hasCapIPCLock reports whether the calling thread may lock memory beyond
// RLIMIT_MEMLOCK.
func hasCapIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0
}

// LockedBytes returns the bytes of memory this process has locked (VmLck in
// /proc/self/status).
func LockedBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmLck:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmLck in /proc/self/status: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmLck in /proc/self/status")
}

// CanRemap reports whether Remap can resize a mapping in the kernel.
const CanRemap = true

// Remap resizes the mapping to newLen bytes. With mayMove false the mapping must
// stay at its address (it fails if it cannot grow in place).
func (m *Mapping) Remap(newLen int, mayMove bool) error {
	flags := 0
	if mayMove {
		flags = unix.MREMAP_MAYMOVE
	}
	p, err := unix.MremapPtr(unsafe.Pointer(unsafe.SliceData(m.Data)), uintptr(len(m.Data)), nil, uintptr(newLen), flags)
	if err != nil {
		return err
	}
	m.Data = unsafe.Slice((*byte)(p), newLen)
	return nil
}

// Mincore fills vec with one byte per page of b (bit 0 set when resident).
// b must start on a page; vec must hold at least (len(b)+PageSize-1)/PageSize bytes.
func Mincore(b []byte, vec []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if e != 0 {
		return e
	}
	return nil
}

var linuxFadvice = [...]int{
	FadvNormal:     unix.FADV_NORMAL,
	FadvSequential: unix.FADV_SEQUENTIAL,
	FadvRandom:     unix.FADV_RANDOM,
	FadvWillNeed:   unix.FADV_WILLNEED,
	FadvDontNeed:   unix.FADV_DONTNEED,
}

// Fadvise gives the kernel a hint about the file's page cache; n == 0 means to EOF.
func Fadvise(fd uintptr, off, n int64, adv FileAdvice) error {
	if adv < 0 || int(adv) >= len(linuxFadvice) {
		return unsupported("fadvise")
	}
	return unix.Fadvise(int(fd), off, n, linuxFadvice[adv])
}

// Fallocate allocates real blocks for [off, off+n) of the file, growing it if
// needed, so that later writes through a mapping cannot fail for lack of space.
func Fallocate(fd uintptr, off, n int64) error {
	for {
		err := unix.Fallocate(int(fd), 0, off, n)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EOPNOTSUPP {
			return unsupported("fallocate")
		}
		return err
	}
}

// CanFutex reports whether FutexWait and FutexWake work on this system.
const CanFutex = true

// FutexWait sleeps while *addr == val, until woken by FutexWake, the timeout
// passes (timeout <= 0 waits without limit) or a signal arrives. It returns nil
// on wake-up or value mismatch, and ErrTimeout on timeout. The futex is shared,
// not private, so it works on a MAP_SHARED word between processes.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return ErrTimeout
	}
	return e
}

// FutexWake wakes up to n waiters sleeping on addr.
func FutexWake(addr *uint32, n int) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// x/sys/unix exports SYS_FUTEX but not the operation codes; these are the
// shared (not FUTEX_PRIVATE_FLAG) operations from linux/futex.h, so a wait and
// a wake in different processes on the same MAP_SHARED page meet.
const (
	futexWait uintptr = 0
	futexWake uintptr = 1
)
