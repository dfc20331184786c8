package mmap

import (
	"fmt"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Faults counts the page faults of the whole process (getrusage). A minor
// fault found the page already in RAM (in the page cache, or a fresh zero
// page) and only had to map it; a major fault had to wait for the disk.
//
// Take one reading before and one after the code of interest and Sub them to
// watch demand paging happen. The counters cover every goroutine and the Go
// runtime, so small differences are noise; the first touch of a large mapped
// range is not.
type Faults struct {
	Minor int64 // faults served without I/O
	Major int64 // faults that waited for I/O
}

// ReadFaults returns the process's page-fault counters so far. On Windows it
// returns an error matching errors.ErrUnsupported.
func ReadFaults() (Faults, error) {
	ru, err := sys.GetRusage()
	if err != nil {
		return Faults{}, fmt.Errorf("mmap: read page-fault counters: %w", err)
	}
	return Faults{Minor: ru.MinorFaults, Major: ru.MajorFaults}, nil
}

// Sub returns f - g: the faults between reading g and reading f.
func (f Faults) Sub(g Faults) Faults {
	return Faults{Minor: f.Minor - g.Minor, Major: f.Major - g.Major}
}

// Add returns f + g, to total the faults of several intervals.
func (f Faults) Add(g Faults) Faults {
	return Faults{Minor: f.Minor + g.Minor, Major: f.Major + g.Major}
}

// String formats the counters as "N minor, M major".
func (f Faults) String() string {
	return fmt.Sprintf("%d minor, %d major", f.Minor, f.Major)
}
