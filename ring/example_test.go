package ring_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/ring"
)

// A bounded log: append records, then read them back from the oldest.
func Example() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log.ring")

	w, err := ring.Create(path, &ring.Options{Capacity: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{"alpha", "beta", "gamma"} {
		if _, err := w.Append([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}

	r, err := ring.OpenReader(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for rec, err := range r.Records() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Seq, string(rec.Data))
	}
	// Output:
	// 0 alpha
	// 1 beta
	// 2 gamma
}

// Build a record in place with AppendFunc: no copy at all. The slice is the
// ring's own memory, valid while the function runs.
func ExampleWriter_AppendFunc() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "q.ring")
	w, err := ring.Create(path, &ring.Options{Capacity: 64 << 10, Policy: ring.Block})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	r, err := ring.OpenReader(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	ctx := context.Background()
	seq, err := w.AppendFunc(ctx, 11, func(buf []byte) error {
		copy(buf, "hello world") // any encoder can write here directly
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := r.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(seq, rec.Seq, string(rec.Data))
	// Output: 0 0 hello world
}

// A second writer is refused while the first one holds the ring.
func ExampleOpenWriter() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log.ring")
	w, err := ring.Create(path, &ring.Options{Capacity: 4096})
	if err != nil {
		log.Fatal(err)
	}
	_, err = ring.OpenWriter(path, nil)
	fmt.Println(errors.Is(err, ring.ErrLocked))
	w.Close()
	w2, err := ring.OpenWriter(path, nil)
	fmt.Println(err)
	w2.Close()
	// Output:
	// true
	// <nil>
}

// A consumer that gives records up only once it has dealt with them: the
// writer of a Block ring waits for what was released, not what was read,
// and a named reader's place survives its process.
func ExampleReader_Release() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "outbox.ring")
	w, err := ring.Create(path, &ring.Options{Capacity: 64 << 10, Policy: ring.Block})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{"a", "b", "c"} {
		if _, err := w.Append([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}

	r, err := ring.OpenReader(path, &ring.ReaderOptions{Name: "shipper", ManualRelease: true})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		rec, err := r.Next(ctx) // read ahead...
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("sent", string(rec.Data))
	}
	_ = r.Release(2) // ...the other side acknowledged "a" and "b"
	r.Close()        // the slot keeps its place

	r, err = ring.OpenReader(path, &ring.ReaderOptions{Name: "shipper", ManualRelease: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	rec, _ := r.Next(ctx)
	fmt.Println("resumed at", string(rec.Data))
	// Output:
	// sent a
	// sent b
	// sent c
	// resumed at c
}

// Sniff tells a ring file from anything else without opening it as one.
func ExampleSniff() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log.ring")
	w, err := ring.Create(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	w.Close()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("hello"), 0o644)
	for _, p := range []string{path, other} {
		ok, err := ring.Sniff(p)
		fmt.Println(filepath.Base(p), ok, err)
	}
	// Output:
	// log.ring true <nil>
	// notes.txt false <nil>
}
