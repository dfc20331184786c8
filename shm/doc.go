// Package shm shares memory between processes by name: segments, a
// torn-read-free latest-value Slot, and a message Queue, for programs in any
// language that can map a file (the Python package in python/ reads them all
// with the standard library).
//
// # Segments
//
// A segment is named memory that outlives the processes using it:
//
//	seg, err := shm.Create("frames", 64<<20, nil)       // new, 0600; fs.ErrExist if taken
//	ro, err := shm.Open("frames", mmap.ReadOnly, nil)   // attach, in another process
//	defer shm.Unlink("frames")                           // or `mmapkit shm rm frames`
//
// Both return an *mmap.Region, so arrays and rings can live in a segment. It
// is a file in /dev/shm on Linux (the objects shm_open(3) and Python's
// multiprocessing.shared_memory see). Compared with Python's module:
//
//   - Create refuses an existing name (fs.ErrExist) unless Options.Replace,
//     makes the segment 0600, and allocates its memory at once, so a full
//     /dev/shm is an error from Create instead of a SIGBUS later.
//   - Open can attach read-only: a reader cannot scribble on the segment.
//   - Nothing unlinks a segment behind your back: there is no resource
//     tracker. A segment lives until Unlink (or `mmapkit shm rm`); List (and
//     `mmapkit shm ls`) shows them.
//   - /dev/shm is writable by everyone, so a name is hostile until checked:
//     every open refuses a symbolic link, a FIFO or anything but a regular
//     file (mmap.ErrNotRegular) without blocking, and names are validated
//     (ValidateName).
//
// # Slot: the latest value, never torn
//
//	s, err := shm.NewSlot(seg, 0, 16, nil)      // writer: a 16-byte value at offset 0
//	err = s.Store(value)                        // never waits
//	r, err := shm.OpenSlot(ro, 0, nil)          // reader, in another process
//	seq, n, err := r.Load(ctx, buf)             // exactly one Store's bytes
//	seq, err = r.Wait(ctx, seq)                 // sleeps until the next Store
//
// A Slot is a seqlock with a futex: readers never see half of one value and
// half of the next, the writer never waits for them, and Wait sleeps in the
// kernel instead of spinning. The writer is another process, so nothing it
// does can hang a reader: Load and Wait give up with ErrWriterStuck after
// SlotOptions.StuckTimeout without a consistent value (a writer that died
// mid-store, or one that keeps the sequence odd), and both take a context.
// Every field read from the shared memory is validated. FORMAT.md documents
// the layout byte by byte.
//
// # Queue: messages between processes
//
//	in, err := shm.CreateQueue("jobs", nil)     // the receiving process makes its inbox
//	out, err := shm.OpenSender("jobs", nil)     // a sending process
//	err = out.Send(ctx, msg)                    // waits while the queue is full
//	m, err := in.Receive(ctx)                   // zero-copy, valid until the next Receive
//
// A Queue is a ring (package ring) with the Block policy in a segment: whole
// messages, in order, checked by a CRC, never dropped. Its ends are distinct
// types (*Sender, *Receiver), so the wrong end does not compile.
//
// # Options and errors
//
// Every constructor takes its tunables as a trailing pointer (*Options,
// *SlotOptions, *QueueOptions); nil and every zero field mean the documented
// default. Errors are *fs.PathError values whose Op names the package and
// operation ("shm: open") and whose Path is the segment's file; they match
// the sentinels below and fs.ErrExist, fs.ErrNotExist, fs.ErrPermission,
// mmap.ErrNotRegular and mmap.ErrClosed where those apply.
//
// # Memory model
//
// Shared words are accessed with sync/atomic. Those atomics are hardware
// instructions on the physical page, which is what makes them work between
// processes; the Go memory model itself speaks only of goroutines, and the
// race detector cannot see mapped memory.
package shm
