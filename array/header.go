package array

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// MaxHeaderSize is the longest .npy header this package reads, in bytes. NumPy
// refuses headers over 10000 characters by default; the limit here is higher
// so that any file NumPy writes opens, while a hostile length field cannot make
// a reader allocate gigabytes.
const MaxHeaderSize = 1 << 20

// growthAxisMaxDigits is NumPy's GROWTH_AXIS_MAX_DIGITS: since NumPy 1.24 the
// header has room for the growth axis to reach 21 digits, so the shape can be
// rewritten in place when appending.
const growthAxisMaxDigits = 21

// Header describes a .npy file: what its header says and where the data is.
type Header struct {
	Major, Minor int // format version: 1.0, 2.0 or 3.0
	// Descr is the dtype as the file writes it: a type string exactly as
	// written ("<f4"), or a structured dtype's field list as Dtype.Descr
	// writes it.
	Descr      string
	Dtype      Dtype // the element type
	Shape      []int // empty for a 0-d (scalar) array
	Fortran    bool  // column-major (Fortran) order instead of row-major (C)
	HeaderLen  int   // bytes of header text, including padding and the final '\n'
	DataOffset int64 // where the data starts in the file
}

// Size returns the number of elements: the product of the shape (1 for a
// scalar, 0 if any dimension is 0).
func (h *Header) Size() int {
	n, _ := shapeSize(h.Shape, 1)
	return n
}

// DataBytes returns the number of data bytes the header promises, or -1 for
// an array of Python objects, whose data is a pickle of unknown length.
func (h *Header) DataBytes() int64 {
	if h.Dtype.Kind == KindObject {
		return -1
	}
	return int64(h.Size()) * int64(h.Dtype.Size)
}

// Order returns "C" or "F".
func (h *Header) Order() string {
	if h.Fortran {
		return "F"
	}
	return "C"
}

// shapeSize returns the product of shape, checking every dimension is
// non-negative and that the product times itemsize fits in an int.
func shapeSize(shape []int, itemsize int) (int, error) {
	itemsize = max(itemsize, 1)
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: dimension %d is negative (%d)", ErrShape, i, d)
		}
	}
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("%w: shape %s overflows", ErrShape, formatShape(shape))
		}
		n *= d
	}
	if n > math.MaxInt/itemsize {
		return 0, fmt.Errorf("%w: shape %s of %d-byte elements overflows", ErrShape, formatShape(shape), itemsize)
	}
	return n, nil
}

// ReadNPYHeader reads and validates the header of the .npy file at path,
// without mapping anything. It checks that the file holds all the data the
// header promises. Tools use it to learn the dtype, shape and order before
// choosing a Go type for OpenNPY.
//
// The header must be a plain dict literal with exactly the keys descr,
// fortran_order and shape. This is stricter than NumPy's ast.literal_eval in
// a few ways no NumPy writer trips over: duplicate keys, arithmetic, non-decimal
// or underscored integers, string prefixes and triple quotes are refused.
func ReadNPYHeader(path string) (*Header, error) {
	f, size, err := openFile("read header", path, ReadOnly)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, pathError("read header", path, err)
	}
	return h, nil
}

// readHeader reads the header of a .npy file of the given size from r and
// checks the file is long enough for the data.
func readHeader(r io.ReaderAt, size int64) (*Header, error) {
	return readHeaderFrom(io.NewSectionReader(r, 0, size), size)
}

