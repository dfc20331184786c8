package array

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var headerSeeds = []string{
	"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
	"{'descr': '|b1', 'fortran_order': True, 'shape': (), }",
	"{'descr': '<c16', 'fortran_order': False, 'shape': (0, 5), }            \n",
	`{"descr": "<f4", "fortran_order": False, "shape": (1000000, 128)}`,
	"{'descr': [('x', '<f4'), ('y', '<i8', (3,))], 'fortran_order': False, 'shape': (3,), }",
	"{'descr': [('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('flag', '|u1'), ('', '|V3')], 'fortran_order': False, 'shape': (5,), }",
	"{'descr': [('a', '|u1'), ('', '|V3'), (('t', 'b'), '>i4'), ('n', [('c', '<U2'), ('s', '|S3', (2, 1))], (2,))], 'fortran_order': False, 'shape': (2, 2), }",
	"{'descr': '>U5', 'fortran_order': True, 'shape': (2, 3), }",
	"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }",
	"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
	"{'descr': [('\\xe9', '<f4')], 'fortran_order': False, 'shape': (1,), }",
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

// FuzzReadZipDir feeds arbitrary bytes to the .npz directory reader: it must
// never panic, every error must match ErrNotNPZ, and an archive it accepts
// has every member inside the file, without overlaps; reading each member's
// header and contents must not panic either.
func FuzzReadZipDir(f *testing.F) {
	npy := craftNPY(1, 0, padText(f8Header, 10, 64), make([]byte, 24))
	x := zipEntry{name: "x.npy", crc: crc32.ChecksumIEEE(npy), csize: uint64(len(npy)), usize: uint64(len(npy))}
	f.Add(buildZip(map[int64][]byte{0: localHeader("x.npy", 0, npy)}, []zipEntry{x}, nil))
	x64 := x
	x64.zip64 = true
	f.Add(buildZip(map[int64][]byte{0: localHeader("x.npy", 0, npy)}, []zipEntry{x64}, nil))
	f.Add(buildZip(map[int64][]byte{0: localHeader("x.npy", 0, npy)}, []zipEntry{x}, []byte("trailing comment")))
	// A real archive from the writer: ZIP64 records, alignment padding.
	dir := f.TempDir()
	w, err := CreateNPZ(filepath.Join(dir, "w.npz"), nil)
	if err != nil {
		f.Fatal(err)
	}
	a, err := AddMember[float64](w, "a", []int{3}, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close() // a mapped member keeps the file from being removed on Windows
	bm, err := AddMember[tick](w, "b", []int{2}, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer bm.Close()
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "w.npz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := readZipDir(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrNotNPZ) {
				t.Fatalf("error matching no sentinel: %v", err)
			}
			return
		}
		for i, m := range ms {
			if m.Offset < 0 || m.Size < 0 || m.Offset+m.Size > int64(len(b)) {
				t.Fatalf("accepted member %+v of a %d-byte file", m, len(b))
			}
			for _, o := range ms[:i] {
				if m.Offset < o.Offset+o.Size && o.Offset < m.Offset+m.Size {
					t.Fatalf("accepted overlapping members %+v and %+v", o, m)
				}
			}
		}
		z := &NPZ{path: "fuzz.npz", r: bytes.NewReader(b), size: int64(len(b)), members: ms}
		for _, m := range ms {
			if h, err := z.Header(m.Name); err == nil && h.DataBytes() < 1<<20 {
				// Read it all through the checking reader, as Load does.
				src := z.open(m)
				if !m.Compressed {
					src = &checkedReader{r: io.NewSectionReader(z.r, m.Offset, m.Size), left: m.USize, want: m.CRC32, name: m.Name}
				}
				io.Copy(io.Discard, io.LimitReader(src, 1<<22))
			}
		}
	})
}
