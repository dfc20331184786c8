//go:build unix

package sys

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// OpenFile opens name like os.OpenFile, but refuses anything that is not a
// regular file, without blocking on it and before reading or writing it:
//
//   - the open itself uses O_NONBLOCK, so a FIFO with no writer (or no reader)
//     cannot hang it, and O_CLOEXEC;
//   - with noFollow, a symbolic link as the last path component is refused
//     (O_NOFOLLOW): the rule for names in shared directories such as /dev/shm,
//     where anyone may plant a link to somewhere else;
//   - the type is checked with fstat on the descriptor that was opened, so the
//     answer is about the file that will be used, not about a name that can
//     change in between.
//
// The returned file is in blocking mode. Errors are *fs.PathError with Op
// "open"; a non-regular file gives a *NotRegularError ("is a FIFO, not a
// regular file") matching ErrNotRegular. With O_CREATE|O_EXCL the open can
// only create a new regular file, which passes.
func OpenFile(name string, flag int, perm fs.FileMode, noFollow bool) (*os.File, error) {
	fd, _, err := openRegular(name, flag, perm, noFollow)
	if err != nil {
		return nil, err
	}
	// Back to blocking mode: os.NewFile then treats the descriptor as an
	// ordinary file (a regular file ignores O_NONBLOCK anyway, but os would
	// try to register a non-blocking one with the poller).
	if err := setBlocking(fd); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openRegular opens name without blocking (O_NONBLOCK, O_CLOEXEC, and
// O_NOFOLLOW if noFollow) and refuses anything but a regular file, checked
// on the opened descriptor. The descriptor it returns is still in
// non-blocking mode: each caller restores blocking mode its own way.
func openRegular(name string, flag int, perm fs.FileMode, noFollow bool) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	sysFlag := flag | unix.O_NONBLOCK | unix.O_CLOEXEC
	if noFollow {
		sysFlag |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(name, sysFlag, uint32(perm.Perm()|perm&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, st, &fs.PathError{Op: "open", Path: name, Err: openErr(name, err, noFollow)}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, &fs.PathError{Op: "open", Path: name, Err: &NotRegularError{Kind: kindOfStat(uint32(st.Mode))}}
	}
	return fd, st, nil
}

func setBlocking(fd int) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	return err
}

// openErr turns the errors that a non-regular file causes before fstat can
// run into a *NotRegularError: ELOOP from O_NOFOLLOW (a symbolic link),
// ENXIO from a FIFO opened for writing without a reader, EISDIR from a
// directory opened for writing. Other errors are returned as they are.
func openErr(name string, err error, noFollow bool) error {
	switch err {
	case unix.ELOOP, unix.EMLINK, unix.ENXIO, unix.EISDIR, unix.ENODEV, unix.EOPNOTSUPP:
	default:
		return err
	}
	var st unix.Stat_t
	if noFollow && (err == unix.ELOOP || err == unix.EMLINK) {
		// FreeBSD reports a refused link as EMLINK; Linux and darwin as ELOOP.
		if unix.Lstat(name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &NotRegularError{Kind: "a symbolic link"}
		}
		return err
	}
	if unix.Stat(name, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &NotRegularError{Kind: kindOfStat(uint32(st.Mode))}
	}
	return err
}

func kindOfStat(mode uint32) string {
	var m fs.FileMode
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m = fs.ModeDir
	case unix.S_IFLNK:
		m = fs.ModeSymlink
	case unix.S_IFIFO:
		m = fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m = fs.ModeSocket
	case unix.S_IFCHR:
		m = fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m = fs.ModeDevice
	default:
		m = fs.ModeIrregular
	}
	return kindOf(m)
}
