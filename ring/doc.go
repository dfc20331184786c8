// Package ring is a crash-safe, zero-copy ring of variable-length records in a
// memory-mapped file: a bounded log (Overwrite) or an inter-process queue
// (Block).
//
// One Writer per file, across processes (an exclusive flock the kernel drops
// if the writer dies), appends records; any number of Readers, in this and
// other processes, follow it from their own positions:
//
//	w, err := ring.Create("/dev/shm/events", ring.Config{Capacity: 64 << 20}, ring.WriterOptions{})
//	seq, err := w.Append([]byte("hello"))       // one copy into the mapping
//	buf, err := w.Reserve(256)                  // or build the record in place:
//	n := encode(buf); _ = n                     //   zero copies
//	seq, err = w.Commit()
//
//	r, err := ring.OpenReader("/dev/shm/events", ring.ReaderOptions{})
//	rec, err := r.Next(ctx)                     // waits like tail -f
//	for rec, err := range r.Follow(ctx) { ... } // or iterate
//
// # Format and crash safety
//
// Each frame has a 16-byte header whose commit word (kind, length and the lap
// number of its position) is stored last with one atomic store, and a CRC-32
// of the payload. A reader therefore sees a record whole or not at all; a
// frame left from an earlier lap can never pass for a new one; and opening a
// ring for writing after a crash keeps every intact record and drops only the
// torn tail. A file that is not a ring, has an unknown version or a damaged
// header is refused (ErrNotRing, ErrVersion, ErrBadHeader) and never modified.
// The layout is in FORMAT.md, byte by byte.
//
// # Durability
//
// None (default): records are in the page cache when Append returns; they
// survive the crash of any process, not a power loss. Interval: a background
// msync every WriterOptions.Interval; a power loss loses at most that window,
// cleanly. EveryAppend: Append returns after an msync covering the record
// (concurrent appenders share one msync); the record survives a power loss.
//
// # Policies
//
// Overwrite keeps the newest capacity bytes of records. A reader that falls a
// lap behind gets a *LappedError (ErrLapped) with the exact number of records
// it missed, and continues from the oldest one. Block makes Append wait (spin,
// then a futex in the mapping, honouring a context) until every registered
// reader has consumed enough; readers of a Block ring register in one of 16
// slots, and a slot whose process died is reclaimed.
//
// # Cross-process memory model
//
// Words shared between processes are accessed with sync/atomic on 8-byte
// aligned addresses of a MAP_SHARED mapping: on amd64 a store is XCHG (a full
// barrier) and a load a plain MOV; on arm64 they are STLR/LDAR. These are
// hardware operations on physical memory and order accesses between
// processes as between threads; the Go memory model formally speaks only of
// goroutines, and the race detector does not see mapped memory.
//
// # Faults
//
// Readers and the writer access the mapping directly (no per-access fault
// protection, which would cost more than an append). Instead every open
// checks that the file is exactly header + capacity bytes long. Truncating a
// ring file while it is mapped is not supported: like any mapped file, it
// raises SIGBUS in the processes using it.
package ring
