//go:build unix

package sys

import (
	"io/fs"
	"syscall"
)

// FileID returns the device and inode numbers of the file fi describes (fi
// from os.Stat, os.Lstat or fs.DirEntry.Info) and its number of hard links,
// so that callers can tell two names of one file apart from two files.
func FileID(fi fs.FileInfo) (dev, ino, nlink uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), uint64(st.Nlink), true //nolint:unconvert // widths differ by OS
}