// readHeaderFrom reads the header of a .npy file of the given size from the
// start of r (a file, or a member of an archive being decompressed), reading
// no further than the header.
func readHeaderFrom(r io.Reader, size int64) (*Header, error) {
	var pre [12]byte
	n, err := io.ReadFull(r, pre[:min(int64(len(pre)), max(size, 0))])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	h, err := parsePrefix(pre[:n], size)
	if err != nil {
		return nil, err
	}
	start := int(h.DataOffset) - h.HeaderLen
	text := make([]byte, h.HeaderLen)
	got := copy(text, pre[start:n])
	if _, err := io.ReadFull(r, text[got:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: the file ends inside the header", errors.Join(ErrHeader, ErrTruncated))
		}
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	if err := parseHeaderText(h, text); err != nil {
		return nil, err
	}
	if need := h.DataBytes(); need > 0 && size-h.DataOffset < need {
		return nil, fmt.Errorf("%w: the header promises %d data bytes after offset %d, the file has %d", ErrTruncated, need, h.DataOffset, size-h.DataOffset)
	}
	return h, nil
}

// parsePrefix checks the magic and version and reads the header length.
func parsePrefix(pre []byte, size int64) (*Header, error) {
	if size == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNotNPY)
	}
	if !bytes.HasPrefix(pre, []byte(npyMagic)) {
		switch {
		case bytes.HasPrefix(pre, []byte("PK\x03\x04")), bytes.HasPrefix(pre, []byte("PK\x05\x06")):
			return nil, fmt.Errorf("%w: it is a zip archive (.npz); extract the member first", ErrNotNPY)
		case len(pre) < len(npyMagic) && bytes.HasPrefix([]byte(npyMagic), pre):
			return nil, fmt.Errorf("%w: the file ends inside the magic string (%d bytes)", errors.Join(ErrNotNPY, ErrTruncated), size)
		}
		return nil, fmt.Errorf("%w: bad magic %q (want %q)", ErrNotNPY, pre[:min(len(pre), 6)], npyMagic)
	}
	if len(pre) < 8 {
		return nil, fmt.Errorf("%w: the file ends before the version bytes", errors.Join(ErrHeader, ErrTruncated))
	}
	h := &Header{Major: int(pre[6]), Minor: int(pre[7])}
	var lenBytes int
	switch {
	case h.Major == 1 && h.Minor == 0:
		lenBytes = 2
	case (h.Major == 2 || h.Major == 3) && h.Minor == 0:
		lenBytes = 4
	default:
		return nil, fmt.Errorf("%w: %d.%d (only 1.0, 2.0 and 3.0 exist)", ErrVersion, h.Major, h.Minor)
	}
	if len(pre) < 8+lenBytes {
		return nil, fmt.Errorf("%w: the file ends inside the header length field", errors.Join(ErrHeader, ErrTruncated))
	}
	var hlen int64
	if lenBytes == 2 {
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(pre[8:]))
	}
	start := int64(8 + lenBytes)
	if hlen > size-start {
		return nil, fmt.Errorf("%w: header length %d runs past the end of the file (%d bytes)", errors.Join(ErrHeader, ErrTruncated), hlen, size)
	}
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d is over the %d-byte limit", ErrHeader, hlen, MaxHeaderSize)
	}
	h.HeaderLen = int(hlen)
	h.DataOffset = start + hlen
	return h, nil
}

// parseHeaderText parses the header dict literal into h.
func parseHeaderText(h *Header, text []byte) error {
	if h.Major == 3 {
		if !utf8.Valid(text) {
			return fmt.Errorf("%w: version 3.0 header is not valid UTF-8", ErrHeader)
		}
	}
	// Version 1 and 2 headers are latin-1: every byte is one character, and the
	// parser only ever needs ASCII outside strings, so bytes work for both.
	v, err := parsePyLiteral(text, h.Major < 3)
	if err != nil {
		return err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("%w: the header is a %s, not a dict", ErrHeader, pyTypeName(v))
	}
	var descr, fortran, shape any
	seen := map[string]bool{}
	for i, k := range d.keys {
		ks, ok := k.(string)
		if !ok {
			return fmt.Errorf("%w: a key is a %s, not a string", ErrHeader, pyTypeName(k))
		}
		if seen[ks] {
			return fmt.Errorf("%w: key %q appears twice", ErrHeader, ks)
		}
		seen[ks] = true
		switch ks {
		case "descr":
			descr = d.vals[i]
		case "fortran_order":
			fortran = d.vals[i]
		case "shape":
			shape = d.vals[i]
		default:
			return fmt.Errorf("%w: unexpected key %q (the keys must be exactly descr, fortran_order and shape)", ErrHeader, ks)
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return fmt.Errorf("%w: missing key %q", ErrHeader, k)
		}
	}
	dt, err := dtypeFromLiteral(descr, 0)
	if err != nil {
		return err
	}
	h.Dtype = dt
	h.Descr = dt.Descr()
	if s, ok := descr.(string); ok {
		h.Descr = s
	}
	fo, ok := fortran.(bool)
	if !ok {
		return fmt.Errorf("%w: fortran_order is a %s, not True or False", ErrHeader, pyTypeName(fortran))
	}
	h.Fortran = fo
	st, ok := shape.(pyTuple)
	if !ok {
		return fmt.Errorf("%w: shape is a %s, not a tuple", ErrHeader, pyTypeName(shape))
	}
	h.Shape = make([]int, len(st))
	for i, e := range st {
		n, ok := e.(pyInt)
		if !ok {
			return fmt.Errorf("%w: shape[%d] is a %s, not an int", ErrHeader, i, pyTypeName(e))
		}
		switch {
		case n.v < 0:
			return fmt.Errorf("%w: dimension %d is negative", ErrShape, i)
		case n.big || n.v > math.MaxInt:
			return fmt.Errorf("%w: dimension %d overflows", ErrShape, i)
		}
		h.Shape[i] = int(n.v)
	}
	if _, err := shapeSize(h.Shape, h.Dtype.Size); err != nil {
		return err
	}
	return nil
}

