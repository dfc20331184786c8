// Package mmap maps files and anonymous memory into the address space and
// gives safe, zero-copy access to them.
//
// A Region is one mapping. It offers the Go io interfaces (io.ReaderAt,
// io.WriterAt, io.ReadWriteSeeker, io.ByteReader, io.ByteWriter, io.WriterTo,
// io.ReaderFrom), the file-like calls Python's mmap users know (Find, ReadLine,
// Move, Resize, Flush), and raw zero-copy access through Bytes and Do.
//
// Three things set it apart from a bare mmap(2):
//
//   - Faults are errors. If the file is truncated under the mapping, or a page
//     cannot be read from disk, the kernel raises SIGBUS. Every Region method
//     that touches mapped memory turns that into an error matching ErrFault
//     instead of crashing the process; Do runs your own code over the bytes
//     with the same protection.
//   - Any offset works. The Region maps from the allocation boundary below the
//     offset and exposes exactly the bytes asked for.
//   - Close is safe while other goroutines are inside Region methods: they
//     finish first, and calls that start later get ErrClosed.
package mmap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// refs holds the number of calls inside the Region in its low bits and two
// flags in its high bits. A call increments it on entry; if a flag is set the
// call backs out. Close and Resize set a flag and wait for the count to drain,
// so the mapping never changes under a running call, and the fast path costs
// one atomic add each way with no lock.
const (
	closedBit   = int64(1) << 62
	resizingBit = int64(1) << 61
	flagMask    = closedBit | resizingBit
	countMask   = resizingBit - 1
)

// Region is a memory mapping of a file or of anonymous memory.
//
// All methods are safe for concurrent use, except that the methods using the
// current position (Read, Write, Seek, ReadByte, WriteByte, ReadLine, WriteTo,
// ReadFrom) share that one position.
type Region struct {
	refs    atomic.Int64
	drained chan struct{} // a token when the call count reaches zero with a flag set
	mu      sync.Mutex    // serialises Close and Resize; callers wait on it during a Resize

	st      *state
	data    []byte // the bytes the caller asked for: st.m.Data[delta:]
	delta   int    // bytes between the mapping's start and data[0]
	off     int64  // file offset of data[0]
	size    atomic.Int64
	mode    Mode
	path    string
	flags   sys.Flags
	cleanup runtime.Cleanup

	posMu sync.Mutex
	pos   int64
}

// state is what the cleanup needs; it must not point back at the Region.
type state struct {
	m        sys.Mapping
	file     *os.File // our own descriptor (nil for anonymous memory)
	exported atomic.Bool
}

// release unmaps a Region the program forgot to Close, but only if its raw
// bytes were never handed out: slices from Bytes do not keep the Region
// reachable, so unmapping under them would crash later. Leaking is the safer
// failure.
func (s *state) release() {
	if !s.exported.Load() {
		_ = s.m.Unmap()
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
	if len(st.m.Data) > 0 {
		r.data = st.m.Data[delta:]
	}
	r.size.Store(int64(len(r.data)))
	r.cleanup = runtime.AddCleanup(r, (*state).release, st)
	return r
}

// enter registers a call inside the Region. Every successful enter is paired
// with leave (or exit). It returns ErrClosed, unwrapped: the caller adds the
// operation and the path.
func (r *Region) enter() error {
	if r.refs.Add(1)&flagMask == 0 {
		return nil
	}
	return r.enterSlow()
}

func (r *Region) enterSlow() error {
	for {
		v := r.exit()
		if v&closedBit != 0 {
			return ErrClosed
		}
		// A Resize holds mu for its whole duration: wait for it to finish.
		r.mu.Lock()
		//lint:ignore SA2001 the empty critical section is the wait
		r.mu.Unlock()
		if r.refs.Add(1)&flagMask == 0 {
			return nil
		}
	}
}

// exit ends a call and returns the new refs value. The last call out while
// Close or Resize waits hands it a token.
func (r *Region) exit() int64 {
	v := r.refs.Add(-1)
	if v&countMask == 0 && v&flagMask != 0 {
		select {
		case r.drained <- struct{}{}:
		default:
		}
	}
	return v
}

// leave ends a call that touched mapped memory: it restores the goroutine's
// fault setting, turns a fault inside this mapping into an error wrapping a
// *FaultError and lets every other panic continue. It must be deferred
// directly so that recover works.
func (r *Region) leave(op string, err *error, oldFault bool) {
	debug.SetPanicOnFault(oldFault)
	v := recover()
	r.exit()
	if v == nil {
		return
	}
	if fe := r.asFault(v); fe != nil {
		*err = r.errorf(op, fe)
		return
	}
	panic(v)
}

func (r *Region) asFault(v any) *FaultError {
	ae, ok := v.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	if _, ok := v.(runtime.Error); !ok {
		return nil
	}
	addr := ae.Addr()
	m := r.st.m.Data
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	if addr < base || addr >= base+uintptr(len(m)) {
		return nil
	}
	return &FaultError{Offset: int64(addr-base) - int64(r.delta), Addr: addr}
}

// waitDrained blocks until no call is inside the Region. A flag must be set.
func (r *Region) waitDrained() {
	for r.refs.Load()&countMask != 0 {
		<-r.drained
	}
}

// Close unmaps the Region and closes its file descriptor. Calls running in
// other goroutines finish first; calls made afterwards return an error
// matching ErrClosed. A second Close returns nil.
//
// Close does not flush: the data of a ReadWrite mapping is in the page cache
// and survives the process, but call Flush first if it must survive a power
// loss. Slices returned by Bytes must not be used after Close.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refs.Or(closedBit)&closedBit != 0 {
		return nil
	}
	r.waitDrained()
	r.cleanup.Stop()
	err := r.st.m.Unmap()
	if r.st.file != nil {
		if e := r.st.file.Close(); err == nil {
			err = e
		}
	}
	r.data = nil
	r.size.Store(0)
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
func (r *Region) Len() int { return int(r.size.Load()) }

