package shm_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"strings"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

// Open attaches to a segment another process created, by name. A missing
// name matches fs.ErrNotExist; a read-only attach cannot write.
func ExampleOpen() {
	name := fmt.Sprintf("example-open-%d", os.Getpid())
	_, err := shm.Open(name, mmap.ReadOnly, nil)
	fmt.Println("before Create:", errors.Is(err, fs.ErrNotExist))

	seg, err := shm.Create(name, 4096, nil) // the other process
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()
	if _, err := seg.WriteAt([]byte("hello"), 0); err != nil {
		log.Fatal(err)
	}

	ro, err := shm.Open(name, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	buf := make([]byte, 5)
	if _, err := ro.ReadAt(buf, 0); err != nil {
		log.Fatal(err)
	}
	_, err = ro.WriteAt([]byte("x"), 0)
	fmt.Printf("%s, %d bytes, writes refused: %v\n", buf, ro.Len(), errors.Is(err, mmap.ErrReadOnly))
	// Output:
	// before Create: true
	// hello, 4096 bytes, writes refused: true
}

// A queue has one Sender at a time, across processes: a second one is refused
// with an error matching ring.ErrLocked until the first closes (or its
// process dies: the kernel releases the lock).
func ExampleOpenSender() {
	name := fmt.Sprintf("example-sender-%d", os.Getpid())
	rx, err := shm.CreateQueue(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer rx.Close()

	tx, err := shm.OpenSender(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = shm.OpenSender(name, nil)
	fmt.Println("second sender:", errors.Is(err, ring.ErrLocked))
	tx.Close()

	tx, err = shm.OpenSender(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()
	fmt.Println("after Close:", tx.Send(context.Background(), []byte("ok")))
	// Output:
	// second sender: true
	// after Close: <nil>
}

// Every Receiver gets every message (broadcast): a worker that attaches with
// OpenReceiver starts at the oldest message still queued, and the Sender
// waits for the slowest receiver rather than drop anything.
func ExampleOpenReceiver() {
	name := fmt.Sprintf("example-receiver-%d", os.Getpid())
	first, err := shm.CreateQueue(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer first.Close()
	second, err := shm.OpenReceiver(name, nil) // usually in another process
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()

	tx, err := shm.OpenSender(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()
	ctx := context.Background()
	for _, m := range []string{"a", "b"} {
		if err := tx.Send(ctx, []byte(m)); err != nil {
			log.Fatal(err)
		}
	}

	for _, rx := range []*shm.Receiver{first, second} {
		var got []string
		for range 2 {
			m, err := rx.Receive(ctx) // valid until the next Receive
			if err != nil {
				log.Fatal(err)
			}
			got = append(got, string(m))
		}
		fmt.Println(strings.Join(got, " "))
	}
	// Output:
	// a b
	// a b
}
