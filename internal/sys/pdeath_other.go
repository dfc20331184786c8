//go:build !linux

package sys

import (
	"os"
	"os/exec"
)

// KillWithParent reports false: only Linux can kill a child when its parent
// dies (PR_SET_PDEATHSIG).
func KillWithParent(*exec.Cmd) bool { return false }

// HasCapIPCLock reports false: no capabilities here.
func HasCapIPCLock() bool { return false }

// DropCapIPCLock is not available on this operating system.
func DropCapIPCLock() error { return unsupported("capabilities") }

// MemfdCreate is not available on this operating system.
func MemfdCreate(string) (*os.File, error) { return nil, unsupported("memfd_create") }

// SealShrink is not available on this operating system.
func SealShrink(*os.File) error { return unsupported("file seals") }

// SetImmutable is not available on this operating system.
func SetImmutable(*os.File, bool) error { return unsupported("immutable files") }
