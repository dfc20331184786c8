package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"4096", 4096, nil},
		{" 4096 ", 4096, nil},
		{"12B", 12, nil},
		{"1K", 1 << 10, nil},
		{"1k", 1 << 10, nil},
		{"1KiB", 1 << 10, nil},
		{"1kib", 1 << 10, nil},
		{"1KB", 1000, nil},
		{"1kB", 1000, nil},
		{"1kb", 1000, nil},
		{"64KiB", 64 << 10, nil},
		{"512M", 512 << 20, nil},
		{"512MiB", 512 << 20, nil},
		{"10MB", 10_000_000, nil},
		{"4G", 4 << 30, nil},
		{"4 GiB", 4 << 30, nil},
		{"4GB", 4_000_000_000, nil},
		{"2T", 2 << 40, nil},
		{"2TiB", 2 << 40, nil},
		{"2TB", 2_000_000_000_000, nil},
		{"1PiB", 1 << 50, nil},
		{"1EiB", 1 << 60, nil},
		{"7EiB", 7 << 60, nil},
		{"1.5GiB", 3 << 29, nil},
		{"1.5GB", 1_500_000_000, nil},
		{"0.5K", 512, nil},
		{".5K", 512, nil},
		{"1.K", 1024, nil},
		{"-0", 0, nil},
		{"9223372036854775807", math.MaxInt64, nil},

		{"", 0, ErrSyntax},
		{"  ", 0, ErrSyntax},
		{"four", 0, ErrSyntax},
		{"4QB", 0, ErrSyntax},
		{"4 G iB", 0, ErrSyntax},
		{"1e9", 0, ErrSyntax},
		{"0x1000", 0, ErrSyntax},
		{"1/2K", 0, ErrSyntax},
		{"1..5K", 0, ErrSyntax},
		{"1.2.3", 0, ErrSyntax},
		{".", 0, ErrSyntax},
		{"K", 0, ErrSyntax},
		{"+5", 0, ErrSyntax},
		{"--5", 0, ErrSyntax},
		{"1_000", 0, ErrSyntax},
		{"1KiBB", 0, ErrSyntax},
		{"１K", 0, ErrSyntax}, // a full-width digit

		{"-1", 0, ErrNegative},
		{"-4KiB", 0, ErrNegative},
		{" - 4KiB", 0, ErrNegative},

		{"8EiB", 0, ErrRange},
		{"9223372036854775808", 0, ErrRange},
		{"99999999999999999999999", 0, ErrRange},
		{"10000PB", 0, ErrRange},
		{"0.1K", 0, ErrRange},
		{"1.5", 0, ErrRange},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want an error matching %v", tt.in, got, err, tt.err)
			} else if !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
				t.Errorf("ParseSize(%q): error %q does not quote the input", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int64
		err    error
	}{
		{"10MiB-20MiB", 10 << 20, 20 << 20, nil},
		{"0-4096", 0, 4096, nil},
		{" 4K - 8K ", 4 << 10, 8 << 10, nil},
		{"1G-", 1 << 30, -1, nil},
		{"64KiB", 0, 64 << 10, nil},
		{"5-5", 5, 5, nil},
		{"1.5KB-2kB", 1500, 2000, nil},

		{"-4K", 0, 0, ErrNegative},
		{"20MiB-10MiB", 0, 0, ErrRange},
		{"a-b", 0, 0, ErrSyntax},
		{"1K-x", 0, 0, ErrSyntax},
		{"1K--2K", 0, 0, ErrNegative},
		{"", 0, 0, ErrSyntax},
		{"-", 0, 0, ErrNegative},
		{"1-2-3", 0, 0, ErrSyntax},
	}
	for _, tt := range tests {
		lo, hi, err := ParseRange(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseRange(%q) = %d, %d, %v; want an error matching %v", tt.in, lo, hi, err, tt.err)
			}
			continue
		}
		if err != nil || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParseRange(%q) = %d, %d, %v; want %d, %d", tt.in, lo, hi, err, tt.lo, tt.hi)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1025, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{4096, "4 KiB"},
		{1<<20 - 1, "1.0 MiB"},
		{1<<20 - 100, "1023.9 KiB"},
		{1 << 20, "1 MiB"},
		{3 << 29, "1.5 GiB"},
		{4 << 30, "4 GiB"},
		{4_000_000_000, "3.7 GiB"},
		{5 << 40, "5 TiB"},
		{1 << 50, "1 PiB"},
		{1 << 60, "1 EiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-1, "-1 B"},
		{-2 << 20, "-2 MiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// checkRoundTrip: what FormatBytes prints, ParseSize reads back, exactly when
// there is no fraction and within half a tenth of the unit otherwise.
func checkRoundTrip(t *testing.T, n int64) {
	s := FormatBytes(n)
	back, err := ParseSize(s)
	if err != nil {
		// A fraction may not be a whole number of bytes ("1.1 KiB" is
		// 1126.4): that is the only allowed failure.
		if !strings.Contains(s, ".") || !errors.Is(err, ErrRange) {
			t.Fatalf("FormatBytes(%d) = %q, which ParseSize refuses: %v", n, s, err)
		}
		return
	}
	if !strings.Contains(s, ".") {
		if back != n {
			t.Fatalf("FormatBytes(%d) = %q reads back as %d", n, s, back)
		}
		return
	}
	unit := int64(1024)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		if strings.HasSuffix(s, u) {
			break
		}
		unit *= 1024
	}
	if d := math.Abs(float64(back) - float64(n)); d > float64(unit)/20+1 {
		t.Fatalf("FormatBytes(%d) = %q reads back as %d, %.0f off", n, s, back, d)
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, 1024, 1025, 4095, 1 << 20, 1<<20 + 1, 5 << 30, math.MaxInt64 >> 1} {
		checkRoundTrip(t, n)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4096", "1.5GiB", "10MB", "-1", "8EiB", "0.1K", " 4 k ", "1e9", "", "10MiB-20MiB", "1G-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNegative) && !errors.Is(err, ErrRange) {
				t.Fatalf("ParseSize(%q): error %v matches no sentinel", s, err)
			}
		} else {
			if n < 0 {
				t.Fatalf("ParseSize(%q) = %d, negative", s, n)
			}
			checkRoundTrip(t, n)
			// The bare number of bytes always reads back.
			if back, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
				t.Fatalf("ParseSize(%d) = %d, %v", n, back, err)
			}
		}
		lo, hi, err := ParseRange(s)
		if err == nil && (lo < 0 || hi < -1 || (hi >= 0 && lo > hi)) {
			t.Fatalf("ParseRange(%q) = %d, %d", s, lo, hi)
		}
	})
}

func FuzzFormatBytes(f *testing.F) {
	for _, n := range []int64{0, 1023, 1 << 20, math.MaxInt64, -5} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 {
			if s := FormatBytes(n); !strings.HasPrefix(s, "-") {
				t.Fatalf("FormatBytes(%d) = %q", n, s)
			}
			return
		}
		checkRoundTrip(t, n)
	})
}
