package array

import (
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mmapkit/mmapkit/mmap"
)

// ErrNotNPZ: the file is not a zip archive, or its directory is damaged or
// lies (members past the end of the file, overlapping members, sizes that
// disagree).
var ErrNotNPZ = errors.New("not a valid .npz (zip) archive")

// ErrNoMember: the archive has no member of that name.
var ErrNoMember = errors.New("no such member in the archive")

// ErrCompressed: the member is compressed (np.savez_compressed), so its bytes
// in the file are not the array's: it cannot be mapped in place. Set
// Options.Load to decompress it into memory instead.
var ErrCompressed = errors.New("member is compressed")

// NPZ is an open .npz archive (a zip of .npy files, as np.savez and
// np.savez_compressed write them). Opening one reads only the zip's central
// directory, whatever the archive's size; OpenMember then maps a member's
// data where it lies in the file.
type NPZ struct {
	path    string
	f       *os.File    // nil after Close
	r       io.ReaderAt // f (a test may read from memory instead)
	size    int64
	members []Member
}

// Member is one file of an .npz archive, as its directory describes it.
type Member struct {
	// Name is the member's name in the archive, such as "x.npy" (NumPy's
	// key "x").
	Name string
	// Compressed reports a deflated member (np.savez_compressed): it can be
	// read into memory (Options.Load), never mapped in place.
	Compressed bool
	// Offset is where the member's bytes start in the archive, after its
	// local header.
	Offset int64
	// Size is the member's size in the archive; USize its size when
	// decompressed (equal for a stored member).
	Size, USize int64
	// CRC32 is the checksum of the member's (decompressed) bytes.
	CRC32 uint32
}

// Key returns the member's name without the .npy suffix, the key np.load
// gives it.
func (m Member) Key() string { return strings.TrimSuffix(m.Name, ".npy") }

// OpenNPZ opens the .npz archive at path and reads its directory (only the
// directory: opening costs the same for any archive size). Everything is
// checked against the file before it is trusted: a directory that runs past
// the end of the file, a member that does, two members that overlap, a
// member the directory and its local header disagree about, a stored member
// whose sizes differ, an encrypted member or an unknown compression is
// refused with ErrNotNPZ, naming it.
func OpenNPZ(path string) (*NPZ, error) {
	f, size, err := openFile("open", path, ReadOnly)
	if err != nil {
		return nil, err
	}
	members, err := readZipDir(f, size)
	if err != nil {
		f.Close()
		return nil, pathError("open", path, err)
	}
	return &NPZ{path: path, f: f, r: f, size: size, members: members}, nil
}

// Path returns the archive's file name.
func (z *NPZ) Path() string { return z.path }

// Members returns the archive's members in directory order.
func (z *NPZ) Members() []Member { return slices.Clone(z.members) }

// Close closes the archive. Arrays opened from it stay valid: each has its
// own mapping. Calls after Close (a second Close too) fail with ErrClosed.
func (z *NPZ) Close() error {
	if z.f == nil {
		return pathError("close", z.path, ErrClosed)
	}
	err := z.f.Close()
	z.f, z.r = nil, nil
	if err != nil {
		return pathError("close", z.path, err)
	}
	return nil
}

// member finds a member by name: "x.npy" or NumPy's key "x".
func (z *NPZ) member(name string) (Member, error) {
	for _, m := range z.members {
		if m.Name == name {
			return m, nil
		}
	}
	for _, m := range z.members {
		if m.Name == name+".npy" {
			return m, nil
		}
	}
	keys := make([]string, 0, len(z.members))
	for _, m := range z.members {
		keys = append(keys, m.Key())
	}
	return Member{}, fmt.Errorf("%w: %q (the members are %s)", ErrNoMember, name, strings.Join(keys, ", "))
}

// open returns a reader of the member's (decompressed) bytes. For a
// deflated member it checks the CRC-32 when the reader reaches the end.
func (z *NPZ) open(m Member) io.Reader {
	sr := io.NewSectionReader(z.r, m.Offset, m.Size)
	if !m.Compressed {
		return sr
	}
	return &checkedReader{r: flate.NewReader(sr), left: m.USize, want: m.CRC32, name: m.Name}
}

