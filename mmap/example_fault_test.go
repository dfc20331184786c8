//go:build !windows

// Windows refuses to truncate a file while a view of it is mapped, so the
// fault this example shows cannot happen there (TestTruncatedByAnotherProcess
// checks the refusal).

package mmap_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/mmap"
)

// A file truncated under the mapping gives an error, not a crash.
func ExampleRegion_Do() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-do.bin")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	os.Truncate(path, 4096) // another process could do this at any time

	err = r.Do(func(b []byte) error {
		var sum int
		for _, c := range b { // touches pages that no longer exist
			sum += int(c)
		}
		fmt.Println("sum", sum) // not reached
		return nil
	})
	fmt.Println(errors.Is(err, mmap.ErrFault))
	// Output: true
}
