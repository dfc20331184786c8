package mmap_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
)

// adviseVmFlags returns the VmFlags of the mapping holding addr, from
// /proc/self/smaps: the kernel's own record of the advice a mapping carries.
func adviseVmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		// Header lines start "lo-hi perms ..."; the others "Name: value".
		if fields := strings.Fields(line); len(fields) > 0 && !strings.HasSuffix(fields[0], ":") {
			var lo, hi uintptr
			if _, err := fmt.Sscanf(fields[0], "%x-%x", &lo, &hi); err != nil {
				t.Fatalf("smaps header %q: %v", line, err)
			}
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return nil
}

func adviseAddr(t *testing.T, r *mmap.Region) uintptr {
	t.Helper()
	var addr uintptr
	if err := r.Do(func(b []byte) error { addr = uintptr(unsafe.Pointer(unsafe.SliceData(b))); return nil }); err != nil {
		t.Fatal(err)
	}
	return addr
}

func adviseHas(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// Every advice constant reaches the kernel: on Linux each call succeeds on a
// kind of memory it applies to, and where the kernel keeps a record of the
// advice (a VmFlags entry in /proc/self/smaps) or the advice has a visible
// effect, the test checks that too.
func TestAdviceReachesKernel(t *testing.T) {
	const pages = 16
	path := pagingFile(t, pages*pagingPS)
	linuxOnly := map[mmap.Advice]bool{
		mmap.AdviceHugePage: true, mmap.AdviceNoHugePage: true, mmap.AdviceCold: true, mmap.AdvicePageOut: true,
		mmap.AdvicePopulateRead: true, mmap.AdvicePopulateWrite: true, mmap.AdviceDontFork: true, mmap.AdviceDontDump: true,
	}
	// Accepted on Windows: the no-op hints, WillNeed (PrefetchVirtualMemory)
	// and the populate advice (prefetch, then touch every page).
	windowsHas := map[mmap.Advice]bool{
		mmap.AdviceNormal: true, mmap.AdviceSequential: true, mmap.AdviceRandom: true, mmap.AdviceWillNeed: true,
		mmap.AdvicePopulateRead: true, mmap.AdvicePopulateWrite: true,
	}
	for _, tc := range []struct {
		adv    mmap.Advice
		anon   bool   // apply to anonymous memory instead of the file
		flag   string // VmFlags entry the advice sets ("" if none)
		effect func(t *testing.T, r *mmap.Region)
	}{
		{adv: mmap.AdviceNormal},
		{adv: mmap.AdviceSequential, flag: "sr"},
		{adv: mmap.AdviceRandom, flag: "rr"},
		{adv: mmap.AdviceWillNeed},
		{adv: mmap.AdviceDontNeed, anon: true, effect: func(t *testing.T, r *mmap.Region) {
			// DONTNEED on private anonymous memory throws the pages away:
			// the next read sees fresh zero pages.
			b := make([]byte, 4)
			if _, err := r.ReadAt(b, 8); err != nil || string(b) != "\x00\x00\x00\x00" {
				t.Errorf("after DontNeed read %q, %v; want zeros", b, err)
			}
		}},
		{adv: mmap.AdviceHugePage, anon: true, flag: "hg"},
		{adv: mmap.AdviceNoHugePage, anon: true, flag: "nh"},
		{adv: mmap.AdviceFree, anon: true},
		{adv: mmap.AdviceCold},
		{adv: mmap.AdvicePageOut, effect: func(t *testing.T, r *mmap.Region) {
			// PAGEOUT reclaims the clean file pages this process alone maps,
			// but only those already on an LRU list: pages faulted in moments
			// ago may still sit in another CPU's per-CPU batch and stay. So
			// the effect is logged, not asserted.
			s, err := r.Resident()
			t.Logf("after PageOut %d of %d pages resident (%v)", s.Resident, s.Pages, err)
		}},
		{adv: mmap.AdvicePopulateRead, effect: func(t *testing.T, r *mmap.Region) {
			if s, err := r.Resident(); err != nil || s.Resident != s.Pages {
				t.Errorf("after PopulateRead %d of %d pages resident, %v", s.Resident, s.Pages, err)
			}
		}},
		{adv: mmap.AdvicePopulateWrite, anon: true, effect: func(t *testing.T, r *mmap.Region) {
			// Fresh anonymous memory has no pages until it is written;
			// POPULATE_WRITE allocates them all.
			if s, err := r.Resident(); err != nil || s.Resident != s.Pages {
				t.Errorf("after PopulateWrite %d of %d pages resident, %v", s.Resident, s.Pages, err)
			}
		}},
		{adv: mmap.AdviceDontFork, flag: "dc"},
		{adv: mmap.AdviceDontDump, flag: "dd"},
	} {
		t.Run(tc.adv.String(), func(t *testing.T) {
			var r *mmap.Region
			var err error
			if tc.anon {
				r, err = mmap.Anonymous(pages*pagingPS, nil)
				if err == nil && tc.adv == mmap.AdviceDontNeed {
					_, err = r.WriteAt([]byte("data"), 8)
				}
			} else {
				r, err = mmap.Open(path, mmap.ReadOnly, nil)
				if err == nil && runtime.GOOS == "linux" {
					// Start from a known state: cold for PopulateRead,
					// cached and mapped for PageOut to reclaim.
					err = r.Evict(0, r.Len())
					if err == nil && tc.adv == mmap.AdvicePageOut {
						pagingTouch(t, r, 1)
					}
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			err = r.Advise(tc.adv)
			if runtime.GOOS == "windows" {
				// Windows has some advice through other calls; the rest
				// is refused, never silently ignored.
				if !windowsHas[tc.adv] {
					if !errors.Is(err, errors.ErrUnsupported) {
						t.Fatalf("Advise(%s) = %v, want ErrUnsupported on Windows", tc.adv, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Advise(%s) = %v", tc.adv, err)
				}
				if tc.effect != nil {
					tc.effect(t, r)
				}
				return
			}
			if runtime.GOOS != "linux" {
				if linuxOnly[tc.adv] && !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("Advise(%s) = %v, want ErrUnsupported off Linux", tc.adv, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Advise(%s) = %v", tc.adv, err)
			}
			if tc.flag != "" {
				if fl := adviseVmFlags(t, adviseAddr(t, r)); !adviseHas(fl, tc.flag) {
					t.Errorf("Advise(%s): VmFlags %v lack %q", tc.adv, fl, tc.flag)
				}
			}
			if tc.effect != nil {
				tc.effect(t, r)
			}
		})
	}
}

// Normal advice clears what Sequential or Random set.
func TestAdviceNormalResets(t *testing.T) {
	pagingNeedsSmaps(t)
	r := pagingOpen(t, pagingFile(t, 4*pagingPS), mmap.ReadOnly)
	addr := adviseAddr(t, r)
	for _, step := range []struct {
		adv       mmap.Advice
		has, lack string
	}{
		{mmap.AdviceRandom, "rr", "sr"},
		{mmap.AdviceSequential, "sr", "rr"},
		{mmap.AdviceNormal, "", "sr"},
		{mmap.AdviceRandom, "rr", "sr"},
		{mmap.AdviceNormal, "", "rr"},
	} {
		if err := r.Advise(step.adv); err != nil {
			t.Fatal(err)
		}
		fl := adviseVmFlags(t, addr)
		if step.has != "" && !adviseHas(fl, step.has) || adviseHas(fl, step.lack) {
			t.Fatalf("after %s: VmFlags %v, want %q and not %q", step.adv, fl, step.has, step.lack)
		}
	}
}

// Advice outside the defined set is refused as unsupported, not ignored.
func TestAdviceUnknown(t *testing.T) {
	r, err := mmap.Anonymous(pagingPS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, a := range []mmap.Advice{-1, 14, 99} {
		if err := r.Advise(a); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Advise(%d) = %v, want ErrUnsupported", int(a), err)
		}
	}
}

// AdviseRange widens an unaligned range to whole pages: Random on two bytes
// straddling a page boundary marks exactly those two pages (the kernel splits
// the mapping there, which smaps shows as a separate entry).
func TestAdviseRangeWidensToPages(t *testing.T) {
	pagingNeedsSmaps(t)
	r := pagingOpen(t, pagingFile(t, 8*pagingPS), mmap.ReadOnly)
	base := adviseAddr(t, r)
	ps := uintptr(pagingPS)
	if err := r.AdviseRange(int64(3*ps-1), 2, mmap.AdviceRandom); err != nil {
		t.Fatal(err)
	}
	for page, want := range []bool{false, false, true, true, false, false, false, false} {
		if got := adviseHas(adviseVmFlags(t, base+uintptr(page)*ps), "rr"); got != want {
			t.Errorf("page %d: Random advice %v, want %v", page, got, want)
		}
	}
}

// WithHugePages reaches the kernel as MADV_HUGEPAGE on the new mapping.
func TestWithHugePagesAdvice(t *testing.T) {
	pagingNeedsSmaps(t)
	r, err := mmap.Anonymous(4<<20, &mmap.Options{HugePages: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if fl := adviseVmFlags(t, adviseAddr(t, r)); !adviseHas(fl, "hg") {
		t.Fatalf("WithHugePages: VmFlags %v lack hg", fl)
	}
	plain, err := mmap.Anonymous(4<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if fl := adviseVmFlags(t, adviseAddr(t, plain)); adviseHas(fl, "hg") {
		t.Fatalf("without WithHugePages: VmFlags %v have hg", fl)
	}
}
