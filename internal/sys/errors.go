package sys

import (
	"errors"
	"syscall"
)

// ErrWouldBlock is returned by Flock when the lock is held and waiting was not asked for.
var ErrWouldBlock = errors.New("lock held by another process")

// ErrTimeout is returned by FutexWait when its timeout passes.
var ErrTimeout = errors.New("timed out")

// EFAULT is the error number a system call returns for an address it could
// not access, such as a page of a mapping that could not be read in.
var EFAULT error = syscall.EFAULT

// ENOMEM is the error number for "out of memory", which mlock also returns
// for pages it could not read in.
var ENOMEM error = syscall.ENOMEM

// EAGAIN is the error number for "try again", which mlock returns when some
// of the memory could not be locked.
var EAGAIN error = syscall.EAGAIN

// EINVAL is the error number for an invalid argument; madvise(MADV_DONTNEED)
// answers it for locked pages.
var EINVAL error = syscall.EINVAL
