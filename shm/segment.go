package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Sentinel errors for segments. Errors returned by this package match them
// with errors.Is, and also match the fs sentinels where one applies
// (fs.ErrExist, fs.ErrNotExist, fs.ErrPermission), as os errors do.
var (
	// ErrExists: Create found a segment with that name already.
	ErrExists = errors.New("shm: segment already exists")
	// ErrNotFound: no segment has that name.
	ErrNotFound = errors.New("shm: no such segment")
	// ErrBadName: the name is empty, too long, or contains '/', '\\', "..",
	// a NUL or another control character; on Windows also one of <>:"|?*,
	// a trailing dot or space, or a device name such as NUL or COM1.
	ErrBadName = errors.New("shm: invalid segment name")
	// ErrBadSize: a segment size that is zero, negative or too large.
	ErrBadSize = errors.New("shm: invalid segment size")
)

// MaxNameLen is the longest segment name accepted: NAME_MAX on Linux, where a
// segment is a file in /dev/shm.
const MaxNameLen = 255

// Dir returns the directory that holds the segments: /dev/shm on Linux (the
// same objects shm_open(3) and Python's multiprocessing.shared_memory use), and
// a private directory under os.TempDir() elsewhere.
func Dir() string { return defaultDir() }

// ValidateName checks a segment name and returns an error matching ErrBadName
// that says what is wrong with it. Names are single path components of
// printable characters: Python's leading '/' convention is not accepted, so
// "psm_1234" is right and "/psm_1234" is not.
func ValidateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadName, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes long, the limit is %d", ErrBadName, len(name), MaxNameLen)
	case name == "." || name == ".." || strings.Contains(name, ".."):
		return bad(`contains ".."`)
	case strings.ContainsAny(name, `/\`):
		return bad("contains a path separator")
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return bad(fmt.Sprintf("contains control character %#02x", c))
		}
	}
	if why := osNameProblem(name); why != "" {
		return bad(why)
	}
	return nil
}

func path(name string) string { return filepath.Join(defaultDir(), name) }

// Create makes a new segment of size bytes, mode 0600 (owner only), and maps it
// read-write. It fails with an error matching ErrExists if the name is taken:
// it never attaches to, or truncates, someone else's segment.
//
// The memory is allocated now (fallocate on Linux), so a full /dev/shm is an
// error from Create rather than a SIGBUS on the first write to an unbacked page
// later. The segment lives until Unlink, even after every process has closed
// it: there is no background tracker that deletes it behind other users' backs
// (the trap in Python's multiprocessing.shared_memory before 3.13).
func Create(name string, size int64) (*mmap.Region, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if size <= 0 || size > int64(maxInt) {
		return nil, fmt.Errorf("shm: create %s: %w: %d bytes", name, ErrBadSize, size)
	}
	if err := ensureDir(); err != nil {
		return nil, fmt.Errorf("shm: create %s: %w", name, err)
	}
	p := path(name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shm: create %s: %w", name, fsErr(err))
	}
	r, err := allocAndMap(f, size)
	f.Close()
	if err != nil {
		os.Remove(p) // ours: O_EXCL made it
		return nil, fmt.Errorf("shm: create %s (%d bytes): %w", name, size, err)
	}
	return r, nil
}

func allocAndMap(f *os.File, size int64) (*mmap.Region, error) {
	err := sys.Fallocate(f.Fd(), 0, size)
	if errors.Is(err, errors.ErrUnsupported) {
		err = f.Truncate(size)
	}
	if err != nil {
		return nil, fmt.Errorf("allocate: %w", err)
	}
	return mmap.Map(f, mmap.ReadWrite, 0, 0, nil)
}

// Open attaches to an existing segment. Unlike Python, a read-only attach
// exists: with mmap.ReadOnly the mapping has no write permission, so a bug in
// a reader cannot corrupt the segment (writes return mmap.ErrReadOnly).
// mmap.CopyOnWrite gives a private scratch copy. The size is the segment's
// current size. A symbolic link in place of a segment is refused.
func Open(name string, mode mmap.Mode) (*mmap.Region, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if mode == mmap.ReadWrite {
		flag = os.O_RDWR
	}
	f, err := sys.OpenFile(path(name), flag, 0, true)
	if err != nil {
		if fi, lerr := os.Lstat(path(name)); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("shm: open %s: %w: it is a symbolic link, not a segment", name, ErrNotFound)
		}
		return nil, fmt.Errorf("shm: open %s %v: %w", name, mode, fsErr(err))
	}
	defer f.Close()
	r, err := mmap.Map(f, mode, 0, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("shm: open %s: %w", name, err)
	}
	if r.Len() == 0 {
		r.Close()
		return nil, fmt.Errorf("shm: open %s: %w: segment is empty", name, ErrBadSize)
	}
	return r, nil
}

// Unlink removes the segment's name. Processes that have it mapped keep their
// memory until they close it; the memory is freed after the last one does.
// Removing a missing segment returns an error matching ErrNotFound.
//
// Windows cannot remove a file that a process has open or mapped: there
// Unlink of a segment still in use fails with an error that says so, and
// succeeds once every process has closed it.
func Unlink(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := os.Remove(path(name)); err != nil {
		return fmt.Errorf("shm: unlink %s: %w", name, fsErr(err))
	}
	return nil
}

// Info describes a segment.
type Info struct {
	Name    string
	Size    int64
	Mode    fs.FileMode // permission bits
	ModTime time.Time
	// Kind is what the segment's first bytes say it holds: "slot" for a Slot
	// at offset 0, "ring" for a ring file, or "" when unknown.
	Kind string
}

// List returns the segments in Dir, sorted by name. Entries that are not
// regular files, or whose names ValidateName rejects, are left out.
func List() ([]Info, error) {
	ents, err := os.ReadDir(defaultDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shm: list: %w", err)
	}
	var out []Info
	for _, e := range ents {
		if !e.Type().IsRegular() || ValidateName(e.Name()) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		out = append(out, Info{
			Name:    e.Name(),
			Size:    fi.Size(),
			Mode:    fi.Mode().Perm(),
			ModTime: fi.ModTime(),
			Kind:    sniff(path(e.Name())),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sniff reads a segment's first bytes with read(2), not a mapping, so a
// segment truncated meanwhile cannot fault.
func sniff(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b [8]byte
	if n, _ := f.Read(b[:]); n < 4 {
		return ""
	}
	switch {
	case string(b[:4]) == slotMagic:
		return "slot"
	case string(b[:]) == ringMagic:
		return "ring"
	}
	return ""
}

func ensureDir() error {
	d := defaultDir()
	if _, err := os.Stat(d); err == nil {
		return nil
	}
	return os.MkdirAll(d, 0o700)
}

// fsErr adds this package's sentinels to the os errors that have one.
func fsErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w (%w)", ErrExists, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	case sys.IsInUse(err):
		return fmt.Errorf("segment is still open or mapped, and Windows removes it only after every process has closed it (%w)", err)
	}
	return err
}

const maxInt = int(^uint(0) >> 1)

// ringMagic starts a ring file (FORMAT.md, "Ring file"); a Queue is one.
const ringMagic = "MMKRING\x00"
