package sys

import "errors"

// ErrWouldBlock is returned by Flock when the lock is held and waiting was not asked for.
var ErrWouldBlock = errors.New("lock held by another process")

// ErrTimeout is returned by FutexWait when its timeout passes.
var ErrTimeout = errors.New("timed out")
