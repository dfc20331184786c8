package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

// Create makes a new ring and refuses to touch an existing file unless
// Options.Replace says so. A Block ring is a queue: the writer waits for its
// registered readers instead of overwriting what they have not read.
func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "jobs.ring")

	w, err := ring.Create(path, &ring.Options{
		Capacity:  64 << 10,   // bytes of records in flight, a power of two
		MaxRecord: 1024,       // the longest record
		Policy:    ring.Block, // never overwrite what a registered reader has not read
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Capacity(), w.Policy())
	w.Close()

	_, err = ring.Create(path, nil)
	fmt.Println("again:", errors.Is(err, fs.ErrExist))
	w, err = ring.Create(path, &ring.Options{Replace: true}) // nil or zero fields: a 1 MiB Overwrite ring
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	fmt.Println(w.Capacity(), w.Policy())
	// Output:
	// 65536 block
	// again: true
	// 1048576 overwrite
}

// A reader follows the ring like tail -f: Follow yields every record and
// then waits for the next one, until its context ends. FromEnd skips what was
// there before the reader opened.
func ExampleOpenReader() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.ring")
	w, err := ring.Create(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append([]byte("before the reader")); err != nil {
		log.Fatal(err)
	}

	r, err := ring.OpenReader(path, &ring.ReaderOptions{Start: ring.FromEnd})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	go func() { // the writer, usually another process
		for _, s := range []string{"one", "two", "three"} {
			if _, err := w.Append([]byte(s)); err != nil {
				log.Fatal(err)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for rec, err := range r.Follow(ctx) {
		if err != nil {
			log.Fatal(err) // ErrLapped would say how many records were missed
		}
		fmt.Println(rec.Seq, string(rec.Data)) // rec.Data is valid until the next record: copy to keep
		if rec.Seq == 3 {
			break
		}
	}
	// Output:
	// 1 one
	// 2 two
	// 3 three
}
