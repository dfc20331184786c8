//go:build !linux && !darwin

package sys

import (
	"io/fs"
	"os"
	"os/exec"
)

// StopSignals are the signals that ask a command-line program to stop.
var StopSignals = []os.Signal{os.Interrupt}

// RunAs is not available on this operating system.
func RunAs(*exec.Cmd, int, int) error { return unsupported("run as another user") }

// Socketpair is not available on this operating system.
func Socketpair() (*os.File, *os.File, error) { return nil, nil, unsupported("socketpair") }

// Mkfifo is not available on this operating system.
func Mkfifo(string, fs.FileMode) error { return unsupported("mkfifo") }

// DeviceNumber is not available on this operating system.
func DeviceNumber(fs.FileInfo) (major, minor uint32, ok bool) { return 0, 0, false }

// IsNotDir reports whether err says that a path component is not a
// directory; this operating system reports that as "not exist".
func IsNotDir(error) bool { return false }

// SetMemlockLimit is not available on this operating system.
func SetMemlockLimit(uint64) error { return unsupported("RLIMIT_MEMLOCK") }

// MemlockLimited reports whether a locked-memory limit applies; here the
// working-set quota always does.
func MemlockLimited() bool { return true }