// checkedReader yields exactly left bytes and checks their CRC-32 at the
// end: a deflate stream that is longer, shorter or different than the
// directory says is an error.
type checkedReader struct {
	r    io.Reader
	left int64
	crc  uint32
	want uint32
	name string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: member %q decompresses to more than its %s", ErrNotNPZ, c.name, "size")
		}
		if c.crc != c.want {
			return 0, fmt.Errorf("%w: member %q: CRC-32 %08x, the directory says %08x", ErrNotNPZ, c.name, c.crc, c.want)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	c.left -= int64(n)
	if err == io.EOF {
		if c.left > 0 {
			return n, fmt.Errorf("%w: member %q decompresses to %d bytes fewer than its size", ErrNotNPZ, c.name, c.left)
		}
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("%w: member %q: %w", ErrNotNPZ, c.name, err)
	}
	return n, err
}

// Header reads the .npy header of a member (for a compressed one, by
// decompressing only the header).
func (z *NPZ) Header(name string) (*Header, error) {
	if z.r == nil {
		return nil, pathError("read header", z.path, ErrClosed)
	}
	m, err := z.member(name)
	if err != nil {
		return nil, pathError("read header", z.path, err)
	}
	h, err := readHeaderFrom(z.open(m), m.USize)
	if err != nil {
		return nil, pathError("read header", z.path, fmt.Errorf("member %q: %w", m.Name, err))
	}
	return h, nil
}

// OpenMember maps the array in member name ("x.npy", or NumPy's key "x") of
// the archive z, like OpenNPY for a .npy file. A stored member (np.savez) is
// mapped zero-copy where it lies in the archive, so opening costs the same
// for any size, and its checksum is not verified (that would read it all).
// Its data must be aligned for T, which np.savez does not arrange (mmapkit's
// CreateNPZ does): a misaligned member is refused with ErrMisaligned. A
// compressed member (np.savez_compressed) is refused with ErrCompressed.
// With opts.Load set, both are read into anonymous memory instead (the
// array's Region is then not the file, and the CRC-32 is checked).
//
// mode is ReadOnly or CopyOnWrite: writing through to the archive would
// leave its checksum wrong.
func OpenMember[T any](z *NPZ, name string, mode Mode, opts *Options) (*Array[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("open", z.path, err)
	}
	m, h, err := z.prepare(name, mode)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(h.Dtype, e.t); err != nil {
		return nil, pathError("open", z.path, fmt.Errorf("member %q: %w", m.Name, err))
	}
	mp, err := z.mapping(m, h, mode, e, opts)
	if err != nil {
		return nil, err
	}
	a, err := mapArray[T](mp)
	if err != nil {
		return nil, err
	}
	a.path = z.path
	return a, nil
}

// OpenAny opens a member of any dtype Go can read, like OpenNPYAny.
func (z *NPZ) OpenAny(name string, mode Mode, opts *Options) (Untyped, error) {
	m, h, err := z.prepare(name, mode)
	if err != nil {
		return nil, err
	}
	switch h.Dtype.Kind {
	case KindBool:
		return untyped(OpenMember[bool](z, name, mode, opts))
	case KindInt8:
		return untyped(OpenMember[int8](z, name, mode, opts))
	case KindInt16:
		return untyped(OpenMember[int16](z, name, mode, opts))
	case KindInt32:
		return untyped(OpenMember[int32](z, name, mode, opts))
	case KindInt64, KindDatetime, KindTimedelta:
		return untyped(OpenMember[int64](z, name, mode, opts))
	case KindUint8:
		return untyped(OpenMember[uint8](z, name, mode, opts))
	case KindUint16:
		return untyped(OpenMember[uint16](z, name, mode, opts))
	case KindUint32:
		return untyped(OpenMember[uint32](z, name, mode, opts))
	case KindUint64:
		return untyped(OpenMember[uint64](z, name, mode, opts))
	case KindFloat16:
		return untyped(OpenMember[Float16](z, name, mode, opts))
	case KindFloat32:
		return untyped(OpenMember[float32](z, name, mode, opts))
	case KindFloat64:
		return untyped(OpenMember[float64](z, name, mode, opts))
	case KindComplex64:
		return untyped(OpenMember[complex64](z, name, mode, opts))
	case KindComplex128:
		return untyped(OpenMember[complex128](z, name, mode, opts))
	}
	if err := decodable(h.Dtype, ""); err != nil {
		return nil, pathError("open", z.path, fmt.Errorf("member %q: %w", m.Name, err))
	}
	mp, err := z.mapping(m, h, mode, &elemInfo{dt: h.Dtype, size: h.Dtype.Size, align: 1}, opts)
	if err != nil {
		return nil, err
	}
	u, err := openRecords(mp)
	if err != nil {
		return nil, err
	}
	u.(*records).path = z.path
	return u, nil
}

