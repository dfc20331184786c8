package mmap

import (
	"fmt"
	"math/bits"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Residency says which pages of a range of a Region are in RAM (mincore).
//
// Page 0 is the page holding the range's first byte; page i is the i-th page
// after it. Pages are aligned to the mapping, not to the range, so a range
// that starts in the middle of a page counts that whole page.
//
// For a file mapping, "in RAM" means in the page cache, whether or not this
// process has touched the page. Linux reports the page cache only to a
// process that owns the file, may write to it or has CAP_SYS_ADMIN; for
// anyone else it reports just the pages mapped by this process (mincore(2)).
// darwin's mincore answers like Linux's. Windows answers for this process
// only (QueryWorkingSetEx): a page is resident when it is in the process's
// working set, so a page Windows caches but this view has not touched (or
// has had trimmed) counts as not resident.
type Residency struct {
	Offset   int64 // offset in the Region of the range's first byte
	Length   int   // length of the range in bytes
	PageSize int   // bytes per page
	Pages    int   // pages the range touches
	Resident int   // how many of them are in RAM
	bits     []uint64
}

// IsResident reports whether page (counted from the range's first page) is in
// RAM. Pages outside [0, Pages) are not.
func (s Residency) IsResident(page int) bool {
	if page < 0 || page >= s.Pages {
		return false
	}
	return s.bits[page/64]&(1<<(page%64)) != 0
}

// Fraction returns Resident/Pages (1 for an empty range).
func (s Residency) Fraction() float64 {
	if s.Pages == 0 {
		return 1
	}
	return float64(s.Resident) / float64(s.Pages)
}

// Resident reports which pages of the whole Region are in RAM.
func (r *Region) Resident() (Residency, error) {
	return r.ResidentRange(0, r.Len())
}

// mincoreChunk bounds the scratch vector mincore fills (one byte per page)
// so that a huge Region does not need a huge temporary buffer.
const mincoreChunk = 1 << 16

// ResidentRange reports which pages of the bytes [off, off+n) are in RAM.
// The range must lie inside the Region (ErrOutOfRange otherwise). It uses
// mincore on Linux and darwin and QueryWorkingSetEx on Windows (see
// Residency for what each counts); elsewhere the error matches
// errors.ErrUnsupported.
func (r *Region) ResidentRange(off int64, n int) (Residency, error) {
	const op = "residency"
	if err := r.enter(); err != nil {
		return Residency{}, r.errorf(op, err)
	}
	defer r.exit()
	if err := checkRange(r.bytes(), off, n); err != nil {
		return Residency{}, r.errorf(op, err)
	}
	ps := sys.PageSize()
	s := Residency{Offset: off, Length: n, PageSize: ps}
	if n == 0 {
		return s, nil
	}
	_, b := r.pages(off, n)
	s.Pages = (len(b) + ps - 1) / ps
	s.bits = make([]uint64, (s.Pages+63)/64)
	vec := make([]byte, min(s.Pages, mincoreChunk))
	for p := 0; p < s.Pages; p += len(vec) {
		k := min(len(vec), s.Pages-p)
		lo := p * ps
		hi := min(lo+k*ps, len(b))
		if err := sys.Mincore(b[lo:hi], vec[:k]); err != nil {
			return Residency{}, r.errorf(op, fmt.Errorf("offset %d length %d: %w", off, n, err))
		}
		for i, v := range vec[:k] {
			if v&1 != 0 {
				s.bits[(p+i)/64] |= 1 << ((p + i) % 64)
			}
		}
	}
	for _, w := range s.bits {
		s.Resident += bits.OnesCount64(w)
	}
	return s, nil
}
