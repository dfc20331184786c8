package mmap

import (
	"errors"
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// pages returns the page-aligned slice of the mapping that covers [off, off+n)
// of the Region, for calls (msync, madvise, mincore) that need whole pages.
// The caller must be inside the Region (enter) and have checked the range.
func (r *Region) pages(off, n int64) (start int, b []byte) {
	ps := int64(sys.PageSize())
	lo := (int64(r.delta) + off) / ps * ps
	hi := int64(r.delta) + off + n
	return int(lo), r.st.m.Data[lo:hi]
}

// Flush writes the Region's modified pages to the file and waits for the
// writes (msync MS_SYNC). It is a no-op for ReadOnly, CopyOnWrite and
// anonymous Regions, whose writes never go to a file.
func (r *Region) Flush() error {
	return r.FlushRange(0, int64(r.Len()))
}

// FlushRange is Flush for the bytes [off, off+n); the range is widened to
// whole pages.
func (r *Region) FlushRange(off, n int64) error {
	if err := r.enter(); err != nil {
		return err
	}
	defer r.exit()
	if err := r.checkRange("Flush", off, n); err != nil {
		return err
	}
	if r.mode != ReadWrite || r.st.file == nil || n == 0 {
		return nil
	}
	start, b := r.pages(off, n)
	if err := r.st.m.Sync(start, len(b), false); err != nil {
		return fmt.Errorf("mmap: flush %s offset %d length %d: %w", r.name(), off, n, err)
	}
	return nil
}

// Resize changes the Region's length to n bytes. For a file-backed ReadWrite
// Region it grows or shrinks the file to end at the Region's end and remaps
// (mremap on Linux, so the data is not copied); bytes beyond the old end read
// as zeros. For anonymous memory it keeps the first min(old, n) bytes.
//
// Resize waits for calls in other goroutines to finish. The mapping may move,
// so slices from Bytes become invalid; if Bytes was ever called, Resize only
// succeeds where the mapping can change size in place, and otherwise returns
// ErrExported. Anonymous memory can always shrink in place (on Windows, which
// cannot unmap part of a view, the memory past the new end stays allocated
// until Close). The position is clamped to the new length.
func (r *Region) Resize(n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refs.Load()&closedBit != 0 {
		return ErrClosed
	}
	if r.mode != ReadWrite {
		return fmt.Errorf("mmap: resize %s: cannot resize a %s mapping: %w", r.name(), r.mode, ErrReadOnly)
	}
	if n <= 0 || n > int64(maxInt-r.delta) {
		return fmt.Errorf("mmap: resize %s to %d bytes: %w", r.name(), n, ErrOutOfRange)
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

	if err := r.resize(int(n)); err != nil {
		return fmt.Errorf("mmap: resize %s from %d to %d bytes: %w", r.name(), len(r.data), n, err)
	}
	r.data = r.st.m.Data[r.delta:]
	r.size.Store(int64(len(r.data)))
	r.posMu.Lock()
	r.pos = min(r.pos, n)
	r.posMu.Unlock()
	return nil
}

func (r *Region) resize(n int) error {
	old := len(r.data)
	newMap := r.delta + n
	exported := r.st.exported.Load()
	f := r.st.file
	if f == nil {
		if sys.CanRemap {
			if err := r.st.m.Remap(newMap, !exported); err != nil {
				return remapErr(err, exported)
			}
			return nil
		}
		if exported {
			// Slices of the mapping are out there, so it must not move; it
			// can still shrink where it is.
			if n < old {
				return r.st.m.Shrink(newMap)
			}
			return ErrExported
		}
		m, err := sys.Map(sys.NoFile, 0, newMap, sys.ProtRead|sys.ProtWrite, r.flags)
		if err != nil {
			return err
		}
		copy(m.Data, r.st.m.Data)
		_ = r.st.m.Unmap()
		r.st.m = m
		return nil
	}

	end := r.off + int64(n)
	if sys.CanRemap {
		if n > old {
			if err := grow(f.Fd(), r.off+int64(old), end); err != nil {
				return err
			}
			if err := f.Truncate(end); err != nil {
				return err
			}
			if err := r.st.m.Remap(newMap, !exported); err != nil {
				_ = f.Truncate(r.off + int64(old))
				return remapErr(err, exported)
			}
			return nil
		}
		// Shrinking: unmap the tail first so no page of the mapping lies past EOF.
		if err := r.st.m.Remap(newMap, false); err != nil {
			return err
		}
		return f.Truncate(end)
	}
	if exported {
		return ErrExported
	}
	// No mremap: unmap, change the file, map again (Windows also refuses to
	// shrink a file while a view of it exists).
	prot := sys.ProtRead | sys.ProtWrite
	if err := r.st.m.Unmap(); err != nil {
		return err
	}
	terr := f.Truncate(end)
	if terr != nil {
		newMap = r.delta + old
	}
	m, err := sys.Map(f.Fd(), r.off-int64(r.delta), newMap, prot, r.flags)
	if err != nil {
		return fmt.Errorf("remap after truncate: %w", err)
	}
	r.st.m = m
	return terr
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