// prepare finds a member and reads its header.
func (z *NPZ) prepare(name string, mode Mode) (Member, *Header, error) {
	if z.r == nil {
		return Member{}, nil, pathError("open", z.path, ErrClosed)
	}
	if mode != ReadOnly && mode != CopyOnWrite {
		return Member{}, nil, pathError("open", z.path, fmt.Errorf("member %q: %w: a member opens ReadOnly or CopyOnWrite (writing through would leave the archive's CRC-32 wrong)", name, mmap.ErrReadOnly))
	}
	m, err := z.member(name)
	if err != nil {
		return Member{}, nil, pathError("open", z.path, err)
	}
	h, err := readHeaderFrom(z.open(m), m.USize)
	if err != nil {
		return Member{}, nil, pathError("open", z.path, fmt.Errorf("member %q: %w", m.Name, err))
	}
	return m, h, nil
}

// mapping says where a member's data is: in the archive, or (Load) read into
// anonymous memory.
func (z *NPZ) mapping(m Member, h *Header, mode Mode, e *elemInfo, opts *Options) (mapping, error) {
	o := opts.orDefault()
	dataOff := m.Offset + h.DataOffset
	mp := mapping{op: "open", f: z.f, path: z.path, mode: mode, size: m.Offset + m.USize, offset: dataOff, shape: h.Shape, fortran: h.Fortran, h: h, dt: h.Dtype, e: e, opts: opts}
	var why error
	switch {
	case h.DataBytes() == 0:
		return mp, nil
	case m.Compressed:
		why = fmt.Errorf("%w: member %q is deflated (np.savez_compressed); set Options.Load to decompress it into memory", ErrCompressed, m.Name)
	case dataOff%e.align != 0:
		why = fmt.Errorf("%w: member %q: its data is at offset %d of the archive, not a multiple of the %d bytes Go %s needs (np.savez does not align members; mmapkit's CreateNPZ does); set Options.Load to read it into memory", ErrMisaligned, m.Name, dataOff, e.align, e.t)
	default:
		return mp, nil
	}
	if !o.Load {
		return mapping{}, pathError("open", z.path, why)
	}
	r, err := z.load(m, h)
	if err != nil {
		return mapping{}, pathError("open", z.path, err)
	}
	mp.region = r
	mp.offset = -1
	return mp, nil
}

// load reads a member's data (decompressing it, checking its CRC-32) into
// anonymous memory.
func (z *NPZ) load(m Member, h *Header) (*mmap.Region, error) {
	n := h.DataBytes()
	if n == 0 {
		return nil, nil
	}
	if n > int64(maxInt) {
		return nil, fmt.Errorf("%w: member %q: %d bytes do not fit in memory", ErrShape, m.Name, n)
	}
	r, err := mmap.Anonymous(int(n), nil)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", m.Name, err)
	}
	src := z.open(m)
	if !m.Compressed {
		src = &checkedReader{r: io.NewSectionReader(z.r, m.Offset, m.Size), left: m.USize, want: m.CRC32, name: m.Name}
	}
	// Skip the header, read the data, then the rest, so the CRC covers it all.
	if _, err := io.CopyN(io.Discard, src, h.DataOffset); err == nil {
		_, err = io.ReadFull(src, r.Bytes())
		if err == nil {
			_, err = io.Copy(io.Discard, src)
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("member %q: %w", m.Name, err)
		}
	} else {
		r.Close()
		return nil, fmt.Errorf("member %q: %w", m.Name, err)
	}
	return r, nil
}

const maxInt = int(^uint(0) >> 1)
