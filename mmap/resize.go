package mmap

import (
	"errors"
	"fmt"

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
	if err := r.checkRange(off, n); err != nil {
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
// ReadWrite Regions of a file, and anonymous Regions, can be resized; the
// mapping changes without copying where the OS can (mremap on Linux).
// Growing allocates the file's new blocks first where the file system can, so
// a full disk is an error from Resize and not a fault later.
//
// If Resize fails, the Region is as it was. Resize waits for calls in other
// goroutines to finish. The mapping may move, so slices from Bytes become
// invalid; if Bytes was ever called, Resize only succeeds where the mapping
// can change size in place, and otherwise returns ErrExported. The position
// of Read and Write is clamped to the new length.
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
	r.refs.Or(resizingBit)
	defer func() {
		r.refs.And(^resizingBit)
		// A token left by the last caller would wake a later waiter spuriously;
		// waitDrained re-checks, but draining it keeps the channel tidy.
		select {
		case <-r.drained:
		default:
		}
	}()
	r.waitDrained()

	old := len(r.data)
	if size == old {
		return nil
	}
	if err := r.resize(old, size); err != nil {
		if len(r.st.m.Data) == 0 {
			r.setData(0)
		}
		return r.errorf(op, fmt.Errorf("from %d to %d bytes: %w", old, size, err))
	}
	r.setData(size)
	if size > old && r.flags&sys.Populate != 0 {
		r.populate(old, size)
	}
	return nil
}

// setData points data at the first n bytes after delta of the mapping.
func (r *Region) setData(n int) {
	if n == 0 {
		r.data = nil
	} else {
		r.data = r.st.m.Data[r.delta : r.delta+n]
	}
	r.size.Store(int64(n))
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

// resize changes the mapping (and the file where it must) from old to n bytes
// after delta. On error nothing has changed.
func (r *Region) resize(old, n int) error {
	if r.st.file == nil {
		return r.resizeMapping(n, nil)
	}
	f := r.st.file
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	eof := fi.Size()
	oldEnd, newEnd := r.off+int64(old), r.off+int64(n)
	switch {
	case n > old && newEnd > eof:
		if err := grow(f.Fd(), eof, newEnd); err != nil {
			return err
		}
		if err := f.Truncate(newEnd); err != nil {
			_ = f.Truncate(eof)
			return err
		}
		if err := r.resizeMapping(n, nil); err != nil {
			_ = f.Truncate(eof)
			return err
		}
		return nil
	case n < old && oldEnd == eof && !sys.CanTruncateMapped:
		return r.shrinkUnmapped(n, newEnd, eof)
	case n < old && oldEnd == eof:
		// Shrink the file first: if that fails (an immutable file, a sealed
		// memfd) the mapping is untouched and the Region is as it was.
		if err := f.Truncate(newEnd); err != nil {
			return err
		}
		return r.resizeMapping(n, func() error {
			// The file is already shorter; restore it so that "failed"
			// means "nothing changed".
			return f.Truncate(eof)
		})
	}
	return r.resizeMapping(n, nil)
}

// shrinkUnmapped shrinks the file to newEnd and the mapping to n bytes after
// delta where a file cannot be truncated while a view of it exists
// (Windows): unmap, truncate, map the new length. If the truncate fails, the
// old length is mapped again, so the Region is as it was.
func (r *Region) shrinkUnmapped(n int, newEnd, eof int64) error {
	if r.st.exported.Load() {
		return fmt.Errorf("this OS cannot truncate a mapped file, and the mapping cannot be unmapped while its bytes are handed out: %w", ErrExported)
	}
	f, m := r.st.file, &r.st.m
	oldLen := len(m.Data)
	mapOff := r.off - int64(r.delta)
	prot := sys.ProtRead | sys.ProtWrite
	remap := func(length int, cause error) error {
		back, err := sys.Map(f.Fd(), mapOff, length, prot, r.flags)
		if err != nil {
			// Neither length maps: the Region is left empty, consistently.
			return fmt.Errorf("%w; mapping the file again failed too (%v), the region is now empty", cause, err)
		}
		*m = back
		return cause
	}
	if err := m.Unmap(); err != nil {
		return err
	}
	if err := f.Truncate(newEnd); err != nil {
		return remap(oldLen, err)
	}
	if n == 0 {
		return nil
	}
	nm, err := sys.Map(f.Fd(), mapOff, r.delta+n, prot, r.flags)
	if err != nil {
		if terr := f.Truncate(eof); terr != nil {
			return fmt.Errorf("%w (and restoring the file's size failed: %v), the region is now empty", err, terr)
		}
		return remap(oldLen, err)
	}
	*m = nm
	return nil
}

// resizeMapping makes the mapping delta+n bytes long, in place or moved.
// undo (may be nil) reverts the caller's change to the file if the mapping
// cannot follow.
func (r *Region) resizeMapping(n int, undo func() error) error {
	exported := r.st.exported.Load()
	m := &r.st.m
	newLen := r.delta + n
	if n == 0 {
		newLen = 0
	}
	oldLen := len(m.Data)
	fail := func(err error) error {
		if undo != nil {
			if uerr := undo(); uerr != nil {
				return fmt.Errorf("%w (and restoring the file's size failed: %v)", err, uerr)
			}
		}
		return err
	}
	prot := sys.ProtRead | sys.ProtWrite
	fd := sys.NoFile
	if r.st.file != nil {
		fd = r.st.file.Fd()
	}
	mapOff := r.off - int64(r.delta)
	switch {
	case newLen == oldLen:
		return nil
	case oldLen == 0:
		nm, err := sys.Map(fd, mapOff, newLen, prot, r.flags)
		if err != nil {
			return fail(err)
		}
		*m = nm
		return nil
	case newLen == 0:
		if err := m.Unmap(); err != nil {
			return fail(err)
		}
		return nil
	case sys.CanRemap:
		if err := m.Remap(newLen, !exported && newLen > oldLen); err != nil {
			return fail(remapErr(err, exported))
		}
		return nil
	}
	// No mremap: map anew and copy (anonymous memory) or map the file again.
	if exported {
		// Slices of the mapping are out there, so it must not move; it
		// can still shrink where it is (on Windows, which cannot unmap
		// part of a view, the pages past the new end stay mapped until
		// Close).
		if newLen < oldLen {
			if err := m.Shrink(newLen); err != nil {
				return fail(err)
			}
			return nil
		}
		return fail(ErrExported)
	}
	if fd == sys.NoFile {
		nm, err := sys.Map(fd, 0, newLen, prot, r.flags)
		if err != nil {
			return fail(err)
		}
		copy(nm.Data, m.Data)
		_ = m.Unmap()
		*m = nm
		return nil
	}
	// Windows refuses to shrink a file while a view of it exists, and the
	// caller has already changed the file: unmap, then map the new length.
	_ = m.Unmap()
	nm, err := sys.Map(fd, mapOff, newLen, prot, r.flags)
	if err == nil {
		*m = nm
		return nil
	}
	err = fail(err)
	if back, berr := sys.Map(fd, mapOff, oldLen, prot, r.flags); berr == nil {
		*m = back
		return err
	}
	// Neither length maps: the Region is left empty, consistently (Resize
	// sees the empty mapping).
	return fmt.Errorf("%w; the region is now empty", err)
}

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

func remapErr(err error, exported bool) error {
	if exported {
		return fmt.Errorf("the mapping cannot grow in place (%v): %w", err, ErrExported)
	}
	return err
}
