// Package shm provides named shared-memory segments, a torn-read-free
// latest-value Slot, and an inter-process message Queue, for processes in any
// language that can map a file (the Python package in python/ reads them with the
// standard library).
//
// # Segments
//
// Create, Open, Unlink and List work like Python's
// multiprocessing.shared_memory, with its pain points removed:
//
//   - A segment is a file in /dev/shm on Linux (the objects shm_open(3) and
//     Python see), returned as an *mmap.Region, so arrays and rings can live
//     in one. Elsewhere it is a file in a private temporary directory.
//   - Create fails with ErrExists rather than attaching to someone else's
//     segment, makes it 0600, and allocates the memory at once, so a full
//     /dev/shm is an error from Create instead of a SIGBUS later.
//   - Open can attach read-only (mmap.ReadOnly): a reader cannot scribble on
//     the segment.
//   - Nothing unlinks a segment behind your back: there is no resource
//     tracker. A segment lives until Unlink (or `mmapkit shm rm`), so a
//     crashed creator leaves it behind; `mmapkit shm ls` lists them.
//   - Names are checked (ValidateName): no '/', no "..", no control
//     characters, at most 255 bytes.
//
// # Slot
//
// A Slot holds the latest value of something, written by one process and
// read by many: a seqlock, so a reader never returns half of one value and
// half of the next, with Wait to sleep until the value changes (a futex on
// Linux, woken by the writer only when someone sleeps). A writer that died
// mid-store is reported (ErrWriterStuck) instead of hanging readers, and
// every length and header field read from the shared memory is validated.
// FORMAT.md documents the layout byte by byte.
//
// # Queue
//
// A Queue is a message queue between processes: a ring (package ring) with
// the Block policy in a named segment. CreateQueue makes it and returns the
// first receiving end (so a receiver exists before anyone can send);
// OpenQueue attaches a Sender (one at a time) or more Receivers (each gets
// every message). Send waits while the queue is full, Receive while it is
// empty, both honouring a context; messages arrive whole, in order, checked
// by a CRC. Since the segment is a ring file, the Python package's Ring can
// follow it too.
//
// Shared words are accessed with sync/atomic. Those atomics are hardware
// instructions on the physical page, which is what makes them work between
// processes; the Go memory model itself speaks only of goroutines, and the
// race detector cannot see mapped memory.
package shm
