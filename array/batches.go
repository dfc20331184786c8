package array

import (
	"fmt"
	"iter"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
)

// Batches keeps readAheadBytes of rows requested ahead of the batch the loop
// is on, and drops finished rows evictBytes at a time: dropping pages from
// the page cache has a fixed cost per call (the kernel drains per-CPU page
// lists), so doing it per small batch would slow the scan down, while these
// sizes keep the resident set at a few tens of MiB.
const (
	readAheadBytes = 16 << 20
	evictBytes     = 32 << 20
)

// Batches returns an iterator over the rows of a C-order array in batches of
// n rows: it yields the index of the first row and the rows as one zero-copy
// slice (the last batch may be shorter). It is the way to scan an array
// larger than RAM. While the loop body works on one batch, a goroutine reads
// the next rows into memory (at least the next batch and 16 MiB: see
// Region.Prefetch), and the pages of finished batches are dropped from the
// mapping and the page cache (Region.Evict, 32 MiB at a time, or every batch
// if batches are larger). The resident memory stays around two batches plus
// 48 MiB whatever the file's size. When the loop ends, by a break too, the
// goroutine is stopped and the rows it read are dropped.
//
// A slice must not be used after its iteration: its pages may be evicted,
// and touching them again reads them back from disk (correct, but slow, and
// no longer bounded). Modified pages of a ReadWrite array are written back
// before they are dropped. A CopyOnWrite array is never evicted (its modified
// pages exist nowhere else), so its memory is not bounded.
//
// For an array in the other byte order (see Swapped) each batch is a copy in
// this machine's order, made in a buffer that the next batch reuses.
//
// Batches panics if n < 1, for a 0-d array and for a Fortran-order array of
// more than one dimension, like Rows, and with the error if a batch cannot be
// read (a fault, a bool that is not 0 or 1).
func (a *Array[T]) Batches(n int) iter.Seq2[int, []T] {
	if n < 1 {
		panic("array: Batches of fewer than one row")
	}
	rowElems := a.rowElems("Batches")
	rowBytes := max(rowElems*a.esize, 1)
	ahead := max(n, readAheadBytes/rowBytes) // rows to keep requested ahead of the loop
	every := max(n, evictBytes/rowBytes)     // finished rows to drop at once
	return func(yield func(int, []T) bool) {
		rows := a.Len()
		if rows == 0 {
			return
		}
		pf := a.startPrefetcher()
		requested, evicted := 0, 0
		var buf []T // the converted copy of a batch, for an array in the other byte order
		defer func() {
			// Also on a break or a panic in the loop body: stop the
			// goroutine, then drop what was finished or read ahead.
			pf.stop()
			a.evictRows(evicted, requested, requested == rows)
		}()
		for lo := 0; lo < rows; lo += n {
			hi := min(lo+n, rows)
			if want := min(hi+ahead, rows); want > requested {
				pf.request(requested, want)
				requested = want
			}
			var batch []T
			if a.swap != nil {
				var err error
				if buf, err = a.ReadRows(buf[:0], lo, hi); err != nil {
					panic(err)
				}
				batch = buf
			} else {
				batch = a.Rows(lo, hi)
			}
			if !yield(lo, batch) {
				return
			}
			if hi-evicted >= every && hi < rows {
				pf.evict(evicted, hi)
				evicted = hi
			}
		}
	}
}

// prefetcher reads rows ahead of a Batches loop in a goroutine with
// Region.Prefetch (MADV_POPULATE_READ where the OS has it, which reads and
// maps the pages; WillNeed elsewhere), so the disk works while the loop body
// computes, and the body finds the pages mapped.
type prefetcher struct {
	reqs chan [2]int // row ranges, in order
	done chan struct{}
	// mu orders prefetching against eviction: a range is never read back in
	// after the loop has dropped it, which would leave it resident for good.
	mu       sync.Mutex
	dropped  int // rows before this are finished and evicted
	stopped  atomic.Bool
	prefetch func(lo, hi int)
	evictFn  func(lo, hi int)
}

