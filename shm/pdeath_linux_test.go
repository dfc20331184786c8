package shm_test

import (
	"os/exec"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// dieWithParent makes the kernel kill a helper if the test process dies, so
// a spinning helper never outlives an interrupted test or benchmark.
func dieWithParent(cmd *exec.Cmd) {
	sys.KillWithParent(cmd)
}
