package main

// The calls of package mmap the page-cache commands make, in one place.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// pagingMap maps the bytes [off, off+n) of the file at path read-only; n > 0.
// size is the file's size when it was listed: the whole file is mapped with
// mmap.Open, which takes fewer system calls than an open and a Map (no
// second descriptor), and which, like the opener below, never blocks on a
// FIFO swapped in after the walk.
func pagingMap(path string, off, n, size int64) (*mmap.Region, error) {
	if off == 0 && n == size {
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err == nil && int64(r.Len()) != n {
			// The file changed size since it was listed: map what the
			// listing said, as a range would.
			r.Close()
			return pagingMap(path, off, n, -1)
		}
		return r, err
	}
	// The non-blocking, type-checking opener: a FIFO swapped in after the
	// walk cannot hang the command.
	f, err := sys.OpenFile(path, os.O_RDONLY, 0, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mmap.Map(f, mmap.ReadOnly, off, int(n), nil)
}

// Prefetch's reads: requests of prefetchChunk bytes, up to prefetchWindow
// bytes ahead of the part being mapped, which advances by prefetchStep; over
// all files, up to prefetchAhead bytes of reads started ahead of the workers.
const (
	prefetchChunk  = 128 << 10
	prefetchWindow = 64 << 20
	prefetchStep   = 16 << 20
	prefetchAhead  = 256 << 20
	// A range of up to prefetchSmall bytes is prefetched without mapping
	// it (pagingByFD): one request started for all of it, then read
	// through the descriptor.
	prefetchSmall = 1 << 20
	// prefetchFilesAhead bounds the files (open descriptors) whose reads
	// are started ahead of the workers.
	prefetchFilesAhead = 256
	// prefetchPart is what one goroutine reads at a time of a whole file
	// (pagingReadWhole).
	prefetchPart = 32 << 20
)

// pagingByFD says whether op works on a target through a descriptor
// (sys.CacheFile: cachestat, posix_fadvise, sendfile) rather than a
// mapping: residency and evict always; prefetch for a range of up to
// prefetchSmall bytes, read in with one request, and for a whole file,
// read in parts from several goroutines (pagingReadWhole). A bigger range
// that is not the whole file is mapped and read in windows of
// PrefetchOffsets requests, which read exactly its pages.
func pagingByFD(op string, t pagingTarget) bool {
	switch op {
	case pagingResidency, pagingEvict:
		return true
	case pagingPrefetch:
		return t.n <= prefetchSmall || pagingWhole(t)
	}
	return false
}

// pagingWhole says whether a prefetch reads a whole file bigger than
// prefetchSmall, in parts, with the kernel's read-ahead (ReadAhead).
func pagingWhole(t pagingTarget) bool {
	return t.n > prefetchSmall && t.off == 0 && t.n == t.size
}

// pagingReaders bounds the reads of parts of whole files (pagingReadWhole)
// in flight over all files. Each is a read-ahead stream of its own, which
// keeps up to two windows of the device's read-ahead (8 MiB here) in
// flight: 8 streams keep a disk that wants many requests busy. More
// streams of smaller parts were slower (32 of 4 MiB: read-ahead starts
// small again at each part).
var pagingReaders = make(chan struct{}, 8)

// pagingReadWhole reads [off, off+n) of a whole file into the page cache
// in parts of prefetchPart bytes from up to cap(pagingReaders) goroutines.
// They read as sequential reads do, so the kernel allocates the page cache
// in large folios where the file system has them: a sixth of the CPU time
// of the page-sized reads that WILLNEED and PrefetchOffsets start, and no
// slower (a cold 4 GiB file: 0.2-0.3 s of CPU against 1.7 s).
func pagingReadWhole(cf *sys.CacheFile, off, n int64) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	parts := (n + prefetchPart - 1) / prefetchPart
	for range min(parts, int64(cap(pagingReaders))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= parts {
					return
				}
				pagingReaders <- struct{}{}
				p := off + i*prefetchPart
				err := cf.ReadAhead(p, min(prefetchPart, off+n-p))
				<-pagingReaders
				if err != nil {
					errOnce.Do(func() { first = err })
					next.Store(parts) // the others stop after their part
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// pagingOpenFD opens a target for pagingByFD; an error matching
// errors.ErrUnsupported where the OS has no such interface. A file that is
// now shorter than the range is an error.
func pagingOpenFD(op string, t pagingTarget) (*sys.CacheFile, error) {
	cf, err := sys.OpenCacheFile(t.path)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if cf.Size() < t.off+t.n {
		cf.Close()
		return nil, fmt.Errorf("%s %s: the file shrank to %d bytes since it was listed", op, t.path, cf.Size())
	}
	return cf, nil
}

// pagingReadAhead starts the reads of the bytes [from, to) of the Region
// with PrefetchOffsets (many in flight, without waiting, and exactly those
// pages: no read-around outside them) and returns to.
func pagingReadAhead(r *mmap.Region, from, to int64) (int64, error) {
	n := int64(r.Len())
	chunk := min(int64(prefetchChunk), n)
	if from >= to || chunk == 0 {
		return max(from, to), nil
	}
	if from == 0 && to == n && n <= prefetchChunk {
		// A small file: one request (PrefetchOffsets would first ask
		// mincore which of its pages to skip).
		return to, r.AdviseRange(0, int(n), mmap.AdviceWillNeed)
	}
	offs := make([]int64, 0, (to-from+chunk-1)/chunk)
	for off := from; off < to; off += chunk {
		offs = append(offs, min(off, n-chunk))
	}
	return to, r.PrefetchOffsets(offs, int(chunk))
}

// pagingPrefetchRegion reads the whole Region into the page cache and maps
// it; the reads of its first ahead bytes are already started. It keeps the
// reads a window ahead while MADV_POPULATE_READ maps each part, waiting for
// its reads.
func pagingPrefetchRegion(r *mmap.Region, ahead int64) error {
	n := int64(r.Len())
	for pos := int64(0); pos < n; pos += prefetchStep {
		var err error
		if ahead, err = pagingReadAhead(r, ahead, min(n, pos+prefetchWindow)); err != nil {
			return err
		}
		if err := r.Prefetch(pos, int(min(prefetchStep, n-pos))); err != nil {
			return err
		}
	}
	return nil
}

// pagingEvictRegion drops the Region's pages from the page cache.
func pagingEvictRegion(r *mmap.Region) error {
	return r.Evict(0, r.Len())
}

// pathMatch checks a glob pattern.
func pathMatch(pattern string) (bool, error) { return filepath.Match(pattern, "x") }
