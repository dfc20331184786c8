package sys

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// OpenFile opens name like os.OpenFile, but refuses anything that is not a
// regular file (see the Unix version), and shares the file the way POSIX
// does:
//
//   - FILE_SHARE_DELETE, which os.OpenFile leaves out, lets the file be
//     renamed, or its name removed, while it is open here (a file with a
//     mapped view still cannot be deleted or truncated: Windows refuses that
//     whatever the sharing);
//   - with noFollow, a symbolic link or other reparse point as the last path
//     component is refused: FILE_FLAG_OPEN_REPARSE_POINT opens the link
//     itself, whose attributes say what it is, so there is no window between
//     a check and the open;
//   - the type is checked on the handle that was opened (a directory, a
//     device, a named pipe are refused), and opening a name cannot block.
//
// The handle is not inherited by child processes. Errors are *fs.PathError
// with Op "open"; a non-regular file gives a *NotRegularError.
func OpenFile(name string, flag int, perm fs.FileMode, noFollow bool) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(longPath(name))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var access uint32
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		access = windows.GENERIC_READ
	case os.O_WRONLY:
		access = windows.GENERIC_WRITE
	case os.O_RDWR:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
	}
	if flag&os.O_APPEND != 0 {
		// As os.OpenFile: writes go to the end, whatever the offset.
		access &^= windows.GENERIC_WRITE
		access |= windows.FILE_APPEND_DATA
	}
	var create uint32
	switch {
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		create = windows.CREATE_NEW
	case flag&(os.O_CREATE|os.O_TRUNC) == os.O_CREATE|os.O_TRUNC:
		create = windows.CREATE_ALWAYS
	case flag&os.O_CREATE != 0:
		create = windows.OPEN_ALWAYS
	case flag&os.O_TRUNC != 0:
		create = windows.TRUNCATE_EXISTING
	default:
		create = windows.OPEN_EXISTING
	}
	attrs := uint32(windows.FILE_ATTRIBUTE_NORMAL)
	if flag&os.O_CREATE != 0 && perm&0o200 == 0 {
		attrs = windows.FILE_ATTRIBUTE_READONLY // as os.OpenFile does
	}
	// BACKUP_SEMANTICS lets a directory open, so that it is reported as a
	// directory rather than as "access denied".
	attrs |= windows.FILE_FLAG_BACKUP_SEMANTICS
	if noFollow {
		attrs |= windows.FILE_FLAG_OPEN_REPARSE_POINT
	}
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	h, err := windows.CreateFile(p, access, share, nil, create, attrs, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if kind := handleKind(h, noFollow); kind != "" {
		windows.CloseHandle(h)
		return nil, &fs.PathError{Op: "open", Path: name, Err: &NotRegularError{Kind: kind}}
	}
	return os.NewFile(uintptr(h), name), nil
}

// handleKind says what the open handle h is if it is not a regular file, or
// "" if it is one.
func handleKind(h windows.Handle, noFollow bool) string {
	switch t, _ := windows.GetFileType(h); t {
	case windows.FILE_TYPE_DISK:
	case windows.FILE_TYPE_PIPE:
		return "a named pipe"
	case windows.FILE_TYPE_CHAR:
		return "a character device"
	default:
		return "not a file on a disk"
	}
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return "unreadable (" + err.Error() + ")"
	}
	switch {
	case fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		return "a directory"
	case noFollow && fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return "a symbolic link or other reparse point"
	}
	return ""
}

// longPath returns name in the \\?\ form when it is too long for the
// classic Win32 limit (MAX_PATH), as package os does for its own calls: that
// form is passed through unparsed, so it must be absolute and clean.
func longPath(name string) string {
	if len(name) < 248 || strings.HasPrefix(name, `\\?\`) || strings.HasPrefix(name, `\\.\`) {
		return name
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return name
	}
	if strings.HasPrefix(abs, `\\`) {
		return `\\?\UNC\` + abs[2:]
	}
	return `\\?\` + abs
}
