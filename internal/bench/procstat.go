package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Mem is one sample of a process's resident memory, split the way that
// matters for mmap: RssAnon is the process's own memory (heap, stacks, private
// copies); RssFile is page cache mapped into the process. A single "peak RSS"
// (VmHWM, ru_maxrss) adds the two and makes a mapping of cached file data look
// like memory the process consumed.
type Mem struct {
	RssAnon int64 `json:"rss_anon"`
	RssFile int64 `json:"rss_file"`
}

func (m *Mem) max(o Mem) {
	m.RssAnon = max(m.RssAnon, o.RssAnon)
	m.RssFile = max(m.RssFile, o.RssFile)
}

// ReadMem reads RssAnon and RssFile of process pid (0 = this process) from
// /proc. Where /proc does not exist (not Linux) it returns an error.
func ReadMem(pid int) (Mem, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Mem{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Mem, error) {
	var m Mem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("RssAnon:")):
			dst = &m.RssAnon
		case bytes.HasPrefix(line, []byte("RssFile:")):
			dst = &m.RssFile
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		*dst = kb << 10
		found++
	}
	if found < 2 {
		return Mem{}, fmt.Errorf("bench: no RssAnon/RssFile in process status")
	}
	return m, nil
}

// MemAvailable returns the kernel's estimate of memory available for a new
// workload (MemAvailable in /proc/meminfo), or an error where unknown.
func MemAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: no MemAvailable in /proc/meminfo")
}
