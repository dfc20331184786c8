//go:build unix

package shm

import "golang.org/x/sys/unix"

// noFollow makes Open refuse a symbolic link planted under a segment's name
// in the world-writable /dev/shm (it could point at any file).
const noFollow = unix.O_NOFOLLOW
