package mmap

import (
	"testing"
	"unsafe"
)

// The layout that keeps readers' cache lines unshared (see Region and view).
func TestReadMostlyLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("layout computed for 64-bit platforms")
	}
	var r Region
	if s := unsafe.Sizeof(r); s != 128 {
		t.Errorf("Region is %d bytes, want 128 (a size class that starts on a cache line)", s)
	}
	if end := unsafe.Offsetof(r.flags) + unsafe.Sizeof(r.flags); end > 64 {
		t.Errorf("read-mostly fields end at %d, want them in the first 64 bytes", end)
	}
	if s := unsafe.Sizeof(view{}); s != 64 {
		t.Errorf("view is %d bytes, want 64", s)
	}
}
