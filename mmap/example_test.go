package mmap_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/mmap"
)

// Map a file read-write at an unaligned offset, change it in place and flush.
func ExampleMap() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-map.bin")
	if err := os.WriteFile(path, []byte("header:hello, world\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	r, err := mmap.Map(f, mmap.ReadWrite, 7, 0, nil) // any offset; length 0 = to end of file
	f.Close()                                        // the Region keeps its own descriptor
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if _, err := r.WriteAt([]byte("HELLO"), 0); err != nil {
		log.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Printf("%d bytes mapped; file now %q\n", r.Len(), b)
	// Output: 13 bytes mapped; file now "header:HELLO, world\n"
}

// Read lines and search the way Python's mmap does.
func ExampleRegion_ReadLine() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-lines.txt")
	if err := os.WriteFile(path, []byte("alpha\nbeta\ngamma"), 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	at, _ := r.Find([]byte("beta"), 0)
	fmt.Println("beta at", at)
	for {
		line, err := r.ReadLine()
		if err != nil {
			break
		}
		fmt.Printf("%q\n", line)
	}
	// Output:
	// beta at 6
	// "alpha\n"
	// "beta\n"
	// "gamma"
}

// Anonymous memory: a buffer the kernel may page out, that can grow in place.
func ExampleAnonymous() {
	r, err := mmap.Anonymous(10<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	r.WriteAt([]byte{1, 2, 3, 4}, 0)
	if err := r.Resize(20 << 20); err != nil {
		log.Fatal(err)
	}
	b := make([]byte, 4)
	r.ReadAt(b, 0)
	fmt.Println(b, r.Len())
	// Output: [1 2 3 4] 20971520
}

// Open a file by name and read from it at an offset.
func ExampleOpen() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-open.txt")
	if err := os.WriteFile(path, []byte("mapped files read like any other"), 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadOnly, nil) // nil: default Options
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	buf := make([]byte, 5)
	if _, err := r.ReadAt(buf, 7); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, %q at offset 7\n", r.Len(), buf)

	// Only regular files map: a directory (or a FIFO, a device) is refused
	// at once.
	_, err = mmap.Open(os.TempDir(), mmap.ReadOnly, nil)
	fmt.Println(errors.Is(err, mmap.ErrNotRegular))
	// Output:
	// 32 bytes, "files" at offset 7
	// true
}

// Grow a file through its mapping: create it empty, map it, Resize. Resize
// changes the file only at its end.
func ExampleRegion_Resize() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-resize.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadWrite, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println("empty:", r.Len())

	for _, line := range []string{"first\n", "second\n"} {
		end := r.Len()
		if err := r.Resize(end + len(line)); err != nil { // grows the file too
			log.Fatal(err)
		}
		if _, err := r.WriteAt([]byte(line), int64(end)); err != nil {
			log.Fatal(err)
		}
	}
	if err := r.Flush(); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Printf("%d bytes: %q\n", r.Len(), b)
	// Output:
	// empty: 0
	// 13 bytes: "first\nsecond\n"
}

// Read a range into RAM before a latency-sensitive loop, so that the loop
// takes no page fault that waits for the disk.
func ExampleRegion_Prefetch() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-prefetch.bin")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if err := r.Prefetch(0, r.Len()); err != nil {
		log.Fatal(err)
	}
	s, err := r.Resident()
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Println("all resident: true") // this system cannot tell
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("all resident:", s.Resident == s.Pages)
	// Output: all resident: true
}
