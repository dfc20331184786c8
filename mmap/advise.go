package mmap

import (
	"errors"
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Advice tells the kernel how a range of the Region will be used (madvise).
type Advice int

// Advice values. AdviceNormal, AdviceSequential, AdviceRandom,
// AdviceWillNeed and AdviceDontNeed exist on every Unix; the rest are Linux's,
// except that darwin gets AdviceFree too, and AdvicePopulateRead and
// AdvicePopulateWrite by touching every page. Advice the OS lacks makes
// Advise return an error matching errors.ErrUnsupported, never a silent
// no-op, with one documented exception: Windows keeps no per-range access
// hint, so there AdviceNormal, AdviceSequential and AdviceRandom are accepted
// and do nothing (ignoring a hint changes speed, never results).
// AdviceWillNeed is PrefetchVirtualMemory on Windows, and the populate advice
// prefetches and touches every page; the rest returns ErrUnsupported with the
// reason.
const (
	AdviceNormal        Advice = iota // no special treatment
	AdviceSequential                  // read ahead aggressively, drop pages behind
	AdviceRandom                      // no read-ahead
	AdviceWillNeed                    // start reading the range in now
	AdviceDontNeed                    // drop the range's pages from this mapping
	AdviceHugePage                    // back the range with transparent huge pages
	AdviceNoHugePage                  // never use huge pages for the range
	AdviceFree                        // anonymous memory: contents may be discarded lazily
	AdviceCold                        // deactivate the pages (reclaim them first)
	AdvicePageOut                     // reclaim the pages now
	AdvicePopulateRead                // fault the pages in readable, synchronously
	AdvicePopulateWrite               // fault the pages in writable, synchronously
	AdviceDontFork                    // do not share the range with forked children
	AdviceDontDump                    // leave the range out of core dumps
	adviceCount
)

var sysAdvice = [...]sys.Advice{
	AdviceNormal:        sys.AdvNormal,
	AdviceSequential:    sys.AdvSequential,
	AdviceRandom:        sys.AdvRandom,
	AdviceWillNeed:      sys.AdvWillNeed,
	AdviceDontNeed:      sys.AdvDontNeed,
	AdviceHugePage:      sys.AdvHugePage,
	AdviceNoHugePage:    sys.AdvNoHugePage,
	AdviceFree:          sys.AdvFree,
	AdviceCold:          sys.AdvCold,
	AdvicePageOut:       sys.AdvPageOut,
	AdvicePopulateRead:  sys.AdvPopulateRead,
	AdvicePopulateWrite: sys.AdvPopulateWrite,
	AdviceDontFork:      sys.AdvDontFork,
	AdviceDontDump:      sys.AdvDontDump,
}

func (a Advice) valid() bool { return a >= 0 && a < adviceCount }

// String returns the advice's short name ("random", "populate-read", ...),
// the name the mmapkit command line uses.
func (a Advice) String() string {
	if !a.valid() {
		return fmt.Sprintf("advice(%d)", int(a))
	}
	return sysAdvice[a].String()
}

// ParseAdvice returns the Advice whose String is name.
func ParseAdvice(name string) (Advice, error) {
	for a := range adviceCount {
		if a.String() == name {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown advice %q", name)
}

// Advise applies adv to the whole Region.
func (r *Region) Advise(adv Advice) error {
	return r.AdviseRange(0, r.Len(), adv)
}

// AdviseRange applies adv to the bytes [off, off+n), widened to whole pages.
//
// AdvicePopulateRead and AdvicePopulateWrite report a page that cannot be
// read in (the file was truncated under the mapping, or an I/O error) as an
// error matching ErrFault, as Prefetch does; AdvicePopulateWrite on a
// ReadOnly Region is refused with ErrReadOnly.
func (r *Region) AdviseRange(off int64, n int, adv Advice) error {
	const op = "advise"
	if !adv.valid() {
		return r.errorf(op, fmt.Errorf("unknown advice %d: %w", int(adv), errors.ErrUnsupported))
	}
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if err := checkRange(r.bytes(), off, n); err != nil {
		return r.errorf(op, err)
	}
	if adv == AdvicePopulateWrite && r.mode == ReadOnly {
		// madvise answers EINVAL for a read-only mapping, which would read
		// as "this kernel does not know the advice".
		return r.errorf(op, fmt.Errorf("%s on a %s mapping: %w", adv, r.mode, ErrReadOnly))
	}
	if n == 0 {
		return nil
	}
	_, b := r.pages(off, n)
	if err := sys.Advise(b, sysAdvice[adv]); err != nil {
		if (adv == AdvicePopulateRead || adv == AdvicePopulateWrite) && errors.Is(err, sys.EFAULT) {
			return r.errorf(op, fmt.Errorf("%s offset %d length %d: %w", adv, off, n, readInFault(err)))
		}
		return r.errorf(op, fmt.Errorf("%s offset %d length %d: %w", adv, off, n, err))
	}
	return nil
}
