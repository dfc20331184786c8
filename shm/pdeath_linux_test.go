package shm_test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a helper if the test process dies, so
// a spinning helper never outlives an interrupted test or benchmark.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
