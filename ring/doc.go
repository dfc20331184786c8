// Package ring is a crash-safe, zero-copy ring of variable-length records in a
// memory-mapped file: a bounded log (Overwrite) or an inter-process queue
// (Block).
//
// One Writer per file, across processes (a lock the kernel drops if the
// writer dies), appends records; any number of Readers, in this and other
// processes, follow it from their own positions:
//
//	w, err := ring.Create("/dev/shm/events", &ring.Options{Capacity: 64 << 20})
//	seq, err := w.Append([]byte("hello"))                  // one copy into the mapping
//	seq, err = w.AppendFunc(ctx, 8, func(b []byte) error { // or build it in place: zero copies
//		binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
//		return nil
//	})
//
//	r, err := ring.OpenReader("/dev/shm/events", nil)
//	rec, err := r.Next(ctx)               // waits like tail -f
//	for rec, err := range r.Follow(ctx) { // or iterate
//		fmt.Println(rec.Seq, rec.Data, err)
//	}
//
// Options and ReaderOptions are passed as a trailing pointer; nil and zero
// fields mean the defaults (a 1 MiB Overwrite ring, no syncing, reading from
// the oldest record). Errors about a file are *fs.PathError values whose Op
// names the package and the operation ("ring: open") and whose Path is the
// file; they match the package's sentinels with errors.Is, and every call
// after Close fails with ErrClosed (the same variable as mmap.ErrClosed).
//
// # Memory handed out
//
// AppendFunc's slice is the ring's own memory, valid only while the fill
// function runs; Close waits for running fills. A Record's Data is valid
// until the next call on its Reader or Close (a reused buffer, or a view
// into the mapping): copy it to keep it.
//
// # Format and crash safety
//
// Each frame has a 16-byte header whose commit word (kind, length and the lap
// number of its position) is stored last with one atomic store. A reader
// therefore sees a record whole or not at all, however a process dies; a
// frame left from an earlier lap can never pass for a new one; and opening a
// ring for writing after a crash keeps every intact record and drops only the
// torn tail. Rings on a disk also carry a CRC-32 of each payload (see
// Checksum), which detects a record torn by a power loss; rings in memory
// (/dev/shm), which cannot outlive one, default to none. A file that is not a ring, has an unknown version or a damaged
// header is refused (ErrNotRing, ErrVersion, ErrBadHeader) and never modified.
// The layout is in FORMAT.md, byte by byte.
//
// # Durability
//
// SyncNone (default): records are in the page cache when Append returns;
// they survive the crash of any process, not a power loss. SyncInterval: a
// background sync every Options.Interval; a power loss loses at most that
// window, cleanly. SyncEveryAppend: Append returns after a sync covering the
// record (one fdatasync of the file on Linux; concurrent appenders share one:
// group commit); the record survives a power loss.
//
// # Policies
//
// Overwrite keeps the newest capacity bytes of records. A reader that falls a
// lap behind gets a *LappedError (ErrLapped) with the exact number of records
// it missed, and continues from the oldest one. Block makes Append wait (spin,
// then a futex in the mapping, honouring a context) until every registered
// reader has consumed enough; readers of a Block ring register in one of 16
// slots, and a slot whose process died is reclaimed (its lock, which the kernel
// drops, says so). A named reader (ReaderOptions.Name) keeps its slot and
// position while away; ManualRelease makes the writer wait for what a reader
// released rather than read. A Block ring with no
// registered reader keeps its records: a full one makes Append wait until a
// reader registers and reads (no record is ever lost to a missing consumer).
//
// # Waiting
//
// Next and a Block append waiting for room spin for a moment, then sleep on
// a futex word in the mapping (Linux). Where there are no futexes (Windows,
// darwin), or the file is read-only to a reader, they poll with sleeps that
// double from 5 µs to at most 1 ms: a record or room is then noticed within
// about a millisecond.
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
