package sys

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Mapping is one mapping made by Map. Data covers exactly the mapped bytes.
type Mapping struct {
	Data []byte
	h    windows.Handle // the file-mapping object
	file windows.Handle // the file, for FlushFileBuffers; 0 when anonymous
}

// NoFile as Map's fd asks for anonymous (pagefile-backed) memory.
const NoFile = ^uintptr(0)

// Granularity is the alignment Map requires of file offsets: the allocation
// granularity, 64 KiB on every Windows release and architecture.
func Granularity() int { return 64 << 10 }

// PageSize is the size of a page, the unit of residency and advice.
func PageSize() int { return os.Getpagesize() }

// Map maps length bytes of the file fd from offset off, which must be a multiple
// of Granularity. fd == NoFile maps anonymous memory.
func Map(fd uintptr, off int64, length int, prot Prot, flags Flags) (Mapping, error) {
	if length <= 0 {
		return Mapping{}, windows.ERROR_INVALID_PARAMETER
	}
	pageProt, access := uint32(windows.PAGE_READONLY), uint32(windows.FILE_MAP_READ)
	switch {
	case flags&Private != 0:
		pageProt, access = windows.PAGE_WRITECOPY, windows.FILE_MAP_COPY
	case prot&ProtWrite != 0:
		pageProt, access = windows.PAGE_READWRITE, windows.FILE_MAP_WRITE
	}
	fh := windows.Handle(fd)
	size := uint64(off) + uint64(length)
	if fd == NoFile {
		fh, off, size = windows.InvalidHandle, 0, uint64(length)
		pageProt, access = windows.PAGE_READWRITE, windows.FILE_MAP_WRITE
	}
	h, err := windows.CreateFileMapping(fh, nil, pageProt, uint32(size>>32), uint32(size), nil)
	if err != nil {
		return Mapping{}, err
	}
	addr, err := windows.MapViewOfFile(h, access, uint32(uint64(off)>>32), uint32(off), uintptr(length))
	if err != nil {
		windows.CloseHandle(h)
		return Mapping{}, err
	}
	// addr is memory outside the Go heap; converting through a pointer to the
	// uintptr keeps vet's unsafeptr check quiet (golang/go#58625) without
	// changing what happens.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	m := Mapping{Data: unsafe.Slice((*byte)(p), length), h: h}
	if fd != NoFile {
		m.file = fh
	}
	if flags&Populate != 0 {
		// No MAP_POPULATE: fault the view in as MAP_POPULATE would, for
		// writing where it is copy-on-write (so each page gets its copy
		// now), for reading otherwise; a page that cannot be read is not
		// an error here, as with MAP_POPULATE.
		_ = prefetch(m.Data)
		_ = touch(m.Data, flags&Private != 0 && prot&ProtWrite != 0)
	}
	return m, nil
}

// Unmap removes the mapping. Data must not be used afterwards.
func (m *Mapping) Unmap() error {
	if len(m.Data) == 0 {
		return nil
	}
	err := windows.UnmapViewOfFile(uintptr(unsafe.Pointer(unsafe.SliceData(m.Data))))
	if e := windows.CloseHandle(m.h); err == nil {
		err = e
	}
	m.Data = nil
	return err
}

// CanRemap reports whether Remap can resize a mapping in the kernel.
const CanRemap = false

// Remap is not available on Windows; callers unmap and map again.
func (m *Mapping) Remap(int, bool) error { return unsupported("remap") }

// Shrink makes Data n bytes long without moving the mapping. Windows cannot
// unmap part of a view, so the pages past n stay mapped (and allocated) until
// Unmap.
func (m *Mapping) Shrink(n int) error {
	if n <= 0 || n > len(m.Data) {
		return windows.ERROR_INVALID_PARAMETER
	}
	m.Data = m.Data[:n]
	return nil
}

