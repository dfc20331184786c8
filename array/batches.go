package array

import (
	"iter"
	"os"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
)

// prefetchChunk is the size of one read-ahead request. Linux reads at most
// one read-ahead window per madvise(MADV_WILLNEED) call and ignores the rest,
// so a batch is asked for in pieces no bigger than the smallest usual window.
const prefetchChunk = 128 << 10

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
// larger than RAM: it keeps the kernel reading ahead of the loop (the next
// batch, and at least 16 MiB), and drops the pages of finished batches from
// the mapping and the page cache (Region.Evict, every 32 MiB or every batch
// if batches are larger), so the resident memory stays around two batches
// plus 48 MiB whatever the file's size.
//
// A slice must not be used after its iteration ends: its pages are evicted,
// and touching them again reads them back from disk (correct, but slow, and
// not bounded). Modified pages of a ReadWrite array are written back before
// they are dropped. A CopyOnWrite array is never evicted (its modified pages
// exist nowhere else), so its memory is not bounded.
//
// Batches panics if n < 1, for a 0-d array and for a Fortran-order array of
// more than one dimension, like Rows.
func (a *Array[T]) Batches(n int) iter.Seq2[int, []T] {
	if n < 1 {
		panic("array: Batches of fewer than one row")
	}
	rowElems := a.rowElems("Batches")
	rowBytes := max(rowElems*dtypeOf[T]().Size(), 1)
	ahead := max(n, readAheadBytes/rowBytes) // rows to keep requested ahead of the loop
	every := max(n, evictBytes/rowBytes)     // finished rows to drop at once
	return func(yield func(int, []T) bool) {
		rows := a.Len()
		if rows == 0 || rowElems == 0 {
			return
		}
		requested, evicted := 0, 0
		for lo := 0; lo < rows; lo += n {
			hi := min(lo+n, rows)
			if want := min(hi+ahead, rows); want > requested {
				a.prefetchRows(requested, want)
				requested = want
			}
			ok := yield(lo, a.Rows(lo, hi))
			if hi-evicted >= every || hi == rows || !ok {
				a.evictRows(evicted, hi, hi == rows)
				evicted = hi
			}
			if !ok {
				return
			}
		}
	}
}

// prefetchRows starts reading rows [lo, hi) without waiting for the reads.
func (a *Array[T]) prefetchRows(lo, hi int) {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || a.r == nil {
		return
	}
	for end := off + n; off < end; off += prefetchChunk {
		// Advice: an error (an OS without WillNeed) only costs speed.
		_ = a.r.AdviseRange(off, min(prefetchChunk, end-off), mmap.WillNeed)
	}
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
	if a.r.Evict(off, end-off) != nil {
		// Where the page cache cannot be dropped, at least unmap the pages
		// so they stop counting in this process's resident set.
		_ = a.r.AdviseRange(off, end-off, mmap.DontNeed)
	}
}

// Do runs fn over the array's elements with memory faults turned into errors:
// if the file is truncated under the mapping, or a page cannot be read, Do
// returns an error matching mmap.ErrFault instead of the program crashing. fn
// must not keep the slice after it returns.
func (a *Array[T]) Do(fn func(data []T) error) error {
	if a.r == nil {
		return fn(a.data)
	}
	if dtypeOf[T]() == Bool {
		if err := a.Validate(); err != nil {
			return err
		}
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
	return a.r.Prefetch(off, n)
}

// Evict drops rows [lo, hi) of a C-order array from memory and the page
// cache (Region.Evict); the next access reads them from disk.
func (a *Array[T]) Evict(lo, hi int) error {
	off, n, err := a.rowBytes(lo, hi)
	if err != nil || n == 0 {
		return err
	}
	return a.r.Evict(off, n)
}
