package array

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// openFile opens path for an array in mode and returns it with its size. It
// refuses anything but a regular file (a FIFO would block the reads of the
// header forever, a directory or device cannot be mapped).
func openFile(op, path string, mode Mode) (*os.File, int64, error) {
	flag := os.O_RDONLY
	switch mode {
	case ReadOnly, CopyOnWrite:
	case ReadWrite:
		flag = os.O_RDWR
	default:
		return nil, 0, pathError(op, path, fmt.Errorf("invalid mode %d", int(mode)))
	}
	// The shared opener never blocks (a FIFO would block the reads of the
	// header forever) and refuses anything but a regular file, checked on
	// the descriptor it opened.
	f, err := sys.OpenFile(path, flag, 0, false)
	if err != nil {
		return nil, 0, pathError(op, path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, pathError(op, path, err)
	}
	return f, fi.Size(), nil
}

// newFile is a file being created: in place (a new name) or under a
// temporary name that replaces the old file when the array is ready.
type newFile struct {
	f    *os.File
	path string
	tmp  string // the temporary name, or "" when created in place
}

// createFile creates the file for a new array of size bytes, starting with
// prefix. It refuses an existing file unless o.Replace is set, and allocates
// every block up front (fallocate where the OS has it), so that a full disk is
// an error now rather than a SIGBUS when the mapping is written later. On
// success the caller maps the file and then calls commit, or abort on
// failure.
func createFile(path string, prefix []byte, size int64, o *Options) (*newFile, error) {
	nf := &newFile{path: path}
	var err error
	if o.Replace {
		// Build the new file beside the old one and rename it over it at
		// commit: a failure leaves the old file as it was.
		for range 100 {
			nf.tmp = filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp%d", filepath.Base(path), rand.Uint32()))
			// sys.OpenFile: on Windows the temporary file must be
			// shared for deletion, or the rename at commit (while it is
			// open and mapped) is refused.
			nf.f, err = sys.OpenFile(nf.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, o.perm(), true)
			if !errors.Is(err, fs.ErrExist) {
				break
			}
		}
	} else {
		nf.f, err = sys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, o.perm(), false)
	}
	if err != nil {
		return nil, pathError("create", path, err)
	}
	if err := allocate(nf.f, 0, size); err != nil {
		nf.abort()
		return nil, pathError("create", path, fmt.Errorf("allocate %d bytes: %w", size, err))
	}
	if _, err := nf.f.WriteAt(prefix, 0); err != nil {
		nf.abort()
		return nil, pathError("create", path, err)
	}
	return nf, nil
}

// allocate gives f real blocks for bytes [off, off+n) where the OS can
// (fallocate), growing it if need be, and makes it at least off+n bytes long
// (sparsely) elsewhere.
func allocate(f *os.File, off, n int64) error {
	if n == 0 {
		return nil
	}
	err := sys.Fallocate(f.Fd(), off, n)
	if errors.Is(err, errors.ErrUnsupported) {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() < off+n {
			err = f.Truncate(off + n)
		}
	}
	return err
}

// commit puts the new file in place and closes the descriptor (a mapping
// keeps its own).
func (nf *newFile) commit() error {
	defer nf.f.Close()
	if nf.tmp != "" {
		if err := os.Rename(nf.tmp, nf.path); err != nil {
			os.Remove(nf.tmp)
			return pathError("create", nf.path, err)
		}
	}
	return nil
}

// abort closes and removes what createFile made (never an existing file: in
// place, O_EXCL made it ours).
func (nf *newFile) abort() {
	nf.f.Close()
	if nf.tmp != "" {
		os.Remove(nf.tmp)
	} else {
		os.Remove(nf.path)
	}
}
