//go:build !linux && !darwin

package sys

// CanRetire reports whether Retire and MapAt work here. Without them package
// mmap makes every call that touches mapped memory register itself, so that
// Close and Resize can wait for it before unmapping.
//
// Windows can have them: map every view into a placeholder (VirtualAlloc2
// with MEM_RESERVE|MEM_RESERVE_PLACEHOLDER, then MapViewOfFile3 with
// MEM_REPLACE_PLACEHOLDER); Retire is UnmapViewOfFile2 with
// MEM_PRESERVE_PLACEHOLDER (the range stays reserved and inaccessible in one
// step); Release is VirtualFree(MEM_RELEASE); MapAt splits the placeholder
// (VirtualFree with MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER) and maps into it;
// Protect is VirtualProtect. An access to a placeholder raises an access
// violation, which the Go runtime turns into a panic under SetPanicOnFault
// as it does SIGSEGV on Unix.
const CanRetire = false

// Retire is not available on this operating system.
func Retire([]byte) error { return unsupported("retire") }

// Release is not available on this operating system.
func Release([]byte) error { return unsupported("release") }

// Protect is not available on this operating system.
func Protect([]byte, Prot) error { return unsupported("mprotect") }

// MapAt is not available on this operating system.
func MapAt([]byte, uintptr, int64, Prot, Flags) (Mapping, error) {
	return Mapping{}, unsupported("map at a fixed address")
}
