//go:build !linux && !darwin && !windows

package sys

import (
	"os"
	"time"
)

// Mapping is one mapping made by Map. Data covers exactly the mapped bytes.
type Mapping struct {
	Data []byte
}

// NoFile as Map's fd asks for anonymous memory.
const NoFile = ^uintptr(0)

// Granularity is the alignment that Map requires of file offsets.
func Granularity() int { return os.Getpagesize() }

// PageSize is the size of a page.
func PageSize() int { return os.Getpagesize() }

// Map is not implemented on this operating system.
func Map(uintptr, int64, int, Prot, Flags) (Mapping, error) { return Mapping{}, unsupported("mmap") }

// Unmap is not implemented on this operating system.
func (m *Mapping) Unmap() error { return nil }

// CanRemap reports whether Remap can resize a mapping in the kernel.
const CanRemap = false

// Remap is not implemented on this operating system.
func (m *Mapping) Remap(int, bool) error { return unsupported("remap") }

// Sync is not implemented on this operating system.
func (m *Mapping) Sync(int, int, bool) error { return unsupported("msync") }

// Advise is not implemented on this operating system.
func Advise([]byte, Advice) error { return unsupported("madvise") }

// Lock is not implemented on this operating system.
func Lock([]byte) error { return unsupported("mlock") }

// Unlock is not implemented on this operating system.
func Unlock([]byte) error { return unsupported("munlock") }

// MemlockLimit is not implemented on this operating system.
func MemlockLimit() (int64, error) { return 0, unsupported("RLIMIT_MEMLOCK") }

// Mincore is not implemented on this operating system.
func Mincore([]byte, []byte) error { return unsupported("mincore") }

// Fadvise is not implemented on this operating system.
func Fadvise(uintptr, int64, int64, FileAdvice) error { return unsupported("fadvise") }

// Fallocate is not implemented on this operating system.
func Fallocate(uintptr, int64, int64) error { return unsupported("fallocate") }

// Flock is not implemented on this operating system.
func Flock(uintptr, bool, bool) error { return unsupported("flock") }

// Funlock is not implemented on this operating system.
func Funlock(uintptr) error { return unsupported("flock") }

// GetRusage is not implemented on this operating system.
func GetRusage() (Rusage, error) { return Rusage{}, unsupported("getrusage") }

// CanFutex reports whether FutexWait and FutexWake work on this system.
const CanFutex = false

// FutexWait is not implemented on this operating system.
func FutexWait(*uint32, uint32, time.Duration) error { return unsupported("futex") }

// FutexWake is not implemented on this operating system.
func FutexWake(*uint32, int) error { return unsupported("futex") }

// Dup is not implemented on this operating system.
func Dup(uintptr) (uintptr, error) { return 0, unsupported("dup") }

// ProcessAlive cannot tell on this system and answers true, the safe guess
// for callers that reclaim resources of dead processes.
func ProcessAlive(int) bool { return true }

// DiskFree is not implemented on this operating system.
func DiskFree(string) (int64, error) { return 0, unsupported("statfs") }

// WritebackRange is not implemented on this operating system.
func WritebackRange(uintptr, int64, int64) error { return unsupported("sync_file_range") }
