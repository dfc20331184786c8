//lint:file-ignore SA4006,SA5001,U1000 the twins are compiled, never run, and show calls without handling each error

package readme_test

import (
	"context"
	"encoding/binary"
	"log"
	"os"
	"time"

	"github.com/mmapkit/mmapkit/array"
	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/ringnats"
	"github.com/mmapkit/mmapkit/shm"
)

// Each function below is the compiled twin of one ```go block of README.md:
// the lines between "// README begin: NAME" and "// README end" are the block,
// one tab less indented. The parameters stand for what a reader's program
// already has (an open file, a buffer, a context); what follows the end marker
// only keeps the compiler from rejecting variables the snippet leaves unused.

func snippetMmap(f *os.File, buf, p []byte, off int64) error {
	// README begin: mmap
	r, err := mmap.Open("data.bin", mmap.ReadWrite, nil)            // whole file; nil: default Options
	r, err = mmap.Map(f, mmap.CopyOnWrite, 4097, 0, nil)            // any offset; length 0: to the end
	r, err = mmap.Anonymous(10<<20, &mmap.Options{HugePages: true}) // no file
	defer r.Close()

	n, err := r.ReadAt(buf, off)      // io.ReaderAt: io.EOF on a short read at the end
	n, err = r.WriteAt(p, off)        // all or nothing; ErrReadOnly on a read-only map
	at, err := r.Find([]byte("x"), 0) // Python's find; also FindLast, ReadLine, Move, Seek/Read/Write
	b := r.Bytes()                    // zero-copy; valid until Close or Resize
	err = r.Do(func(b []byte) error { // your zero-copy code, faults turned into errors
		return nil
	})
	err = r.Flush()             // msync
	err = r.Resize(r.Len() * 2) // grow the mapping, and the file if it must (mremap on Linux)
	// README end
	_, _, _ = n, at, b
	return err
}

func snippetArray() error {
	// README begin: array
	a, err := array.Create[float32]("features.dat", []int{1_000_000, 128}, nil) // np.memmap mode 'w+'
	e, err := array.OpenNPY[float32]("emb.npy", array.ReadOnly, nil)            // np.load(mmap_mode='r')
	o, err := array.CreateNPY[float32]("out.npy", []int{1000, 128}, nil)        // NumPy opens it
	row := e.Row(5000)                                                          // []float32, zero-copy
	var sum float64
	for _, rows := range e.Batches(4096) { // bounded RSS, whatever the file's size
		for _, v := range rows {
			sum += float64(v)
		}
	}

	type Tick struct { // np.dtype([('ts', '<i8'), ('price', '<f8')])
		Ts    int64   `npy:"ts"`
		Price float64 `npy:"price"`
	}
	ticks, err := array.OpenNPY[Tick]("ticks.npy", array.ReadOnly, nil) // structured dtype as a Go struct
	z, err := array.OpenNPZ("data.npz")                                 // reads only the zip directory
	x, err := array.OpenMember[float64](z, "x", array.ReadOnly, nil)    // mapped in place
	// README end
	_, _, _, _, _ = a, o, row, ticks, x
	return err
}

func snippetRing(ctx context.Context) error {
	// README begin: ring
	w, err := ring.Create("events.ring", &ring.Options{Capacity: 64 << 20, MaxRecord: 4096})
	seq, err := w.Append([]byte("hello"))                  // one copy into the mapping
	seq, err = w.AppendFunc(ctx, 8, func(b []byte) error { // or zero copies: build the record in place
		binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
		return nil
	})

	r, err := ring.OpenReader("events.ring", nil) // any process, own position
	rec, err := r.Next(ctx)                       // blocks like tail -f (spin, then futex)
	for rec, err := range r.Follow(ctx) {         // Go iterator; TryNext, SeekOldest/Newest/End/Seq
		if err != nil {
			log.Print(err) // ErrLapped: an Overwrite ring overtook the reader; it goes on
			continue
		}
		log.Printf("%d: %q", rec.Seq, rec.Data)
	}
	// README end
	_, _ = seq, rec
	return err
}

func snippetRingnats(ctx context.Context) error {
	// README begin: ringnats
	nc, err := ringnats.Connect([]string{"nats://127.0.0.1:4222"}, nil) // reconnects forever
	s, err := ringnats.NewShipper(nc, "/dev/shm/events", "EVENTS",
		&ringnats.ShipOptions{Subject: "events.host1", CreateStream: true})
	err = s.Run(ctx) // until ctx ends; kill -9 it at any moment and run it again

	p, err := ringnats.NewPuller(nc, "EVENTS", "/var/lib/events.copy",
		&ringnats.PullOptions{Consumer: "copy", Create: &ring.Options{Capacity: 64 << 20}})
	err = p.Run(ctx) // appends each message once, in stream order
	// README end
	return err
}

func snippetShm(ctx context.Context) error {
	// README begin: shm
	seg, err := shm.Create("prices", 1<<20, nil)      // /dev/shm/prices, 0600; fs.ErrExist if taken
	ro, err := shm.Open("prices", mmap.ReadOnly, nil) // read-only attach (Python has none)
	s, err := shm.NewSlot(seg, 0, 16, nil)            // writer: the latest value, up to 16 bytes
	err = s.Store([]byte("AAPL 189.5"))               // never waits for readers
	r, err := shm.OpenSlot(ro, 0, nil)                // reader, in another process
	buf := make([]byte, 16)                           // room for any value of the slot
	seq, n, err := r.Load(ctx, buf)                   // never torn: buf[:n] is one Store's value
	seq, err = r.Wait(ctx, seq)                       // sleeps (futex) until the next Store

	rx, err := shm.CreateQueue("jobs", &shm.QueueOptions{MaxMessage: 4096}) // *shm.Receiver
	tx, err := shm.OpenSender("jobs", nil)                                  // *shm.Sender, in another process
	err = tx.Send(ctx, []byte("resize img-042.png"))                        // waits while the queue is full
	msg, err := rx.Receive(ctx)                                             // valid until the next Receive
	// README end
	_, _ = n, msg
	return err
}
