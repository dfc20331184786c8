//go:build !unix && !windows

package sys

// SyncData is unsupported on this system.
func SyncData(uintptr) error { return unsupported("fsync") }
