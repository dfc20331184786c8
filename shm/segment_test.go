package shm_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
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
	for _, n := range []string{"a:b", "nul", "NUL.txt", "com1", "lpt9.x", "con ", "a.", "a ", "q?", "p|q", `"x"`, "<x>", "*", "com¹", "LPT³.txt", "a\xff"} {
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
	r, err := shm.Create(name, 10000, nil)
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
		r2, err := shm.Open(name, mode, nil)
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
			if _, err := shm.NewSlot(r2, 0, 8, nil); !errors.Is(err, mmap.ErrReadOnly) {
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
	if err := shm.Unlink(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second unlink: %v, want fs.ErrNotExist", err)
	}
	if _, err := shm.Open(name, mmap.ReadOnly, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open after unlink: %v, want fs.ErrNotExist", err)
	}
}

// Every error names the operation and the segment once, as a
// *fs.PathError, and matches the sentinels that apply.
func TestSegmentErrors(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	missing := segName(t)
	link := segName(t)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}
	linkErr := makeSymlink(target, filepath.Join(shm.Dir(), link))
	if linkErr != nil {
		t.Run("symbolic links", func(t *testing.T) { t.Skip(linkErr) })
	}
	huge := segName(t)
	fifo := segName(t)
	fifoErr := sys.Mkfifo(filepath.Join(shm.Dir(), fifo), 0o600)
	if fifoErr != nil && !errors.Is(fifoErr, errors.ErrUnsupported) {
		t.Fatal(fifoErr)
	}
	p := func(n string) string { return filepath.Join(shm.Dir(), n) }

	tests := []struct {
		what   string
		err    func() error
		op     string
		path   string
		want   []error
		saying string
	}{
		{"create existing", func() error { _, err := shm.Create(name, 4096, nil); return err }, "shm: create", p(name), []error{fs.ErrExist}, "exists"},
		{"create size 0", func() error { _, err := shm.Create(missing, 0, nil); return err }, "shm: create", p(missing), []error{shm.ErrBadSize}, "0 bytes"},
		{"create size -1", func() error { _, err := shm.Create(missing, -1, nil); return err }, "shm: create", p(missing), []error{shm.ErrBadSize}, "-1 bytes"},
		{"create bad name", func() error { _, err := shm.Create("../etc/passwd", 10, nil); return err }, "shm: create", "../etc/passwd", []error{shm.ErrBadName}, `contains ".."`},
		{"create larger than memory", func() error { _, err := shm.Create(huge, 1<<50, nil); return err }, "shm: create", p(huge), nil, "allocate"},
		{"open missing", func() error { _, err := shm.Open(missing, mmap.ReadOnly, nil); return err }, "shm: open", p(missing), []error{fs.ErrNotExist}, notExistText(t)},
		{"open bad name", func() error { _, err := shm.Open("a/b", mmap.ReadOnly, nil); return err }, "shm: open", "a/b", []error{shm.ErrBadName}, "path separator"},
		{"open symlink", func() error { _, err := shm.Open(link, mmap.ReadWrite, nil); return err }, "shm: open", p(link), []error{mmap.ErrNotRegular}, "symbolic link"},
		{"open symlink read-only", func() error { _, err := shm.Open(link, mmap.ReadOnly, nil); return err }, "shm: open", p(link), []error{mmap.ErrNotRegular}, "symbolic link"},
		{"open fifo", func() error { _, err := shm.Open(fifo, mmap.ReadOnly, nil); return err }, "shm: open", p(fifo), []error{mmap.ErrNotRegular}, "FIFO"},
		{"open fifo read-write", func() error { _, err := shm.Open(fifo, mmap.ReadWrite, nil); return err }, "shm: open", p(fifo), []error{mmap.ErrNotRegular}, "FIFO"},
		{"create over symlink", func() error { _, err := shm.Create(link, 10, nil); return err }, "shm: create", p(link), []error{fs.ErrExist}, "exists"},
		{"create over fifo", func() error { _, err := shm.Create(fifo, 10, nil); return err }, "shm: create", p(fifo), []error{fs.ErrExist}, "exists"},
		{"unlink missing", func() error { return shm.Unlink(missing) }, "shm: unlink", p(missing), []error{fs.ErrNotExist}, notExistText(t)},
		{"unlink bad name", func() error { return shm.Unlink("tab\tname") }, "shm: unlink", "tab\tname", []error{shm.ErrBadName}, "control character 0x09"},
	}
	for _, tt := range tests {
		if strings.Contains(tt.what, "fifo") && fifoErr != nil {
			continue // no FIFOs on this system
		}
		if strings.Contains(tt.what, "symlink") && linkErr != nil {
			continue // skipped above, with the reason
		}
		err := tt.err()
		if err == nil {
			t.Errorf("%s: no error", tt.what)
			continue
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != tt.op || pe.Path != tt.path {
			t.Errorf("%s: %#v, want a *fs.PathError with Op %q, Path %q", tt.what, err, tt.op, tt.path)
		}
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v does not match %v", tt.what, err, w)
			}
		}
		msg := err.Error()
		if strings.Count(msg, tt.path) != 1 || strings.Count(msg, "shm:") != 1 || !strings.Contains(msg, tt.saying) {
			t.Errorf("%s: %q should name %q and the package once and say %q", tt.what, msg, tt.path, tt.saying)
		}
	}
	// a failed Create leaves nothing behind, and the link's target is untouched
	for _, n := range []string{missing, huge} {
		if _, err := os.Stat(filepath.Join(shm.Dir(), n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after a failed Create: %v", n, err)
		}
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "not yours" {
		t.Errorf("symlink target now %q, %v", b, err)
	}
}

// An empty segment opens as an empty Region (the create-then-grow pattern).
func TestSegmentEmpty(t *testing.T) {
	name := segName(t)
	if err := os.WriteFile(filepath.Join(shm.Dir(), name), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := shm.Open(name, mmap.ReadWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 0 {
		t.Fatalf("Len %d, want 0", r.Len())
	}
	if err := r.Resize(4096); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(shm.Dir(), name)); err != nil || fi.Size() != 4096 {
		t.Fatalf("after Resize: %v, %v", fi, err)
	}
}

// Create refuses an existing name unless Replace; Replace makes a new
// segment and leaves the old memory to whoever still maps it, and removes a
// planted symbolic link itself, never its target.
func TestCreateReplace(t *testing.T) {
	name := segName(t)
	old, err := shm.Create(name, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.WriteAt([]byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Create(name, 100, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing segment: %v, want fs.ErrExist", err)
	}
	b := make([]byte, 3)
	if _, err := old.ReadAt(b, 0); err != nil || string(b) != "old" {
		t.Fatalf("the refused Create touched the old segment: %q, %v", b, err)
	}
	if runtime.GOOS == "windows" {
		// Windows cannot remove a segment that is mapped: Replace says
		// so, and works once the old segment is closed.
		_, err := shm.Create(name, 100, &shm.Options{Replace: true})
		if err == nil || !strings.Contains(err.Error(), "still open or mapped") {
			t.Fatalf("Replace of a mapped segment on Windows: %v, want a refusal that says why", err)
		}
		if _, err := old.ReadAt(b, 0); err != nil || string(b) != "old" {
			t.Fatalf("the refused Replace touched the old segment: %q, %v", b, err)
		}
		old.Close()
	}
	r, err := shm.Create(name, 100, &shm.Options{Replace: true, Perm: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 100 || r.Bytes()[0] != 0 {
		t.Errorf("replaced segment: %d bytes starting %q", r.Len(), r.Bytes()[:3])
	}
	if _, err := old.ReadAt(b, 0); runtime.GOOS != "windows" && (err != nil || string(b) != "old") {
		t.Errorf("old mapping after Replace: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(shm.Dir(), name)); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640) {
		t.Errorf("replaced segment: %v, %v; want mode 0640", fi, err)
	}

	t.Run("planted symbolic link", func(t *testing.T) {
		link := segName(t)
		target := filepath.Join(t.TempDir(), "target")
		if err := os.WriteFile(target, []byte("not yours"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := makeSymlink(target, filepath.Join(shm.Dir(), link)); err != nil {
			t.Skip(err)
		}
		r2, err := shm.Create(link, 10, &shm.Options{Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		r2.Close()
		if b, err := os.ReadFile(target); err != nil || string(b) != "not yours" {
			t.Errorf("Replace wrote through the planted link: target now %q, %v", b, err)
		}
	})
}

// A segment is private to its owner (0600): another user cannot attach.
func TestSegmentPermissions(t *testing.T) {
	name := segName(t)
	r, err := shm.Create(name, 4096, nil)
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
		if _, err := shm.Open(name, mmap.ReadWrite, nil); !errors.Is(err, fs.ErrPermission) {
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

// makeSymlink makes a symbolic link, or says why it cannot here.
func makeSymlink(target, link string) error {
	if err := os.Symlink(target, link); err != nil {
		if runtime.GOOS == "windows" {
			return fmt.Errorf("creating a symbolic link needs SeCreateSymbolicLinkPrivilege or Developer Mode on Windows: %w", err)
		}
		return err
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		// Wine 8's CreateSymbolicLinkW is a stub that reports success.
		return fmt.Errorf("os.Symlink reported success but made no link (%v): Wine 8 cannot create symbolic links", err)
	}
	return nil
}

// notExistText is what this OS says about a missing file ("no such file or
// directory" on Unix, "The system cannot find the file specified." on
// Windows).
func notExistText(t *testing.T) string {
	t.Helper()
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("open of a missing file: %v", err)
	}
	return pe.Err.Error()
}
