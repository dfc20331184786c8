package array

import (
	"io/fs"

	"github.com/mmapkit/mmapkit/mmap"
)

// Options are the tunables of Open, Create, OpenNPY and CreateNPY. A nil
// *Options and every zero field mean the documented default. Fields that only
// a create call reads say so.
type Options struct {
	// Map are the options of the data's mapping (Populate, HugePages).
	Map mmap.Options
	// Replace lets Create and CreateNPY replace an existing file (np.memmap's
	// mode 'w+'). Without it they refuse one with an error matching
	// fs.ErrExist and leave it untouched. The replacement is atomic: the new
	// file is built under a temporary name and renamed over the old one, so
	// a failed Create (a full disk, say) leaves the old file as it was.
	// Create only.
	Replace bool
	// Perm is the permission of a new file, before the umask; 0 means 0644.
	// Create only.
	Perm fs.FileMode
	// Fortran stores a new .npy array in column-major order. CreateNPY only.
	Fortran bool
	// Version is the .npy format version to write: 1, 2 or 3, or 0 to choose
	// as NumPy does (1.0 unless the header needs more than 64 KiB). CreateNPY
	// only.
	Version int
	// Load makes OpenMember read a member of an .npz archive that cannot be
	// mapped in place (compressed by np.savez_compressed, or stored at an
	// offset not aligned for the element type, as np.savez may) into
	// anonymous memory, checking its CRC-32, instead of refusing it.
	// OpenMember only.
	Load bool
}

// orDefault returns o, or the zero Options for nil.
func (o *Options) orDefault() *Options {
	if o == nil {
		return &Options{}
	}
	return o
}

func (o *Options) perm() fs.FileMode {
	if o.Perm == 0 {
		return 0o644
	}
	return o.Perm
}

// mapOptions returns the mapping options, nil for the defaults.
func (o *Options) mapOptions() *mmap.Options {
	if o == nil {
		return nil
	}
	m := o.Map
	return &m
}
