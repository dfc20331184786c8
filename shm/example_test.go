package shm_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
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
	seg, err := shm.Create(name, shm.SlotSize(16), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()
	w, err := shm.NewSlot(seg, 0, 16, nil)
	if err != nil {
		log.Fatal(err)
	}

	// Reader: attach as another process would. Read-write lets Wait sleep
	// in the kernel until woken (a ReadOnly attach works too, but polls).
	ro, err := shm.Open(name, mmap.ReadWrite, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	rd, err := shm.OpenSlot(ro, 0, nil)
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
			if _, _, err := rd.Load(context.Background(), buf); err != nil {
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
	r, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("shared"), 0); err != nil {
		log.Fatal(err)
	}

	// another process: attach read-only
	ro, err := shm.Open(name, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 6)
	_, _ = ro.ReadAt(buf, 0)
	_, err = ro.WriteAt([]byte("x"), 0)
	ro.Close()
	fmt.Printf("%s, %d bytes; read-only attach refuses writes: %v\n", buf, r.Len(), errors.Is(err, mmap.ErrReadOnly))

	_, err = shm.Create(name, 1<<20, nil)
	fmt.Println("create again:", errors.Is(err, fs.ErrExist))
	r.Close() // on Windows a segment can be removed only when nobody has it open
	fmt.Println("unlink:", shm.Unlink(name))
	// Output:
	// shared, 1048576 bytes; read-only attach refuses writes: true
	// create again: true
	// unlink: <nil>
}

// A queue between processes: the receiver creates it (so a receiver exists
// before anything is sent), a sender attaches by name.
func ExampleCreateQueue() {
	name := fmt.Sprintf("example-queue-%d", os.Getpid())
	rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Unlink(name)
	defer rx.Close()

	// in another process:
	tx, err := shm.OpenSender(name, nil)
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
		m, err := rx.Receive(ctx) // valid until the next Receive: copy to keep
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

// SendFunc builds a message in place, in the shared memory: no copy.
func ExampleSender_SendFunc() {
	name := fmt.Sprintf("example-sendfunc-%d", os.Getpid())
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
	defer tx.Close()

	ctx := context.Background()
	err = tx.SendFunc(ctx, 12, func(msg []byte) error {
		binary.LittleEndian.PutUint32(msg, 42)        // a header
		binary.LittleEndian.PutUint64(msg[4:], 1<<40) // and a payload
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := rx.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[4:]))
	// Output: 42 1099511627776
}

// Wait sleeps until the next Store; a context bounds it, and the stuck
// timeout bounds how long it puts up with a writer that never completes a
// store (one that died in the middle, or a hostile one).
func ExampleSlot_Wait() {
	r, err := mmap.Anonymous(shm.SlotSize(8), nil) // a segment in real use
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	s, err := shm.NewSlot(r, 0, 8, &shm.SlotOptions{StuckTimeout: 50 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	go func() { _ = s.Store([]byte("first")) }()
	seq, err := s.Wait(ctx, 0) // until the first store
	fmt.Println(seq, err)

	// a timeout of our own
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = s.Wait(short, seq)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// 2 <nil>
	// true
}
