package mmap

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Region is a memory mapping of a file or of anonymous memory.
//
// All methods are safe for concurrent use, except that the methods using the
// current position (Read, Write, Seek, ReadByte, WriteByte, ReadLine, WriteTo,
// ReadFrom) share that one position.
type Region struct {
	// The first 64 bytes are what the copying calls read and nothing
	// writes after Open (v only by Close and Resize), so that readers on
	// many cores share the cache line without it bouncing between them;
	// the fields written by other calls follow, and the padding makes the
	// Region 128 bytes, an allocation that starts on a cache line.

	// v is what calls see: the current view, replaced (never changed) by
	// Close and Resize. The copying calls (ReadAt, WriteAt, Find, ...) only
	// load it; see gate.go for why that is safe.
	v     atomic.Pointer[view]
	st    *state
	delta int   // bytes between the mapping's start and the Region's first byte
	off   int64 // file offset of the Region's first byte
	mode  Mode
	path  string
	flags sys.Flags

	gate    atomic.Int64  // scoped calls inside, and the closed/drain/mutating flags (gate.go)
	drained chan struct{} // a token when the scoped calls drain while someone waits
	mu      sync.Mutex    // serialises Close and Resize

	posMu sync.Mutex // the position lock: taken before anything else (stream.go)
	pos   int64

	_ [24]byte
}

// view is the Region at one moment. It is immutable once published.
type view struct {
	data   []byte // the Region's bytes (nil when empty)
	closed bool   // Close has begun: every call fails with ErrClosed
	moving bool   // anonymous memory is being copied to a new place: writers wait

	// noFault: ReadAt and WriteAt copy with sys.CopyNoFault, a copy that
	// returns false where it would fault, instead of under
	// debug.SetPanicOnFault with a deferred recover: the same answer for
	// a fraction of the cost of a small read. Each new view asks whether
	// the signal handler it needs is (still) in place.
	noFault bool

	// A 64-byte allocation has a cache line of its own: no object that
	// other goroutines write shares it (a 32-byte view did, for example
	// with the testing package's per-goroutine counters).
	_ [31]byte
}

var closedView = &view{closed: true}

// state is what the cleanup needs; it must not point back at the Region.
type state struct {
	m        sys.Mapping // the current mapping; changed only by Close and Resize
	file     *os.File    // our own descriptor (nil for anonymous memory)
	exported atomic.Bool // Bytes handed the memory out
	closed   atomic.Bool // Close ran: the memory is no longer anyone's to use

	// held lists every address range this Region holds: its mapping and
	// the reservations that Close and Resize left in place of old pages.
	// It only grows (ranges may overlap) until the cleanup releases it, so
	// the fault handler can tell a fault in our memory from any other.
	held atomic.Pointer[[][]byte]

	// reservedTo is how far, from the start of the current mapping, the
	// reservation runs that shrinking this mapping left after its end (0:
	// none). Only those pages may be mapped again in place: an address
	// keeps meaning the same offset of the Region, so a call still holding
	// an older view reads the Region there, never other data. Pages a move
	// retired are never reused.
	reservedTo int

	// reserved and reservations count this Region's share of the
	// package's reservation budget (gate.go).
	reserved     int64
	reservations int64
}

// hold adds b to the ranges the Region holds. Callers hold Region.mu (or own
// the state alone).
func (s *state) hold(b []byte) {
	if len(b) == 0 {
		return
	}
	var next [][]byte
	if old := s.held.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, b)
	s.held.Store(&next)
}

// release frees what a Region the program closed, or forgot to Close, still
// holds: its mapping and its reservations. It runs once the Region is
// unreachable, so no call can be inside it. But if the program forgot to
// Close a Region whose raw bytes Bytes handed out (slices that do not keep
// the Region reachable and are valid until Close), it leaves the mapping
// alone: unmapping under a live slice would let other memory appear there.
// Leaking is the safer failure.
func (s *state) release() {
	if s.closed.Load() || !s.exported.Load() {
		if sys.CanRetire {
			if held := s.held.Load(); held != nil {
				for _, b := range disjoint(*held) {
					_ = sys.Release(b)
				}
			}
			released(s.reserved, s.reservations)
		} else {
			_ = s.m.Unmap()
		}
	}
	if s.file != nil {
		_ = s.file.Close()
	}
}

