package array

import (
	"fmt"
	"io"
)

// WithOrder returns d with every value stored in byte order order: '<'
// (little-endian), '>' (big-endian) or '=' (this machine's). One-byte types
// and byte strings keep '|'.
func (d Dtype) WithOrder(order byte) Dtype {
	if order == '=' {
		order = nativeOrder
	}
	if d.Kind == KindStruct {
		fields := make([]Field, len(d.Fields))
		for i, f := range d.Fields {
			f.Dtype = f.Dtype.WithOrder(order)
			fields[i] = f
		}
		d.Fields = fields
		return d
	}
	if d.Order != '|' {
		d.Order = order
	}
	return d
}

// convertChunk is how many bytes ConvertNPY copies at a time.
const convertChunk = 4 << 20

// ConvertNPY writes a copy of the .npy file src to dst with every value in
// byte order order: '=' for this machine's (so that the copy maps zero-copy,
// like arr.astype(arr.dtype.newbyteorder('=')) in NumPy), '<' or '>'. The
// shape, order and dtype are kept, and the data is copied in pieces of a few
// MiB whatever its size. dst is created as CreateNPY creates files: an
// existing dst is refused unless opts.Replace is set (then dst may be src
// itself: the copy replaces it when complete), and opts.Version chooses the
// format version (0 keeps src's when the header fits). Object arrays (a
// pickle) cannot be converted.
func ConvertNPY(dst, src string, order byte, opts *Options) error {
	o := *opts.orDefault()
	if order != '<' && order != '>' && order != '=' {
		return pathError("convert", src, fmt.Errorf("byte order %q: want '<', '>' or '='", order))
	}
	if order == '=' {
		order = nativeOrder
	}
	f, size, err := openFile("convert", src, ReadOnly)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return pathError("convert", src, err)
	}
	if h.Dtype.Kind == KindObject || hasObject(h.Dtype) {
		return pathError("convert", src, fmt.Errorf("%w: an array of Python objects is a pickle, which has no byte order to convert", ErrUnsupportedDtype))
	}
	target := h.Dtype.WithOrder(order)
	o.Fortran = h.Fortran
	if o.Version == 0 && h.Major > 1 {
		o.Version = h.Major
	}
	nh, hdr, err := newHeader(target, h.Shape, &o)
	if err != nil {
		return pathError("convert", dst, err)
	}
	nf, err := createFile(dst, hdr, nh.DataOffset+nh.DataBytes(), &o)
	if err != nil {
		return err
	}
	spans := mergeSpans(collectSwaps(h.Dtype, order, 0, nil))
	esize := max(h.Dtype.Size, 1)
	buf := make([]byte, max(convertChunk/esize, 1)*esize)
	total := h.DataBytes()
	for done := int64(0); done < total; {
		n := int(min(int64(len(buf)), total-done))
		if _, err := f.ReadAt(buf[:n], h.DataOffset+done); err != nil {
			nf.abort()
			if err == io.EOF {
				err = fmt.Errorf("%w: the file ended while copying", ErrTruncated)
			}
			return pathError("convert", src, err)
		}
		if len(spans) > 0 {
			swapElems(buf[:n], esize, spans)
		}
		if _, err := nf.f.WriteAt(buf[:n], nh.DataOffset+done); err != nil {
			nf.abort()
			return pathError("convert", dst, err)
		}
		done += int64(n)
	}
	if err := nf.f.Sync(); err != nil {
		nf.abort()
		return pathError("convert", dst, err)
	}
	return nf.commit()
}

func hasObject(d Dtype) bool {
	if d.Kind == KindObject {
		return true
	}
	for _, f := range d.Fields {
		if hasObject(f.Dtype) {
			return true
		}
	}
	return false
}
