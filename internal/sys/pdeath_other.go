//go:build !linux

package sys

import "os/exec"

// KillWithParent reports false: only Linux can kill a child when its parent
// dies (PR_SET_PDEATHSIG).
func KillWithParent(*exec.Cmd) bool { return false }

// HasCapIPCLock reports false: no capabilities here.
func HasCapIPCLock() bool { return false }

// DropCapIPCLock is not available on this operating system.
func DropCapIPCLock() error { return unsupported("capabilities") }
