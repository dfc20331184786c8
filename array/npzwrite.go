package array

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"unicode/utf8"
)

// NPZWriter builds an .npz archive whose members are arrays mapped in the
// archive itself: AddMember creates a member and returns its array, which is
// filled in place like any array CreateNPY makes; Close computes the
// checksums and writes the zip directory. np.load opens the result (as an
// archive of stored members, like np.savez writes), and OpenMember maps its
// members zero-copy: each member's data is aligned to 64 bytes in the file.
type NPZWriter struct {
	mu      sync.Mutex
	nf      *newFile
	path    string
	off     int64 // where the next member's local header goes
	members []npzMember
	done    bool
	// test hooks: a sparse archive without allocation or checksums, so that
	// a benchmark can make a huge one quickly.
	sparse bool
}

type npzMember struct {
	name    string
	hdrOff  int64 // local header
	dataOff int64 // the member's bytes (the .npy file)
	size    int64
	crc     uint32
}

// CreateNPZ creates the .npz archive at path. Like CreateNPY it refuses an
// existing file (fs.ErrExist) unless opts.Replace is set, in which case the
// new archive replaces the old one at Close; each member's blocks are
// allocated as it is added, so a full disk is an error from AddMember.
func CreateNPZ(path string, opts *Options) (*NPZWriter, error) {
	nf, err := createFile(path, nil, 0, opts.orDefault())
	if err != nil {
		return nil, err
	}
	return &NPZWriter{nf: nf, path: path}, nil
}

// Local header extras: the ZIP64 sizes (as NumPy writes them, so a member
// may grow past 4 GiB), then padding to align the member's data, in the
// extra field zipalign uses for this (0xd935).
const (
	zip64ExtraLen = 4 + 16
	alignExtraID  = 0xd935
	memberAlign   = 64
)

// AddMember adds a member holding a zeroed array of T of the given shape and
// returns the array, mapped ReadWrite where it lies in the archive. name is
// NumPy's key ("x" becomes the member "x.npy"). opts.Fortran and
// opts.Version choose the member's order and format version. The array must
// be filled (and may be closed) before the writer's Close, which computes
// the members' checksums: writes after it leave the archive's CRC-32 wrong.
func AddMember[T any](w *NPZWriter, name string, shape []int, opts *Options) (*Array[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, pathError("create", w.path, err)
	}
	o := opts.orDefault()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, pathError("create", w.path, ErrClosed)
	}
	if !strings.HasSuffix(name, ".npy") {
		name += ".npy"
	}
	if err := w.checkName(name); err != nil {
		return nil, pathError("create", w.path, err)
	}
	h, hdr, err := newHeader(e.dt, shape, &Options{Fortran: o.Fortran, Version: o.Version})
	if err != nil {
		return nil, pathError("create", w.path, fmt.Errorf("member %q: %w", name, err))
	}
	size := h.DataOffset + h.DataBytes()
	m := npzMember{name: name, hdrOff: w.off, size: size}
	fixed := w.off + localLen + int64(len(name)) + zip64ExtraLen + 4 // with an empty alignment extra
	pad := (memberAlign - fixed%memberAlign) % memberAlign
	m.dataOff = fixed + pad
	local := make([]byte, 0, m.dataOff-w.off)
	local = binary.LittleEndian.AppendUint32(local, sigLocal)
	local = binary.LittleEndian.AppendUint16(local, 45) // version needed: ZIP64
	local = binary.LittleEndian.AppendUint16(local, nameFlags(name))
	local = binary.LittleEndian.AppendUint16(local, methodStore)
	local = binary.LittleEndian.AppendUint16(local, 0)          // time
	local = binary.LittleEndian.AppendUint16(local, 0x21)       // date: 1980-01-01, as NumPy's zipfile writes
	local = binary.LittleEndian.AppendUint32(local, 0)          // CRC-32, written at Close
	local = binary.LittleEndian.AppendUint32(local, ^uint32(0)) // sizes: in the ZIP64 extra
	local = binary.LittleEndian.AppendUint32(local, ^uint32(0))
	local = binary.LittleEndian.AppendUint16(local, uint16(len(name)))
	local = binary.LittleEndian.AppendUint16(local, uint16(zip64ExtraLen+4+pad))
	local = append(local, name...)
	local = binary.LittleEndian.AppendUint16(local, 1)
	local = binary.LittleEndian.AppendUint16(local, 16)
	local = binary.LittleEndian.AppendUint64(local, uint64(size))
	local = binary.LittleEndian.AppendUint64(local, uint64(size))
	local = binary.LittleEndian.AppendUint16(local, alignExtraID)
	local = binary.LittleEndian.AppendUint16(local, uint16(pad))
	local = append(local, make([]byte, pad)...)
	end := m.dataOff + size
	if !w.sparse {
		if err := allocate(w.nf.f, w.off, end-w.off); err != nil {
			return nil, pathError("create", w.path, fmt.Errorf("member %q: allocate %d bytes: %w", name, end-w.off, err))
		}
	} else if err := w.nf.f.Truncate(end); err != nil {
		return nil, pathError("create", w.path, err)
	}
	if _, err := w.nf.f.WriteAt(local, w.off); err != nil {
		return nil, pathError("create", w.path, err)
	}
	if _, err := w.nf.f.WriteAt(hdr, m.dataOff); err != nil {
		return nil, pathError("create", w.path, err)
	}
	a, err := mapArray[T](mapping{op: "create", f: w.nf.f, path: w.path, mode: ReadWrite, size: end, offset: m.dataOff + h.DataOffset, shape: h.Shape, fortran: h.Fortran, h: h, dt: e.dt, e: e, opts: opts})
	if err != nil {
		return nil, err
	}
	w.members = append(w.members, m)
	w.off = end
	return a, nil
}

