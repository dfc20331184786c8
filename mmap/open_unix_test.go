//go:build unix

package mmap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Open refuses what is not a regular file, naming it, without blocking: a
// FIFO with no writer used to hang a read-only Open for good. If Open does
// block, a watchdog opens the FIFO's other end so that the test fails
// instead of hanging.
func TestOpenRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := sys.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		mode       mmap.Mode
		mention    string
	}{
		{"FIFO read-only", fifo, mmap.ReadOnly, "is a FIFO"},
		{"FIFO copy-on-write", fifo, mmap.CopyOnWrite, "is a FIFO"},
		{"FIFO read-write", fifo, mmap.ReadWrite, "is a FIFO"},
		{"symlink to a FIFO", link, mmap.ReadOnly, "is a FIFO"},
		{"directory read-only", dir, mmap.ReadOnly, "is a directory"},
		{"directory read-write", dir, mmap.ReadWrite, "is a directory"},
		{"character device", os.DevNull, mmap.ReadOnly, "is a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var unblocked atomic.Bool
			watchdog := time.AfterFunc(10*time.Second, func() {
				unblocked.Store(true)
				if w, err := os.OpenFile(tt.path, os.O_RDWR, 0); err == nil {
					w.Close()
				}
			})
			r, err := mmap.Open(tt.path, tt.mode, nil)
			watchdog.Stop()
			if unblocked.Load() {
				t.Errorf("Open blocked until the watchdog opened the other end")
			}
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			var pe *fs.PathError
			if !errors.Is(err, mmap.ErrNotRegular) || !errors.As(err, &pe) || pe.Op != "mmap: open" || pe.Path != tt.path {
				t.Errorf("Open: %v (%#v), want a *fs.PathError matching ErrNotRegular", err, err)
			}
			if !strings.Contains(err.Error(), tt.mention) || strings.Count(err.Error(), tt.path) != 1 {
				t.Errorf("Open: %q, want it to say %q and name the path once", err, tt.mention)
			}
		})
	}
}

// The opener every package uses refuses a symbolic link as the last
// component when asked (the rule for shared names), and follows it
// otherwise.
func TestOpenFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []int{os.O_RDONLY, os.O_RDWR, os.O_RDWR | os.O_CREATE} {
		f, err := sys.OpenFile(link, flag, 0o644, true)
		if err == nil {
			f.Close()
			t.Fatalf("flag %#x: a symbolic link was followed", flag)
		}
		if !errors.Is(err, mmap.ErrNotRegular) || !strings.Contains(err.Error(), "is a symbolic link") {
			t.Errorf("flag %#x: %v, want ErrNotRegular saying it is a symbolic link", flag, err)
		}
		f, err = sys.OpenFile(link, flag, 0o644, false)
		if err != nil {
			t.Fatalf("flag %#x without noFollow: %v", flag, err)
		}
		f.Close()
	}
	// A missing name still says so.
	if _, err := sys.OpenFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0, true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v, want fs.ErrNotExist", err)
	}
}

// An empty file opens as an empty Region that Resize grows (and the file
// with it), the create-then-grow pattern.
func TestEmptyFileGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := mmap.Open(path, mmap.ReadWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 0 {
		t.Fatalf("Len %d, want 0", r.Len())
	}
	if n, err := r.ReadAt(make([]byte, 1), 0); n != 0 || err == nil {
		t.Errorf("ReadAt on an empty Region: %d, %v, want 0, io.EOF", n, err)
	}
	if err := r.Do(func(b []byte) error {
		if len(b) != 0 {
			t.Errorf("Do got %d bytes", len(b))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(10000); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("tail"), 9996); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 10000 || string(b[9996:]) != "tail" {
		t.Fatalf("file after Resize and write: %d bytes, %v", len(b), err)
	}
	if err := r.Resize(0); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 || r.Len() != 0 {
		t.Errorf("after Resize(0): file %d bytes, Len %d", fi.Size(), r.Len())
	}
}
