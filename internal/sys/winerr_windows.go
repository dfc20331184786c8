package sys

import (
	"errors"
	"io/fs"
	"unsafe"

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

// RemoveUnused removes the file at path unless a process has it open. Windows
// cannot remove a file that is mapped, and os.Remove of a file that others
// opened with FILE_SHARE_DELETE only marks it for deletion: the name stays
// (and blocks a new file of that name) until the last handle closes.
// RemoveUnused opens the file for deletion sharing nothing, so that any other
// open handle makes it fail at once with a sharing violation (IsInUse), and
// deletes it through that handle. A symbolic link is removed itself.
func RemoveUnused(path string) error {
	p, err := windows.UTF16PtrFromString(longPath(path))
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.DELETE, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	defer windows.CloseHandle(h)
	del := uint32(1) // FILE_DISPOSITION_INFO.DeleteFile
	if err := windows.SetFileInformationByHandle(h, windows.FileDispositionInfo, (*byte)(unsafe.Pointer(&del)), 4); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}