// flagUTF8 is the zip flag saying a member's name is UTF-8. Without it a
// reader decodes the name as code page 437: Python's zipfile (and so np.load)
// would turn the key "é" into "├⌐".
const flagUTF8 = 1 << 11

// nameFlags returns the general purpose flags for a member named name: the
// UTF-8 flag for a name outside ASCII, as Python's zipfile writes it.
func nameFlags(name string) uint16 {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return flagUTF8
		}
	}
	return 0
}

func (w *NPZWriter) checkName(name string) error {
	switch {
	case len(name) > 0xffff:
		return fmt.Errorf("member name of %d bytes is too long", len(name))
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("member name %q holds a NUL", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("member name %q is not UTF-8", name)
	}
	for _, m := range w.members {
		if m.name == name {
			return fmt.Errorf("member %q added twice", name)
		}
	}
	return nil
}

// Close finishes the archive: it computes each member's CRC-32 (reading the
// members once), writes the zip directory, flushes the file to disk and puts
// it in place. The arrays AddMember returned stay valid until their own
// Close. Calls after Close (a second Close too) fail with ErrClosed.
func (w *NPZWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return pathError("close", w.path, ErrClosed)
	}
	w.done = true
	if err := w.finish(); err != nil {
		w.nf.abort()
		return pathError("create", w.path, err)
	}
	return w.nf.commit()
}

