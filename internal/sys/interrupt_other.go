//go:build !windows

package sys

import (
	"os"
	"os/exec"
)

// Interruptible prepares cmd so that Interrupt can stop it (nothing to do
// here).
func Interruptible(*exec.Cmd) {}

// Interrupt sends p os.Interrupt (SIGINT).
func Interrupt(p *os.Process) error { return p.Signal(os.Interrupt) }

// UnderWine reports whether the program runs under Wine: never here.
func UnderWine() bool { return false }
