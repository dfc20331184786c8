package mmap

import (
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// prefetchChunk bounds one WillNeed call. The kernel reads at most
// max(read-ahead, max I/O size) per call, which is 128 KiB on many devices, so
// a longer range is split rather than silently cut short.
const prefetchChunk = 128 << 10

// PrefetchOffsets starts reading the n bytes at each offset in offs into the
// page cache and returns without waiting for the reads to finish, so that the
// reads of a batch of scattered blocks are in flight together instead of one
// at a time.
//
// This is what makes cold random reads fast: a disk (or SSD, or virtio device)
// that serves ~15k random 4 KiB reads per second one at a time typically
// serves ~40k or more with dozens in flight, and a page fault or a pread waits
// for one read at a time. Call PrefetchOffsets with the offsets you are about
// to read (in the order you will read them: the reads are queued in that
// order), then read through the Region as usual; an access to a page whose
// read is still in flight waits only for that read. For a long list, prefetch
// a window of a few hundred to a few thousand offsets ahead of the reader.
//
// Pages already in the page cache are not requested again: when the offsets
// are dense enough, one residency query (mincore) over their span filters
// them out, so a warm cache costs little. Ranges run together when they touch.
// Prefetching does not map pages into the Region; pair it with Random advice on
// the Region so that an access which does miss reads one page rather than a
// large read-around window.
//
// Every range must lie inside the Region (else ErrOutOfRange, and nothing is
// requested). It uses madvise(MADV_WILLNEED); where the OS lacks it the error
// matches errors.ErrUnsupported.
func (r *Region) PrefetchOffsets(offs []int64, length int) error {
	const op = "prefetch offsets"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	n := int64(length)
	if n < 0 {
		return r.errorf(op, fmt.Errorf("negative length %d: %w", n, ErrOutOfRange))
	}
	if n == 0 || len(offs) == 0 {
		return nil
	}
	size := int64(len(r.bytes()))
	lo, hi := int64(-1), int64(-1)
	for i, off := range offs {
		if off < 0 || off > size || n > size-off {
			return r.errorf(op, fmt.Errorf("offsets[%d] = %d, length %d outside the region (%d bytes): %w", i, off, n, size, ErrOutOfRange))
		}
		if lo < 0 || off < lo {
			lo = off
		}
		if off+n > hi {
			hi = off + n
		}
	}

	ps := int64(sys.PageSize())
	base := int64(r.delta)
	data := r.st.m.Data
	// Page numbers within the mapping.
	firstPage := (base + lo) / ps
	lastPage := (base + hi - 1) / ps
	span := lastPage - firstPage + 1
	pagesPer := (n+ps-1)/ps + 1

	// One mincore over the span costs about as much as a few dozen madvise
	// calls per thousand pages; use it when the offsets are dense enough that
	// skipping resident pages can pay for it.
	var resident []byte
	if span <= 32*int64(len(offs))*pagesPer {
		vec := make([]byte, span)
		if err := sys.Mincore(data[firstPage*ps:min((lastPage+1)*ps, int64(len(data)))], vec); err == nil {
			resident = vec
		}
	}

	// Runs of pages [runLo, runHi) still to request; a range that touches the
	// previous run extends it.
	runLo, runHi := int64(-1), int64(-1)
	flush := func() error {
		for p := runLo; p < runHi; {
			if resident != nil && resident[p-firstPage]&1 != 0 {
				p++
				continue
			}
			q := p + 1
			for q < runHi && q-p < prefetchChunk/ps && (resident == nil || resident[q-firstPage]&1 == 0) {
				q++
			}
			end := min(q*ps, int64(len(data)))
			if err := sys.Advise(data[p*ps:end], sys.AdvWillNeed); err != nil {
				return r.errorf(op, fmt.Errorf("at offset %d: %w", p*ps-base, err))
			}
			p = q
		}
		return nil
	}
	for _, off := range offs {
		p0 := (base + off) / ps
		p1 := (base+off+n-1)/ps + 1
		if runLo >= 0 && p0 >= runLo && p0 <= runHi {
			runHi = max(runHi, p1)
			continue
		}
		if runLo >= 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		runLo, runHi = p0, p1
	}
	return flush()
}
