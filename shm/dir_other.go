//go:build !linux

package shm

import (
	"os"
	"path/filepath"
)

// Other systems have no file-system view of POSIX shared memory that pure Go
// can reach (darwin's shm_open objects cannot be listed, and its ftruncate
// works only once). Segments there are files in a private directory under the
// temporary directory: they are still shared through the page cache and work
// with every part of mmapkit, but they are not visible to shm_open.
func defaultDir() string { return filepath.Join(os.TempDir(), "mmapkit-shm") }