func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case string:
		return "string"
	case pyInt:
		return "int"
	case pyTuple:
		return "tuple"
	case pyList:
		return "list"
	case *pyDict:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// formatShape writes shape as Python's repr of a tuple: (), (3,), (3, 4).
func formatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// encodeHeader returns the bytes NumPy (1.24 and later) writes before the
// data: magic, version, length and the padded dict. major is 1, 2 or 3, or 0
// to choose as NumPy does: 1.0, or 2.0 if the header is too long for it, or
// 3.0 if it holds a character latin-1 cannot encode (a field name).
func encodeHeader(d Dtype, shape []int, fortran bool, major int) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "{'descr': %s, 'fortran_order': %s, 'shape': %s, }", d.literal(), pyBool(fortran), formatShape(shape))
	if len(shape) > 0 {
		axis := shape[0]
		if fortran {
			axis = shape[len(shape)-1]
		}
		if pad := growthAxisMaxDigits - len(strconv.Itoa(axis)); pad > 0 {
			b.WriteString(strings.Repeat(" ", pad))
		}
	}
	text := b.String()
	latin1, ok := toLatin1(text)
	if major == 0 {
		major = 1
		switch {
		case !ok:
			major = 3
		case padded(len(latin1), 2) > math.MaxUint16:
			major = 2
		}
	}
	lenBytes := 4
	switch major {
	case 1:
		lenBytes = 2
	case 2, 3:
	default:
		return nil, fmt.Errorf("%w: cannot write version %d.0", ErrVersion, major)
	}
	if major < 3 {
		if !ok {
			return nil, fmt.Errorf("%w: the header holds characters latin-1 cannot encode, which only version 3.0 can write", ErrVersion)
		}
		text = latin1
	}
	hlen := padded(len(text), lenBytes)
	if lenBytes == 2 && hlen > math.MaxUint16 {
		return nil, fmt.Errorf("%w: header of %d bytes is too long for version 1.0", ErrHeader, hlen)
	}
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes is over the %d-byte limit", ErrHeader, hlen, MaxHeaderSize)
	}
	out := make([]byte, 0, 8+lenBytes+hlen)
	out = append(out, npyMagic...)
	out = append(out, byte(major), 0)
	if lenBytes == 2 {
		out = binary.LittleEndian.AppendUint16(out, uint16(hlen))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(hlen))
	}
	out = append(out, text...)
	for len(out) < 8+lenBytes+hlen-1 {
		out = append(out, ' ')
	}
	return append(out, '\n'), nil
}

// toLatin1 encodes s as latin-1, reporting whether every character fits.
func toLatin1(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			b := make([]byte, 0, len(s))
			for _, r := range s {
				if r > 0xff {
					return "", false
				}
				b = append(b, byte(r))
			}
			return string(b), true
		}
	}
	return s, true
}

// padded returns the header length NumPy writes for text: text plus '\n',
// padded with spaces so the data starts on a 64-byte boundary. Like NumPy, an
// already aligned header still gets 64 bytes of padding.
func padded(textLen int, lenBytes int) int {
	hlen := textLen + 1
	return hlen + 64 - (8+lenBytes+hlen)%64
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
