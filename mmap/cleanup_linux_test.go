package mmap_test

import (
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
