package array

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrTooLong: a string does not fit in a fixed-size string field.
var ErrTooLong = errors.New("string too long for the field")

// String returns the byte string in b (a NumPy 'S' value, held in Go as
// [n]byte: pass v[:]) as NumPy reads it: without its trailing NUL bytes.
func String(b []byte) string {
	return string(b[:len(strings.TrimRight(string(b), "\x00"))])
}

// SetString stores s in b (a NumPy 'S' value, [n]byte in Go: pass v[:]),
// padded with NUL bytes as NumPy stores it. A string longer than b is an
// error matching ErrTooLong, and b is left unchanged (NumPy would cut it).
func SetString(b []byte, s string) error {
	if len(s) > len(b) {
		return fmt.Errorf("%w: %d bytes into %d", ErrTooLong, len(s), len(b))
	}
	clear(b[copy(b, s):])
	return nil
}

// Unicode returns the UTF-32 string in r (a NumPy 'U' value, held in Go as
// [n]rune in this machine's byte order, as At returns it: pass v[:]) as
// NumPy reads it: without its trailing NULs. A value that is not a Unicode
// code point becomes U+FFFD.
func Unicode(r []rune) string {
	n := len(r)
	for n > 0 && r[n-1] == 0 {
		n--
	}
	var b strings.Builder
	for _, c := range r[:n] {
		if !utf8.ValidRune(c) {
			c = utf8.RuneError
		}
		b.WriteRune(c)
	}
	return b.String()
}

// SetUnicode stores s in r (a NumPy 'U' value, [n]rune in Go: pass v[:]),
// padded with NULs. A string of more code points than r holds is an error
// matching ErrTooLong, and r is left unchanged.
func SetUnicode(r []rune, s string) error {
	if n := utf8.RuneCountInString(s); n > len(r) {
		return fmt.Errorf("%w: %d code points into %d", ErrTooLong, n, len(r))
	}
	i := 0
	for _, c := range s {
		r[i] = c
		i++
	}
	clear(r[i:])
	return nil
}
