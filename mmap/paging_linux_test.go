package mmap_test

import (
	"errors"
	"os"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// A file truncated under the mapping: the paging calls report or tolerate
// the missing pages, none of them crashes the process.
func TestPagingAfterTruncation(t *testing.T) {
	path := pagingFile(t, 16*pagingPS)
	r := pagingOpen(t, path, mmap.ReadOnly)
	pagingEvictAll(t, r)
	if err := os.Truncate(path, int64(4*pagingPS)); err != nil {
		t.Fatal(err)
	}
	n := r.Len()
	if err := r.Prefetch(0, n); !errors.Is(err, mmap.ErrFault) {
		t.Errorf("Prefetch over pages past the end of the file = %v, want ErrFault", err)
	}
	if err := r.Prefetch(0, 4*pagingPS); err != nil {
		t.Errorf("Prefetch of the pages still in the file: %v", err)
	}
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if s.Resident != 4 || !s.IsResident(3) || s.IsResident(4) {
		t.Errorf("after truncation to 4 pages: %d resident %v", s.Resident, pagingList(s))
	}
	// mlock cannot read pages past the end either. Whatever the limit, the
	// error must not blame RLIMIT_MEMLOCK when the process is exempt from it,
	// and a failed Lock must not leave the range locked (Evict below would
	// then fail: a locked range refuses MADV_DONTNEED).
	err = r.Lock()
	t.Logf("Lock: %v", err)
	if err == nil {
		t.Error("Lock over pages past the end of the file succeeded")
		r.Unlock()
	}
	if pagingCanLockUnlimited() && errors.Is(err, mmap.ErrMemlock) {
		t.Errorf("Lock blames the locked-memory limit although it does not apply: %v", err)
	}
	if err := r.Evict(0, n); err != nil {
		t.Errorf("Evict: %v", err)
	}
}

// pagingCanLockUnlimited reports whether RLIMIT_MEMLOCK does not apply to
// this process.
func pagingCanLockUnlimited() bool {
	return !sys.MemlockLimited()
}
