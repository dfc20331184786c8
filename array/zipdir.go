package array

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file reads a zip archive's central directory: the part of an .npz that
// says where each member is. The bytes are hostile until checked: every
// offset and size is compared with the file before it is used, and nothing
// is allocated in proportion to what a field claims.

const (
	sigLocal   = 0x04034b50
	sigCentral = 0x02014b50
	sigEnd     = 0x06054b50
	sigEnd64   = 0x06064b50
	sigLoc64   = 0x07064b50

	localLen   = 30
	centralLen = 46
	endLen     = 22
	end64Len   = 56
	loc64Len   = 20

	methodStore   = 0
	methodDeflate = 8
)

// readZipDir reads and validates the directory of the zip archive r of size
// bytes and returns its members.
func readZipDir(r io.ReaderAt, size int64) ([]Member, error) {
	end, err := findEnd(r, size)
	if err != nil {
		return nil, err
	}
	dirOff, dirSize, entries, dirEnd, err := readEnd(r, end)
	if err != nil {
		return nil, err
	}
	if dirOff < 0 || dirSize < 0 || dirOff > dirEnd || dirSize > dirEnd-dirOff {
		return nil, fmt.Errorf("%w: the directory (%d bytes at offset %d) does not fit before its end record at %d", ErrNotNPZ, dirSize, dirOff, dirEnd)
	}
	if entries > uint64(dirSize/centralLen) {
		return nil, fmt.Errorf("%w: the end record claims %d members in a %d-byte directory", ErrNotNPZ, entries, dirSize)
	}
	br := bufio.NewReader(io.NewSectionReader(r, dirOff, dirSize))
	members := make([]Member, 0, entries)
	type extent struct {
		lo, hi int64
		name   string
	}
	extents := make([]extent, 0, entries)
	seen := map[string]bool{}
	var fixed [centralLen]byte
	for i := range entries {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return nil, fmt.Errorf("%w: directory entry %d: %v", ErrNotNPZ, i, eofTruncated(err))
		}
		d := fixed[:]
		if binary.LittleEndian.Uint32(d) != sigCentral {
			return nil, fmt.Errorf("%w: directory entry %d has a bad signature", ErrNotNPZ, i)
		}
		flags := binary.LittleEndian.Uint16(d[8:])
		method := binary.LittleEndian.Uint16(d[10:])
		crc := binary.LittleEndian.Uint32(d[16:])
		csize := uint64(binary.LittleEndian.Uint32(d[20:]))
		usize := uint64(binary.LittleEndian.Uint32(d[24:]))
		nameLen := int(binary.LittleEndian.Uint16(d[28:]))
		extraLen := int(binary.LittleEndian.Uint16(d[30:]))
		commentLen := int(binary.LittleEndian.Uint16(d[32:]))
		disk := uint64(binary.LittleEndian.Uint16(d[34:]))
		lho := uint64(binary.LittleEndian.Uint32(d[42:]))
		varPart := make([]byte, nameLen+extraLen+commentLen) // at most 192 KiB
		if _, err := io.ReadFull(br, varPart); err != nil {
			return nil, fmt.Errorf("%w: directory entry %d: %v", ErrNotNPZ, i, eofTruncated(err))
		}
		raw := string(varPart[:nameLen])
		name := raw
		if flags&flagUTF8 == 0 {
			name = fromCP437(raw)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: member %q: %s", ErrNotNPZ, name, fmt.Sprintf(format, args...))
		}
		// ZIP64: the 32-bit fields that are all ones are in the extra field.
		if err := zip64Extra(varPart[nameLen:nameLen+extraLen], &usize, &csize, &lho, &disk); err != nil {
			return nil, bad("%v", err)
		}
		switch {
		case seen[name]:
			return nil, bad("appears twice in the directory")
		case disk != 0:
			return nil, bad("is on disk %d of a multi-part archive", disk)
		case flags&1 != 0:
			return nil, bad("is encrypted")
		case method != methodStore && method != methodDeflate:
			return nil, bad("uses compression method %d (.npz members are stored or deflated)", method)
		case method == methodStore && csize != usize:
			return nil, bad("is stored, but its sizes disagree (%d bytes in the archive, %d uncompressed)", csize, usize)
		case csize > uint64(size) || usize >= 1<<62 || lho >= uint64(dirOff):
			return nil, fmt.Errorf("%w: member %q: its local header (offset %d) or its data (%d bytes) lies past the members' part of the file (%d bytes)", errors.Join(ErrNotNPZ, ErrTruncated), name, lho, csize, dirOff)
		}
		seen[name] = true
		dataOff, err := checkLocal(r, int64(lho), raw, method)
		if err != nil {
			return nil, bad("%v", err)
		}
		if dataOff > dirOff || int64(csize) > dirOff-dataOff {
			return nil, fmt.Errorf("%w: member %q runs past the start of the directory: %d bytes at offset %d, the directory starts at %d", errors.Join(ErrNotNPZ, ErrTruncated), name, csize, dataOff, dirOff)
		}
		members = append(members, Member{Name: name, Compressed: method == methodDeflate, Offset: dataOff, Size: int64(csize), USize: int64(usize), CRC32: crc})
		extents = append(extents, extent{int64(lho), dataOff + int64(csize), name})
	}
	slices.SortFunc(extents, func(a, b extent) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	for i := 1; i < len(extents); i++ {
		if extents[i].lo < extents[i-1].hi {
			return nil, fmt.Errorf("%w: members %q and %q overlap", ErrNotNPZ, extents[i-1].name, extents[i].name)
		}
	}
	return members, nil
}

func eofTruncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the directory ends early", ErrTruncated)
	}
	return err
}

// findEnd returns the offset of the end-of-central-directory record: the
// last one in the final 64 KiB + 22 bytes whose comment fits in the file.
func findEnd(r io.ReaderAt, size int64) (int64, error) {
	if size < endLen {
		what := "too short"
		if size == 0 {
			what = "empty"
		}
		return 0, fmt.Errorf("%w: the file is %s to be a zip archive (%d bytes)", ErrNotNPZ, what, size)
	}
	// Most archives have no comment: the record is the last 22 bytes, and
	// reading only those keeps opening a huge archive as cheap as a small one.
	var last [endLen]byte
	if _, err := r.ReadAt(last[:], size-endLen); err != nil && err != io.EOF {
		return 0, err
	}
	if binary.LittleEndian.Uint32(last[:]) == sigEnd && binary.LittleEndian.Uint16(last[20:]) == 0 {
		return size - endLen, nil
	}
	n := min(size, endLen+0xffff)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, err
	}
	for i := len(buf) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) != sigEnd {
			continue
		}
		comment := int(binary.LittleEndian.Uint16(buf[i+20:]))
		if i+endLen+comment <= len(buf) {
			return size - n + int64(i), nil
		}
	}
	var head [4]byte
	r.ReadAt(head[:], 0)
	if bytes.Equal(head[:], []byte(npyMagic[:4])) {
		return 0, fmt.Errorf("%w: it is a .npy file, not an archive", ErrNotNPZ)
	}
	return 0, fmt.Errorf("%w: no end-of-directory record (not a zip archive, or cut short)", ErrNotNPZ)
}

// readEnd reads the end record at off (and the ZIP64 one it points to, if
// any): the directory's offset and size, the number of members, and where
// the directory must end.
func readEnd(r io.ReaderAt, off int64) (dirOff, dirSize int64, entries uint64, dirEnd int64, err error) {
	var e [endLen]byte
	if _, err := r.ReadAt(e[:], off); err != nil {
		return 0, 0, 0, 0, err
	}
	if binary.LittleEndian.Uint16(e[4:]) != 0 || binary.LittleEndian.Uint16(e[6:]) != 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: a multi-part archive", ErrNotNPZ)
	}
	entries = uint64(binary.LittleEndian.Uint16(e[10:]))
	dirSize = int64(binary.LittleEndian.Uint32(e[12:]))
	dirOff = int64(binary.LittleEndian.Uint32(e[16:]))
	dirEnd = off
	if off < loc64Len {
		return dirOff, dirSize, entries, dirEnd, nil
	}
	var l [loc64Len]byte
	if _, err := r.ReadAt(l[:], off-loc64Len); err != nil {
		return 0, 0, 0, 0, err
	}
	if binary.LittleEndian.Uint32(l[:]) != sigLoc64 {
		return dirOff, dirSize, entries, dirEnd, nil
	}
	// ZIP64: the record the locator points to has the real values.
	e64off := int64(binary.LittleEndian.Uint64(l[8:]))
	if binary.LittleEndian.Uint32(l[4:]) != 0 || binary.LittleEndian.Uint32(l[16:]) > 1 {
		return 0, 0, 0, 0, fmt.Errorf("%w: a multi-part archive", ErrNotNPZ)
	}
	if e64off < 0 || e64off > off-loc64Len-end64Len {
		return 0, 0, 0, 0, fmt.Errorf("%w: the ZIP64 end record's offset %d is outside the file", ErrNotNPZ, e64off)
	}
	var z [end64Len]byte
	if _, err := r.ReadAt(z[:], e64off); err != nil {
		return 0, 0, 0, 0, err
	}
	if binary.LittleEndian.Uint32(z[:]) != sigEnd64 {
		return 0, 0, 0, 0, fmt.Errorf("%w: no ZIP64 end record where the locator points (offset %d)", ErrNotNPZ, e64off)
	}
	if binary.LittleEndian.Uint32(z[16:]) != 0 || binary.LittleEndian.Uint32(z[20:]) != 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: a multi-part archive", ErrNotNPZ)
	}
	entries = binary.LittleEndian.Uint64(z[32:])
	ds := binary.LittleEndian.Uint64(z[40:])
	do := binary.LittleEndian.Uint64(z[48:])
	if ds > 1<<62 || do > 1<<62 {
		return 0, 0, 0, 0, fmt.Errorf("%w: the ZIP64 end record's sizes overflow", ErrNotNPZ)
	}
	return int64(do), int64(ds), entries, e64off, nil
}

