package array_test

import (
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/array"
)

// Create a .npy file NumPy can open with np.load(path, mmap_mode='r'), fill
// it in place, and read it back.
func ExampleCreateNPY() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "emb.npy")

	a, err := array.CreateNPY[float32](path, []int{3, 4}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := range a.Len() {
		row := a.Row(i) // zero-copy: writes go to the file
		for j := range row {
			row[j] = float32(i*10 + j)
		}
	}
	if err := a.Flush(); err != nil {
		log.Fatal(err)
	}
	a.Close()

	h, err := array.ReadNPYHeader(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Descr, h.Shape, h.Order(), "data at byte", h.DataOffset)

	b, err := array.OpenNPY[float32](path, array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println(b.At(2, 3), b.Row(1))
	// Output:
	// <f4 [3 4] C data at byte 128
	// 23 [10 11 12 13]
}

// The source's example: normalise rows 5000-5100 of a feature matrix in
// place (here 10,000 x 8 to keep it small).
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "features.dat")

	w, err := array.Create[float32](path, []int{10_000, 8}, nil) // like np.memmap mode 'w+'
	if err != nil {
		log.Fatal(err)
	}
	for i := range w.Data() {
		w.Data()[i] = 2
	}
	w.Close()

	arr, err := array.Open[float32](path, array.ReadWrite, 0, []int{10_000, 8}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer arr.Close()
	batch := arr.Rows(5000, 5100) // only these pages are touched
	for r := 0; r < len(batch); r += 8 {
		row := batch[r : r+8]
		var ss float64
		for _, x := range row {
			ss += float64(x * x)
		}
		n := float32(math.Sqrt(ss))
		for j := range row {
			row[j] /= n
		}
	}
	if err := arr.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f %.4f\n", arr.At(4999, 0), arr.At(5000, 0))
	// Output: 2.0000 0.3536
}

// Scan an array in batches with bounded memory: the next batch is read ahead
// while this one is processed, and finished batches leave RAM.
func ExampleArray_Batches() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "big.npy")
	a, err := array.CreateNPY[int64](path, []int{1000, 16}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := range a.Data() {
		a.Data()[i] = int64(i)
	}
	a.Close()

	a, err = array.OpenNPY[int64](path, array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	var sum int64
	batches := 0
	for _, rows := range a.Batches(300) {
		for _, v := range rows {
			sum += v
		}
		batches++
	}
	fmt.Println(batches, "batches, sum", sum)
	// Output: 4 batches, sum 127992000
}

// Tools that do not know the dtype read the header first.
func ExampleReadNPYHeader() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.npy")
	a, _ := array.CreateNPY[array.Float16](path, []int{2, 5}, &array.Options{Fortran: true})
	a.Set(array.Float16From(0.5), 1, 4)
	a.Close()

	h, err := array.ReadNPYHeader(path)
	if err != nil {
		log.Fatal(err)
	}
	goType, _ := h.Dtype.GoType()
	fmt.Println(h.Dtype, goType, h.Shape, h.Order(), h.Major)
	if h.Dtype.Kind == array.KindFloat16 {
		b, _ := array.OpenNPY[array.Float16](path, array.ReadOnly, nil)
		defer b.Close()
		fmt.Println(b.At(1, 4).Float32())
	}
	// Output:
	// float16 array.Float16 [2 5] F 1
	// 0.5
}
