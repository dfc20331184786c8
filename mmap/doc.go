// Package mmap maps files and anonymous memory into the address space and
// gives safe, zero-copy access to them.
//
// # Opening
//
// A Region is one mapping. [Open] maps a whole file by name, [Map] maps part
// of an open file at any offset (no alignment needed), [Anonymous] maps
// memory backed by no file. Each takes its tunables as a trailing *[Options]
// (nil for the defaults):
//
//	r, err := mmap.Open("data.bin", mmap.ReadOnly, nil)
//	r, err := mmap.Map(f, mmap.ReadWrite, 4097, 1<<20, &mmap.Options{Populate: true})
//	r, err := mmap.Anonymous(64<<20, nil)
//	defer r.Close()
//
// The [Mode] says where writes go: nowhere ([ReadOnly]), to the file and
// every other mapping of it ([ReadWrite]) or to private copies of the pages
// ([CopyOnWrite]). An empty file opens as an empty Region that
// [Region.Resize] can grow. Open refuses anything but a regular file (a
// FIFO, a directory, a device) without blocking on it.
//
// # Reading and writing
//
// A Region is an [io.ReaderAt], [io.WriterAt], [io.ReadWriteSeeker],
// [io.ByteReader], [io.ByteWriter], [io.WriterTo] and [io.ReaderFrom], and
// has the file-like calls of Python's mmap ([Region.Find],
// [Region.ReadLine], [Region.Move], [Region.Flush]). For zero-copy access,
// [Region.Do] runs a function over the mapped bytes, and [Region.Bytes]
// hands them out. Offsets are int64, byte counts int, so
// r.Resize(r.Len()*2) and r.Prefetch(0, r.Len()) compile as written.
//
// # Faults are errors
//
// If the file is truncated under the mapping (by any process), or a page
// cannot be read from disk, touching it raises SIGBUS. Every Region method
// turns that into an error matching [ErrFault] (a [*FaultError] with the
// offset) instead of crashing the process, whether the CPU raised the fault
// or the kernel reported it from a system call; Do runs your code under the
// same protection. Slices from Bytes are not protected.
//
// How: Do and most methods run the access under debug.SetPanicOnFault with
// a deferred recover. ReadAt and WriteAt on linux/amd64 use a cheaper way,
// since that protection would otherwise double the cost of a small read:
// they copy in an assembly routine, and the first Region installs a SIGBUS
// and SIGSEGV handler in front of the Go runtime's that makes a fault inside
// that routine return "failed" (the call then retries under the full
// protection to report the fault). Every other signal passes to the Go
// runtime untouched. Set MMAPKIT_FAULT_HANDLER=0 in the environment to do
// without the handler.
//
// # Concurrency, Close and Resize
//
// Every method is safe for concurrent use. The copying calls (ReadAt,
// WriteAt, Read, Write, ReadLine, Find, FindLast) take no lock and write no
// shared memory, so any number of goroutines read at once without contending
// for anything. Close may run while they do: each of them completes or
// returns [ErrClosed], because Close replaces the pages with an inaccessible
// reservation instead of unmapping them, and the reservation is released
// only once the Region is garbage. Resize likewise publishes the new size
// before it retires old pages, and a call that meets retired pages starts
// again on the new ones. Do, WriteTo, ReadFrom, Move and the paging calls
// register with the Region instead: Close and Resize wait for them.
//
// What a slice of mapped memory is worth: the b that Do passes is valid
// while the function runs; a slice from Bytes is valid until Close or
// Resize. Using it later is a bug that crashes with a fault (the pages are
// gone) rather than reading other memory (on Windows, which unmaps, unless
// other memory was mapped at that address since).
//
// Resize grows or shrinks a ReadWrite file mapping or anonymous memory. It
// never removes file bytes outside the Region: the file grows only when the
// new end passes EOF and shrinks only when the Region ended exactly at EOF.
// A Resize that fails leaves the Region as it was.
//
// # Paging control
//
// [Region.Advise] gives madvise hints ([AdviceRandom], [AdviceWillNeed],
// ...), [Region.Resident] reports which pages are in RAM (mincore),
// [Region.Prefetch] reads a range in and maps it, [Region.PrefetchOffsets]
// starts many scattered reads at once, [Region.Evict] drops pages from the
// page cache without privileges, and [Region.Lock] pins them in RAM.
// [ReadFaults] counts the process's page faults. [TryLockFile] and
// [LockFile] take advisory locks on whole files between processes.
//
// # Errors
//
// Errors about a Region or a file are [*fs.PathError] values whose Op names
// the call ("mmap: read") and whose Path is the file ("[anonymous]" for
// anonymous memory), with the sentinels of this package and
// [fs.ErrNotExist], [fs.ErrPermission] and [errors.ErrUnsupported] matching
// with [errors.Is] where they apply.
//
// # Systems
//
// Everything works on Linux. darwin lacks mremap (Resize grows in place only
// into pages a shrink left, else it moves) and eviction from the page cache.
// Windows cannot retire pages yet (that needs placeholder memory), so its
// copying calls register like the others and Close and Resize wait for them;
// it has no page-cache eviction and no major/minor fault counts, and a file
// cannot shrink while mapped. Advice that only tunes speed (Normal,
// Sequential, Random) is accepted and ignored where the system has no such
// hint (Windows); anything else a system lacks returns an error matching
// errors.ErrUnsupported that says why, never a silent no-op. The README's
// platform table has the details.
package mmap
