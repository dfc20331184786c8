//go:build !unix

package sys

import "io/fs"

// FileID reports ok false: this operating system's FileInfo carries no
// device and inode numbers.
func FileID(fs.FileInfo) (dev, ino, nlink uint64, ok bool) { return 0, 0, 0, false }
