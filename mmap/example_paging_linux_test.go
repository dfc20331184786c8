package mmap_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/mmap"
)

func examplePagingFile(pages int) (string, func()) {
	dir, err := os.MkdirTemp("", "mmapkit-example")
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(path, make([]byte, pages*os.Getpagesize()), 0o644); err != nil {
		log.Fatal(err)
	}
	return path, func() { os.RemoveAll(dir) }
}

// Drop a file from the page cache and load it again, watching its residency.
func ExampleRegion_Evict() {
	path, cleanup := examplePagingFile(16)
	defer cleanup()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if err := r.Evict(0, r.Len()); err != nil {
		log.Fatal(err)
	}
	s, _ := r.Resident()
	fmt.Printf("after Evict: %d of %d pages resident\n", s.Resident, s.Pages)

	if err := r.Prefetch(0, r.Len()); err != nil {
		log.Fatal(err)
	}
	s, _ = r.Resident()
	fmt.Printf("after Prefetch: %d of %d pages resident\n", s.Resident, s.Pages)
	// Output:
	// after Evict: 0 of 16 pages resident
	// after Prefetch: 16 of 16 pages resident
}

// With Random advice a read brings in only the page it touches, which
// Resident shows page by page.
func ExampleRegion_ResidentRange() {
	path, cleanup := examplePagingFile(8)
	defer cleanup()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ps := int64(os.Getpagesize())
	_ = r.Evict(0, r.Len())
	_ = r.Advise(mmap.AdviceRandom)
	_, _ = r.ReadAt(make([]byte, 10), 3*ps+100) // inside page 3

	s, err := r.ResidentRange(2*ps, int(4*ps)) // pages 2, 3, 4, 5
	if err != nil {
		log.Fatal(err)
	}
	for p := 0; p < s.Pages; p++ {
		fmt.Printf("page %d resident: %v\n", 2+p, s.IsResident(p))
	}
	// Output:
	// page 2 resident: false
	// page 3 resident: true
	// page 4 resident: false
	// page 5 resident: false
}

var pagingExampleSink byte

// Demand paging made visible: touching a cold mapping takes page faults, the
// second pass over the same pages none.
func ExampleReadFaults() {
	path, cleanup := examplePagingFile(64)
	defer cleanup()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	_ = r.Evict(0, r.Len())
	_ = r.Advise(mmap.AdviceRandom) // one fault per page, each read from disk

	touch := func() mmap.Faults {
		before, _ := mmap.ReadFaults()
		_ = r.Do(func(b []byte) error {
			for i := 0; i < len(b); i += os.Getpagesize() {
				pagingExampleSink ^= b[i] // a real load: the result is kept
			}
			return nil
		})
		after, _ := mmap.ReadFaults()
		return after.Sub(before)
	}
	first, second := touch(), touch()
	fmt.Println("first pass faulted:", first.Major+first.Minor >= 64, "with major faults:", first.Major > 0)
	fmt.Println("second pass major faults:", second.Major)
	// Output:
	// first pass faulted: true with major faults: true
	// second pass major faults: 0
}

// Keep a small mapping in RAM (within RLIMIT_MEMLOCK, `ulimit -l`).
func ExampleRegion_Lock() {
	r, err := mmap.Anonymous(16*os.Getpagesize(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if err := r.Lock(); errors.Is(err, mmap.ErrMemlock) {
		fmt.Println("limit too small:", err)
		return
	} else if err != nil {
		log.Fatal(err)
	}
	s, _ := r.Resident()
	fmt.Printf("locked: %d of %d pages resident\n", s.Resident, s.Pages)
	if err := r.Unlock(); err != nil {
		log.Fatal(err)
	}
	// Output: locked: 16 of 16 pages resident
}

// One process at a time: a second exclusive lock fails at once, and a
// waiting one gives up when its context ends.
func ExampleTryLockFile() {
	path, cleanup := examplePagingFile(1)
	defer cleanup()
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	l, err := mmap.TryLockFile(f, true)
	if err != nil {
		log.Fatal(err)
	}
	_, err = mmap.TryLockFile(f, true)
	fmt.Println("second try:", errors.Is(err, mmap.ErrLocked))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = mmap.LockFile(ctx, f, false)
	fmt.Println("wait with a cancelled context:", errors.Is(err, context.Canceled))

	l.Unlock()
	l2, err := mmap.TryLockFile(f, false)
	fmt.Println("after Unlock:", err == nil)
	l2.Unlock()
	// Output:
	// second try: true
	// wait with a cancelled context: true
	// after Unlock: true
}
