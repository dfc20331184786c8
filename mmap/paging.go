package mmap

import (
	"errors"
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Sentinel errors of paging control (the other sentinels are listed with
// ErrReadOnly).
var (
	// ErrMemlock: Lock asked for more locked memory than the process may
	// have (RLIMIT_MEMLOCK on Unix, the working-set quota on Windows). The
	// message says the limit, the size asked for and what to do.
	ErrMemlock = errors.New("locked-memory limit too small")
	// ErrPrivateMemory: Evict on anonymous or CopyOnWrite memory, whose pages
	// exist nowhere else, so dropping them would lose their contents.
	ErrPrivateMemory = errors.New("region holds private memory that eviction would discard")
)

// prefetchPopulate is false only in tests, to exercise the fallback.
var prefetchPopulate = true

// willNeedChunk is the size of one WillNeed request in Prefetch's fallback.
// Linux reads at most max(read_ahead_kb, the device's max I/O size) per
// madvise(MADV_WILLNEED) call and silently ignores the rest, so a large
// range must be asked for in pieces no bigger than the smallest usual
// read-ahead window (128 KiB).
var willNeedChunk = 128 << 10

var errNoPopulate = fmt.Errorf("populate: %w", errors.ErrUnsupported)

// Prefetch reads the pages of the bytes [off, off+n) into RAM and maps them,
// so that touching them later takes no major fault. On Linux 5.14 and later
// it uses MADV_POPULATE_READ and returns when the pages are in; on an older
// Linux it falls back to MADV_WILLNEED in read-ahead sized pieces, which
// starts the reads and may return before they finish. darwin (MADV_WILLNEED)
// and Windows (PrefetchVirtualMemory) start the reads and then touch every
// page, so there too the pages are in when Prefetch returns. The range is
// widened to whole pages. If a page cannot be read in (the file was truncated under the
// mapping, or an I/O error) the error matches ErrFault.
func (r *Region) Prefetch(off int64, n int) error {
	const op = "prefetch"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if err := checkRange(r.bytes(), off, n); err != nil {
		return r.errorf(op, err)
	}
	if n == 0 {
		return nil
	}
	_, b := r.pages(off, n)
	err := errNoPopulate
	if prefetchPopulate {
		err = sys.Advise(b, sys.AdvPopulateRead)
	}
	if err == nil {
		return nil
	}
	if isKernelFault(err) {
		// The kernel could not read some page in: past the end of a file
		// truncated under the mapping, or an I/O error.
		return r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, readInFault(err)))
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		return r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, err))
	}
	for lo := 0; lo < len(b); lo += willNeedChunk {
		if err := sys.Advise(b[lo:min(lo+willNeedChunk, len(b))], sys.AdvWillNeed); err != nil {
			return r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, err))
		}
	}
	return nil
}

// Evict drops the pages of the bytes [off, off+n) from this mapping and from
// the page cache, so the next access reads them from disk: the way to get a
// cold cache without root. The range is widened to whole pages.
//
// Dirty pages are written back first (the kernel only drops clean pages), so
// on a ReadWrite Region nothing is lost, but Evict may wait for the disk.
// Pages that another process has mapped, or that are under I/O, stay in the
// cache: check with Resident. Anonymous and CopyOnWrite Regions return
// ErrPrivateMemory, since their pages exist nowhere else. Where the OS cannot
// drop page-cache pages the error matches errors.ErrUnsupported: darwin has
// no posix_fadvise, and Windows drops a file's cached pages only for an
// administrator (purging the standby list needs
// SeProfileSingleProcessPrivilege).
func (r *Region) Evict(off int64, n int) error {
	const op = "evict"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if err := checkRange(r.bytes(), off, n); err != nil {
		return r.errorf(op, err)
	}
	if r.st.file == nil || r.mode == CopyOnWrite {
		return r.errorf(op, fmt.Errorf("%s: %w", r.mode, ErrPrivateMemory))
	}
	if n == 0 {
		return nil
	}
	start, b := r.pages(off, n)
	// Unmap first: the page cache cannot drop a page while it is mapped.
	// For a shared mapping MADV_DONTNEED only removes the page-table
	// entries; a dirty page's state moves to the page cache, not lost.
	if err := sys.Advise(b, sys.AdvDontNeed); err != nil {
		if errors.Is(err, sys.EINVAL) {
			// The one reason for a mapping of ours: locked pages cannot
			// be dropped.
			return r.errorf(op, fmt.Errorf("offset %d length %d: the pages are locked in RAM (Unlock first): %w", off, n, err))
		}
		return r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, err))
	}
	ps := int64(sys.PageSize())
	fileOff := r.off - int64(r.delta) + int64(start)
	length := (int64(len(b)) + ps - 1) / ps * ps
	fd := r.st.file.Fd()
	if err := sys.WritebackRange(fd, fileOff, length); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return r.errorf(op, fmt.Errorf("offset %d length %d: write back dirty pages: %w", off, n, err))
	}
	if err := sys.Fadvise(fd, fileOff, length, sys.FadvDontNeed); err != nil {
		return r.errorf(op, fmt.Errorf("offset %d length %d: drop from the page cache: %w", off, n, err))
	}
	return nil
}

