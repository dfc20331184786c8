//go:build !windows

package sys

import "os"

// IsUserMapped reports whether err is the OS refusing to change the size of a
// mapped file; only Windows does that.
func IsUserMapped(error) bool { return false }

// IsInUse reports whether err is the OS refusing to remove or rename a file
// because it is open or mapped; only Windows does that.
func IsInUse(error) bool { return false }

// CanTruncateMapped reports whether a file may be truncated while a view of
// it is mapped: everywhere but Windows.
const CanTruncateMapped = true

// RemoveUnused removes the file at path (see the Windows version, which
// refuses a file that is open).
func RemoveUnused(path string) error { return os.Remove(path) }
