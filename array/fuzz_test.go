package array

import (
	"bytes"
	"errors"
	"testing"
)

var headerSeeds = []string{
	"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
	"{'descr': '|b1', 'fortran_order': True, 'shape': (), }",
	"{'descr': '<c16', 'fortran_order': False, 'shape': (0, 5), }            \n",
	`{"descr": "<f4", "fortran_order": False, "shape": (1000000, 128)}`,
	"{'descr': [('x', '<f4'), ('y', '<i8', (3,))], 'fortran_order': False, 'shape': (3,), }",
	"{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L), }",
	"{'descr': '>f8', 'fortran_order': False, 'shape': (-1,), }",
	"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
	"{'descr': '\\x3cf8', 'fortran_order': None, 'shape': [3], 'x': {}}",
	"{'descr': __import__('os'), }",
	"((((((((((",
	"",
}

// FuzzParseHeader feeds arbitrary header text to the parser: it must never
// panic, every error must match ErrHeader, ErrShape, ErrUnsupportedDtype or
// ErrByteOrder, and a header it accepts must survive a write and re-read.
func FuzzParseHeader(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, text []byte, major uint8) {
		h := &Header{Major: int(major%3) + 1}
		err := parseHeaderText(h, text)
		if err != nil {
			if !errors.Is(err, ErrHeader) && !errors.Is(err, ErrShape) && !errors.Is(err, ErrUnsupportedDtype) && !errors.Is(err, ErrByteOrder) {
				t.Fatalf("error matching no sentinel: %v", err)
			}
			return
		}
		enc, err := encodeHeader(h.Dtype, h.Shape, h.Fortran, 0)
		if err != nil {
			t.Fatalf("accepted header cannot be written back: %v", err)
		}
		h2, err := parsePrefix(enc, int64(len(enc)))
		if err != nil {
			t.Fatal(err)
		}
		if h2.DataOffset%64 != 0 {
			t.Fatalf("written header leaves data at %d", h2.DataOffset)
		}
		if err := parseHeaderText(h2, enc[h2.DataOffset-int64(h2.HeaderLen):]); err != nil {
			t.Fatalf("re-reading %q: %v", enc, err)
		}
		if !h2.Dtype.Equal(h.Dtype) || h2.Fortran != h.Fortran || !equalInts(h2.Shape, h.Shape) {
			t.Fatalf("round trip changed %+v into %+v", h, h2)
		}
	})
}

// FuzzReadHeader feeds whole files (magic, version, length, header, data) to
// the reader: it must never panic and never accept a file too short for its
// data.
func FuzzReadHeader(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add(craftNPY(1, 0, s, make([]byte, 24)))
		f.Add(craftNPY(2, 0, s, nil))
	}
	f.Add([]byte("\x93NUMPY\x01\x00\xff\xff"))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := readHeader(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			return
		}
		if h.DataOffset > int64(len(file)) || int64(len(file))-h.DataOffset < h.DataBytes() {
			t.Fatalf("accepted a header promising %d bytes at %d in a %d-byte file", h.DataBytes(), h.DataOffset, len(file))
		}
	})
}