// Sync writes the dirty pages of Data[off:off+n] to the file: FlushViewOfFile
// starts the writes, FlushFileBuffers waits for them (in that order).
func (m *Mapping) Sync(off, n int, async bool) error {
	if n == 0 {
		return nil
	}
	if err := windows.FlushViewOfFile(uintptr(unsafe.Pointer(&m.Data[off])), uintptr(n)); err != nil {
		return err
	}
	if async || m.file == 0 {
		return nil
	}
	return windows.FlushFileBuffers(m.file)
}

// Advise applies adv to the pages of b. Windows has no madvise; the advice
// maps to what Windows has:
//
//   - Normal, Sequential and Random are accepted and do nothing. Windows keeps
//     no per-range access hint for a view (its memory manager picks the
//     read-ahead for mapped files by itself), and ignoring the hint changes no
//     result, only speed.
//   - WillNeed starts reading the pages in with PrefetchVirtualMemory
//     (Windows 8 and later) and returns without waiting, as on Linux.
//   - PopulateRead and PopulateWrite prefetch and then touch every page, so
//     the pages are in the process's working set when Advise returns; a page
//     that cannot be read in is an error matching syscall.EFAULT, as on Linux.
//   - The rest (DontNeed, Free, HugePage, NoHugePage, Cold, PageOut, DontFork,
//     DontDump) return an error matching errors.ErrUnsupported that says why:
//     ignoring them would change what the program sees (DontNeed and Free
//     discard data on Linux) or what the caller asked to be guaranteed.
func Advise(b []byte, adv Advice) error {
	if adv < 0 || adv >= advCount {
		return unsupported("madvise " + adv.String())
	}
	if len(b) == 0 {
		return nil
	}
	switch adv {
	case AdvNormal, AdvSequential, AdvRandom:
		return nil
	case AdvWillNeed:
		return prefetch(b)
	case AdvPopulateRead:
		if err := prefetch(b); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		return touch(b, false)
	case AdvPopulateWrite:
		return touch(b, true)
	}
	return unsupportedWhy("madvise "+adv.String(), adviceWhy[adv])
}

// unsupportedWhy is unsupported with the reason.
func unsupportedWhy(what, why string) error {
	return fmt.Errorf("%s: %w on this operating system: %s", what, errors.ErrUnsupported, why)
}

var adviceWhy = [...]string{
	AdvDontNeed:   "a view cannot be discarded in part, and trimming the working set would keep the data that DontNeed drops on Linux",
	AdvFree:       "a view cannot be discarded in part (DiscardVirtualMemory works on private allocations only)",
	AdvHugePage:   "large pages must be asked for when memory is allocated, and need SeLockMemoryPrivilege",
	AdvNoHugePage: "Windows has no per-range huge-page setting",
	AdvCold:       "Windows has no call that deactivates pages without unlocking them",
	AdvPageOut:    "Windows has no call that reclaims pages without unlocking them",
	AdvDontFork:   "Windows has no fork",
	AdvDontDump:   "Windows has no per-range core-dump setting",
}

var (
	kernel32                  = windows.NewLazySystemDLL("kernel32.dll")
	procPrefetchVirtualMemory = kernel32.NewProc("PrefetchVirtualMemory")
)

// memoryRangeEntry is WIN32_MEMORY_RANGE_ENTRY.
type memoryRangeEntry struct {
	VirtualAddress uintptr
	NumberOfBytes  uintptr
}

