package shm_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"psm_1234abcd", true},
		{"a", true},
		{"with space.and-dots_ok", true},
		{strings.Repeat("x", shm.MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", shm.MaxNameLen+1), false},
		{"/psm_1234", false},
		{"a/b", false},
		{`a\b`, false},
		{".", false},
		{"..", false},
		{"a..b", false},
		{"nul\x00", false},
		{"tab\t", false},
		{"del\x7f", false},
	}
	// Names a Windows file cannot have: an alternate data stream, devices,
	// a trailing dot or space that Windows would drop.
	for _, n := range []string{"a:b", "nul", "NUL.txt", "com1", "lpt9.x", "con ", "a.", "a ", "q?", "p|q", `"x"`, "<x>", "*"} {
		tests = append(tests, struct {
			name string
			ok   bool
		}{n, runtime.GOOS != "windows"})
	}
	for _, tt := range tests {
		err := shm.ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, shm.ErrBadName) {
			t.Errorf("ValidateName(%q) = %v, does not match ErrBadName", tt.name, err)
		}
	}
}

func TestCreateOpenUnlink(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 10000 {
		t.Errorf("Len %d, want 10000", r.Len())
	}
	fi, err := os.Stat(filepath.Join(shm.Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no permission bits (Go shows a writable file as 0666):
	// there the segment is private through the ACL of the user's
	// temporary directory.
	perm := fs.FileMode(0o600)
	if runtime.GOOS == "windows" {
		perm = 0o666
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), perm)
	}
	if _, err := r.WriteAt([]byte("hello"), 9000); err != nil {
		t.Fatal(err)
	}

	// a second attach sees the data; a read-only attach refuses writes
	for _, mode := range []mmap.Mode{mmap.ReadWrite, mmap.ReadOnly} {
		r2, err := shm.Open(name, mode)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := r2.ReadAt(buf, 9000); err != nil || string(buf) != "hello" {
			t.Errorf("%v attach read %q, %v", mode, buf, err)
		}
		_, err = r2.WriteAt([]byte("x"), 0)
		if mode == mmap.ReadOnly && !errors.Is(err, mmap.ErrReadOnly) {
			t.Errorf("write through read-only attach: %v, want ErrReadOnly", err)
		}
		if mode == mmap.ReadOnly {
			if _, err := shm.NewSlot(r2, 0, 8); !errors.Is(err, mmap.ErrReadOnly) {
				t.Errorf("NewSlot on read-only attach: %v, want ErrReadOnly", err)
			}
			// a fault from writing the raw bytes is an error, not a crash
			err := r2.Do(func(b []byte) error { b[0] = 1; return nil })
			if !errors.Is(err, mmap.ErrFault) {
				t.Errorf("raw write to read-only attach: %v, want ErrFault", err)
			}
		}
		r2.Close()
	}

	list, err := shm.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range list {
		if in.Name == name {
			found = true
			if in.Size != 10000 || in.Mode != perm {
				t.Errorf("List entry %+v", in)
			}
		}
	}
	if !found {
		t.Errorf("List does not include %s", name)
	}

	if runtime.GOOS == "windows" {
		// Windows cannot remove a file that is open or mapped: Unlink
		// says so, and works once the segment is closed.
		err := shm.Unlink(name)
		if err == nil || !strings.Contains(err.Error(), "still open or mapped") {
			t.Fatalf("unlink of a mapped segment on Windows: %v, want a refusal that says why", err)
		}
		if _, err := r.WriteAt([]byte("still here"), 0); err != nil {
			t.Errorf("write after the refused unlink: %v", err)
		}
		r.Close()
	}
	if err := shm.Unlink(name); err != nil {
		t.Fatal(err)
	}
	// the mapping outlives the name (where it can still be mapped)
	if runtime.GOOS != "windows" {
		if _, err := r.WriteAt([]byte("still here"), 0); err != nil {
			t.Errorf("write after unlink: %v", err)
		}
	}
	if err := shm.Unlink(name); !errors.Is(err, shm.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second unlink: %v, want ErrNotFound", err)
	}
	if _, err := shm.Open(name, mmap.ReadOnly); !errors.Is(err, shm.ErrNotFound) {
		t.Errorf("open after unlink: %v, want ErrNotFound", err)
	}
}

