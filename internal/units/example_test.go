package units_test

import (
	"fmt"

	"github.com/mmapkit/mmapkit/internal/units"
)

func ExampleParseSize() {
	for _, s := range []string{"64KiB", "64K", "64KB", "1.5GiB", "-1", "0.1K"} {
		n, err := units.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 65536 <nil>
	// 65536 <nil>
	// 64000 <nil>
	// 1610612736 <nil>
	// 0 "-1": negative size
	// 0 "0.1K": size out of range: not a whole number of bytes
}

func ExampleFormatBytes() {
	for _, n := range []int64{512, 4096, 1536, 4_000_000_000} {
		fmt.Println(units.FormatBytes(n))
	}
	// Output:
	// 512 B
	// 4 KiB
	// 1.5 KiB
	// 3.7 GiB
}

func ExampleParseRange() {
	lo, hi, err := units.ParseRange("10MiB-20MiB")
	fmt.Println(lo, hi, err)
	lo, hi, err = units.ParseRange("1GiB-")
	fmt.Println(lo, hi, err)
	// Output:
	// 10485760 20971520 <nil>
	// 1073741824 -1 <nil>
}