// Open maps the whole file at path. ReadOnly and CopyOnWrite open the file
// read-only; ReadWrite opens it read-write. An empty file gives an empty
// Region (Len 0) that Resize can grow.
//
// Open refuses anything but a regular file without blocking on it: a FIFO,
// a directory or a device gives an error matching ErrNotRegular that says
// what it found.
func Open(path string, mode Mode, opts *Options) (*Region, error) {
	const op = "mmap: open"
	if !mode.valid() {
		return nil, sys.WrapPath(op, path, fmt.Errorf("invalid mode %d", int(mode)))
	}
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	f, err := sys.OpenFile(path, flag, 0, false)
	if err != nil {
		return nil, sys.WrapPath(op, path, err)
	}
	r, err := mapFile(op, f, mode, 0, 0, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Map maps length bytes of f starting at offset; length 0 maps to the end of
// the file. The offset need not be aligned. The mapping must lie inside the
// file: Map never extends a file (Resize does). An offset at the end of the
// file, or an empty file, gives an empty Region that Resize can grow.
//
// Map keeps its own descriptor for the file, so f may be closed afterwards.
// ReadWrite needs f opened for reading and writing; ReadOnly and CopyOnWrite
// need it opened for reading.
func Map(f *os.File, mode Mode, offset int64, length int, opts *Options) (*Region, error) {
	const op = "mmap: map"
	if f == nil {
		return nil, sys.WrapPath(op, "", errors.New("nil file"))
	}
	if !mode.valid() {
		return nil, sys.WrapPath(op, f.Name(), fmt.Errorf("invalid mode %d", int(mode)))
	}
	fd, err := sys.Dup(f.Fd())
	if err != nil {
		return nil, sys.WrapPath(op, f.Name(), fmt.Errorf("duplicate descriptor: %w", err))
	}
	own := os.NewFile(fd, f.Name())
	r, err := mapFile(op, own, mode, offset, length, opts)
	if err != nil {
		own.Close()
		return nil, err
	}
	return r, nil
}

// anonymousPath names anonymous memory in errors.
const anonymousPath = "[anonymous]"

// Anonymous maps size bytes of zeroed memory backed by no file. The Region is
// read-write; the memory can be paged out to swap under pressure, unlike a
// heap slice, and Resize grows or shrinks it. A size of 0 gives an empty
// Region.
func Anonymous(size int, opts *Options) (*Region, error) {
	const op = "mmap: anonymous"
	if size < 0 {
		return nil, sys.WrapPath(op, anonymousPath, fmt.Errorf("size %d: %w", size, ErrOutOfRange))
	}
	flags := opts.flags()
	var m sys.Mapping
	if size > 0 {
		var err error
		m, err = sys.Map(sys.NoFile, 0, size, sys.ProtRead|sys.ProtWrite, flags)
		if err != nil {
			return nil, sys.WrapPath(op, anonymousPath, fmt.Errorf("%d bytes: %w", size, err))
		}
	}
	return newRegion(&state{m: m}, ReadWrite, "", 0, 0, flags), nil
}

func mapFile(op string, f *os.File, mode Mode, off int64, length int, opts *Options) (*Region, error) {
	name := f.Name()
	flags := opts.flags()
	if off < 0 {
		return nil, sys.WrapPath(op, name, fmt.Errorf("negative offset %d: %w", off, ErrOutOfRange))
	}
	if length < 0 {
		return nil, sys.WrapPath(op, name, fmt.Errorf("negative length %d: %w", length, ErrOutOfRange))
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, sys.WrapPath(op, name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, sys.WrapPath(op, name, sys.NotRegular(fi.Mode()))
	}
	size := fi.Size()
	if off > size {
		return nil, sys.WrapPath(op, name, fmt.Errorf("offset %d is past the end of the file (%d bytes): %w", off, size, ErrOutOfRange))
	}
	n := int64(length)
	if length == 0 {
		n = size - off
	}
	if n > size-off {
		return nil, sys.WrapPath(op, name, fmt.Errorf("offset %d + length %d is past the end of the file (%d bytes): %w", off, n, size, ErrOutOfRange))
	}
	gran := int64(sys.Granularity())
	delta := off % gran
	if n > int64(maxInt)-delta {
		return nil, sys.WrapPath(op, name, fmt.Errorf("length %d does not fit in this address space: %w", n, ErrOutOfRange))
	}
	prot := sys.ProtRead
	switch mode {
	case ReadWrite:
		prot |= sys.ProtWrite
	case CopyOnWrite:
		prot |= sys.ProtWrite
		flags |= sys.Private
	}
	var m sys.Mapping
	if n > 0 {
		m, err = sys.Map(f.Fd(), off-delta, int(delta+n), prot, flags)
		if err != nil {
			return nil, sys.WrapPath(op, name, fmt.Errorf("%s at offset %d, length %d: %w%s", mode, off, n, err, accessHint(err, mode)))
		}
	}
	return newRegion(&state{m: m, file: f}, mode, name, off, int(delta), flags), nil
}

const maxInt = int(^uint(0) >> 1)

func newRegion(st *state, mode Mode, path string, off int64, delta int, flags sys.Flags) *Region {
	r := &Region{
		drained: make(chan struct{}, 1),
		st:      st,
		delta:   delta,
		off:     off,
		mode:    mode,
		path:    path,
		flags:   flags,
	}
	st.hold(st.m.Data)
	v := &view{noFault: sys.NoFaultCopy()}
	if len(st.m.Data) > 0 {
		v.data = st.m.Data[delta:]
	}
	r.v.Store(v)
	runtime.AddCleanup(r, (*state).release, st)
	return r
}

// Close unmaps the Region and closes its file descriptor. Calls that started
// earlier either finish or return an error matching ErrClosed; calls made
// afterwards return ErrClosed. Do, WriteTo, ReadFrom and the paging calls
// (Flush, Advise, Prefetch, Evict, Lock, Resident, ...) finish first: Close
// waits for them. A second Close returns nil.
//
// Close does not flush: the data of a ReadWrite mapping is in the page cache
// and survives the process, but call Flush first if it must survive a power
// loss. Slices returned by Bytes must not be used after Close: where the OS
// allows (Linux, darwin) the pages are replaced by an inaccessible
// reservation, kept until the Region is unreachable, so such a use crashes
// with a fault rather than reading memory that belongs to something else.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate.Load()&closedBit != 0 {
		return nil
	}
	r.gate.Or(closedBit | drainBit)
	r.waitDrained()
	// Readers that do not register (gate.go) may still be copying: publish
	// the closed view first, so that a fault from now on reads as ErrClosed,
	// then take the pages away.
	r.v.Store(closedView)
	r.st.closed.Store(true)
	var err error
	if sys.CanRetire {
		err = r.st.retire(r.st.m.Data)
		r.st.m = sys.Mapping{}
	} else {
		err = r.st.m.Unmap()
	}
	if r.st.file != nil {
		if e := r.st.file.Close(); err == nil {
			err = e
		}
	}
	// The reservation stays until the Region is unreachable (a late reader
	// may still fault on it); the cleanup registered by newRegion releases
	// it.
	collectIfOverBudget()
	return r.errorf("close", err)
}

// errorf returns err as a *fs.PathError with Op "mmap: "+op and the Region's
// path; nil stays nil.
func (r *Region) errorf(op string, err error) error {
	if err == nil {
		return nil
	}
	return sys.WrapPath("mmap: "+op, r.name(), err)
}

func (r *Region) name() string {
	if r.st.file == nil {
		return anonymousPath
	}
	return r.path
}

// Len returns the number of bytes in the Region (0 after Close).
func (r *Region) Len() int { return len(r.v.Load().data) }

// Mode returns the mode the Region was mapped with.
func (r *Region) Mode() Mode { return r.mode }

// Offset returns the file offset of the Region's first byte.
func (r *Region) Offset() int64 { return r.off }

// Path returns the name of the mapped file, or "" for anonymous memory.
func (r *Region) Path() string { return r.path }
