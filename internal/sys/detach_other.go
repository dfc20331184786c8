//go:build !unix

package sys

import "os/exec"

// Detach reports false: this operating system has no sessions to leave; the
// process still runs on after its parent exits.
func Detach(*exec.Cmd) bool { return false }
