//go:build !asan && !msan

package sys

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestCopyNoFaultCopies(t *testing.T) {
	if !NoFaultCopy() {
		t.Fatal("handler not installed")
	}
	src := make([]byte, 3000)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	for n := 0; n <= 2100; n += 1 + n/64 {
		for _, off := range []int{0, 1, 7, 15} {
			dst := make([]byte, n+32)
			got, ok := CopyNoFault(dst[off:off+n], src[3:])
			if !ok || got != n {
				t.Fatalf("n=%d off=%d: %d, %v", n, off, got, ok)
			}
			if !bytes.Equal(dst[off:off+n], src[3:3+n]) {
				t.Fatalf("n=%d off=%d: wrong bytes", n, off)
			}
			for i, b := range dst {
				if (i < off || i >= off+n) && b != 0 {
					t.Fatalf("n=%d off=%d: byte %d written outside", n, off, i)
				}
			}
		}
	}
	// Overlap: up to 16 bytes copied as copy does, longer refused.
	for n := 1; n <= 40; n++ {
		for _, d := range []int{-9, -3, -1, 1, 2, 5, 8, 15} {
			a := make([]byte, 200)
			for i := range a {
				a[i] = byte(i)
			}
			b := append([]byte(nil), a...)
			copy(b[50+d:50+d+n], b[50:50+n])
			got, ok := CopyNoFault(a[50+d:50+d+n], a[50:50+n])
			switch {
			case n <= 16 && (!ok || got != n || !bytes.Equal(a, b)):
				t.Fatalf("overlap n=%d d=%d: %d %v, bytes differ from copy: %v", n, d, got, ok, !bytes.Equal(a, b))
			case n > 16 && (ok || a[50+d] != byte(50+d)):
				t.Fatalf("overlap n=%d d=%d: %v (want refused, nothing copied)", n, d, ok)
			}
		}
	}
	// Lengths differ: the shorter wins, like copy.
	if n, ok := CopyNoFault(make([]byte, 5), src); n != 5 || !ok {
		t.Errorf("short dst: %d %v", n, ok)
	}
}

// Faults inside the copy come back as false: an inaccessible page
// (SIGSEGV) in the source or the destination, and a mapped page past the
// end of a truncated file (SIGBUS).
func TestCopyNoFaultFaults(t *testing.T) {
	if !NoFaultCopy() {
		t.Fatal("handler not installed")
	}
	ps := os.Getpagesize()
	none, err := unix.Mmap(-1, 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(none)
	if err := unix.Mprotect(none[ps:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for _, n := range []int{1, 5, 8, 16, 40, 64, 100, 4096} {
		// Starts readable, runs into the inaccessible page.
		if _, ok := CopyNoFault(buf[:n], none[ps-n+1:]); ok {
			t.Errorf("read across into PROT_NONE, %d bytes: ok", n)
		}
		if _, ok := CopyNoFault(none[ps-n+1:], buf[:n]); ok {
			t.Errorf("write across into PROT_NONE, %d bytes: ok", n)
		}
	}

	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 4*ps), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 4*ps, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if _, ok := CopyNoFault(buf[:8], m[3*ps:]); !ok {
		t.Fatal("copy before truncation faulted")
	}
	if err := os.Truncate(path, int64(ps)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ { // many faults: the handler stays in place
		if _, ok := CopyNoFault(buf[:8], m[3*ps:]); ok {
			t.Fatal("read past the truncated end: ok")
		}
	}
	if _, ok := CopyNoFault(buf[:8], m[ps-8:]); !ok {
		t.Error("read before the truncated end faulted")
	}
}

// Faults anywhere else still reach the Go runtime: a nil dereference
// panics, and so does a fault under SetPanicOnFault.
func TestFaultsElsewhereUnchanged(t *testing.T) {
	if !NoFaultCopy() {
		t.Fatal("handler not installed")
	}
	recovered := func(f func()) (r any) {
		defer func() { r = recover() }()
		f()
		return nil
	}
	var p *[8]byte
	if r := recovered(func() { _ = p[3] }); r == nil {
		t.Error("nil dereference did not panic")
	} else if _, ok := r.(runtime.Error); !ok {
		t.Errorf("nil dereference: %v", r)
	}
	ps := os.Getpagesize()
	none, err := unix.Mmap(-1, 0, ps, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(none)
	r := recovered(func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		sink = none[10]
	})
	ae, ok := r.(interface{ Addr() uintptr })
	if !ok || ae.Addr() != uintptr(unsafePointer(none))+10 {
		t.Errorf("fault under SetPanicOnFault: %v", r)
	}
}

func unsafePointer(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

var sink byte

// NoFaultCopy turns false once the handler is no longer in place, so that
// callers stop using the routine instead of crashing on its faults.
func TestNoFaultCopyNoticesReplacedHandler(t *testing.T) {
	if !NoFaultCopy() {
		t.Fatal("handler not installed")
	}
	var ours sigactiont
	if err := rtSigaction(uintptr(unix.SIGBUS), nil, &ours); err != nil {
		t.Fatal(err)
	}
	other := ours
	other.handler = fwdSIGBUS // the Go runtime's again
	if err := rtSigaction(uintptr(unix.SIGBUS), &other, nil); err != nil {
		t.Fatal(err)
	}
	replaced := NoFaultCopy()
	if err := rtSigaction(uintptr(unix.SIGBUS), &ours, nil); err != nil {
		t.Fatal(err)
	}
	if replaced {
		t.Error("NoFaultCopy true with the handler replaced")
	}
	if !NoFaultCopy() {
		t.Error("NoFaultCopy false with the handler back")
	}
}
