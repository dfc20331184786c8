// Package units is mmapkit's one parser and formatter of byte counts.
//
// Every size a user types (a ring's capacity, a benchmark's file size, a
// page-cache range) goes through ParseSize, and every size shown to a user goes
// through FormatBytes, so one spelling means one number everywhere:
//
//	KiB MiB GiB TiB PiB EiB, and bare K M G T P E   powers of 1024
//	kB KB MB GB TB PB EB                            powers of 1000
//	B, or no suffix                                 bytes
//
// Suffixes are case-insensitive ("kib", "mb", "g"), may follow the number after
// spaces ("4 GiB") and the number may have a fraction as long as the result is a
// whole number of bytes ("1.5GiB", "0.5K"; not "0.1K", which is 102.4 bytes).
package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

var (
	// ErrSyntax: the text is not a size at all ("four", "4QB", "", "1e9").
	ErrSyntax = errors.New("not a size")
	// ErrNegative: the text is a negative size ("-1", "-4KiB").
	ErrNegative = errors.New("negative size")
	// ErrRange: the size does not fit in an int64 (9 EiB and more), or it is
	// not a whole number of bytes ("0.1KiB").
	ErrRange = errors.New("size out of range")
)

// Examples is shown in errors and flag help: sizes a user may type.
const Examples = "4096, 64KiB, 1.5GiB, 512M, 10MB"

// multipliers by lower-cased suffix.
var multipliers = func() map[string]uint64 {
	m := map[string]uint64{"": 1, "b": 1}
	for i, p := range "kmgtpe" {
		bin := uint64(1) << (10 * (i + 1))
		dec := uint64(1)
		for range i + 1 {
			dec *= 1000
		}
		m[string(p)] = bin
		m[string(p)+"ib"] = bin
		m[string(p)+"b"] = dec
	}
	return m
}()

// ParseSize parses a byte count such as "4096", "64KiB", "1.5 GiB", "512M" or
// "10MB" (see the package doc for the units). Errors match ErrSyntax,
// ErrNegative or ErrRange and quote the text.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	if neg {
		t = strings.TrimSpace(t[1:])
	}
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := multipliers[strings.ToLower(unit)]
	if !ok || num == "" || num == "." || strings.Count(num, ".") > 1 || len(num) > 40 {
		return 0, fmt.Errorf("%q: %w (examples: %s)", s, ErrSyntax, Examples)
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q: %w (examples: %s)", s, ErrSyntax, Examples)
	}
	if neg && v.Sign() != 0 {
		return 0, fmt.Errorf("%q: %w", s, ErrNegative)
	}
	v.Mul(v, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
	if !v.IsInt() {
		return 0, fmt.Errorf("%q: %w: not a whole number of bytes", s, ErrRange)
	}
	n := v.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q: %w: the largest size is %d bytes (8 EiB)", s, ErrRange, int64(math.MaxInt64))
	}
	return n.Int64(), nil
}

// ParseRange parses a byte range of a file as "LO-HI" (bytes LO up to, not
// including, HI), "LO-" (from LO to the end of the file; hi is -1) or "HI"
// (the first HI bytes), each bound a size as ParseSize reads it: "10MiB-20MiB",
// "1G-", "64KiB". LO must not be above HI. Errors match those of ParseSize.
func ParseRange(s string) (lo, hi int64, err error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, 0, fmt.Errorf("range %q: %w (a range starts at a size: 10MiB-20MiB, 1GiB-, 64KiB)", s, ErrNegative)
	}
	a, b, isRange := strings.Cut(t, "-")
	if !isRange {
		hi, err := ParseSize(a)
		if err != nil {
			return 0, 0, fmt.Errorf("range %w", err)
		}
		return 0, hi, nil
	}
	if lo, err = ParseSize(a); err != nil {
		return 0, 0, fmt.Errorf("range %q: start %w", s, err)
	}
	if strings.TrimSpace(b) == "" {
		return lo, -1, nil
	}
	if hi, err = ParseSize(b); err != nil {
		return 0, 0, fmt.Errorf("range %q: end %w", s, err)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("range %q: %w: the start is past the end", s, ErrRange)
	}
	return lo, hi, nil
}

// FormatBytes formats n in IEC units for people: "0 B", "1023 B", "4 KiB",
// "1.5 GiB", "-2 MiB". A whole number of units is shown without a fraction;
// anything else is rounded to one decimal ("4.0 KiB" is 4 KiB and a little),
// so the text says whether it is exact. ParseSize reads every result back
// (exactly when it has no fraction).
func FormatBytes(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8 EiB"
		}
		return "-" + FormatBytes(-n)
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	exp := 0
	for exp < 5 && n >= 1024<<(10*exp+10) {
		exp++
	}
	div := int64(1) << (10 * (exp + 1))
	unit := "KMGTPE"[exp : exp+1]
	if n%div == 0 {
		return fmt.Sprintf("%d %siB", n/div, unit)
	}
	v := float64(n) / float64(div)
	if math.Round(v*10) >= 10240 && exp < 5 {
		// 1023.96 KiB would round to "1024.0 KiB": say "1.0 MiB".
		return fmt.Sprintf("%.1f %siB", v/1024, "KMGTPE"[exp+1:exp+2])
	}
	return fmt.Sprintf("%.1f %siB", v, unit)
}
