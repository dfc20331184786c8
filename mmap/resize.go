package mmap

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// pages returns the page-aligned slice of the mapping that covers [off, off+n)
// of the Region, for calls (msync, madvise, mincore) that need whole pages.
// The caller must be inside the Region (enter) and have checked the range.
func (r *Region) pages(off int64, n int) (start int, b []byte) {
	ps := int64(sys.PageSize())
	lo := (int64(r.delta) + off) / ps * ps
	hi := int64(r.delta) + off + int64(n)
	return int(lo), r.st.m.Data[lo:hi]
}

// Flush writes the Region's modified pages to the file and waits for the
// writes (msync MS_SYNC). It is a no-op for ReadOnly, CopyOnWrite and
// anonymous Regions, whose writes never go to a file.
func (r *Region) Flush() error {
	return r.FlushRange(0, r.Len())
}

// FlushRange is Flush for the bytes [off, off+n); the range is widened to
// whole pages.
func (r *Region) FlushRange(off int64, n int) error {
	const op = "flush"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if err := checkRange(r.bytes(), off, n); err != nil {
		return r.errorf(op, err)
	}
	if r.mode != ReadWrite || r.st.file == nil || n == 0 {
		return nil
	}
	start, b := r.pages(off, n)
	if err := r.st.m.Sync(start, len(b), false); err != nil {
		return r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, err))
	}
	return nil
}

// Resize changes the Region's length to size bytes; bytes added at the end
// read as what the file holds there, or as zeros where the file had to grow.
//
// Resize never removes file bytes that lie past the Region's old end: for a
// file-backed Region it grows the file only when the new end passes the end
// of the file, and it shrinks the file only when the Region ended exactly at
// the end of the file (the create-then-grow pattern: a Region that maps a
// whole file keeps the file's size equal to its own). A Region over the
// middle of a file just maps more or fewer of the file's bytes. Only
// ReadWrite Regions of a file, and anonymous Regions, can be resized.
// Growing allocates the file's new blocks first where the file system can,
// so a full disk is an error from Resize and not a fault later.
//
// If Resize fails, the Region is as it was. The mapping grows in place where
// it can and moves otherwise, without copying a file's pages. Copying calls
// (ReadAt, WriteAt, ...) running in other goroutines carry on meanwhile, each
// seeing the Region before or after; Resize waits for Do, WriteTo, ReadFrom,
// Move and the paging calls to finish. Slices from Bytes become invalid;
// once Bytes has been called Resize only succeeds where the mapping need not
// move, and otherwise returns ErrExported. The position of Read and Write is
// clamped to the new length.
func (r *Region) Resize(size int) error {
	const op = "resize"
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed() {
		return r.errorf(op, ErrClosed)
	}
	if r.mode != ReadWrite {
		return r.errorf(op, fmt.Errorf("cannot resize a %s mapping: %w", r.mode, ErrReadOnly))
	}
	if size < 0 || size > maxInt-r.delta {
		return r.errorf(op, fmt.Errorf("to %d bytes: %w", size, ErrOutOfRange))
	}
	r.beginMutate()
	defer r.endMutate()

	old := len(r.bytes())
	if size == old {
		return nil
	}
	var err error
	if lockFree {
		err = r.resize(old, size)
	} else {
		err = r.resizeDrained(old, size)
	}
	if err != nil {
		return r.errorf(op, fmt.Errorf("from %d to %d bytes: %w", old, size, err))
	}
	collectIfOverBudget()
	if size > old && r.flags&sys.Populate != 0 {
		r.populate(old, size)
	}
	return nil
}

// publish makes the first n bytes after delta of the current mapping the
// Region's bytes.
func (r *Region) publish(n int, moving bool) {
	v := &view{moving: moving, noFault: sys.NoFaultCopy()}
	if n > 0 {
		v.data = r.st.m.Data[r.delta : r.delta+n : r.delta+n]
	}
	r.v.Store(v)
}

// populate faults in the bytes [from, to) that Resize added, as the Populate
// option did at map time. It is a request: errors are ignored.
func (r *Region) populate(from, to int) {
	adv := sys.AdvPopulateRead
	if r.st.file == nil {
		adv = sys.AdvPopulateWrite // private memory: read faults would map the zero page
	}
	_, b := r.pages(int64(from), to-from)
	_ = sys.Advise(b, adv)
}

// fileChange is what Resize must do to the file: grow it, shrink it, or
// neither. undo puts it back.
type fileChange struct {
	f        *os.File
	eof, end int64 // the file's size before, and the size to set (-1: leave it)
}

