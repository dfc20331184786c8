package sys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// CacheFile is a regular file opened read-only to work on its page cache
// through the descriptor alone, without mapping it: how many of its pages
// are cached (cachestat(2)), reads started in the background
// (posix_fadvise WILLNEED) and waited for. Mapping a small file costs more
// than reading it: mmap and munmap take the process's address-space lock,
// which every thread of a busy process then queues on, and munmap
// interrupts the other CPUs to flush their TLBs. A CacheFile's methods may
// be called from several goroutines at once.
type CacheFile struct {
	fd   int
	name string
	size int64
}

// OpenCacheFile opens name read-only like OpenFile (without blocking on a
// FIFO, refusing anything but a regular file, type checked on the opened
// descriptor) and notes its size. Where the OS has no such interface (not
// Linux), it returns an error matching errors.ErrUnsupported.
func OpenCacheFile(name string) (*CacheFile, error) {
	fd, st, err := openRegular(name, unix.O_RDONLY, 0, false)
	if err != nil {
		return nil, err
	}
	// Back to blocking mode, so that sendfile waits for the pages
	// (a non-blocking descriptor would make it answer EAGAIN instead).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &CacheFile{fd: fd, name: name, size: st.Size}, nil
}

// Size is the file's size when it was opened.
func (f *CacheFile) Size() int64 { return f.size }

// Close closes the descriptor. Reads started by WillNeed go on.
func (f *CacheFile) Close() error { return unix.Close(f.fd) }

// noCachestat is set once cachestat(2) turned out to be missing (a kernel
// before 6.5, or a sandbox that filters it), so that the fallback is taken
// at once from then on.
var noCachestat atomic.Bool

// Cached returns how many of the pages holding the bytes [off, off+n) of
// the file (n > 0) are in the page cache, counted like mincore(2) counts
// them. It asks cachestat(2); where that is missing or refused for this
// kind of file, it maps the range and asks mincore(2).
func (f *CacheFile) Cached(off, n int64) (int, error) {
	if n <= 0 || off < 0 {
		return 0, unix.EINVAL
	}
	if !noCachestat.Load() {
		var cs unix.Cachestat_t
		err := unix.Cachestat(uint(f.fd), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &cs, 0)
		switch err {
		case nil:
			return int(cs.Cache), nil
		case unix.ENOSYS, unix.EPERM:
			noCachestat.Store(true)
		case unix.EOPNOTSUPP:
			// This file system (hugetlbfs) only.
		default:
			return 0, err
		}
	}
	vec, err := f.Incore(off, n)
	c := 0
	for _, v := range vec {
		c += int(v & 1)
	}
	return c, err
}

// Incore returns one byte per page holding the bytes [off, off+n) of the
// file (n > 0), bit 0 set when the page is in the page cache (mincore(2) on
// a mapping of the range).
func (f *CacheFile) Incore(off, n int64) ([]byte, error) {
	if n <= 0 || off < 0 {
		return nil, unix.EINVAL
	}
	ps := int64(PageSize())
	start := off / ps * ps
	length := off + n - start
	if length > int64(^uint(0)>>1) {
		return nil, unix.EFBIG
	}
	m, err := Map(uintptr(f.fd), start, int(length), ProtRead, 0)
	if err != nil {
		return nil, err
	}
	defer m.Unmap()
	vec := make([]byte, (length+ps-1)/ps)
	if err := Mincore(m.Data, vec); err != nil {
		return nil, err
	}
	return vec, nil
}

// WillNeed starts reading the pages holding [off, off+n) in the background
// and returns: exactly those pages, no read-around beyond them.
func (f *CacheFile) WillNeed(off, n int64) error {
	return unix.Fadvise(f.fd, off, n, unix.FADV_WILLNEED)
}

// Drop writes back the dirty pages holding [off, off+n) of the file and
// drops them from the page cache (sync_file_range, POSIX_FADV_DONTNEED).
// The kernel keeps pages that are mapped or locked by some process.
func (f *CacheFile) Drop(off, n int64) error {
	// Whole pages: POSIX_FADV_DONTNEED leaves a page that the range
	// covers only in part.
	ps := int64(PageSize())
	off, n = off/ps*ps, (off+n+ps-1)/ps*ps-off/ps*ps
	if err := WritebackRange(uintptr(f.fd), off, n); err != nil {
		return fmt.Errorf("write back dirty pages: %w", err)
	}
	if err := unix.Fadvise(f.fd, off, n, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop from the page cache: %w", err)
	}
	return nil
}

// devNull is where Read sends the pages it waits for; nil when /dev/null
// cannot be opened for writing (Read then copies).
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return f
})

// readBufs are Read's scratch buffers where it has to copy.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// noSendfile is set once sendfile(2) to /dev/null turned out to be refused.
var noSendfile atomic.Bool

// Read reads the pages holding [off, off+n) of the file into the page
// cache, waiting for reads already started (WillNeed), and discards the
// data: sendfile(2) to /dev/null moves page references rather than copying
// bytes; where it is refused, pread(2) copies into a scratch buffer.
// Only those pages are read: the descriptor is switched to random access
// first (POSIX_FADV_RANDOM), so a page not started yet is read by itself,
// without the kernel's read-around beyond the range.
func (f *CacheFile) Read(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if off+n < f.size {
		// To the end of the file there is nothing beyond to read around.
		if err := unix.Fadvise(f.fd, 0, 0, unix.FADV_RANDOM); err != nil {
			return err
		}
	}
	return f.read(off, n)
}

// ReadAhead reads the pages holding [off, off+n) into the page cache like
// Read, but as a sequential read: the kernel reads ahead of it, possibly
// beyond the range, in large folios where the file system has them, which
// costs a fraction of the CPU time of the page-sized reads that Read and
// WillNeed start. It is for ranges where reading around does no harm, such
// as parts of a whole file read from several goroutines at once (which it
// allows), and must not be mixed with Read on the same CacheFile (Read
// switches the descriptor to random access).
func (f *CacheFile) ReadAhead(off, n int64) error {
	if n <= 0 {
		return nil
	}
	return f.read(off, n)
}

// read reads [off, off+n) and discards it.
func (f *CacheFile) read(off, n int64) error {
	if null := devNull(); null != nil && !noSendfile.Load() {
		err := f.sendfile(int(null.Fd()), off, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP):
			noSendfile.Store(true)
		default:
			return err
		}
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for n > 0 {
		k, err := unix.Pread(f.fd, buf[:min(int64(len(buf)), n)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return io.ErrUnexpectedEOF // the file shrank meanwhile
		}
		off += int64(k)
		n -= int64(k)
	}
	return nil
}

func (f *CacheFile) sendfile(out int, off, n int64) error {
	for n > 0 {
		o := off
		k, err := unix.Sendfile(out, f.fd, &o, int(min(n, 1<<30)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return io.ErrUnexpectedEOF
		}
		off += int64(k)
		n -= int64(k)
	}
	return nil
}
