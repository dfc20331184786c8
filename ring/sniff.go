package ring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Sniff reports whether the file at path is a ring: a regular file that
// starts with the ring magic (of any format version). It reads 8 bytes and
// never blocks on a FIFO or other special file (those are not rings: false).
// A missing or unreadable file is an error.
func Sniff(path string) (bool, error) {
	f, err := openRegular(path, os.O_RDONLY, false)
	if err != nil {
		if errors.Is(err, errNotRegularFile) {
			return false, nil
		}
		return false, pathErr("sniff", path, err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, pathErr("sniff", path, err)
	}
	return b == magic, nil
}

// IsRing reports whether b, the first bytes of a file, start with the ring
// magic. It needs at least 8 bytes to say yes.
func IsRing(b []byte) bool { return len(b) >= len(magic) && bytes.Equal(b[:len(magic)], magic[:]) }

// describeMagic names what a file that is not a ring seems to be, from its
// first bytes, for the ErrNotRing message.
func describeMagic(b []byte) string {
	kinds := []struct {
		prefix, what string
	}{
		{"PK\x03\x04", "a zip or .npz?"},
		{"\x93NUMPY", "a NumPy .npy file"},
		{"MKSL", "an shm Slot?"},
		{"\x7fELF", "an executable"},
		{"\x1f\x8b", "gzip"},
		{"SQLite format 3\x00", "an SQLite database"},
	}
	for _, k := range kinds {
		if bytes.HasPrefix(b, []byte(k.prefix)) {
			return fmt.Sprintf("magic %q, %s", b[:min(len(b), 8)], k.what)
		}
	}
	if len(b) > 8 {
		b = b[:8]
	}
	if bytes.Count(b, []byte{0}) == len(b) {
		return "all zero bytes"
	}
	return fmt.Sprintf("magic %q", b)
}
