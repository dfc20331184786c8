package array

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	numpyOnce sync.Once
	numpyPy   string
)

// numpyPython returns an interpreter that imports numpy. It skips the test if
// there is none, but fails it when MMAPKIT_REQUIRE_NUMPY=1 (as CI sets), so
// the interop tests can never pass by not running.
func numpyPython(t testing.TB) string {
	t.Helper()
	numpyOnce.Do(func() {
		cands := []string{os.Getenv("MMAPKIT_PYTHON"), "/usr/bin/python3", "python3", "python"}
		for _, c := range cands {
			if c == "" {
				continue
			}
			if exec.Command(c, "-c", "import numpy").Run() == nil {
				numpyPy = c
				return
			}
		}
	})
	if numpyPy == "" {
		if os.Getenv("MMAPKIT_REQUIRE_NUMPY") == "1" {
			t.Fatal("no Python interpreter imports numpy (tried $MMAPKIT_PYTHON, /usr/bin/python3, python3, python) and MMAPKIT_REQUIRE_NUMPY=1")
		}
		t.Skip("no Python interpreter with numpy; set MMAPKIT_PYTHON")
	}
	return numpyPy
}

// runPython runs script with numpy's interpreter and returns its stdout; a
// failing script fails the test with its stderr.
func runPython(t testing.TB, script string, args ...string) string {
	t.Helper()
	py := numpyPython(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "script.py")
	if err := os.WriteFile(f, []byte(pyPrelude+script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{f}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s\nstdout:\n%s", err, stderr.String(), out)
	}
	return string(out)
}

// pyPrelude defines gen(): the same values as val[T] in Go, so each side can
// check the other's files. Values depend on the logical C-order index only.
const pyPrelude = `
import sys, json, numpy as np
def gen(dtype, shape, order='C'):
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    k = np.arange(n, dtype=np.int64)
    if dt.kind == 'b':
        v = (k % 3 == 0)
    elif dt.kind in 'iu':
        v = k*7 - 50
        if dt.itemsize == 8:
            v = v + k*(2**40)
        v = v.astype(dt)
    elif dt.kind == 'f' and dt.itemsize == 2:
        v = (k*0.25 - 1).astype(dt)
    elif dt.kind == 'f':
        v = (k/7.0 - 3.0).astype(dt)
    else:
        v = ((k/7.0 - 3.0) + 1j*(-k/3.0)).astype(dt)
    v = v.reshape(shape)
    if order == 'F' and v.ndim > 1:
        v = np.asfortranarray(v)
    return v
`

// val is the Go side of gen(): the value at C-order flat index k.
// numeric is the set of Go types that hold NumPy's numeric dtypes.
type numeric interface {
	int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 |
		float32 | float64 | complex64 | complex128 | bool | Float16
}

// dtypeOf returns the dtype CreateNPY writes for T.
func dtypeOf[T any]() Dtype {
	e, err := elemOf[T]()
	if err != nil {
		panic(err)
	}
	return e.dt
}

func val[T numeric](k int) T {
	var z T
	switch p := any(&z).(type) {
	case *bool:
		*p = k%3 == 0
	case *int8:
		*p = int8(k*7 - 50)
	case *int16:
		*p = int16(k*7 - 50)
	case *int32:
		*p = int32(k*7 - 50)
	case *int64:
		*p = int64(k*7-50) + int64(k)<<40
	case *uint8:
		*p = uint8(k*7 - 50)
	case *uint16:
		*p = uint16(k*7 - 50)
	case *uint32:
		*p = uint32(k*7 - 50)
	case *uint64:
		*p = uint64(int64(k*7-50) + int64(k)<<40)
	case *Float16:
		*p = Float16From(float32(k)*0.25 - 1)
	case *float32:
		*p = float32(float64(k)/7 - 3)
	case *float64:
		*p = float64(k)/7 - 3
	case *complex64:
		*p = complex(float32(float64(k)/7-3), float32(-float64(k)/3))
	case *complex128:
		*p = complex(float64(k)/7-3, -float64(k)/3)
	}
	return z
}

// forEachIndex calls fn for every multi-index of shape in C order, with its
// C-order flat index.
func forEachIndex(shape []int, fn func(idx []int, k int)) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	idx := make([]int, len(shape))
	for k := 0; k < n; k++ {
		fn(idx, k)
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
}

// typeCase runs per-type test code for every numeric type.
type typeCase struct {
	dtype Dtype
	// swapped checks a rows x cols file of the type in the other byte order.
	swapped func(t *testing.T, path string, rows, cols int)
	// check opens path with the right T and compares every element to val.
	check func(t *testing.T, path string)
	// write creates path with CreateNPY and fills it with val.
	write func(t *testing.T, path string, opts *Options, shape []int)
}

func makeCase[T numeric]() typeCase {
	return typeCase{
		dtype:   dtypeOf[T](),
		swapped: swappedCase[T](),
		check: func(t *testing.T, path string) {
			t.Helper()
			a, err := OpenNPY[T](path, ReadOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			checkValues(t, a)
		},
		write: func(t *testing.T, path string, opts *Options, shape []int) {
			t.Helper()
			a, err := CreateNPY[T](path, shape, opts)
			if err != nil {
				t.Fatal(err)
			}
			forEachIndex(shape, func(idx []int, k int) { a.Set(val[T](k), idx...) })
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func checkValues[T numeric](t *testing.T, a *Array[T]) {
	t.Helper()
	bad := 0
	forEachIndex(a.Shape(), func(idx []int, k int) {
		if got, want := a.At(idx...), val[T](k); got != want && bad < 5 {
			bad++
			t.Errorf("%s at %v: got %v, want %v", a.Path(), idx, got, want)
		}
	})
}

var allTypes = []typeCase{
	makeCase[bool](), makeCase[int8](), makeCase[int16](), makeCase[int32](), makeCase[int64](),
	makeCase[uint8](), makeCase[uint16](), makeCase[uint32](), makeCase[uint64](),
	makeCase[Float16](), makeCase[float32](), makeCase[float64](), makeCase[complex64](), makeCase[complex128](),
}

// craftNPY builds a .npy file from a version, raw header text and data.
func craftNPY(major, minor int, text string, data []byte) []byte {
	b := []byte("\x93NUMPY")
	b = append(b, byte(major), byte(minor))
	if major == 1 {
		b = append(b, byte(len(text)), byte(len(text)>>8))
	} else {
		b = append(b, byte(len(text)), byte(len(text)>>8), byte(len(text)>>16), byte(len(text)>>24))
	}
	b = append(b, text...)
	return append(b, data...)
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// swappedCase checks a file of T in the other byte order: At, ReadRows and
// Batches convert, the zero-copy calls refuse, and Set writes the file's
// order.
func swappedCase[T numeric]() func(t *testing.T, path string, rows, cols int) {
	return func(t *testing.T, path string, rows, cols int) {
		t.Helper()
		a, err := OpenNPY[T](path, ReadWrite, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if a.Swapped() != (a.Dtype().Size > 1) {
			t.Fatalf("Swapped() = %v for %s", a.Swapped(), a.Dtype())
		}
		checkValues(t, a)
		got, err := a.ReadRows(nil, 0, rows)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range got {
			if v != val[T](k) {
				t.Fatalf("ReadRows element %d: %v, want %v", k, v, val[T](k))
			}
		}
		k := 0
		for first, b := range a.Batches(2) {
			if first*cols != k {
				t.Fatalf("batch at %d, want %d", first, k/cols)
			}
			for _, v := range b {
				if v != val[T](k) {
					t.Fatalf("Batches element %d: %v, want %v", k, v, val[T](k))
				}
				k++
			}
		}
		if k != rows*cols {
			t.Fatalf("Batches saw %d elements", k)
		}
		if !a.Swapped() {
			return
		}
		for name, f := range map[string]func(){
			"Data": func() { a.Data() },
			"Row":  func() { a.Row(0) },
			"Rows": func() { a.Rows(0, 1) },
		} {
			func() {
				defer func() {
					err, _ := recover().(error)
					if !errors.Is(err, ErrByteOrder) {
						t.Errorf("%s on a swapped array: panic %v, want ErrByteOrder", name, err)
					}
				}()
				f()
			}()
		}
		if err := a.Do(func([]T) error { return nil }); !errors.Is(err, ErrByteOrder) {
			t.Errorf("Do on a swapped array: %v", err)
		}
		// Set stores in the file's order: element 0 becomes element 1's value.
		a.Set(val[T](cols+1), 0, 1)
		if a.At(0, 1) != val[T](cols+1) {
			t.Fatalf("Set then At: %v", a.At(0, 1))
		}
	}
}
