package mmap

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// bytes returns the current view's bytes. Scoped calls (inside the gate) may
// rely on them staying put until they exit.
func (r *Region) bytes() []byte { return r.v.Load().data }

// checkRange checks that [off, off+n) lies inside data.
func checkRange(data []byte, off int64, n int) error {
	if off < 0 || n < 0 || off > int64(len(data)) || int64(n) > int64(len(data))-off {
		return fmt.Errorf("offset %d, length %d outside the region (%d bytes): %w", off, n, len(data), ErrOutOfRange)
	}
	return nil
}

func (r *Region) writable() error {
	if r.mode == ReadOnly {
		return ErrReadOnly
	}
	return nil
}

// Bytes returns the mapped bytes without copying. Writing to them is allowed
// for ReadWrite and CopyOnWrite Regions (on a ReadOnly Region a write crashes
// the program with a fault: use WriteAt or Do).
//
// The slice is valid until Close or Resize; using it afterwards is a bug.
// Where the OS allows (Linux, darwin) the old pages then become an
// inaccessible reservation, so the bug crashes with a fault instead of
// reading other memory, at least while the Region is reachable. Unlike
// Region methods, plain accesses to the slice are not protected against
// faults: if the file may be truncated by another process, use Do or the
// Region's methods. Once Bytes has been called, Resize does not move the
// mapping (ErrExported), and a Region that is never closed is never
// unmapped, since the slice may outlive it. After Close, Bytes returns nil.
func (r *Region) Bytes() []byte {
	if r.enter() != nil {
		return nil
	}
	defer r.exit()
	r.st.exported.Store(true)
	return r.bytes()
}

// Do runs fn over the mapped bytes with faults turned into errors: if fn
// touches a page that faults (the file was truncated, or a disk error), Do
// returns an error matching ErrFault instead of the program crashing. fn runs
// in the calling goroutine; faults in goroutines it starts are not covered.
//
// b is valid only while fn runs: fn must not keep it. Close and Resize wait
// for fn to return; fn itself must not call Close or Resize on this Region
// (they would wait for it forever). Other methods of the Region may be
// called from fn.
func (r *Region) Do(fn func(b []byte) error) (err error) {
	const op = "do"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	return r.do(op, fn)
}

func (r *Region) do(op string, fn func(b []byte) error) (err error) {
	v := r.v.Load()
	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
	err = fn(v.data)
	return err
}

// scopedErr turns errRetry, which a scoped call cannot act on (Resize waits
// for it, so it cannot happen), into a fault.
func (r *Region) scopedErr(op string, err error) error {
	if err == errRetry {
		return r.errorf(op, &FaultError{Offset: -1})
	}
	return err
}

