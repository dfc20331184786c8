package mmap_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/mmap"
)

// Read scattered blocks of a file with their disk reads in flight together:
// Random advice so a miss reads one page, then PrefetchOffsets for the batch,
// then ordinary reads.
func ExampleRegion_PrefetchOffsets() {
	path := filepath.Join(os.TempDir(), "mmapkit-example-scatter.bin")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i / 4096)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)

	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if err := r.Advise(mmap.AdviceRandom); err != nil {
		log.Fatal(err)
	}
	offs := []int64{200 * 4096, 3 * 4096, 77 * 4096}
	if err := r.PrefetchOffsets(offs, 4096); err != nil {
		log.Fatal(err)
	}
	block := make([]byte, 4096)
	for _, off := range offs {
		if _, err := r.ReadAt(block, off); err != nil {
			log.Fatal(err)
		}
		fmt.Print(block[0], " ")
	}
	fmt.Println()
	// Output: 200 3 77
}
