//go:build !linux

package sys

import "os"

// LockHolders is not available on this operating system.
func LockHolders(*os.File) ([]int, error) { return nil, unsupported("lock holders") }
