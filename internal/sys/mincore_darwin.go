package sys

import (
	"syscall"
	"unsafe"
)

// Mincore fills vec with one byte per page of b, which must start on a page
// (bit 0, MINCORE_INCORE, set when the page is resident), with libSystem's
// mincore(2). For a file mapping, darwin answers from the file's VM object:
// a page counts as resident when it is in memory, whether or not this
// process has touched it, as on Linux.
//
// darwin forbids raw system calls from programs, so this calls the libc
// function the way golang.org/x/sys/unix does (which has no wrapper for
// mincore): through a trampoline to the dynamically imported symbol.
func Mincore(b []byte, vec []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, e := syscall_syscall(libc_mincore_trampoline_addr,
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if e != 0 {
		return e
	}
	return nil
}

//go:linkname syscall_syscall syscall.syscall
func syscall_syscall(fn, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno)

var libc_mincore_trampoline_addr uintptr

//go:cgo_import_dynamic libc_mincore mincore "/usr/lib/libSystem.B.dylib"