func (r *Region) planFile(old, n int) (fileChange, error) {
	fc := fileChange{f: r.st.file, end: -1}
	if fc.f == nil {
		return fc, nil
	}
	fi, err := fc.f.Stat()
	if err != nil {
		return fc, err
	}
	fc.eof = fi.Size()
	oldEnd, newEnd := r.off+int64(old), r.off+int64(n)
	switch {
	case n > old && newEnd > fc.eof:
		fc.end = newEnd
	case n < old && oldEnd == fc.eof:
		fc.end = newEnd
	}
	return fc, nil
}

// apply changes the file's size (growing allocates the blocks first).
func (fc fileChange) apply() error {
	if fc.end < 0 {
		return nil
	}
	if fc.end > fc.eof {
		if err := grow(fc.f.Fd(), fc.eof, fc.end); err != nil {
			return err
		}
	}
	if err := fc.f.Truncate(fc.end); err != nil {
		if fc.end > fc.eof {
			_ = fc.f.Truncate(fc.eof)
		}
		return err
	}
	return nil
}

// undo restores the file's size after a failed remap.
func (fc fileChange) undo(err error) error {
	if fc.end < 0 {
		return err
	}
	if uerr := fc.f.Truncate(fc.eof); uerr != nil {
		return fmt.Errorf("%w (and restoring the file's size of %d bytes failed: %v)", err, fc.eof, uerr)
	}
	return err
}

// pageUp rounds n up to whole pages.
func pageUp(n int) int {
	ps := sys.PageSize()
	return (n + ps - 1) / ps * ps
}

// resize changes the Region from old to n bytes while copying calls may run
// (lockFree): no page they may touch is unmapped, only retired, and the new
// view is published before anything is retired. On error nothing has
// changed.
func (r *Region) resize(old, n int) error {
	fc, err := r.planFile(old, n)
	if err != nil {
		return err
	}
	m := r.st.m.Data
	newLen := 0
	if n > 0 {
		newLen = r.delta + n
	}
	if n < old {
		// Shrink: readers see the shorter Region first; then the file is
		// cut (if it must be), and only then the tail pages are retired. If
		// the file cannot be cut (an immutable file, a sealed memfd: EPERM),
		// the Region goes back to as it was.
		r.publish(n, false)
		if err := fc.apply(); err != nil {
			r.publish(old, false)
			return err
		}
		keep := 0
		if newLen > 0 {
			keep = min(pageUp(newLen), len(m))
		}
		if fc.f == nil {
			// Anonymous memory: the rest of the last kept page must read as
			// zeros if the Region grows again, as new memory does.
			clear(m[newLen:keep])
		}
		_ = r.st.retire(m[keep:]) // retired pages stay held (state.held)
		// The mapping keeps its start even when nothing is left of it
		// (m[:0]): a later Resize maps over the reservation in place
		// instead of elsewhere, or a Region shrunk to 0 and grown again
		// in a loop would leave one reservation behind per round for as
		// long as it lives.
		r.st.m.Data = m[:newLen]
		r.st.reservedTo = max(r.st.reservedTo, pageUp(len(m)))
		return nil
	}

	// Grow: the file first, so the new pages exist when they are mapped.
	if err := fc.apply(); err != nil {
		return err
	}
	if err := r.growMapping(newLen); err != nil {
		return fc.undo(err)
	}
	r.publish(n, false)
	return nil
}

