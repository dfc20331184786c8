//go:build unix

package shm_test

import (
	"os/exec"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// asNobody makes cmd run as user and group 65534.
func asNobody(cmd *exec.Cmd) {
	if err := sys.RunAs(cmd, 65534, 65534); err != nil {
		panic(err)
	}
}