func (a *Array[T]) startPrefetcher() *prefetcher {
	p := &prefetcher{
		reqs:     make(chan [2]int, 64),
		done:     make(chan struct{}),
		prefetch: a.prefetchRows,
		evictFn:  func(lo, hi int) { a.evictRows(lo, hi, false) },
	}
	if a.r == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		for rg := range p.reqs {
			if p.stopped.Load() {
				continue
			}
			p.mu.Lock()
			if lo := max(rg[0], p.dropped); lo < rg[1] {
				p.prefetch(lo, rg[1])
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// request queues rows [lo, hi) in pieces of about prefetchPiece bytes, so
// the goroutine stays only a little ahead of the loop.
func (p *prefetcher) request(lo, hi int) {
	if p.stopped.Load() {
		return
	}
	step := max(1, (hi-lo)/max(1, readAheadBytes/prefetchPiece))
	for ; lo < hi; lo += step {
		select {
		case p.reqs <- [2]int{lo, min(lo+step, hi)}:
		case <-p.done:
			return
		}
	}
}

// evict drops finished rows [lo, hi), after any prefetch in progress.
func (p *prefetcher) evict(lo, hi int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evictFn(lo, hi)
	p.dropped = hi
}

// stop ends the goroutine, skipping requests not yet started.
func (p *prefetcher) stop() {
	if p.stopped.Swap(true) {
		return
	}
	if p.reqs != nil {
		close(p.reqs)
	}
	<-p.done
}

// prefetchPiece is the size of one Prefetch call of the read-ahead goroutine.
const prefetchPiece = 2 << 20

// prefetchRows reads rows [lo, hi) into memory (Region.Prefetch).
func (a *Array[T]) prefetchRows(lo, hi int) {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || a.r == nil || n == 0 {
		return
	}
	// Advice: an error (such as a file truncated under the mapping) shows
	// up when the loop body touches the pages, as a fault.
	_ = a.r.Prefetch(off, int(n))
}

// evictRows drops the whole pages of rows [lo, hi). The page that the last row
// shares with the next batch stays, unless this is the last batch.
func (a *Array[T]) evictRows(lo, hi int, last bool) {
	if a.r == nil || a.mode == CopyOnWrite {
		return
	}
	off, n, err := a.rowBytes(lo, hi)
	if err != nil {
		return
	}
	end := off + n
	if !last {
		ps := int64(os.Getpagesize())
		end = (a.offset+end)/ps*ps - a.offset
	}
	if end <= off {
		return
	}
	if a.r.Evict(off, int(end-off)) != nil {
		// Where the page cache cannot be dropped, at least unmap the pages
		// so they stop counting in this process's resident set.
		_ = a.r.AdviseRange(off, int(end-off), mmap.AdviceDontNeed)
	}
}

// Do runs fn over the array's elements with memory faults turned into errors:
// if the file is truncated under the mapping, or a page cannot be read, Do
// returns an error matching mmap.ErrFault instead of the program crashing. fn
// must not keep the slice after it returns. For an array in the other byte
// order (see Swapped) Do fails with ErrByteOrder: use ReadRows.
func (a *Array[T]) Do(fn func(data []T) error) error {
	if err := a.closedErr("do"); err != nil {
		return err
	}
	if a.swap != nil {
		return pathError("do", a.path, fmt.Errorf("%w: the file stores %s; use ReadRows, which converts", ErrByteOrder, a.dt))
	}
	if a.r == nil {
		return fn(a.data)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return a.r.Do(func(b []byte) error {
		return fn(unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(a.data)))
	})
}

// Prefetch reads rows [lo, hi) of a C-order array into RAM and waits for
// them (Region.Prefetch).
func (a *Array[T]) Prefetch(lo, hi int) error {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || n == 0 {
		return err
	}
	return a.r.Prefetch(off, int(n))
}

// Evict drops rows [lo, hi) of a C-order array from memory and the page
// cache (Region.Evict); the next access reads them from disk.
func (a *Array[T]) Evict(lo, hi int) error {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || n == 0 {
		return err
	}
	return a.r.Evict(off, int(n))
}