func TestSegmentErrors(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	empty := segName(t)
	if err := os.WriteFile(filepath.Join(shm.Dir(), empty), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := segName(t)
	huge := segName(t)

	tests := []struct {
		what string
		err  func() error
		want []error
	}{
		{"create existing", func() error { _, err := shm.Create(name, 4096); return err }, []error{shm.ErrExists, fs.ErrExist}},
		{"create size 0", func() error { _, err := shm.Create(missing, 0); return err }, []error{shm.ErrBadSize}},
		{"create size -1", func() error { _, err := shm.Create(missing, -1); return err }, []error{shm.ErrBadSize}},
		{"create bad name", func() error { _, err := shm.Create("../etc/passwd", 10); return err }, []error{shm.ErrBadName}},
		{"create larger than memory", func() error { _, err := shm.Create(huge, 1<<50); return err }, nil},
		{"open missing", func() error { _, err := shm.Open(missing, mmap.ReadOnly); return err }, []error{shm.ErrNotFound, fs.ErrNotExist}},
		{"open bad name", func() error { _, err := shm.Open("a/b", mmap.ReadOnly); return err }, []error{shm.ErrBadName}},
		{"open empty", func() error { _, err := shm.Open(empty, mmap.ReadOnly); return err }, []error{shm.ErrBadSize}},
		{"unlink missing", func() error { return shm.Unlink(missing) }, []error{shm.ErrNotFound}},
		{"unlink bad name", func() error { return shm.Unlink("..") }, []error{shm.ErrBadName}},
	}
	for _, tt := range tests {
		err := tt.err()
		if err == nil {
			t.Errorf("%s: no error", tt.what)
			continue
		}
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v does not match %v", tt.what, err, w)
			}
		}
		t.Logf("%s: %v", tt.what, err)
	}
	// a failed Create leaves nothing behind
	for _, n := range []string{missing, huge} {
		if _, err := os.Stat(filepath.Join(shm.Dir(), n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after a failed Create: %v", n, err)
		}
	}
}

// A symbolic link planted under a segment's name is neither followed nor
// replaced.
func TestSegmentSymlink(t *testing.T) {
	link := segName(t)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(shm.Dir(), link)
	if err := os.Symlink(target, lp); err != nil {
		if runtime.GOOS == "windows" {
			t.Skipf("creating a symbolic link needs SeCreateSymbolicLinkPrivilege or Developer Mode on Windows: %v", err)
		}
		t.Fatal(err)
	}
	if fi, err := os.Lstat(lp); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		// Wine 8's CreateSymbolicLinkW is a stub that reports success.
		t.Skipf("os.Symlink reported success but made no link (%v): Wine 8 cannot create symbolic links", err)
	}
	defer os.Remove(lp)
	if _, err := shm.Open(link, mmap.ReadWrite); !errors.Is(err, shm.ErrNotFound) {
		t.Errorf("open symlink: %v, want ErrNotFound", err)
	}
	if _, err := shm.Create(link, 10); !errors.Is(err, shm.ErrExists) {
		t.Errorf("create over symlink: %v, want ErrExists", err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "not yours" {
		t.Errorf("the link's target changed: %q, %v", b, err)
	}
}

// A segment is private to its owner (0600): another user cannot attach.
func TestSegmentPermissions(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if runtime.GOOS == "windows" {
		t.Skip("segments on Windows are files in a private temporary directory; permission bits do not apply")
	}
	if os.Getuid() != 0 {
		// make it read-only for ourselves and attach read-write
		if err := os.Chmod(filepath.Join(shm.Dir(), name), 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := shm.Open(name, mmap.ReadWrite); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("read-write attach of a 0400 segment: %v, want permission error", err)
		}
		return
	}
	// As root, permission bits do not stop us: attach from a helper running
	// as nobody. The binary must be reachable by that user.
	dir, err := os.MkdirTemp("", "mmapkit-shm-perm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "helper")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"ro", "rw"} {
		cmd := exec.Command(exe)
		asNobody(cmd)
		cmd.Dir = dir
		h := startHelperCmd(t, cmd, "open", name, mode)
		got := h.line(t)
		h.wait(t)
		if !strings.Contains(got, "permission: true") {
			t.Errorf("%s attach as nobody: %q, want a permission error", mode, got)
		}
	}
}
