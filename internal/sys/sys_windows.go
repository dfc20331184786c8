package sys

import (
	"fmt"
	"os"
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
		// No MAP_POPULATE: touch one byte per page so the view is faulted in.
		ps := PageSize()
		var sink byte
		for i := 0; i < length; i += ps {
			sink += m.Data[i]
		}
		_ = sink
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

// Advise: Windows has no madvise.
func Advise(b []byte, adv Advice) error {
	if len(b) == 0 {
		return nil
	}
	return unsupported("madvise " + adv.String())
}

// Lock pins the pages of b in RAM (VirtualLock).
func Lock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	err := windows.VirtualLock(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if err == windows.ERROR_WORKING_SET_QUOTA {
		return fmt.Errorf("%w: %w", ErrMemlock, err)
	}
	return err
}

// Unlock undoes Lock.
func Unlock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return windows.VirtualUnlock(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
}

// MemlockLimit: Windows limits locking by working-set size, not an rlimit.
func MemlockLimit() (int64, error) { return 0, unsupported("RLIMIT_MEMLOCK") }

// Mincore: Windows has no mincore.
func Mincore([]byte, []byte) error { return unsupported("mincore") }

// Fadvise: Windows has no posix_fadvise.
func Fadvise(uintptr, int64, int64, FileAdvice) error { return unsupported("fadvise") }

// Fallocate: not wired up on Windows; callers fall back to truncate.
func Fallocate(uintptr, int64, int64) error { return unsupported("fallocate") }

// Flock takes a whole-file lock with LockFileEx.
func Flock(fd uintptr, exclusive, wait bool) error {
	var flags uint32
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	if !wait {
		flags |= windows.LOCKFILE_FAIL_IMMEDIATELY
	}
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(fd), flags, 0, ^uint32(0), ^uint32(0), ol)
	if err == windows.ERROR_LOCK_VIOLATION {
		return ErrWouldBlock
	}
	return err
}

// Funlock releases a lock taken by Flock.
func Funlock(fd uintptr) error {
	ol := new(windows.Overlapped)
	return windows.UnlockFileEx(windows.Handle(fd), 0, ^uint32(0), ^uint32(0), ol)
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
