package array

import (
	"encoding/binary"
	"math/bits"
)

// swapSpans lists the values of dtype d that are stored in the other byte
// order than this machine's, as spans of equal-width values within one
// element: the values to byte-swap to read an element, or to write one.
func swapSpans(d Dtype) []span {
	return mergeSpans(collectSwaps(d, nativeOrder, 0, nil))
}

// inOrder reports whether every value of d is in byte order order ('<' or
// '>').
func inOrder(d Dtype, order byte) bool {
	if d.Kind == KindStruct {
		for _, f := range d.Fields {
			if !inOrder(f.Dtype, order) {
				return false
			}
		}
		return true
	}
	return d.Order == '|' || d.Order == order
}

// collectSwaps lists the values of d (at off) not in byte order order.
func collectSwaps(d Dtype, order byte, off int, out []span) []span {
	switch {
	case d.Kind == KindStruct:
		for _, f := range d.Fields {
			n, _ := shapeSize(f.Shape, 1)
			if inOrder(f.Dtype, order) {
				continue
			}
			for i := range n {
				out = collectSwaps(f.Dtype, order, off+f.Offset+i*f.Dtype.Size, out)
			}
		}
	case inOrder(d, order):
	case d.Kind == KindComplex64 || d.Kind == KindComplex128 || d.Kind == KindCLongDouble:
		// Two floats, each in the file's order.
		out = append(out, span{off, d.Size / 2, 2})
	case d.Kind == KindUnicode:
		if d.Size > 0 {
			out = append(out, span{off, 4, d.Size / 4})
		}
	default:
		out = append(out, span{off, d.Size, 1})
	}
	return out
}

// swapElems reverses the bytes of every value in spans, in each whole
// element of b (esize bytes each).
func swapElems(b []byte, esize int, spans []span) {
	if len(spans) == 1 && spans[0].off == 0 && spans[0].width*spans[0].count == esize {
		// Every byte belongs to values of one width (a numeric or string
		// dtype): swap the whole buffer as one run.
		swapRun(b[:len(b)/esize*esize], spans[0].width)
		return
	}
	for e := 0; e+esize <= len(b); e += esize {
		for _, s := range spans {
			swapRun(b[e+s.off:e+s.off+s.width*s.count], s.width)
		}
	}
}

// swapRun reverses the bytes of each width-byte value in b.
func swapRun(b []byte, width int) {
	le := binary.LittleEndian
	switch width {
	case 1:
	case 2:
		for i := 0; i+2 <= len(b); i += 2 {
			le.PutUint16(b[i:], bits.ReverseBytes16(le.Uint16(b[i:])))
		}
	case 4:
		for i := 0; i+4 <= len(b); i += 4 {
			le.PutUint32(b[i:], bits.ReverseBytes32(le.Uint32(b[i:])))
		}
	case 8:
		for i := 0; i+8 <= len(b); i += 8 {
			le.PutUint64(b[i:], bits.ReverseBytes64(le.Uint64(b[i:])))
		}
	default:
		for i := 0; i+width <= len(b); i += width {
			v := b[i : i+width]
			for l, r := 0, width-1; l < r; l, r = l+1, r-1 {
				v[l], v[r] = v[r], v[l]
			}
		}
	}
}
