package sys

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// touchSink keeps the loads in touch from being optimised away.
var touchSink atomic.Uint32

// touch faults in every page of b: by reading a byte of it, or with write by
// an atomic add of zero, which makes the page writable without changing it
// even while another thread or process writes to it. A page that cannot be
// read in (an I/O error) or accessed is an error matching syscall.EFAULT.
//
// It is PopulateRead and PopulateWrite where the kernel has no
// MADV_POPULATE_* (darwin, Windows).
func touch(b []byte, write bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		ae, ok := v.(interface{ Addr() uintptr })
		if !ok {
			panic(v)
		}
		err = fmt.Errorf("page at offset %d cannot be faulted in: %w", ae.Addr()-uintptr(unsafe.Pointer(unsafe.SliceData(b))), syscall.EFAULT)
	}()
	ps := PageSize()
	var sum uint32
	for i := 0; i < len(b); i += ps {
		if write {
			atomic.AddUint32((*uint32)(unsafe.Pointer(&b[i&^3])), 0)
		} else {
			sum += uint32(b[i])
		}
	}
	touchSink.Add(sum)
	return nil
}
