package sys

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func TestFutex(t *testing.T) {
	m, err := Map(NoFile, 0, PageSize(), ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	word := (*uint32)(unsafe.Pointer(unsafe.SliceData(m.Data)))

	// A value mismatch returns at once.
	atomic.StoreUint32(word, 1)
	if err := FutexWait(word, 0, time.Minute); err != nil {
		t.Fatalf("wait on mismatched value: %v", err)
	}
	// A matching value with a timeout times out.
	if err := FutexWait(word, 1, time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("wait with timeout: %v, want ErrTimeout", err)
	}
	// A waiter is woken by a store and a wake.
	done := make(chan error)
	go func() {
		for atomic.LoadUint32(word) == 1 {
			if err := FutexWait(word, 1, 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	atomic.StoreUint32(word, 2)
	if err := FutexWake(word, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFallocateAndFadvise(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Fallocate(f.Fd(), 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if st.Size() != 1<<20 {
		t.Fatalf("size %d after Fallocate", st.Size())
	}
	for _, a := range []FileAdvice{FadvNormal, FadvSequential, FadvRandom, FadvWillNeed, FadvDontNeed} {
		if err := Fadvise(f.Fd(), 0, 0, a); err != nil {
			t.Errorf("Fadvise %d: %v", a, err)
		}
	}
	if err := Fadvise(f.Fd(), 0, 0, FileAdvice(99)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("unknown file advice: %v", err)
	}
}

func TestAdviceNames(t *testing.T) {
	seen := map[string]bool{}
	for a := Advice(0); a < advCount; a++ {
		n := a.String()
		if n == "" || seen[n] {
			t.Errorf("advice %d has name %q", a, n)
		}
		seen[n] = true
	}
	if Advice(99).String() != "advice(99)" {
		t.Errorf("unknown advice name %q", Advice(99).String())
	}
	if err := Advise(make([]byte, 1), Advice(99)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("unknown advice: %v", err)
	}
}