// ReadAt copies len(p) bytes from offset off into p. Like io.ReaderAt, it
// returns io.EOF with a short count when the Region ends first.
//
// ReadAt takes no lock and writes no shared memory, so any number of
// goroutines can read at once at the speed of a plain copy.
func (r *Region) ReadAt(p []byte, off int64) (n int, err error) {
	if !lockFree {
		return r.readAtGated(p, off)
	}
	v := r.v.Load()
	if uint64(off) >= uint64(len(v.data)) { // a closed view has no bytes
		return r.readAtEdge(v, p, off)
	}
	if !v.noFault {
		return r.readAtPanicOnFault(v, p, off)
	}
	n, ok := sys.CopyNoFault(p, v.data[off:])
	if !ok {
		// A memory fault: redo the read where the fault can be told
		// apart (ours or not, retired pages or a truncated file).
		return r.readAtGated(p, off)
	}
	// The Region must stay reachable until the copy is done: its cleanup
	// gives the address range back.
	runtime.KeepAlive(r)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readAtPanicOnFault is ReadAt's fast path without sys.CopyNoFault: the copy
// runs under debug.SetPanicOnFault with a deferred recover (copyGuarded).
func (r *Region) readAtPanicOnFault(v *view, p []byte, off int64) (n int, err error) {
	old := debug.SetPanicOnFault(true)
	n, ok := copyGuarded(p, v.data[off:])
	debug.SetPanicOnFault(old)
	if !ok {
		return r.readAtGated(p, off)
	}
	runtime.KeepAlive(r)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// copyGuarded copies src into dst and reports false if that faulted. It
// keeps the fast path of ReadAt down to one defer of a function without
// arguments: whatever fault it recovers, the caller repeats the copy under
// the full handler (catch), which classifies it.
func copyGuarded(dst, src []byte) (n int, ok bool) {
	defer recoverFault()
	return copy(dst, src), true
}

// recoverFault stops a memory fault (a runtime.Error with an address) and
// lets every other panic continue.
func recoverFault() {
	if p := recover(); p != nil {
		if _, isAddr := p.(interface{ Addr() uintptr }); !isAddr {
			panic(p)
		}
		if _, isRuntime := p.(runtime.Error); !isRuntime {
			panic(p)
		}
	}
}

// readAtEdge answers a read that cannot copy anything: Region closed, offset
// negative or at or past the end.
func (r *Region) readAtEdge(v *view, p []byte, off int64) (int, error) {
	switch {
	case v.closed:
		return 0, r.errorf("read", ErrClosed)
	case off < 0:
		return 0, r.errorf("read", fmt.Errorf("negative offset %d: %w", off, ErrOutOfRange))
	}
	return 0, io.EOF
}

// readAtGated is ReadAt with the full fault handler: where calls must
// register (no sys.Retire), and after a fault on the fast path.
func (r *Region) readAtGated(p []byte, off int64) (n int, err error) {
	if !lockFree {
		if err := r.enter(); err != nil {
			return 0, r.errorf("read", err)
		}
		defer r.exit()
	}
	for attempt := 0; ; attempt++ {
		n, err = r.readAt(r.v.Load(), p, off)
		if err != errRetry {
			return n, err
		}
		retry(attempt)
	}
}

func (r *Region) readAt(v *view, p []byte, off int64) (n int, err error) {
	if v.closed || uint64(off) >= uint64(len(v.data)) {
		return r.readAtEdge(v, p, off)
	}
	defer r.catch("read", v, &err, debug.SetPanicOnFault(true))
	n = copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the Region at offset off. It writes all of p or
// nothing: a write that would run past the end returns ErrOutOfRange. Like
// ReadAt it takes no lock.
func (r *Region) WriteAt(p []byte, off int64) (n int, err error) {
	if !lockFree {
		return r.writeAtGated(p, off)
	}
	v := r.v.Load()
	if v.closed || r.mode == ReadOnly || off < 0 || off > int64(len(v.data)) || len(p) > len(v.data)-int(off) {
		return r.writeAtGated(p, off)
	}
	var ok bool
	if v.noFault {
		n, ok = sys.CopyNoFault(v.data[off:], p)
	} else {
		old := debug.SetPanicOnFault(true)
		n, ok = copyGuarded(v.data[off:], p)
		debug.SetPanicOnFault(old)
	}
	if !ok {
		return r.writeAtGated(p, off)
	}
	runtime.KeepAlive(r) // see ReadAt
	return n, nil
}

// writeAtGated is WriteAt with the full fault handler and every check.
func (r *Region) writeAtGated(p []byte, off int64) (n int, err error) {
	if !lockFree {
		if err := r.enter(); err != nil {
			return 0, r.errorf("write", err)
		}
		defer r.exit()
	}
	for attempt := 0; ; attempt++ {
		n, err = r.writeAt(r.v.Load(), p, off)
		if err != errRetry {
			return n, err
		}
		retry(attempt)
	}
}

func (r *Region) writeAt(v *view, p []byte, off int64) (n int, err error) {
	const op = "write"
	if v.closed {
		return 0, r.errorf(op, ErrClosed)
	}
	if err := r.writable(); err != nil {
		return 0, r.errorf(op, err)
	}
	if err := checkRange(v.data, off, len(p)); err != nil {
		return 0, r.errorf(op, err)
	}
	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
	n = copy(v.data[off:], p)
	return n, nil
}
