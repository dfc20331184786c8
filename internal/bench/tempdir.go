package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// A run's temporary directory holds the offsets file and the Python script.
// Its owner file is locked (flock) for as long as the run lives; the kernel
// releases the lock when the process dies however it dies, so a later run can
// tell the directory of a killed run from one in use and remove it.
const (
	tempPattern = "mmapkit-bench-run-"
	ownerFile   = ".owner"
)

// TempDir makes a temporary directory in parent (os.TempDir() if empty) for
// one run and removes the directories that killed runs left there. release
// removes the directory; call it when the run ends.
func TempDir(parent string) (dir string, release func(), err error) {
	if parent == "" {
		parent = os.TempDir()
	}
	CleanStaleTempDirs(parent)
	dir, err = os.MkdirTemp(parent, tempPattern)
	if err != nil {
		return "", nil, fmt.Errorf("bench: temporary directory: %w", err)
	}
	// Lock under a temporary name, then rename: a cleaner only ever sees an
	// owner file that is already locked.
	f, err := os.Create(filepath.Join(dir, ownerFile+".new"))
	if err == nil {
		var l *mmap.FileLock
		if l, err = mmap.TryLockFile(f, true); err == nil {
			if err = os.Rename(f.Name(), filepath.Join(dir, ownerFile)); err == nil {
				return dir, func() {
					os.RemoveAll(dir)
					_ = l.Unlock()
					f.Close()
				}, nil
			}
			_ = l.Unlock()
		}
		f.Close()
	}
	os.RemoveAll(dir)
	return "", nil, fmt.Errorf("bench: temporary directory: %w", err)
}

// staleAge is how old a run directory without an owner file must be before
// it counts as left behind (a run creates its owner file at once).
const staleAge = time.Hour

// CleanStaleTempDirs removes the run directories in parent whose run has
// died: their owner file can be locked. It reports how many it removed.
func CleanStaleTempDirs(parent string) int {
	dirs, _ := filepath.Glob(filepath.Join(parent, tempPattern+"*"))
	n := 0
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		// Anyone may make a directory of this name in a shared /tmp: the
		// owner file is opened without following a link or blocking on a
		// FIFO (a plain open waited for a writer for good).
		f, err := sys.OpenFile(filepath.Join(d, ownerFile), os.O_RDONLY, 0, true)
		if errors.Is(err, os.ErrNotExist) {
			if time.Since(fi.ModTime()) > staleAge && os.RemoveAll(d) == nil {
				n++
			}
			continue
		}
		if err != nil {
			continue
		}
		l, err := mmap.TryLockFile(f, true)
		if err == nil {
			if os.RemoveAll(d) == nil {
				n++
			}
			_ = l.Unlock()
		}
		f.Close()
	}
	return n
}
