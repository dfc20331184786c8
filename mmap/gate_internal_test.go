//go:build linux || darwin

package mmap

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// A call that loaded the view before Resize retired its pages faults on the
// reservation and is told to retry (the public calls then do, with the
// current view); after Close the same fault is ErrClosed. These are the
// races TestResizeWhileCopying and TestCloseWhileCopying provoke, made
// deterministic by holding on to the stale view.
func TestStaleViewFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, r *Region)
		want   error
	}{
		{"moved by Resize", func(t *testing.T, r *Region) {
			defer SetForceMove(true)()
			if err := r.Resize(4 * 4096); err != nil {
				t.Fatal(err)
			}
		}, errRetry},
		{"tail cut by Resize", func(t *testing.T, r *Region) {
			if err := r.Resize(100); err != nil {
				t.Fatal(err)
			}
		}, errRetry},
		{"closed", func(t *testing.T, r *Region) {
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}, ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Anonymous(2*4096, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.WriteAt(bytes.Repeat([]byte{7}, 2*4096), 0); err != nil {
				t.Fatal(err)
			}
			stale := r.v.Load()
			tc.change(t, r)
			buf := make([]byte, 100)
			// The fast path's guards stop the fault...
			old := debug.SetPanicOnFault(true)
			_, ok := copyGuarded(buf, stale.data[4096+200:])
			debug.SetPanicOnFault(old)
			if ok {
				t.Fatal("copy from retired pages did not fault")
			}
			if stale.noFault {
				if _, ok := sys.CopyNoFault(buf, stale.data[4096+200:]); ok {
					t.Fatal("CopyNoFault from retired pages did not fault")
				}
			}
			// ...and the full handler classifies it.
			_, err = r.readAt(stale, buf, 4096+200)
			if !errors.Is(err, tc.want) {
				t.Fatalf("read through the stale view: %v, want %v", err, tc.want)
			}
			_, err = r.writeAt(stale, buf, 4096+200)
			if tc.want == ErrClosed && !errors.Is(err, ErrClosed) {
				t.Fatalf("write through the stale view: %v, want ErrClosed", err)
			}
			// The public call retries with the current view and gives
			// the answer for the Region as it is now.
			n, err := r.ReadAt(buf, 4096+200)
			switch tc.name {
			case "moved by Resize":
				if err != nil || n != len(buf) || buf[0] != 7 {
					t.Errorf("ReadAt after the move: %d, %v, %v", n, err, buf[:4])
				}
			case "tail cut by Resize":
				if err == nil {
					t.Errorf("ReadAt past the new end: %d, nil", n)
				}
			case "closed":
				if !errors.Is(err, ErrClosed) {
					t.Errorf("ReadAt after Close: %v", err)
				}
			}
		})
	}
}

