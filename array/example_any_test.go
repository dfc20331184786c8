package array_test

import (
	"errors"
	"fmt"
	"io/fs"
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

// Create makes a raw file of zeros, like np.memmap(path, mode='w+'), but
// refuses to overwrite an existing file unless Options.Replace says so
// (NumPy's 'w+' silently truncates it).
func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "grid.dat")

	a, err := array.Create[int16](path, []int{2, 4}, nil)
	if err != nil {
		log.Fatal(err)
	}
	a.Set(7, 1, 3) // row 1, column 3
	a.Close()

	_, err = array.Create[int16](path, []int{2, 4}, nil)
	fmt.Println("again:", errors.Is(err, fs.ErrExist))

	b, err := array.Open[int16](path, array.ReadOnly, 0, nil, nil) // nil shape: 1-D over the whole file
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println(b.Shape(), b.Data())
	// Output:
	// again: true
	// [8] [0 0 0 0 0 0 0 7]
}
