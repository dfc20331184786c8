package sys

import (
	"os"
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

// MemfdCreate returns an anonymous memory file (memfd_create) that can be
// sealed; name is for /proc only.
func MemfdCreate(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// SealShrink forbids shrinking the memfd f (F_SEAL_SHRINK): a truncate to a
// smaller size then fails with EPERM.
func SealShrink(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
	return os.NewSyscallError("fcntl F_ADD_SEALS", err)
}

// SetImmutable sets or clears the immutable attribute of f (chattr +i:
// FS_IOC_SETFLAGS). It needs CAP_LINUX_IMMUTABLE and a file system that has
// the attribute.
func SetImmutable(f *os.File, on bool) error {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return os.NewSyscallError("ioctl FS_IOC_GETFLAGS", err)
	}
	if on {
		flags |= fsImmutableFl
	} else {
		flags &^= fsImmutableFl
	}
	return os.NewSyscallError("ioctl FS_IOC_SETFLAGS", unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags)))
}

// fsImmutableFl is FS_IMMUTABLE_FL from linux/fs.h.
const fsImmutableFl = 0x00000010
