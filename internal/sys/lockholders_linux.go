package sys

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockHolders returns the pids of the processes holding a whole-file lock
// (flock, or a POSIX record lock) on the file f refers to, as /proc/locks
// lists them. Open-file-description locks have no owning process and are
// left out. An empty list with a nil error means none is listed (the lock
// may have been released meanwhile).
func LockHolders(f *os.File) ([]int, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, unsupported("lock holders")
	}
	// /proc/locks names the file as MAJOR:MINOR:INODE, major and minor in
	// hex with at least two digits.
	dev := uint64(st.Dev)
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), st.Ino)
	lf, err := os.Open("/proc/locks")
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	var pids []int
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 2439 fe:00:10201191 0 EOF"; waiters
		// are listed as "1: -> FLOCK ...".
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] == "->" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, sc.Err()
}
