package mmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// The position methods (Read, Write, Seek, ReadByte, WriteByte, ReadLine,
// WriteTo, ReadFrom, Tell) take posMu first and only then enter the Region;
// Resize and Close never take posMu. That is the one lock order. A Resize
// that shrinks the Region leaves the position alone; every position method
// clamps it to Len first, so it never points past the end.

// clampPos clamps the position to the Region's length. posMu must be held.
func (r *Region) clampPos() {
	if n := int64(r.Len()); r.pos > n {
		r.pos = n
	}
}

// Read reads up to len(p) bytes from the current position and advances it. At
// the end of the Region it returns 0, io.EOF.
func (r *Region) Read(p []byte) (n int, err error) {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	n, err = r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Write writes p at the current position and advances it. Like WriteAt it
// writes all of p or nothing (ErrOutOfRange if p does not fit).
func (r *Region) Write(p []byte) (n int, err error) {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	n, err = r.WriteAt(p, r.pos)
	r.pos += int64(n)
	return n, err
}

// Seek sets the position for the next Read or Write (io.SeekStart,
// io.SeekCurrent or io.SeekEnd) and returns it. The position must stay within
// [0, Len()]: a Region cannot be written past its end.
func (r *Region) Seek(offset int64, whence int) (int64, error) {
	const op = "seek"
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	size := int64(r.Len())
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return r.pos, r.errorf(op, fmt.Errorf("invalid whence %d", whence))
	}
	if r.closed() {
		return r.pos, r.errorf(op, ErrClosed)
	}
	if abs < 0 || abs > size {
		return r.pos, r.errorf(op, fmt.Errorf("position %d outside [0, %d]: %w", abs, size, ErrOutOfRange))
	}
	r.pos = abs
	return abs, nil
}

// ReadByte reads the byte at the current position and advances it; io.EOF at
// the end.
func (r *Region) ReadByte() (byte, error) {
	var b [1]byte
	_, err := r.Read(b[:])
	return b[0], err
}

// WriteByte writes c at the current position and advances it; ErrOutOfRange at
// the end.
func (r *Region) WriteByte(c byte) error {
	_, err := r.Write([]byte{c})
	return err
}

// ReadLine returns a copy of the bytes from the current position up to and
// including the next '\n' and advances past them. The last line may lack the
// '\n'; after it ReadLine returns nil, io.EOF.
func (r *Region) ReadLine() (line []byte, err error) {
	const op = "read line"
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	if !lockFree {
		if err := r.enter(); err != nil {
			return nil, r.errorf(op, err)
		}
		defer r.exit()
	}
	for attempt := 0; ; attempt++ {
		line, err = r.readLine(r.v.Load())
		if err != errRetry {
			return line, err
		}
		retry(attempt)
	}
}

func (r *Region) readLine(v *view) (line []byte, err error) {
	const op = "read line"
	if v.closed {
		return nil, r.errorf(op, ErrClosed)
	}
	if r.pos >= int64(len(v.data)) {
		return nil, io.EOF
	}
	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
	rest := v.data[r.pos:]
	end := bytes.IndexByte(rest, '\n') + 1
	if end == 0 {
		end = len(rest)
	}
	line = bytes.Clone(rest[:end])
	r.pos += int64(end)
	return line, nil
}

// Tell returns the current position.
func (r *Region) Tell() int64 {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	return r.pos
}

// Find returns the offset of the first occurrence of sub at or after start, or
// -1 if there is none. Like ReadAt it takes no lock.
func (r *Region) Find(sub []byte, start int64) (idx int64, err error) {
	if !lockFree {
		if err := r.enter(); err != nil {
			return -1, r.errorf("find", err)
		}
		defer r.exit()
	}
	for attempt := 0; ; attempt++ {
		idx, err = r.find(r.v.Load(), sub, start)
		if err != errRetry {
			return idx, err
		}
		retry(attempt)
	}
}

func (r *Region) find(v *view, sub []byte, start int64) (idx int64, err error) {
	const op = "find"
	if v.closed {
		return -1, r.errorf(op, ErrClosed)
	}
	if err := checkRange(v.data, start, 0); err != nil {
		return -1, r.errorf(op, err)
	}
	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
	i := bytes.Index(v.data[start:], sub)
	if i < 0 {
		return -1, nil
	}
	return start + int64(i), nil
}

