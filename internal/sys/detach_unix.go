//go:build unix

package sys

import (
	"os/exec"
	"syscall"
)

// Detach makes cmd's process start a session of its own (setsid), so that it
// has no controlling terminal and outlives its parent's session: the way a
// command-line program starts a daemon. It reports whether the OS can do
// that.
func Detach(cmd *exec.Cmd) bool {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	return true
}
