package bench_test

import (
	"fmt"

	"github.com/mmapkit/mmapkit/internal/bench"
)

// The offsets every method reads: block-aligned, from the seed, the same on
// every run and in every child process.
func ExampleOffsets() {
	offs := bench.Offsets(1<<20, 4096, 4, 1)
	same := bench.Offsets(1<<20, 4096, 4, 1)
	for i, off := range offs {
		fmt.Println(off%4096 == 0, off < 1<<20, off == same[i])
	}
	// Output:
	// true true true
	// true true true
	// true true true
	// true true true
}
