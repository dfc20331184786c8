package sys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dirNames lists dir's entries by name.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A file from CreateUnnamed leaves no name behind unless linked; linking
// never replaces a file, and the linked file keeps what was written.
func TestCreateUnnamed(t *testing.T) {
	dir := t.TempDir()
	f, err := CreateUnnamed(dir, 0o600)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no unnamed files here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("dropped"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("an unnamed file closed without LinkUnnamed left %q", names)
	}

	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = CreateUnnamed(dir, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("new data"), 0); err != nil {
		t.Fatal(err)
	}
	if err := LinkUnnamed(f, existing); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("LinkUnnamed over an existing file: %v, want fs.ErrExist", err)
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "old" {
		t.Fatalf("the existing file after a refused link: %q %v", b, err)
	}
	path := filepath.Join(dir, "new")
	if err := LinkUnnamed(f, path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "new data!" {
		t.Fatalf("the linked file: %q %v", b, err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"existing", "new"}) {
		t.Fatalf("the directory holds %q, want [existing new]", names)
	}
}