// zip64Extra replaces the all-ones fields with their ZIP64 values from the
// extra field, in the order the format lists them.
func zip64Extra(extra []byte, usize, csize, lho, disk *uint64) error {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			return fmt.Errorf("an extra field runs past its end")
		}
		data := extra[4 : 4+n]
		extra = extra[4+n:]
		if id != 1 {
			continue
		}
		take := func(v *uint64, wide bool, all uint64) error {
			if *v != all {
				return nil
			}
			size := 4
			if wide {
				size = 8
			}
			if len(data) < size {
				return fmt.Errorf("its ZIP64 extra field is too short")
			}
			if wide {
				*v = binary.LittleEndian.Uint64(data)
			} else {
				*v = uint64(binary.LittleEndian.Uint32(data))
			}
			data = data[size:]
			return nil
		}
		for _, f := range []struct {
			v    *uint64
			wide bool
			all  uint64
		}{{usize, true, 0xffffffff}, {csize, true, 0xffffffff}, {lho, true, 0xffffffff}, {disk, false, 0xffff}} {
			if err := take(f.v, f.wide, f.all); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// checkLocal reads the local header at off, checks it is the member the
// directory names, and returns where the member's data starts.
func checkLocal(r io.ReaderAt, off int64, name string, method uint16) (int64, error) {
	var l [localLen]byte
	if _, err := r.ReadAt(l[:], off); err != nil {
		return 0, fmt.Errorf("reading its local header at offset %d: %v", off, eofTruncated(err))
	}
	if binary.LittleEndian.Uint32(l[:]) != sigLocal {
		return 0, fmt.Errorf("no local header at offset %d, where the directory says it is", off)
	}
	nameLen := int(binary.LittleEndian.Uint16(l[26:]))
	extraLen := int64(binary.LittleEndian.Uint16(l[28:]))
	if nameLen != len(name) {
		return 0, fmt.Errorf("its local header at offset %d names another member", off)
	}
	got := make([]byte, nameLen)
	if _, err := r.ReadAt(got, off+localLen); err != nil {
		return 0, fmt.Errorf("reading its local header at offset %d: %v", off, eofTruncated(err))
	}
	if string(got) != name {
		return 0, fmt.Errorf("its local header at offset %d names %q", off, got)
	}
	if m := binary.LittleEndian.Uint16(l[8:]); m != method {
		return 0, fmt.Errorf("its local header says compression method %d, the directory %d", m, method)
	}
	return off + localLen + int64(nameLen) + extraLen, nil
}

// cp437 holds the characters of code page 437's bytes 0x80 to 0xff.
const cp437 = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

// fromCP437 decodes a member name that lacks the UTF-8 flag as code page 437,
// as Python's zipfile does, so that a member's name is np.load's key.
func fromCP437(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if ascii {
		return s
	}
	table := []rune(cp437)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 {
			b.WriteByte(c)
		} else {
			b.WriteRune(table[c-0x80])
		}
	}
	return b.String()
}
