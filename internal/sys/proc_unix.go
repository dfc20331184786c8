//go:build linux || darwin

package sys

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// StopSignals are the signals that ask a command-line program to stop:
// interrupt (^C) and, on Unix, SIGTERM.
var StopSignals = []os.Signal{os.Interrupt, unix.SIGTERM}

// RunAs makes cmd run as the given user and group (it needs the privilege to
// switch to them).
func RunAs(cmd *exec.Cmd, uid, gid int) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

// Socketpair returns the two ends of a connected Unix stream socket.
func Socketpair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return os.NewFile(uintptr(fds[0]), "socketpair[0]"), os.NewFile(uintptr(fds[1]), "socketpair[1]"), nil
}

// Mkfifo makes a FIFO (named pipe) at path.
func Mkfifo(path string, perm fs.FileMode) error {
	if err := unix.Mkfifo(path, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// DeviceNumber returns the major and minor number of the device holding the
// file fi describes (fi from os.Stat or Lstat).
func DeviceNumber(fi fs.FileInfo) (major, minor uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	dev := uint64(st.Dev) //nolint:unconvert // int32 on darwin
	return unix.Major(dev), unix.Minor(dev), true
}

// IsNotDir reports whether err says that a path component is not a directory
// (ENOTDIR), as opening "file/x" does.
func IsNotDir(err error) bool { return errors.Is(err, unix.ENOTDIR) }

// SetMemlockLimit sets the soft and hard RLIMIT_MEMLOCK of this process to n
// bytes (lowering the hard limit cannot be undone without privilege).
func SetMemlockLimit(n uint64) error {
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: n, Max: n})
}

// MemlockLimited reports whether RLIMIT_MEMLOCK applies to this process: it
// is finite and the process lacks CAP_IPC_LOCK (Linux; elsewhere no process
// is exempt).
func MemlockLimited() bool { return memlockLimited() }