// growMapping makes the mapping newLen bytes long: in place where it can,
// else at a new place, retiring the old pages.
func (r *Region) growMapping(newLen int) error {
	m := r.st.m
	fd := sys.NoFile
	if r.st.file != nil {
		fd = r.st.file.Fd()
	}
	prot := sys.ProtRead | sys.ProtWrite
	mapOff := r.off - int64(r.delta)
	if len(m.Data) == 0 {
		// Shrunk to nothing (resize keeps the start): map over its own
		// reservation where it is large enough.
		if base := unsafe.SliceData(m.Data); base != nil && pageUp(newLen) <= r.st.reservedTo && !forceMove {
			at := unsafe.Slice(base, pageUp(newLen))
			if _, err := sys.MapAt(at, fd, mapOff, prot, r.flags); err == nil {
				r.st.m.Data = at[:newLen]
				r.st.reserved -= int64(len(at))
				reservedBytes.Add(-int64(len(at)))
				return nil
			}
		}
		nm, err := sys.Map(fd, mapOff, newLen, prot, r.flags)
		if err != nil {
			return err
		}
		r.st.hold(nm.Data)
		r.st.m = nm
		r.st.reservedTo = 0
		return nil
	}
	// In place: extend the mapping where the address space after it is free
	// (mremap without MAYMOVE), or where it is our own reservation (the
	// tail a shrink retired: map over it).
	if sys.CanRemap && !forceMove {
		grown := m
		if err := grown.Remap(newLen, false); err == nil {
			r.st.hold(grown.Data)
			r.st.m = grown
			return nil
		}
	}
	if tail, ok := r.reservedAfter(m.Data, newLen); ok && !forceMove {
		fileOff := mapOff + int64(pageUp(len(m.Data)))
		if _, err := sys.MapAt(tail, fd, fileOff, prot, r.flags); err == nil {
			r.st.m.Data = unsafe.Slice(unsafe.SliceData(m.Data), newLen)
			r.st.reserved -= int64(len(tail))
			reservedBytes.Add(-int64(len(tail)))
			return nil
		}
	}
	// Move. A file's pages need no copy: map it again elsewhere, publish,
	// retire the old pages (a write that lands on them before that reaches
	// the same page cache). Anonymous memory must be copied: make the old
	// pages read-only first, so that no write is lost (writers fault and
	// retry on the new view).
	if r.st.exported.Load() {
		return fmt.Errorf("the mapping cannot grow in place: %w", ErrExported)
	}
	old := len(r.bytes())
	if fd == sys.NoFile {
		r.publish(old, true)
		if err := sys.Protect(m.Data, sys.ProtRead); err != nil {
			r.publish(old, false)
			return err
		}
	}
	nm, err := sys.Map(fd, mapOff, newLen, prot, r.flags)
	if err != nil {
		if fd == sys.NoFile {
			_ = sys.Protect(m.Data, prot)
			r.publish(old, false)
		}
		return err
	}
	if fd == sys.NoFile {
		copy(nm.Data, m.Data)
	}
	r.st.hold(nm.Data)
	r.st.m = nm
	r.st.reservedTo = 0
	r.publish(old, false)
	_ = r.st.retire(m.Data)
	return nil
}

// reservedAfter returns the pages between the end of m and newLen if a
// shrink of this same mapping retired them (state.reservedTo).
func (r *Region) reservedAfter(m []byte, newLen int) ([]byte, bool) {
	start := pageUp(len(m))
	if newLen <= start || pageUp(newLen) > r.st.reservedTo {
		return nil, false
	}
	return unsafe.Slice(unsafe.SliceData(m), pageUp(newLen))[start:], true
}

// resizeDrained changes the Region from old to n bytes where every call is
// registered (no sys.Retire): nothing runs inside the Region, so the mapping
// can be unmapped and mapped again (this is also what Windows needs to
// shrink a file, which it refuses while a view of it exists).
func (r *Region) resizeDrained(old, n int) error {
	fc, err := r.planFile(old, n)
	if err != nil {
		return err
	}
	m := &r.st.m
	oldLen := len(m.Data)
	newLen := 0
	if n > 0 {
		newLen = r.delta + n
	}
	fd := sys.NoFile
	if fc.f != nil {
		fd = fc.f.Fd()
	}
	prot := sys.ProtRead | sys.ProtWrite
	if newLen > 0 && newLen < oldLen && fc.end < 0 {
		// A shrink that leaves the file alone (anonymous memory, or a
		// Region that does not end at EOF) needs no new mapping: it shrinks
		// in place, which also keeps slices that Bytes handed out valid.
		if err := m.Shrink(newLen); err != nil {
			return err
		}
		r.publish(n, false)
		return nil
	}
	if r.st.exported.Load() && (fd != sys.NoFile || newLen > oldLen || newLen == 0) {
		return fmt.Errorf("the mapping would move: %w", ErrExported)
	}
	// mapLen maps length bytes and makes the first size bytes after delta
	// the Region's; length 0 leaves it empty.
	mapLen := func(length, size int) error {
		var nm sys.Mapping
		if length > 0 {
			var err error
			if nm, err = sys.Map(fd, r.off-int64(r.delta), length, prot, r.flags); err != nil {
				return err
			}
		}
		*m = nm
		r.st.held.Store(&[][]byte{nm.Data})
		r.publish(size, false)
		return nil
	}
	if fd == sys.NoFile {
		old := *m
		if err := mapLen(newLen, n); err != nil {
			*m = old
			return err
		}
		copy(m.Data, old.Data)
		_ = old.Unmap()
		return nil
	}
	_ = m.Unmap()
	err = fc.apply()
	if err == nil {
		if err = mapLen(newLen, n); err == nil {
			return nil
		}
		err = fc.undo(err)
	}
	if rerr := mapLen(oldLen, old); rerr != nil {
		_ = mapLen(0, 0)
		return fmt.Errorf("%w; mapping it again failed (%v): the region is now empty", err, rerr)
	}
	return err
}

// forceMove is a test hook (export_test.go): Resize moves whenever it grows.
var forceMove = false

// grow allocates real blocks for the new part of the file where the file
// system can, so that a full disk is an error now rather than a SIGBUS on a
// later write through the mapping.
func grow(fd uintptr, from, to int64) error {
	err := sys.Fallocate(fd, from, to-from)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