// A fault on pages that Resize retired can be classified only after the
// Region grew back over its own reservation, at the same addresses: the
// faulting address then lies inside the current bytes, and only the change
// of view tells it from a truncated file. TestResizeToZeroWhileCopying hit
// this in about one run in five under -race (ErrFault from ReadAt); here the
// grow runs between the fault and its classification.
func TestFaultClassifiedAfterRegrow(t *testing.T) {
	for _, shrinkTo := range []int{0, 100} {
		r, err := Anonymous(2*4096, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		stale := r.v.Load()
		if err := r.Resize(shrinkTo); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		err = func() (err error) {
			defer r.catch("read", stale, &err, debug.SetPanicOnFault(true))
			defer func() { // runs while the fault unwinds, before catch
				if err := r.Resize(2 * 4096); err != nil {
					t.Error(err)
				}
			}()
			copy(buf, stale.data[4096+200:])
			return nil
		}()
		if now := r.v.Load(); &now.data[0] != &stale.data[0] {
			t.Fatalf("shrink to %d: the Region grew back elsewhere: the test needs the same addresses", shrinkTo)
		}
		if err != errRetry {
			t.Errorf("shrink to %d: fault on retired pages, classified after the grow: %v, want errRetry", shrinkTo, err)
		}
	}
}

// While anonymous memory is copied to its new place, writers wait (their
// fault on the read-only old pages reads as "retry"), so no write is lost.
func TestWriteDuringMoveRetries(t *testing.T) {
	r, err := Anonymous(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := r.st.m.Data
	r.publish(4096, true)
	if err := sys.Protect(m, sys.ProtRead); err != nil {
		t.Fatal(err)
	}
	_, err = r.writeAt(r.v.Load(), []byte("x"), 10)
	if err != errRetry {
		t.Fatalf("write to pages being moved: %v, want errRetry", err)
	}
	if err := sys.Protect(m, sys.ProtRead|sys.ProtWrite); err != nil {
		t.Fatal(err)
	}
	r.publish(4096, false)
	if _, err := r.WriteAt([]byte("x"), 10); err != nil {
		t.Fatal(err)
	}
}

// A fault outside the Region's memory is not ours: the panic goes on.
func TestForeignFaultPanics(t *testing.T) {
	r, err := Anonymous(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	other, err := sys.Map(sys.NoFile, 0, 4096, sys.ProtRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Unmap()
	if err := sys.Retire(other.Data); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p := recover()
		if p == nil {
			t.Fatal("a fault in memory that is not the Region's was swallowed")
		}
	}()
	_ = r.Do(func([]byte) error {
		sink = other.Data[10] // faults: not the Region's memory
		return nil
	})
}

var sink byte

// Only pages that a shrink of the current mapping retired are mapped again
// in place; pages a move retired never are, whatever lies where: a call
// still holding the old view would read other offsets' bytes there instead
// of faulting (TestResizeRacesWithReaders caught that once, when the kernel
// placed the moved mapping right below the old one).
func TestOnlyShrunkTailIsReused(t *testing.T) {
	r, err := Anonymous(8*4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Resize(2 * 4096); err != nil {
		t.Fatal(err)
	}
	if r.st.reservedTo != 8*4096 {
		t.Fatalf("after shrinking 8 pages to 2, reservedTo = %d", r.st.reservedTo)
	}
	m := r.st.m.Data
	if tail, ok := r.reservedAfter(m, 5*4096); !ok || len(tail) != 3*4096 {
		t.Fatalf("the shrunk tail is not offered for growing in place (%v, %d)", ok, len(tail))
	}
	if _, ok := r.reservedAfter(m, 9*4096); ok {
		t.Fatal("pages past the shrunk tail offered for growing in place")
	}
	stale := r.v.Load()
	func() {
		defer SetForceMove(true)()
		if err := r.Resize(16 * 4096); err != nil {
			t.Fatal(err)
		}
	}()
	if r.st.reservedTo != 0 {
		t.Fatalf("after a move reservedTo = %d, want 0", r.st.reservedTo)
	}
	if _, ok := r.reservedAfter(r.st.m.Data, 20*4096); ok {
		t.Fatal("a moved mapping offers pages it never had for growing in place")
	}
	if _, err := r.readAt(stale, make([]byte, 10), 0); err != errRetry {
		t.Fatalf("read through the view from before the move: %v, want a fault (errRetry)", err)
	}
}

// Where the platform has sys.CopyNoFault, ReadAt and WriteAt use it (unless
// MMAPKIT_FAULT_HANDLER=0 turns it off), so the tests above exercise it.
func TestFastCopyInUse(t *testing.T) {
	r, err := Anonymous(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && os.Getenv("MMAPKIT_FAULT_HANDLER") != "0"
	if got := r.v.Load().noFault; got != want {
		t.Errorf("view.noFault = %v on %s/%s, want %v", got, runtime.GOOS, runtime.GOARCH, want)
	}
	if err := r.Resize(8192); err != nil {
		t.Fatal(err)
	}
	if got := r.v.Load().noFault; got != want {
		t.Errorf("after Resize: view.noFault = %v, want %v", got, want)
	}
}

// The fault tests pass without sys.CopyNoFault too (as on platforms that
// lack it): the same test binary, run again with MMAPKIT_FAULT_HANDLER=0.
func TestFaultTestsWithoutFaultHandler(t *testing.T) {
	if !sys.NoFaultCopy() {
		t.Skip("the fault-catching copy is not in use: the other tests already cover this")
	}
	if testing.Short() {
		t.Skip("runs several stress tests again")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.v", "-test.timeout=3m", "-test.run",
		"^(TestFastCopyInUse|TestStaleViewFaults|TestWriteDuringMoveRetries|TestForeignFaultPanics|TestCloseWhileCopying|TestResizeWhileCopying|TestTruncatedWhileReading|TestTruncatedFaultsAreErrFault)$")
	cmd.Env = append(os.Environ(), "MMAPKIT_FAULT_HANDLER=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with MMAPKIT_FAULT_HANDLER=0: %v\n%s", err, out)
	}
	for _, name := range []string{"TestStaleViewFaults", "TestCloseWhileCopying", "TestTruncatedWhileReading"} {
		if !bytes.Contains(out, []byte("--- PASS: "+name+" ")) {
			t.Errorf("%s did not run:\n%s", name, out)
		}
	}
}