// Lock pins the Region's pages in RAM (mlock), reading them in first, so
// that accessing them never waits for the disk and they are never written
// to swap. On a CopyOnWrite Region this makes a private copy of every page.
//
// An unprivileged process may lock only RLIMIT_MEMLOCK bytes in total
// (`ulimit -l`); beyond that Lock returns an error matching ErrMemlock that
// says the limit and the size asked for. A process with CAP_IPC_LOCK (root,
// normally) is not limited. Windows (VirtualLock) limits locked pages by the
// process's minimum working set; when that is too small, Lock raises the
// working-set limits by the Region's size (which needs no administrator
// rights) and Unlock lowers them again.
func (r *Region) Lock() error {
	const op = "lock"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if len(r.bytes()) == 0 {
		return nil
	}
	_, b := r.pages(0, len(r.bytes()))
	err := sys.Lock(b)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sys.ErrMemlock) {
		if r.pastEOF() {
			return r.errorf(op, fmt.Errorf("%d bytes in RAM: the file ends before the mapping (truncated under it): %w", len(b), readInFault(err)))
		}
		if errors.Is(err, sys.ENOMEM) || errors.Is(err, sys.EAGAIN) {
			return r.errorf(op, fmt.Errorf("%d bytes in RAM: some pages could not be read in (an I/O error) or memory ran out: %w", len(b), err))
		}
		return r.errorf(op, fmt.Errorf("%d bytes in RAM: %w", len(b), err))
	}
	err = memlockError{err}
	limit, lerr := sys.MemlockLimit()
	locked, _ := sys.LockedBytes()
	switch {
	case lerr != nil:
		return r.errorf(op, fmt.Errorf("%d bytes in RAM: more than the process's quota allows: %w", len(b), err))
	case limit < 0:
		return r.errorf(op, fmt.Errorf("%d bytes in RAM: refused although RLIMIT_MEMLOCK is unlimited: %w", len(b), err))
	}
	return r.errorf(op, fmt.Errorf("%d bytes asked, with %d bytes already locked by this process, and RLIMIT_MEMLOCK is %d bytes (raise it with ulimit -l, or grant CAP_IPC_LOCK): %w", len(b), locked, limit, err))
}

// pastEOF reports whether the file now ends before the mapping does (it was
// truncated under it), so that touching the mapping's last pages faults.
func (r *Region) pastEOF() bool {
	if r.st.file == nil {
		return false
	}
	fi, err := r.st.file.Stat()
	return err == nil && fi.Size() < r.off+int64(len(r.bytes()))
}

// memlockError is the OS's refusal to lock memory ("locked-memory limit too
// small: cannot allocate memory"); it matches ErrMemlock and unwraps to the
// OS error.
type memlockError struct{ err error }

func (e memlockError) Error() string        { return e.err.Error() }
func (e memlockError) Unwrap() error        { return e.err }
func (e memlockError) Is(target error) bool { return target == ErrMemlock }

// Unlock undoes Lock: the pages may be paged out again.
func (r *Region) Unlock() error {
	const op = "unlock"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if len(r.bytes()) == 0 {
		return nil
	}
	_, b := r.pages(0, len(r.bytes()))
	return r.errorf(op, sys.Unlock(b))
}
