//go:build unix && !linux

package sys

import "golang.org/x/sys/unix"

// SyncData writes the file's data to stable storage with fsync, what this
// system offers (on darwin, fsync leaves the drive's own cache unflushed;
// F_FULLFSYNC would flush it, at many times the cost).
func SyncData(fd uintptr) error {
	for {
		err := unix.Fsync(int(fd))
		if err != unix.EINTR {
			return err
		}
	}
}