// FindLast returns the offset of the last occurrence of sub that ends at or
// before end, or -1 if there is none (Python's rfind). Like ReadAt it takes
// no lock.
func (r *Region) FindLast(sub []byte, end int64) (idx int64, err error) {
	if !lockFree {
		if err := r.enter(); err != nil {
			return -1, r.errorf("find last", err)
		}
		defer r.exit()
	}
	for attempt := 0; ; attempt++ {
		idx, err = r.findLast(r.v.Load(), sub, end)
		if err != errRetry {
			return idx, err
		}
		retry(attempt)
	}
}

func (r *Region) findLast(v *view, sub []byte, end int64) (idx int64, err error) {
	const op = "find last"
	if v.closed {
		return -1, r.errorf(op, ErrClosed)
	}
	if end < 0 || end > int64(len(v.data)) {
		return -1, r.errorf(op, fmt.Errorf("end %d outside the region (%d bytes): %w", end, len(v.data), ErrOutOfRange))
	}
	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
	return int64(bytes.LastIndex(v.data[:end], sub)), nil
}

// Move copies n bytes from offset src to offset dst within the Region; the
// ranges may overlap. Unlike WriteAt, Move registers with the Region (Close
// and Resize wait for it): a move of overlapping ranges cannot be redone
// from the start once it began.
func (r *Region) Move(dst, src int64, n int) (err error) {
	const op = "move"
	if err := r.enter(); err != nil {
		return r.errorf(op, err)
	}
	defer r.exit()
	if err := r.writable(); err != nil {
		return r.errorf(op, err)
	}
	data := r.bytes()
	if err := checkRange(data, src, n); err != nil {
		return r.errorf(op, fmt.Errorf("source: %w", err))
	}
	if err := checkRange(data, dst, n); err != nil {
		return r.errorf(op, fmt.Errorf("destination: %w", err))
	}
	return r.scopedErr(op, r.do(op, func(b []byte) error {
		copy(b[dst:dst+int64(n)], b[src:src+int64(n)])
		return nil
	}))
}

// WriteTo writes the bytes from the current position to the end to w, without
// an intermediate copy, and advances the position past what w accepted.
//
// When w is an *os.File (or anything else that hands the bytes to the
// kernel), a page that cannot be read in is reported by the kernel rather than
// by a signal; either way the error matches ErrFault.
func (r *Region) WriteTo(w io.Writer) (n int64, err error) {
	const op = "write to"
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	if err := r.enter(); err != nil {
		return 0, r.errorf(op, err)
	}
	defer r.exit()
	err = r.scopedErr(op, r.do(op, func(data []byte) error {
		if r.pos >= int64(len(data)) {
			return nil
		}
		m, werr := w.Write(data[r.pos:])
		r.pos += int64(m)
		n = int64(m)
		if werr != nil && isKernelFault(werr) {
			return r.errorf(op, fmt.Errorf("at offset %d: %w", r.pos, readInFault(werr)))
		}
		return werr
	}))
	return n, err
}

// ReadFrom reads from rd into the Region at the current position until rd
// returns io.EOF, advancing the position. If the Region fills up while rd
// still has data, it returns ErrOutOfRange.
//
// When rd is an *os.File (or anything else whose kernel call writes into the
// mapping), a page of the Region that cannot be read in is reported by the
// kernel rather than by a signal; either way the error matches ErrFault.
func (r *Region) ReadFrom(rd io.Reader) (n int64, err error) {
	const op = "read from"
	r.posMu.Lock()
	defer r.posMu.Unlock()
	r.clampPos()
	if err := r.enter(); err != nil {
		return 0, r.errorf(op, err)
	}
	defer r.exit()
	if err := r.writable(); err != nil {
		return 0, r.errorf(op, err)
	}
	err = r.scopedErr(op, r.do(op, func(data []byte) error {
		var err error
		n, err = r.readFrom(op, data, rd)
		return err
	}))
	return n, err
}

func (r *Region) readFrom(op string, data []byte, rd io.Reader) (n int64, err error) {
	for {
		if r.pos >= int64(len(data)) {
			var probe [1]byte
			m, perr := io.ReadFull(rd, probe[:])
			if m > 0 {
				return n, r.errorf(op, fmt.Errorf("region full after %d bytes: %w", n, ErrOutOfRange))
			}
			if perr == io.EOF || errors.Is(perr, io.ErrUnexpectedEOF) {
				return n, nil
			}
			return n, perr
		}
		m, rerr := rd.Read(data[r.pos:])
		r.pos += int64(m)
		n += int64(m)
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			if isKernelFault(rerr) {
				return n, r.errorf(op, fmt.Errorf("at offset %d: %w", r.pos, readInFault(rerr)))
			}
			return n, rerr
		}
	}
}
