package sys

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"
)

// Interruptible prepares cmd so that Interrupt can stop it: on Windows the
// child gets a process group of its own (CREATE_NEW_PROCESS_GROUP), the unit
// a console control event goes to.
func Interruptible(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_NEW_PROCESS_GROUP
}

// Interrupt asks p, started after Interruptible, to stop as ^C would: Windows
// has no signals, so it sends CTRL_BREAK_EVENT to p's process group, which Go
// programs receive as os.Interrupt. It needs a console that both processes
// share; without one it fails.
func Interrupt(p *os.Process) error {
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid))
}

// UnderWine reports whether the program runs under Wine (its ntdll exports
// wine_get_version), for tests that must tell Wine's gaps from Windows'
// behaviour.
func UnderWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
