package mmap_test

import (
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