// Mode returns the mode the Region was mapped with.
func (r *Region) Mode() Mode { return r.mode }

// Offset returns the file offset of the Region's first byte.
func (r *Region) Offset() int64 { return r.off }

// Path returns the name of the mapped file, or "" for anonymous memory.
func (r *Region) Path() string { return r.path }

// Bytes returns the mapped bytes without copying. Writing to them is allowed
// for ReadWrite and CopyOnWrite Regions (on a ReadOnly Region a write crashes
// the program with a fault: use WriteAt or Do).
//
// The slice is valid until Close or Resize; using it afterwards is a bug that
// may crash the program. Unlike Region methods, plain accesses to it are not
// protected against faults: if the file may be truncated by another process,
// use Do or the Region's methods. Once Bytes has been called, a forgotten
// Region is never unmapped by the garbage collector and Resize will not move
// the mapping, since either would leave the slice dangling. After Close,
// Bytes returns nil.
func (r *Region) Bytes() []byte {
	if r.enter() != nil {
		return nil
	}
	defer r.exit()
	r.st.exported.Store(true)
	return r.data
}

// Do runs fn over the mapped bytes with faults turned into errors: if fn
// touches a page that faults (the file was truncated, or a disk error), Do
// returns an error matching ErrFault instead of the program crashing. fn runs
// in the calling goroutine; faults in goroutines it starts are not covered.
//
// b is valid only while fn runs: fn must not keep it. A Close or Resize in
// another goroutine waits for fn to return; fn itself must not call Close or
// Resize on this Region (that would wait for itself).
func (r *Region) Do(fn func(b []byte) error) (err error) {
	if err := r.enter(); err != nil {
		return r.errorf("do", err)
	}
	defer r.leave("do", &err, debug.SetPanicOnFault(true))
	return fn(r.data)
}

// checkRange checks that [off, off+n) lies inside the Region.
func (r *Region) checkRange(off int64, n int) error {
	if off < 0 || n < 0 || off > int64(len(r.data)) || int64(n) > int64(len(r.data))-off {
		return fmt.Errorf("offset %d, length %d outside the region (%d bytes): %w", off, n, len(r.data), ErrOutOfRange)
	}
	return nil
}

func (r *Region) writable() error {
	if r.mode == ReadOnly {
		return ErrReadOnly
	}
	return nil
}

// ReadAt copies len(p) bytes from offset off into p. Like io.ReaderAt, it
// returns io.EOF with a short count when the Region ends first.
func (r *Region) ReadAt(p []byte, off int64) (n int, err error) {
	if err := r.enter(); err != nil {
		return 0, r.errorf("read", err)
	}
	defer r.leave("read", &err, debug.SetPanicOnFault(true))
	if off < 0 {
		return 0, r.errorf("read", fmt.Errorf("negative offset %d: %w", off, ErrOutOfRange))
	}
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n = copy(p, r.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the Region at offset off. It writes all of p or
// nothing: a write that would run past the end returns ErrOutOfRange.
func (r *Region) WriteAt(p []byte, off int64) (n int, err error) {
	const op = "write"
	if err := r.enter(); err != nil {
		return 0, r.errorf(op, err)
	}
	defer r.leave(op, &err, debug.SetPanicOnFault(true))
	if err := r.writable(); err != nil {
		return 0, r.errorf(op, err)
	}
	if err := r.checkRange(off, len(p)); err != nil {
		return 0, r.errorf(op, err)
	}
	return copy(r.data[off:], p), nil
}

// closed reports whether Close has begun.
func (r *Region) closed() bool { return r.refs.Load()&closedBit != 0 }
