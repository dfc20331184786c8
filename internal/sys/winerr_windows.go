package sys

import (
	"errors"

	"golang.org/x/sys/windows"
)

// IsUserMapped reports whether err is Windows refusing to change the size of
// a file, or to replace it, because a process has a view of it mapped
// (ERROR_USER_MAPPED_FILE). Linux allows both and delivers SIGBUS to whoever
// touches a page past the new end.
func IsUserMapped(err error) bool { return errors.Is(err, windows.ERROR_USER_MAPPED_FILE) }

// IsInUse reports whether err is Windows refusing to remove or rename a file
// because it is open or mapped: Go opens files without FILE_SHARE_DELETE, and
// a mapped file cannot be deleted at all. Linux removes the name and keeps
// the file alive for those who have it open.
func IsInUse(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_USER_MAPPED_FILE)
}

// CanTruncateMapped reports whether a file may be truncated while a view of
// it is mapped: Windows refuses (ERROR_USER_MAPPED_FILE), so a mapping must
// be unmapped first.
const CanTruncateMapped = false
