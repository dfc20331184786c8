//go:build !unix && !windows

package sys

import (
	"io/fs"
	"os"
)

// OpenFile opens name like os.OpenFile, but refuses anything that is not a
// regular file (see the Unix version). Here no open of a file-system name can
// block, so it opens first and checks the type on the open file; noFollow
// refuses a symbolic link found by Lstat.
func OpenFile(name string, flag int, perm fs.FileMode, noFollow bool) (*os.File, error) {
	if noFollow {
		if fi, err := os.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: &NotRegularError{Kind: "a symbolic link"}}
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: &NotRegularError{Kind: kindOf(fi.Mode())}}
	}
	return f, nil
}
