package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/array"
)

// runNpy runs a fresh root command with args and returns stdout, stderr and
// the error.
func runNpy(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func makeNPY(t *testing.T, dir string) (cpath, fpath, scalar string) {
	t.Helper()
	cpath = filepath.Join(dir, "c.npy")
	a, err := array.CreateNPY[float32](cpath, []int{6, 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Data() {
		a.Data()[i] = float32(i) / 4
	}
	a.Close()
	fpath = filepath.Join(dir, "f.npy")
	b, err := array.CreateNPY[int16](fpath, []int{2, 3}, &array.Options{Fortran: true, Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		for j := range 3 {
			b.Set(int16(i*3+j), i, j)
		}
	}
	b.Close()
	scalar = filepath.Join(dir, "s.npy")
	s, err := array.CreateNPY[complex128](scalar, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(1.5 - 2i)
	s.Close()
	return
}

func TestNpyInfo(t *testing.T) {
	dir := t.TempDir()
	c, f, _ := makeNPY(t, dir)
	out, _, err := runNpy(t, "npy", "info", c, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"file:        " + c, "version:     1.0", "dtype:       float32 (<f4, 4 bytes, Go float32)",
		"shape:       (6, 10)", "order:       C (row-major)", "elements:    60", "data offset: 128", "data size:   240 bytes",
		"file:        " + f, "version:     2.0", "dtype:       int16 (<i2", "shape:       (2, 3)", "order:       F (column-major)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runNpy(t, "npy", "info", "--json", c, f)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", out)
	}
	var got npyInfoJSON
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil {
		t.Fatal(err)
	}
	want := npyInfoJSON{File: f, Version: "2.0", Descr: "<i2", Dtype: "int16", Shape: []int{2, 3}, FortranOrder: true,
		Elements: 6, ItemSize: 2, HeaderLen: 116, DataOffset: 128, DataBytes: 12, FileSize: 140}
	if g, w := mustMarshal(got), mustMarshal(want); g != w {
		t.Fatalf("json\n got %s\nwant %s", g, w)
	}
}

func TestNpyInfoErrors(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := makeNPY(t, dir)
	bad := filepath.Join(dir, "bad.npy")
	if err := os.WriteFile(bad, []byte("not numpy at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runNpy(t, "npy", "info", bad, c)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("error %v, want exit status 1", err)
	}
	if !strings.Contains(errOut, "not a .npy file") || !strings.Contains(errOut, bad) {
		t.Errorf("stderr %q does not explain the bad file", errOut)
	}
	if !strings.Contains(out, "file:        "+c) {
		t.Errorf("the good file was not reported after the bad one:\n%s", out)
	}
	if _, _, err := runNpy(t, "npy", "info"); err == nil {
		t.Error("info without a file succeeded")
	}
}

func TestNpyHead(t *testing.T) {
	dir := t.TempDir()
	c, f, s := makeNPY(t, dir)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{c, "-n", "2", "--cols", "4"}, c + ": float32 (6, 10) C-order\n" +
			"[0] 0 0.25 0.5 0.75 … (6 more)\n" +
			"[1] 2.5 2.75 3 3.25 … (6 more)\n" +
			"… 4 more rows\n"},
		{[]string{f}, f + ": int16 (2, 3) F-order\n[0] 0 1 2\n[1] 3 4 5\n"},
		{[]string{s}, s + ": complex128 () C-order\n(1.5-2i)\n"},
		{[]string{c, "-n", "0"}, c + ": float32 (6, 10) C-order\n… 6 more rows\n"},
	}
	for _, tc := range cases {
		out, _, err := runNpy(t, append([]string{"npy", "head"}, tc.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if out != tc.want {
			t.Errorf("head %v:\n got %q\nwant %q", tc.args, out, tc.want)
		}
	}
	if _, _, err := runNpy(t, "npy", "head", filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("head of a missing file: %v", err)
	}
	if _, _, err := runNpy(t, "npy", "head", c, "-n", "-1"); err == nil {
		t.Error("negative -n accepted")
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
