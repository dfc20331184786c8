package sys

import (
	"os"

	"golang.org/x/sys/unix"
)

// CanLockRange reports whether LockRange, UnlockRange and RangeLocked work.
const CanLockRange = true

// LockRange takes an exclusive lock on n bytes of the file at off (they need
// not exist: a range past the end of the file is fine) without waiting. A
// conflicting lock held through another open of the file, in this process or
// another, makes it fail at once with ErrWouldBlock. The lock belongs to the
// open file (an open file description lock, F_OFD_SETLK): it is released by
// UnlockRange, by closing every descriptor of that open, or by the death of
// the process, whatever pid namespace it lives in and even while it is an
// unreaped zombie. fd must be open for writing.
func LockRange(fd uintptr, off, n int64) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: n}
	for {
		err := unix.FcntlFlock(fd, unix.F_OFD_SETLK, &lk)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.EACCES:
			return ErrWouldBlock
		}
		return err
	}
}

// UnlockRange releases a lock taken with LockRange through the same open file.
func UnlockRange(fd uintptr, off, n int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: n}
	for {
		err := unix.FcntlFlock(fd, unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

// RangeLocked reports whether a lock taken with LockRange through another
// open of the file covers any of the n bytes at off, without taking a lock
// itself (F_OFD_GETLK): asking never makes anyone else's LockRange fail. fd
// may be read-only.
func RangeLocked(fd uintptr, off, n int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: n}
	for {
		err := unix.FcntlFlock(fd, unix.F_OFD_GETLK, &lk)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		return lk.Type != unix.F_UNLCK, nil
	}
}

// CreateUnnamed creates a regular file without a name in directory dir
// (O_TMPFILE), so a crash before LinkUnnamed leaves nothing behind. It
// returns an error matching errors.ErrUnsupported where the kernel or the
// file system cannot.
func CreateUnnamed(dir string, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(perm.Perm()))
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL, unix.ENOENT:
			if err == unix.ENOENT {
				if _, serr := os.Stat(dir); serr != nil {
					return nil, serr
				}
			}
			return nil, unsupported("O_TMPFILE in " + dir)
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
}

// LinkUnnamed gives a file made by CreateUnnamed the name path. It fails
// with an error matching fs.ErrExist if path exists: it never replaces a file.
func LinkUnnamed(f *os.File, path string) error {
	src := "/proc/self/fd/" + itoa(int(f.Fd()))
	for {
		err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOENT {
			// No /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, try it.
			if e := unix.Linkat(int(f.Fd()), "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH); e == nil {
				return nil
			}
		}
		if err != nil {
			return &os.LinkError{Op: "link", Old: src, New: path, Err: err}
		}
		return nil
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// SyncData writes the file's dirty data (pages written through mappings
// included) to stable storage and flushes the device cache, with as little
// metadata as the file system allows (fdatasync).
func SyncData(fd uintptr) error {
	for {
		err := unix.Fdatasync(int(fd))
		if err != unix.EINTR {
			return err
		}
	}
}

// SyncMapping makes what was written through m, a shared mapping of the file
// fd, durable with one fdatasync of the file: on Linux mapped pages are the
// file's page cache, so this writes every dirty page of the file and flushes
// the device once (msync of one range costs the same, per range).
func SyncMapping(m *Mapping, fd uintptr) error { return SyncData(fd) }

// InMemoryFS reports whether path (an existing directory or file) is on a
// file system kept in memory only (tmpfs, ramfs), whose files cannot
// outlive a power loss.
func InMemoryFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, nil
}
