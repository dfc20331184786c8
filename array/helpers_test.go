package array

import (
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
func val[T Element](k int) T {
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

// typeCase runs per-type test code for every Element type.
type typeCase struct {
	dtype Dtype
	// check opens path with the right T and compares every element to val.
	check func(t *testing.T, path string)
	// write creates path with CreateNPY and fills it with val.
	write func(t *testing.T, path string, opts *Options, shape []int)
}

func makeCase[T Element]() typeCase {
	return typeCase{
		dtype: dtypeOf[T](),
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

func checkValues[T Element](t *testing.T, a *Array[T]) {
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
