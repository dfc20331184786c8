package ring

import "encoding/binary"

// view reads frames of a mapped ring. It trusts nothing in the data area:
// every field is checked before it is used, so damaged or hostile bytes give
// "no valid frame here", never a crash or an out-of-range slice.
type view struct {
	hdr, data []byte
	g         *geometry
}

// frame checks the frame at pos, which must carry sequence number seq (the
// next record's, for a padding frame). It returns ok only for a committed
// frame of the lap pos belongs to, whose length fits where it sits, and (if
// checkCRC) whose payload matches its checksum.
func (v *view) frame(pos, seq uint64, checkCRC bool) (kind uint32, n int, ok bool) {
	off := int(pos & v.g.mask)
	w := load64(v.data, off)
	kind, n, tag := decodeCommit(w)
	if tag != uint32(v.g.lap(pos)+1) {
		return 0, 0, false
	}
	if load32(v.data, off+8) != uint32(seq) {
		return 0, 0, false
	}
	room := int(v.g.capacity) - off - frameHdrSize
	switch kind {
	case kindPadding:
		// A padding frame always runs exactly to the end of the data area.
		return kind, n, n == room
	case kindData:
		if n > v.g.maxRecord || n > room {
			return 0, 0, false
		}
		if checkCRC && v.g.crc {
			crc := binary.LittleEndian.Uint32(v.data[off+12:])
			if crcOf(v.data[off+frameHdrSize:off+frameHdrSize+n]) != crc {
				return 0, 0, false
			}
		}
		return kind, n, true
	}
	return 0, 0, false
}

// size is how far a valid frame at pos advances the position.
func (v *view) size(pos uint64, kind uint32, n int) uint64 {
	if kind == kindPadding {
		return v.g.capacity - pos&v.g.mask
	}
	return uint64(frameSize(n))
}