// prefetch asks Windows to read the pages of b into memory
// (PrefetchVirtualMemory): the reads are issued together and the call does
// not wait for them, nor map the pages into the working set.
func prefetch(b []byte) error {
	if procPrefetchVirtualMemory.Find() != nil {
		return unsupportedWhy("PrefetchVirtualMemory", "it needs Windows 8 or later")
	}
	e := memoryRangeEntry{addrOf(b), uintptr(len(b))}
	ok, _, err := procPrefetchVirtualMemory.Call(uintptr(windows.CurrentProcess()), 1, uintptr(unsafe.Pointer(&e)), 0)
	if ok == 0 {
		return fmt.Errorf("PrefetchVirtualMemory: %w", err)
	}
	return nil
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// lockMu guards lockGrown.
var (
	lockMu    sync.Mutex
	lockGrown uintptr // bytes Lock added to the working-set minimum and maximum
)

// Lock pins the pages of b in RAM (VirtualLock). Windows lets a process lock
// only as many pages as its minimum working-set size allows (a few hundred
// KiB by default), so when VirtualLock fails with ERROR_WORKING_SET_QUOTA,
// Lock raises the process's working-set limits by the size of b
// (SetProcessWorkingSetSizeEx, which needs no administrator rights) and tries
// once more. An error after that matches ErrMemlock.
func Lock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	err := windows.VirtualLock(addrOf(b), uintptr(len(b)))
	if err != windows.ERROR_WORKING_SET_QUOTA {
		return err
	}
	lockMu.Lock()
	defer lockMu.Unlock()
	n := uintptr(len(b)+PageSize()-1) &^ uintptr(PageSize()-1)
	if err := growWorkingSet(int64(n)); err != nil {
		return fmt.Errorf("%w: %w (raising the working-set size by %d bytes: %w)", ErrMemlock, windows.ERROR_WORKING_SET_QUOTA, n, err)
	}
	lockGrown += n
	err = windows.VirtualLock(addrOf(b), uintptr(len(b)))
	if err == windows.ERROR_WORKING_SET_QUOTA {
		return fmt.Errorf("%w: %w", ErrMemlock, err)
	}
	return err
}

// growWorkingSet adds n (which may be negative) to the process's minimum and
// maximum working-set sizes.
func growWorkingSet(n int64) error {
	p := windows.CurrentProcess()
	var lo, hi uintptr
	var flags uint32
	windows.GetProcessWorkingSetSizeEx(p, &lo, &hi, &flags)
	if lo == 0 || hi == 0 {
		return fmt.Errorf("GetProcessWorkingSetSizeEx reported no working-set size")
	}
	return windows.SetProcessWorkingSetSizeEx(p, uintptr(int64(lo)+n), uintptr(int64(hi)+n), flags)
}

// Unlock undoes Lock (VirtualUnlock) and gives back the working-set quota
// Lock added for these pages, if any.
func Unlock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := windows.VirtualUnlock(addrOf(b), uintptr(len(b))); err != nil {
		return err
	}
	lockMu.Lock()
	defer lockMu.Unlock()
	n := min(lockGrown, uintptr(len(b)+PageSize()-1)&^uintptr(PageSize()-1))
	if n > 0 && growWorkingSet(-int64(n)) == nil {
		lockGrown -= n
	}
	return nil
}

// MemlockLimit: Windows limits locking by working-set size, not an rlimit.
func MemlockLimit() (int64, error) { return 0, unsupported("RLIMIT_MEMLOCK") }

// Mincore sets vec[i] to 1 if page i of b is resident and 0 if not, like
// mincore(2). Windows answers for this process only (QueryWorkingSetEx): a
// page is resident when it is in the process's working set. A file page that
// Windows holds in its cache (the standby list) but this process has not
// mapped, or has had trimmed, counts as not resident, where Linux's mincore
// would count it.
func Mincore(b []byte, vec []byte) error {
	ps := PageSize()
	n := (len(b) + ps - 1) / ps
	if n == 0 {
		return nil
	}
	infos := make([]windows.PSAPI_WORKING_SET_EX_INFORMATION, n)
	// b starts on a page boundary (callers pass whole pages).
	base := unsafe.Pointer(unsafe.SliceData(b))
	for i := range infos {
		infos[i].VirtualAddress = windows.Pointer(unsafe.Add(base, i*ps))
	}
	size := uint32(n * int(unsafe.Sizeof(infos[0])))
	if err := windows.QueryWorkingSetEx(windows.CurrentProcess(), uintptr(unsafe.Pointer(&infos[0])), size); err != nil {
		return fmt.Errorf("QueryWorkingSetEx: %w", err)
	}
	for i := range infos {
		vec[i] = 0
		if infos[i].VirtualAttributes.Valid() {
			vec[i] = 1
		}
	}
	return nil
}

