package mmap

import "github.com/mmapkit/mmapkit/internal/sys"

// Mode says how a Region may be used and where its writes go.
type Mode int

const (
	// ReadOnly maps the file for reading; writes return ErrReadOnly.
	ReadOnly Mode = iota
	// ReadWrite maps the file shared: writes reach the file and every other
	// mapping of it.
	ReadWrite
	// CopyOnWrite maps the file private: the Region is writable, but the file
	// and other mappings never see the writes (a modified page gets its own
	// memory; unmodified pages keep sharing the page cache).
	CopyOnWrite
)

// String returns "read-only", "read-write" or "copy-on-write".
func (m Mode) String() string {
	switch m {
	case ReadOnly:
		return "read-only"
	case ReadWrite:
		return "read-write"
	case CopyOnWrite:
		return "copy-on-write"
	}
	return "invalid mode"
}

func (m Mode) valid() bool { return m == ReadOnly || m == ReadWrite || m == CopyOnWrite }

// Options change how a mapping is made. A nil *Options and the zero value of
// every field mean the defaults: pages are faulted in on first touch, in
// normal-sized pages.
type Options struct {
	// Populate faults every page in at map time (MAP_POPULATE on Linux), so
	// later accesses never take a page fault. It costs the time to read the
	// whole range up front. Resize populates the pages it adds.
	Populate bool
	// HugePages asks for transparent huge pages where the kernel allows them
	// for this kind of memory. It is a request: without support the mapping
	// uses normal pages.
	HugePages bool
}

func (o *Options) flags() sys.Flags {
	var f sys.Flags
	if o == nil {
		return f
	}
	if o.Populate {
		f |= sys.Populate
	}
	if o.HugePages {
		f |= sys.HugePages
	}
	return f
}