func (w *NPZWriter) finish() error {
	f := w.nf.f
	buf := make([]byte, 1<<20)
	for i := range w.members {
		m := &w.members[i]
		if !w.sparse {
			crc := uint32(0)
			for done := int64(0); done < m.size; {
				n := int(min(int64(len(buf)), m.size-done))
				if _, err := f.ReadAt(buf[:n], m.dataOff+done); err != nil {
					return fmt.Errorf("member %q: %w", m.name, err)
				}
				crc = crc32.Update(crc, crc32.IEEETable, buf[:n])
				done += int64(n)
			}
			m.crc = crc
		}
		var c [4]byte
		binary.LittleEndian.PutUint32(c[:], m.crc)
		if _, err := f.WriteAt(c[:], m.hdrOff+14); err != nil {
			return err
		}
	}
	// The central directory, every entry with its ZIP64 extra, then the
	// ZIP64 end record, its locator and the classic end record.
	var dir []byte
	for _, m := range w.members {
		dir = binary.LittleEndian.AppendUint32(dir, sigCentral)
		dir = binary.LittleEndian.AppendUint16(dir, 45|3<<8) // made by: Unix, ZIP64
		dir = binary.LittleEndian.AppendUint16(dir, 45)
		dir = binary.LittleEndian.AppendUint16(dir, nameFlags(m.name))
		dir = binary.LittleEndian.AppendUint16(dir, methodStore)
		dir = binary.LittleEndian.AppendUint16(dir, 0)
		dir = binary.LittleEndian.AppendUint16(dir, 0x21)
		dir = binary.LittleEndian.AppendUint32(dir, m.crc)
		dir = binary.LittleEndian.AppendUint32(dir, ^uint32(0))
		dir = binary.LittleEndian.AppendUint32(dir, ^uint32(0))
		dir = binary.LittleEndian.AppendUint16(dir, uint16(len(m.name)))
		dir = binary.LittleEndian.AppendUint16(dir, 4+24)
		dir = binary.LittleEndian.AppendUint16(dir, 0)          // comment
		dir = binary.LittleEndian.AppendUint16(dir, 0)          // disk
		dir = binary.LittleEndian.AppendUint16(dir, 0)          // internal attributes
		dir = binary.LittleEndian.AppendUint32(dir, 0o644<<16)  // external: mode 0644
		dir = binary.LittleEndian.AppendUint32(dir, ^uint32(0)) // offset: in the extra
		dir = append(dir, m.name...)
		dir = binary.LittleEndian.AppendUint16(dir, 1)
		dir = binary.LittleEndian.AppendUint16(dir, 24)
		dir = binary.LittleEndian.AppendUint64(dir, uint64(m.size))
		dir = binary.LittleEndian.AppendUint64(dir, uint64(m.size))
		dir = binary.LittleEndian.AppendUint64(dir, uint64(m.hdrOff))
	}
	dirOff, dirLen := w.off, int64(len(dir))
	end64 := dirOff + dirLen
	n := uint64(len(w.members))
	dir = binary.LittleEndian.AppendUint32(dir, sigEnd64)
	dir = binary.LittleEndian.AppendUint64(dir, end64Len-12)
	dir = binary.LittleEndian.AppendUint16(dir, 45|3<<8)
	dir = binary.LittleEndian.AppendUint16(dir, 45)
	dir = binary.LittleEndian.AppendUint32(dir, 0)
	dir = binary.LittleEndian.AppendUint32(dir, 0)
	dir = binary.LittleEndian.AppendUint64(dir, n)
	dir = binary.LittleEndian.AppendUint64(dir, n)
	dir = binary.LittleEndian.AppendUint64(dir, uint64(dirLen))
	dir = binary.LittleEndian.AppendUint64(dir, uint64(dirOff))
	dir = binary.LittleEndian.AppendUint32(dir, sigLoc64)
	dir = binary.LittleEndian.AppendUint32(dir, 0)
	dir = binary.LittleEndian.AppendUint64(dir, uint64(end64))
	dir = binary.LittleEndian.AppendUint32(dir, 1)
	dir = binary.LittleEndian.AppendUint32(dir, sigEnd)
	dir = binary.LittleEndian.AppendUint16(dir, 0)
	dir = binary.LittleEndian.AppendUint16(dir, 0)
	dir = binary.LittleEndian.AppendUint16(dir, uint16(min(n, 0xffff)))
	dir = binary.LittleEndian.AppendUint16(dir, uint16(min(n, 0xffff)))
	dir = binary.LittleEndian.AppendUint32(dir, uint32(min(dirLen, 0xffffffff)))
	dir = binary.LittleEndian.AppendUint32(dir, uint32(min(dirOff, 0xffffffff)))
	dir = binary.LittleEndian.AppendUint16(dir, 0)
	if _, err := f.WriteAt(dir, dirOff); err != nil {
		return err
	}
	if w.sparse {
		return nil
	}
	return f.Sync()
}
