package array_test

import (
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"

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

// Tick is a Go struct for the structured dtype
// np.dtype([('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('sym', 'S6')], align=True).
type Tick struct {
	Ts    int64   `npy:"ts"`
	Price float64 `npy:"price"`
	Qty   int32   `npy:"qty"`
	Sym   [6]byte `npy:"sym"`
}

// Structured arrays map as Go structs: CreateNPY writes the dtype NumPy
// reads back (np.load(path).dtype == the align=True dtype above), and
// OpenNPY checks the file's layout against the struct field by field.
func ExampleOpenNPY_struct() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ticks.npy")

	w, err := array.CreateNPY[Tick](path, []int{3}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for i, sym := range []string{"AAPL", "MSFT", "GOOG"} {
		t := Tick{Ts: int64(1000 + i), Price: 100.5 + float64(i), Qty: int32(10 * i)}
		array.SetString(t.Sym[:], sym)
		w.Set(t, i)
	}
	w.Close()

	h, _ := array.ReadNPYHeader(path)
	fmt.Println(h.Descr)

	a, err := array.OpenNPY[Tick](path, array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	for _, t := range a.Data() { // zero-copy []Tick
		fmt.Println(t.Ts, t.Price, t.Qty, array.String(t.Sym[:]))
	}

	// A struct that does not match is refused, naming the field.
	type Wrong struct {
		Ts    int64   `npy:"ts"`
		Price float32 `npy:"price"`
	}
	_, err = array.OpenNPY[Wrong](path, array.ReadOnly, nil)
	fmt.Println(errors.Is(err, array.ErrDtypeMismatch), strings.Contains(err.Error(), "field price"))
	// Output:
	// [('ts', '<i8'), ('price', '<f8'), ('qty', '<i4'), ('sym', '|S6'), ('', '|V6')]
	// 1000 100.5 0 AAPL
	// 1001 101.5 10 MSFT
	// 1002 102.5 20 GOOG
	// true true
}

// A big-endian file opens, but its bytes are not Go values: At and ReadRows
// convert, and ConvertNPY writes a native copy that maps zero-copy.
func ExampleConvertNPY() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	native, big := filepath.Join(dir, "native.npy"), filepath.Join(dir, "big.npy")
	a, _ := array.CreateNPY[float64](native, []int{2, 2}, nil)
	copy(a.Data(), []float64{1.5, 2.5, 3.5, 4.5})
	a.Close()
	if err := array.ConvertNPY(big, native, '>', nil); err != nil {
		log.Fatal(err)
	}

	b, err := array.OpenNPY[float64](big, array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	rows, _ := b.ReadRows(nil, 0, 2)
	fmt.Println(b.Dtype(), b.Swapped(), b.At(1, 0), rows)
	// Output: >f8 true 3.5 [1.5 2.5 3.5 4.5]
}

// An .npz archive: members are mapped where they lie in the file, so
// opening one costs the same whatever the archive's size.
func ExampleOpenNPZ() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data.npz")

	w, err := array.CreateNPZ(path, nil) // np.load(path) opens it
	if err != nil {
		log.Fatal(err)
	}
	x, _ := array.AddMember[int32](w, "x", []int{2, 3}, nil)
	for i := range x.Data() {
		x.Data()[i] = int32(i * i)
	}
	y, _ := array.AddMember[float32](w, "y", []int{4}, nil)
	y.Set(0.5, 3)
	if err := w.Close(); err != nil { // checksums and the zip directory
		log.Fatal(err)
	}
	x.Close()
	y.Close()

	z, err := array.OpenNPZ(path)
	if err != nil {
		log.Fatal(err)
	}
	defer z.Close()
	for _, m := range z.Members() {
		fmt.Println(m.Key(), m.Compressed, m.Offset%64 == 0)
	}
	a, err := array.OpenMember[int32](z, "x", array.ReadOnly, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	fmt.Println(a.Shape(), a.Row(1))
	// Output:
	// x false true
	// y false true
	// [2 3] [9 16 25]
}
