package mmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
)

var pagingPS = os.Getpagesize()

// pagingFile writes a file of size bytes with a position-dependent pattern.
func pagingFile(t testing.TB, size int) string {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	p := filepath.Join(t.TempDir(), "paging.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pagingOpen maps path and evicts it, so every test starts from a cold cache.
func pagingOpen(t testing.TB, path string, mode mmap.Mode, opts ...*mmap.Options) *mmap.Region {
	t.Helper()
	var o *mmap.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	r, err := mmap.Open(path, mode, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func pagingEvictAll(t testing.TB, r *mmap.Region) {
	t.Helper()
	if err := r.Evict(0, r.Len()); err != nil {
		t.Fatal(err)
	}
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if s.Resident != 0 {
		t.Fatalf("after Evict of the whole file %d of %d pages are still resident", s.Resident, s.Pages)
	}
}

// pagingTouch reads one byte of every step-th page through Do, so the reads
// are plain loads that fault the pages in.
func pagingTouch(t testing.TB, r *mmap.Region, step int) {
	t.Helper()
	var sum byte
	err := r.Do(func(b []byte) error {
		for i := 0; i < len(b); i += step * pagingPS {
			sum += b[i]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(sum)
}

// pagingNeedsEvict skips a test that must drop pages from the page cache to
// start cold: only Linux lets an unprivileged process do that
// (posix_fadvise POSIX_FADV_DONTNEED). darwin has no such call, and Windows
// drops a file's cached pages only for an administrator.
func pagingNeedsEvict(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Evict (posix_fadvise DONTNEED), which " + runtime.GOOS + " lacks")
	}
}

// pagingNeedsSmaps skips a test that reads the advice the kernel recorded for
// a mapping from /proc/self/smaps, which only Linux has.
func pagingNeedsSmaps(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads the kernel's record of advice in /proc/self/smaps, which " + runtime.GOOS + " lacks")
	}
}

// Residency follows touches: pages of fresh anonymous memory are not
// resident until written, and then exactly the written ones are. (64 KiB, too
// small for a transparent huge page to fill it at the first touch.)
func TestResidentTracksTouches(t *testing.T) {
	const pages = 16
	r, err := mmap.Anonymous(pages*pagingPS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if s.Pages != pages || s.Resident != 0 {
		t.Fatalf("fresh anonymous memory: %d of %d pages resident, want 0 of %d", s.Resident, s.Pages, pages)
	}
	for p := 1; p < pages; p += 3 {
		if _, err := r.WriteAt([]byte{1}, int64(p*pagingPS+5)); err != nil {
			t.Fatal(err)
		}
	}
	if s, err = r.Resident(); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < pages; p++ {
		if want := p%3 == 1; s.IsResident(p) != want {
			t.Fatalf("page %d resident %v, want %v; resident pages %v", p, s.IsResident(p), want, pagingList(s))
		}
	}
}

// The walk the issue describes: evict, read every 10th page, check exactly
// those became resident, prefetch the rest, check all are.
//
// With Random advice a fault reads only the page it needs: filemap_fault skips
// its read-around for VM_RAND_READ mappings, and fault-around maps only pages
// already in the cache, so the set of resident pages is exactly the set
// touched. With Normal advice a fault reads a window of read_ahead_kb around
// the page (8 MiB on this machine's disk), so neighbours come in too: the
// touched pages are a subset of the resident ones.
func TestResidencyAfterEvictReadPrefetch(t *testing.T) {
	pagingNeedsEvict(t)
	const pages = 1024 + 3 // 4 MiB and a bit, so the last page is partial
	path := pagingFile(t, pages*pagingPS-100)
	for _, tc := range []struct {
		name  string
		adv   mmap.Advice
		exact bool
	}{
		{"random", mmap.AdviceRandom, true},
		{"normal", mmap.AdviceNormal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pagingOpen(t, path, mmap.ReadOnly)
			pagingEvictAll(t, r)
			if err := r.Advise(tc.adv); err != nil {
				t.Fatal(err)
			}
			pagingTouch(t, r, 10)
			s, err := r.Resident()
			if err != nil {
				t.Fatal(err)
			}
			if s.Pages != pages || s.PageSize != pagingPS || s.Offset != 0 || s.Length != r.Len() {
				t.Fatalf("Residency header %+v, want %d pages of %d bytes", s, pages, pagingPS)
			}
			touched := (pages + 9) / 10
			for p := 0; p < pages; p++ {
				want := p%10 == 0
				if want && !s.IsResident(p) {
					t.Fatalf("page %d was read but is not resident", p)
				}
				if tc.exact && !want && s.IsResident(p) {
					t.Fatalf("page %d was not read but is resident (read-around with Random advice?)", p)
				}
			}
			if tc.exact && s.Resident != touched {
				t.Fatalf("Resident = %d, want exactly the %d pages read", s.Resident, touched)
			}
			if !tc.exact && s.Resident < touched {
				t.Fatalf("Resident = %d, want at least the %d pages read", s.Resident, touched)
			}
			t.Logf("%s advice: read %d pages, %d resident", tc.name, touched, s.Resident)

			if err := r.Prefetch(0, r.Len()); err != nil {
				t.Fatal(err)
			}
			s, err = r.Resident()
			if err != nil {
				t.Fatal(err)
			}
			if s.Resident != s.Pages {
				t.Fatalf("after Prefetch %d of %d pages resident", s.Resident, s.Pages)
			}
		})
	}
}

// ResidentRange and Prefetch on ranges that do not start or end on a page,
// in a Region that itself starts in the middle of a page.
func TestResidentRangeUnaligned(t *testing.T) {
	pagingNeedsEvict(t)
	path := pagingFile(t, 64*pagingPS)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const mapOff = 100 // the Region starts 100 bytes into page 0 of the file
	r, err := mmap.Map(f, mmap.ReadOnly, mapOff, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pagingEvictAll(t, r)
	if err := r.Advise(mmap.AdviceRandom); err != nil {
		t.Fatal(err)
	}
	ps := int64(pagingPS)
	for _, tc := range []struct {
		name      string
		off       int64
		n         int
		pages     int
		filePages []int64 // file pages the range covers, in order
	}{
		{"inside one page", 2 * ps, 10, 1, []int64{2}},
		{"straddles a boundary", 3*ps - mapOff - 5, 10, 2, []int64{2, 3}},
		{"first byte", 0, 1, 1, []int64{0}},
		{"last byte", 64*ps - mapOff - 1, 1, 1, []int64{63}},
		{"three pages", 10*ps - mapOff - 1, pagingPS + 2, 3, []int64{9, 10, 11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Evict(0, r.Len()); err != nil {
				t.Fatal(err)
			}
			if err := r.Prefetch(tc.off, tc.n); err != nil {
				t.Fatal(err)
			}
			s, err := r.ResidentRange(tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if s.Pages != tc.pages || s.Resident != tc.pages {
				t.Fatalf("range [%d,+%d): %d pages, %d resident; want %d, all resident", tc.off, tc.n, s.Pages, s.Resident, tc.pages)
			}
			// The whole Region sees exactly those file pages resident.
			all, err := r.Resident()
			if err != nil {
				t.Fatal(err)
			}
			if all.Resident != tc.pages {
				t.Fatalf("whole region: %d resident, want %d", all.Resident, tc.pages)
			}
			for _, fp := range tc.filePages {
				if !all.IsResident(int(fp)) {
					t.Fatalf("file page %d not resident; residency %v", fp, pagingList(all))
				}
			}
		})
	}
}

func pagingList(s mmap.Residency) []int {
	var l []int
	for p := 0; p < s.Pages; p++ {
		if s.IsResident(p) {
			l = append(l, p)
		}
	}
	return l
}

func TestResidencyIsResidentBounds(t *testing.T) {
	r := pagingOpen(t, pagingFile(t, 3*pagingPS), mmap.ReadOnly)
	if err := r.Prefetch(0, r.Len()); err != nil {
		t.Fatal(err)
	}
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{-1, 3, 1 << 30} {
		if s.IsResident(p) {
			t.Errorf("IsResident(%d) = true outside [0,%d)", p, s.Pages)
		}
	}
	if s.Fraction() != 1 {
		t.Errorf("Fraction = %v, want 1", s.Fraction())
	}
	var zero mmap.Residency
	if zero.IsResident(0) || zero.Fraction() != 1 {
		t.Errorf("zero Residency: IsResident(0)=%v Fraction=%v", zero.IsResident(0), zero.Fraction())
	}
	e, err := r.ResidentRange(5, 0)
	if err != nil || e.Pages != 0 || e.Resident != 0 {
		t.Errorf("empty range: %+v, %v", e, err)
	}
}

func TestPagingOutOfRange(t *testing.T) {
	r := pagingOpen(t, pagingFile(t, 2*pagingPS), mmap.ReadWrite)
	n := r.Len()
	calls := []struct {
		name string
		fn   func(off int64, n int) error
	}{
		{"ResidentRange", func(off int64, n int) error { _, err := r.ResidentRange(off, n); return err }},
		{"Prefetch", r.Prefetch},
		{"Evict", r.Evict},
		{"AdviseRange", func(off int64, n int) error { return r.AdviseRange(off, n, mmap.AdviceNormal) }},
	}
	for _, c := range calls {
		n64 := int64(n)
		for _, rg := range []struct {
			off int64
			n   int
		}{{-1, 1}, {0, -1}, {0, n + 1}, {n64, 1}, {n64 + 1, 0}, {1, n}} {
			if err := c.fn(rg.off, rg.n); !errors.Is(err, mmap.ErrOutOfRange) {
				t.Errorf("%s(%d, %d) = %v, want ErrOutOfRange", c.name, rg.off, rg.n, err)
			}
		}
	}
}

// Private memory has no other copy: Evict must refuse rather than discard it.
func TestEvictPrivateMemoryRefused(t *testing.T) {
	path := pagingFile(t, 4*pagingPS)
	cow := pagingOpen(t, path, mmap.CopyOnWrite)
	if _, err := cow.WriteAt([]byte("private"), 10); err != nil {
		t.Fatal(err)
	}
	anon, err := mmap.Anonymous(4*pagingPS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.WriteAt([]byte("private"), 10); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*mmap.Region{"copy-on-write": cow, "anonymous": anon} {
		if err := r.Evict(0, r.Len()); !errors.Is(err, mmap.ErrPrivateMemory) {
			t.Errorf("%s: Evict = %v, want ErrPrivateMemory", name, err)
		}
		got := make([]byte, 7)
		if _, err := r.ReadAt(got, 10); err != nil || string(got) != "private" {
			t.Errorf("%s: after refused Evict read %q, %v", name, got, err)
		}
	}
}

// Evicting a ReadWrite Region with unflushed writes keeps the writes: they
// are written back first and read again from disk afterwards.
func TestEvictReadWriteKeepsDirtyData(t *testing.T) {
	pagingNeedsEvict(t)
	path := pagingFile(t, 8*pagingPS)
	r := pagingOpen(t, path, mmap.ReadWrite)
	msg := []byte("written through the mapping, never flushed")
	if _, err := r.WriteAt(msg, int64(3*pagingPS-10)); err != nil {
		t.Fatal(err)
	}
	pagingEvictAll(t, r)
	got := make([]byte, len(msg))
	if _, err := r.ReadAt(got, int64(3*pagingPS-10)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("after Evict read %q, want %q", got, msg)
	}
}

func TestWithPopulateMakesResident(t *testing.T) {
	path := pagingFile(t, 256*pagingPS)
	if runtime.GOOS == "linux" {
		cold := pagingOpen(t, path, mmap.ReadOnly)
		pagingEvictAll(t, cold)
		cold.Close()
	}
	// Elsewhere there is no Evict. On Windows residency is the process's
	// working set, which a new view starts without, so the test still
	// shows what Populate did; on darwin the file's pages may be cached
	// already, and it shows only that none is missing.
	r := pagingOpen(t, path, mmap.ReadOnly, &mmap.Options{Populate: true})
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if s.Resident != s.Pages {
		t.Fatalf("WithPopulate: %d of %d pages resident right after mapping", s.Resident, s.Pages)
	}
}

func TestPagingClosed(t *testing.T) {
	r := pagingOpen(t, pagingFile(t, pagingPS), mmap.ReadOnly)
	r.Close()
	for name, err := range map[string]error{
		"Resident": func() error { _, err := r.Resident(); return err }(),
		"Prefetch": r.Prefetch(0, 1),
		"Evict":    r.Evict(0, 1),
		"Lock":     r.Lock(),
		"Unlock":   r.Unlock(),
	} {
		if !errors.Is(err, mmap.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// Demand paging made visible: the first touch of each page of a cold file
// faults, a second pass over the same pages does not.
func TestFaultCountersFirstTouchOnly(t *testing.T) {
	pagingNeedsEvict(t)
	const pages = 1024
	path := pagingFile(t, pages*pagingPS)
	for _, tc := range []struct {
		name     string
		adv      mmap.Advice
		minMajor int64 // major faults the first pass must take at least
		minAll   int64 // faults of either kind it must take at least
	}{
		// Random: no read-around, so every page is read by its own fault.
		// A few of them show up as minor: a fault that starts the read
		// under the per-VMA lock is retried under mmap_lock, and the retry
		// finds the page already read (Linux counts only the retry).
		{"random", mmap.AdviceRandom, pages / 2, pages},
		// Normal: one fault reads a whole read-around window (the whole
		// file here) and later faults map the large folios it made, so few
		// faults cover many pages; the one that did the read may itself
		// be counted minor after its retry, as above.
		{"normal", mmap.AdviceNormal, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pagingOpen(t, path, mmap.ReadOnly)
			pagingEvictAll(t, r)
			if err := r.Advise(tc.adv); err != nil {
				t.Fatal(err)
			}
			f0, err := mmap.ReadFaults()
			if err != nil {
				t.Fatal(err)
			}
			pagingTouch(t, r, 1)
			f1, _ := mmap.ReadFaults()
			pagingTouch(t, r, 1)
			f2, _ := mmap.ReadFaults()
			first, second := f1.Sub(f0), f2.Sub(f1)
			t.Logf("first pass %v, second pass %v", first, second)
			if first.Major < tc.minMajor || first.Major+first.Minor < tc.minAll {
				t.Errorf("first pass over a cold file: %v, want at least %d major and %d in all", first, tc.minMajor, tc.minAll)
			}
			// The counters are per process: allow a few faults from the
			// runtime, far fewer than one per page.
			if second.Major != 0 || second.Minor > 16 {
				t.Errorf("second pass over mapped pages: %v, want none", second)
			}
		})
	}
}

func TestFaultsSub(t *testing.T) {
	for _, tc := range []struct{ a, b, want mmap.Faults }{
		{mmap.Faults{Minor: 10, Major: 3}, mmap.Faults{Minor: 4, Major: 1}, mmap.Faults{Minor: 6, Major: 2}},
		{mmap.Faults{}, mmap.Faults{}, mmap.Faults{}},
		{mmap.Faults{Minor: 1}, mmap.Faults{Major: 1}, mmap.Faults{Minor: 1, Major: -1}},
	} {
		if got := tc.a.Sub(tc.b); got != tc.want {
			t.Errorf("%v.Sub(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := tc.want.Add(tc.b); got != tc.a {
			t.Errorf("%v.Add(%v) = %v, want %v", tc.want, tc.b, got, tc.a)
		}
	}
	if s := (mmap.Faults{Minor: 5, Major: 2}).String(); s != "5 minor, 2 major" {
		t.Errorf("String = %q", s)
	}
}
