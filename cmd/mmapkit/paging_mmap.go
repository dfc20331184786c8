package main

// The calls of package mmap the page-cache commands make, in one place.

import (
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// pagingMap maps the bytes [off, off+n) of the file at path read-only; n > 0.
func pagingMap(path string, off, n int64) (*mmap.Region, error) {
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
// bytes ahead of the part being mapped, which advances by prefetchStep.
const (
	prefetchChunk  = 128 << 10
	prefetchWindow = 64 << 20
	prefetchStep   = 16 << 20
)

// pagingPrefetchRegion reads the whole Region into the page cache and maps
// it. The reads are started ahead with PrefetchOffsets (many in flight, and
// exactly the Region's pages: no read-around outside it), then
// MADV_POPULATE_READ maps each part, waiting for its reads.
func pagingPrefetchRegion(r *mmap.Region) error {
	n := int64(r.Len())
	chunk := min(int64(prefetchChunk), n)
	ahead := int64(0)
	var offs []int64
	for pos := int64(0); pos < n; pos += prefetchStep {
		if end := min(n, pos+prefetchWindow); ahead < end {
			offs = offs[:0]
			for off := ahead; off < end; off += chunk {
				offs = append(offs, min(off, n-chunk))
			}
			if err := r.PrefetchOffsets(offs, int(chunk)); err != nil {
				return err
			}
			ahead = end
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
