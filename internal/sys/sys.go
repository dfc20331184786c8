// Package sys is the only place in mmapkit that talks to the operating system.
//
// Every function here has one implementation per OS (sys_linux.go, sys_darwin.go,
// sys_windows.go, sys_other.go) with the same signature, so the packages above it
// are OS-independent. Where an OS lacks a facility the function returns an error
// matching errors.ErrUnsupported rather than silently doing nothing.
package sys

import (
	"errors"
	"fmt"
	"time"
)

// Prot says how a mapping may be accessed.
type Prot int

// Protection values for Map.
const (
	ProtRead  Prot = 1 << iota // pages may be read
	ProtWrite                  // pages may be written
)

// Flags modify how Map creates a mapping.
type Flags int

// Flags for Map.
const (
	// Private maps copy-on-write: writes never reach the file or other mappings.
	Private Flags = 1 << iota
	// Populate pre-faults the whole mapping at map time (MAP_POPULATE on Linux).
	Populate
	// HugePages asks for huge pages where the kernel allows it; it is advice, not
	// a demand, so a kernel that cannot honour it maps normally.
	HugePages
)

// Advice is an access-pattern hint for a mapped range (madvise).
type Advice int

// Advice values. Linux has all of them; other systems support a subset and return
// an error matching errors.ErrUnsupported for the rest.
const (
	AdvNormal Advice = iota
	AdvSequential
	AdvRandom
	AdvWillNeed
	AdvDontNeed
	AdvHugePage
	AdvNoHugePage
	AdvFree
	AdvCold
	AdvPageOut
	AdvPopulateRead
	AdvPopulateWrite
	AdvDontFork
	AdvDontDump
	advCount
)

var adviceNames = [...]string{
	AdvNormal:        "normal",
	AdvSequential:    "sequential",
	AdvRandom:        "random",
	AdvWillNeed:      "willneed",
	AdvDontNeed:      "dontneed",
	AdvHugePage:      "hugepage",
	AdvNoHugePage:    "nohugepage",
	AdvFree:          "free",
	AdvCold:          "cold",
	AdvPageOut:       "pageout",
	AdvPopulateRead:  "populate-read",
	AdvPopulateWrite: "populate-write",
	AdvDontFork:      "dontfork",
	AdvDontDump:      "dontdump",
}

// String returns the advice's short name, as used in error messages and the CLI.
func (a Advice) String() string {
	if a >= 0 && a < advCount {
		return adviceNames[a]
	}
	return fmt.Sprintf("advice(%d)", int(a))
}

// FileAdvice is a hint about a file's page cache (posix_fadvise).
type FileAdvice int

// File advice values.
const (
	FadvNormal FileAdvice = iota
	FadvSequential
	FadvRandom
	FadvWillNeed
	FadvDontNeed
)

// Rusage is the part of getrusage(2) that mmapkit reports: page faults of the
// whole process and its peak resident set.
type Rusage struct {
	MinorFaults int64         // faults served without I/O
	MajorFaults int64         // faults that needed I/O
	MaxRSS      int64         // peak resident set size in bytes
	UserTime    time.Duration // CPU time spent in user mode
	SystemTime  time.Duration // CPU time spent in the kernel
	// ReadBytes is what the process read from storage, readahead it
	// started included (ru_inblock, in 512-byte units on Linux); -1 where
	// the OS does not count it in bytes.
	ReadBytes int64
}

// unsupported builds an error for a facility this OS lacks.
func unsupported(what string) error {
	return fmt.Errorf("%s: %w on this operating system", what, errors.ErrUnsupported)
}
