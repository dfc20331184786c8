//go:build !linux

package sys

// LockedBytes is not wired up on this operating system.
func LockedBytes() (int64, error) { return 0, unsupported("locked-memory count") }
