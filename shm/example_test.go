package shm_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"time"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// The writer/reader pair from "Shared Memory IPC via mmap", on a Slot: the
// writer publishes (counter, timestamp); the reader sleeps until the value
// changes instead of spinning, and never sees half of one value and half of
// the next. In real use the two halves run in different processes; the
// reader would attach with shm.Open and shm.OpenSlot.
func ExampleSlot() {
	name := fmt.Sprintf("example-slot-%d", os.Getpid())
	seg, err := shm.Create(name, int64(shm.SlotSize(16)))
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()
	w, err := shm.NewSlot(seg, 0, 16)
	if err != nil {
		log.Fatal(err)
	}

	// Reader: attach as another process would. Read-write lets Wait sleep
	// in the kernel until woken (a ReadOnly attach works too, but polls).
	ro, err := shm.Open(name, mmap.ReadWrite)
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	rd, err := shm.OpenSlot(ro, 0)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		var seq, counter uint64
		buf := make([]byte, 16)
		for counter < 999 {
			if seq, err = rd.Wait(context.Background(), seq); err != nil {
				log.Fatal(err)
			}
			if _, _, err := rd.Load(buf); err != nil {
				log.Fatal(err)
			}
			c := binary.LittleEndian.Uint64(buf)
			if c < counter {
				log.Fatalf("counter went back from %d to %d", counter, c)
			}
			counter = c
		}
		done <- counter
	}()

	// Writer: struct.pack('Qd', i, time.time()) in the source.
	var v [16]byte
	for i := range 1000 {
		binary.LittleEndian.PutUint64(v[0:], uint64(i))
		binary.LittleEndian.PutUint64(v[8:], math.Float64bits(float64(time.Now().UnixNano())/1e9))
		if err := w.Store(v[:]); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("reader reached counter", <-done)
	// Output: reader reached counter 999
}

// Segments are named, private to their owner, and stay until unlinked.
func ExampleCreate() {
	name := fmt.Sprintf("example-create-%d", os.Getpid())
	r, err := shm.Create(name, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("shared"), 0); err != nil {
		log.Fatal(err)
	}

	// another process: attach read-only
	ro, err := shm.Open(name, mmap.ReadOnly)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 6)
	_, _ = ro.ReadAt(buf, 0)
	_, err = ro.WriteAt([]byte("x"), 0)
	ro.Close()
	fmt.Printf("%s, %d bytes; read-only attach refuses writes: %v\n", buf, r.Len(), errors.Is(err, mmap.ErrReadOnly))

	_, err = shm.Create(name, 1<<20)
	fmt.Println("create again:", errors.Is(err, shm.ErrExists))
	r.Close() // on Windows a segment can be removed only when nobody has it open
	fmt.Println("unlink:", shm.Unlink(name))
	// Output:
	// shared, 1048576 bytes; read-only attach refuses writes: true
	// create again: true
	// unlink: <nil>
}

// A queue between processes: the receiver creates it, a sender attaches.
func ExampleQueue() {
	name := fmt.Sprintf("example-queue-%d", os.Getpid())
	rx, err := shm.CreateQueue(name, shm.QueueConfig{Capacity: 64 << 10}, shm.QueueOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer rx.Close()

	// in another process:
	tx, err := shm.OpenQueue(name, shm.Sender, shm.QueueOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()
	ctx := context.Background()
	for _, m := range []string{"hello", "from", "another process"} {
		if err := tx.Send(ctx, []byte(m)); err != nil {
			log.Fatal(err)
		}
	}

	for range 3 {
		m, err := rx.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(m))
	}
	// Output:
	// hello
	// from
	// another process
}
