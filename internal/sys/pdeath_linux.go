package sys

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// KillWithParent makes the kernel kill cmd's process when the thread that
// started it exits (PR_SET_PDEATHSIG), so a helper never outlives a killed
// parent. It reports whether the OS can do that (Linux only).
func KillWithParent(cmd *exec.Cmd) bool {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
	return true
}

// HasCapIPCLock reports whether this thread may lock memory beyond
// RLIMIT_MEMLOCK.
func HasCapIPCLock() bool { return hasCapIPCLock() }

// DropCapIPCLock removes CAP_IPC_LOCK from this thread's effective set, so
// that RLIMIT_MEMLOCK applies to it (tests of the limit run as root).
// Capabilities are per thread: call it with the goroutine locked to its
// thread, in a process that does nothing else afterwards.
func DropCapIPCLock() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective &^= 1 << unix.CAP_IPC_LOCK
	return unix.Capset(&hdr, &data[0])
}
