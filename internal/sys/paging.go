package sys

import "errors"

// ErrMemlock is returned (wrapped, with the OS error) by Lock when the pages
// cannot be locked because the locked-memory limit is too small: RLIMIT_MEMLOCK
// on Unix, the working-set quota on Windows.
var ErrMemlock = errors.New("locked-memory limit too small")
