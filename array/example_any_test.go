package array_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/array"
)

// OpenNPYAny opens a .npy file whose element type is known only at run
// time, as a tool that handles any file does; a type switch on the concrete
// *Array[T] gets the zero-copy slices back.
func ExampleOpenNPYAny() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "counts.npy")
	w, err := array.CreateNPY[uint16](path, []int{2, 3}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := range w.Data() {
		w.Data()[i] = uint16(10 * i)
	}
	w.Close()

	u, err := array.OpenNPYAny(path, array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close()
	fmt.Println(u.Dtype(), u.Shape(), u.Value(1, 2))
	switch a := u.(type) {
	case *array.Array[uint16]:
		fmt.Println("uint16 rows:", a.Row(0), a.Row(1))
	case *array.Array[float64]:
		fmt.Println("float64 rows:", a.Row(0))
	default:
		fmt.Println("no fast path for", u.Dtype())
	}
	// Output:
	// uint16 [2 3] 50
	// uint16 rows: [0 10 20] [30 40 50]
}
