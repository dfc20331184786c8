//go:build !asan && !msan

//lint:file-ignore U1000 the assembly (copy_linux_amd64.s) uses these.

package sys

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A copy that returns false instead of faulting.
//
// Package mmap must turn a fault in mapped memory (a file truncated by
// another process, a disk error, pages retired by Close) into an error. The
// portable way, debug.SetPanicOnFault plus a deferred recover around every
// copy, costs two runtime calls and a deferred call per copy; a random 8-byte
// read out of a large mapping then takes about twice as long as a plain
// copy, because every instruction between two cache misses limits how many
// of them the processor overlaps.
//
// Here the copy is a routine of its own (copyNoFault) and a SIGBUS/SIGSEGV
// handler installed in front of the Go runtime's (faultTramp) resumes a
// fault inside that routine at copyNoFaultFailed, which returns false. Any
// other fault goes on to the Go runtime's handler unchanged, so a nil
// dereference or a fault elsewhere behaves exactly as before. The caller
// redoes a failed copy under SetPanicOnFault to learn what the fault was.

//go:noescape
func copyNoFault(dst, src unsafe.Pointer, n uintptr) (ok bool)

//go:noescape
func copyNoFaultFailed(dst, src unsafe.Pointer, n uintptr) (ok bool)

func faultTramp()

func faultAddrs() (start, failed, tramp uintptr)

// Read by faultTramp; set before it is installed.
var (
	copyStart, copyEnd, copyFailed uintptr
	fwdSIGBUS, fwdSIGSEGV          uintptr
)

// Flags of struct sigaction (asm-generic/signal-defs.h).
const (
	saSiginfo = 0x4
	saOnstack = 0x8000000
)

// sigactiont is the kernel's struct sigaction on amd64.
type sigactiont struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

func rtSigaction(sig uintptr, new, old *sigactiont) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(new)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

var installOnce = sync.OnceValue(installFaultHandler)

// NoFaultCopy installs the handler that CopyNoFault needs (once per process)
// and reports whether CopyNoFault may be used: whether that handler is in
// place now. It is false when the environment sets MMAPKIT_FAULT_HANDLER=0,
// when the handlers found were not the Go runtime's kind (three-argument, on
// the signal stack), and when other code has since replaced the handler
// (then faults in the routine would reach the Go runtime and crash the
// program). Package mmap asks for every new view (Open, Map, Resize).
func NoFaultCopy() bool {
	if installOnce() != nil {
		return false
	}
	for _, sig := range []uintptr{uintptr(unix.SIGBUS), uintptr(unix.SIGSEGV)} {
		var sa sigactiont
		if rtSigaction(sig, nil, &sa) != nil || sa.handler != trampAddr {
			return false
		}
	}
	return true
}

// trampAddr is faultTramp's address, once installed.
var trampAddr uintptr

func installFaultHandler() error {
	if os.Getenv("MMAPKIT_FAULT_HANDLER") == "0" {
		return errors.New("disabled by MMAPKIT_FAULT_HANDLER=0")
	}
	start, failed, tramp := faultAddrs()
	// The routine ends where the symbol table says the next function
	// begins.
	f := runtime.FuncForPC(start)
	if f == nil || f.Entry() != start {
		return errors.New("copy routine not in the symbol table")
	}
	end := start
	for end-start < 4096 {
		g := runtime.FuncForPC(end)
		if g == nil || g.Entry() != start {
			break
		}
		end++
	}
	copyStart, copyEnd, copyFailed = start, end, failed
	var olds [2]sigactiont
	for i, sig := range []uintptr{uintptr(unix.SIGBUS), uintptr(unix.SIGSEGV)} {
		if err := rtSigaction(sig, nil, &olds[i]); err != nil {
			return err
		}
		const need = saSiginfo | saOnstack
		if olds[i].handler <= 1 || olds[i].flags&need != need {
			return errors.New("no Go signal handler to chain to")
		}
	}
	fwdSIGBUS, fwdSIGSEGV = olds[0].handler, olds[1].handler
	trampAddr = tramp
	for i, sig := range []uintptr{uintptr(unix.SIGBUS), uintptr(unix.SIGSEGV)} {
		sa := olds[i]
		sa.handler = tramp
		if err := rtSigaction(sig, &sa, nil); err != nil {
			return err
		}
	}
	return nil
}

// CopyNoFault copies min(len(dst), len(src)) bytes like copy, but returns
// ok == false instead of faulting when a page of either faults; dst may
// then hold part of the bytes. It also returns false, without copying, when
// the two overlap and are longer than 16 bytes (up to 16 it copies like
// copy). Call it only after NoFaultCopy returned true.
func CopyNoFault(dst, src []byte) (n int, ok bool) {
	n = min(len(dst), len(src))
	ok = copyNoFault(unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(src)), uintptr(n))
	if raceEnabled {
		raceReadRange(unsafe.Pointer(unsafe.SliceData(src)), n)
		raceWriteRange(unsafe.Pointer(unsafe.SliceData(dst)), n)
	}
	return n, ok
}
