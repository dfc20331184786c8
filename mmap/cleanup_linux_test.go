package mmap_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
)

// mapped reports whether /proc/self/maps lists path.
func mapped(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), path)
}

// gcUntil runs the garbage collector until cond holds or it clearly never
// will (cleanups run on their own goroutine after a collection).
func gcUntil(cond func() bool) bool {
	for range 50 {
		runtime.GC()
		runtime.Gosched()
		if cond() {
			return true
		}
	}
	return cond()
}

func TestForgottenRegionIsUnmapped(t *testing.T) {
	path := writeFile(t, pattern(8192))
	func() {
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.ReadAt(make([]byte, 10), 0)
	}()
	if !mapped(t, path) {
		t.Fatal("mapping not visible in /proc/self/maps to begin with")
	}
	if !gcUntil(func() bool { return !mapped(t, path) }) {
		t.Error("a forgotten Region was never unmapped")
	}
}

func TestForgottenRegionWithExportedBytesStaysMapped(t *testing.T) {
	path := writeFile(t, pattern(8192))
	var b []byte
	func() {
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		b = r.Bytes()
	}()
	// Collect several times; the Region is garbage but b points into its mapping.
	gcUntil(func() bool { return false })
	if !mapped(t, path) {
		t.Fatal("mapping removed while its bytes were still reachable")
	}
	if b[100] != pattern(8192)[100] {
		t.Error("exported bytes changed")
	}
}

// A closed Region's reservation (what keeps a late reader from reading
// other memory) is released once the Region is unreachable: Close then
// forget does not leak address space.
func TestClosedRegionReservationReleased(t *testing.T) {
	const size = 64 << 20
	path := writeFile(t, make([]byte, size))
	reservations := func() int {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			// "start-end ---p 00000000 00:00 0": a PROT_NONE anonymous
			// mapping of at least our size.
			f := strings.Fields(line)
			if len(f) >= 5 && f[1] == "---p" && f[4] == "0" {
				var lo, hi uint64
				if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err == nil && hi-lo >= size {
					n++
				}
			}
		}
		return n
	}
	before := reservations()
	func() {
		for range 8 {
			r, err := mmap.Open(path, mmap.ReadOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.ReadAt(make([]byte, 10), 0)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if mapped(t, path) {
		t.Error("the file is still mapped after Close")
	}
	if n := reservations(); n < before+1 {
		t.Fatalf("Close left no reservation (%d, %d before): nothing to check", n, before)
	}
	if !gcUntil(func() bool { return reservations() <= before }) {
		t.Errorf("%d reservations of closed Regions left after collecting (had %d before)", reservations(), before)
	}
}

// Closing invalidates the slices from Bytes, so a closed Region's address
// range is given back like any other once it is unreachable: opening and
// closing arrays (which use Bytes) in a loop must not leak address space.
func TestClosedExportedRegionReleased(t *testing.T) {
	path := writeFile(t, make([]byte, 1<<20))
	func() {
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Bytes()
		reserved := mmap.ReservedBytes()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if mmap.ReservedBytes() <= reserved {
			t.Fatal("Close left no reservation: nothing to check")
		}
	}()
	before := mmap.ReservedBytes()
	if !gcUntil(func() bool { return mmap.ReservedBytes() < before }) {
		t.Error("the reservation of a closed Region whose Bytes were handed out is never released")
	}
}