// Fadvise: Windows has no posix_fadvise. In particular nothing drops a
// file's pages from the system cache without administrator rights: the
// standby list is purged only with SeProfileSingleProcessPrivilege, and the
// trick of opening the file unbuffered fails while a view of it is mapped.
func Fadvise(_ uintptr, _, _ int64, adv FileAdvice) error {
	if adv == FadvDontNeed {
		return unsupportedWhy("fadvise dontneed", "dropping a file's pages from the cache needs administrator rights on Windows")
	}
	return unsupported("fadvise")
}

// Fallocate: not wired up on Windows; callers fall back to truncate.
func Fallocate(uintptr, int64, int64) error { return unsupported("fallocate") }

// flockOffset is the one byte that Flock locks: far past the end of any
// file. Windows byte-range locks are mandatory for ReadFile and WriteFile, so
// a lock over the file's data would stop every other handle from reading it
// (a status tool reading a state file its owner holds, say); a lock past the
// data excludes other lockers just the same and is advisory for everyone
// else, as flock is on Unix. (The ring writer's lock, at 2^62, is another
// byte.)
const flockOffset uint64 = 1<<63 - 2

// Flock takes an advisory whole-file lock: LockFileEx on one byte past any
// data (see flockOffset). With wait false it fails at once with
// ErrWouldBlock if another handle holds a conflicting lock.
func Flock(fd uintptr, exclusive, wait bool) error {
	var flags uint32
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	if !wait {
		flags |= windows.LOCKFILE_FAIL_IMMEDIATELY
	}
	ol := &windows.Overlapped{Offset: uint32(flockOffset & 0xffffffff), OffsetHigh: uint32(flockOffset >> 32)}
	err := windows.LockFileEx(windows.Handle(fd), flags, 0, 1, 0, ol)
	if err == windows.ERROR_LOCK_VIOLATION {
		return ErrWouldBlock
	}
	return err
}

// Funlock releases a lock taken by Flock.
func Funlock(fd uintptr) error {
	ol := &windows.Overlapped{Offset: uint32(flockOffset & 0xffffffff), OffsetHigh: uint32(flockOffset >> 32)}
	return windows.UnlockFileEx(windows.Handle(fd), 0, 1, 0, ol)
}

// GetRusage is not wired up on Windows.
func GetRusage() (Rusage, error) { return Rusage{}, unsupported("getrusage") }

// CanFutex reports whether FutexWait and FutexWake work on this system.
const CanFutex = false

// FutexWait is unavailable on Windows; callers poll.
func FutexWait(*uint32, uint32, time.Duration) error { return unsupported("futex") }

// FutexWake is unavailable on Windows; callers poll.
func FutexWake(*uint32, int) error { return unsupported("futex") }

// Dup returns a new handle for the same open file, owned by the caller.
func Dup(fd uintptr) (uintptr, error) {
	p := windows.CurrentProcess()
	var h windows.Handle
	if err := windows.DuplicateHandle(p, windows.Handle(fd), p, &h, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return 0, err
	}
	return uintptr(h), nil
}

// ProcessAlive reports whether a process with this pid is still running. A pid
// can be reused after its process dies, so a true answer is a hint.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Access denied means the process exists but belongs to someone else.
		return err == windows.ERROR_ACCESS_DENIED
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	const stillActive = 259
	return code == stillActive
}

// DiskFree returns the bytes available to the caller on the volume holding
// path (GetDiskFreeSpaceEx).
func DiskFree(path string) (int64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return int64(avail), nil
}

// WritebackRange is not implemented on this operating system.
func WritebackRange(uintptr, int64, int64) error { return unsupported("sync_file_range") }
