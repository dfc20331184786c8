package mmap

import (
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Advice tells the kernel how a range of the Region will be used (madvise).
type Advice = sys.Advice

// Advice values. Normal, Sequential, Random, WillNeed and DontNeed exist on
// every Unix; the rest are Linux's. Advice the OS lacks makes Advise return an
// error matching errors.ErrUnsupported, never a silent no-op.
const (
	Normal        = sys.AdvNormal        // no special treatment
	Sequential    = sys.AdvSequential    // read ahead aggressively, drop pages behind
	Random        = sys.AdvRandom        // no read-ahead
	WillNeed      = sys.AdvWillNeed      // start reading the range in now
	DontNeed      = sys.AdvDontNeed      // drop the range's pages from this mapping
	HugePage      = sys.AdvHugePage      // back the range with transparent huge pages
	NoHugePage    = sys.AdvNoHugePage    // never use huge pages for the range
	Free          = sys.AdvFree          // anonymous memory: contents may be discarded lazily
	Cold          = sys.AdvCold          // deactivate the pages (reclaim them first)
	PageOut       = sys.AdvPageOut       // reclaim the pages now
	PopulateRead  = sys.AdvPopulateRead  // fault the pages in readable, synchronously
	PopulateWrite = sys.AdvPopulateWrite // fault the pages in writable, synchronously
	DontFork      = sys.AdvDontFork      // do not share the range with forked children
	DontDump      = sys.AdvDontDump      // leave the range out of core dumps
)

// Advise applies adv to the whole Region.
func (r *Region) Advise(adv Advice) error {
	return r.AdviseRange(0, int64(r.Len()), adv)
}

// AdviseRange applies adv to the bytes [off, off+n), widened to whole pages.
func (r *Region) AdviseRange(off, n int64, adv Advice) error {
	if err := r.enter(); err != nil {
		return err
	}
	defer r.exit()
	if err := r.checkRange("Advise", off, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	_, b := r.pages(off, n)
	if err := sys.Advise(b, adv); err != nil {
		return fmt.Errorf("mmap: advise %s %s offset %d length %d: %w", r.name(), adv, off, n, err)
	}
	return nil
}
