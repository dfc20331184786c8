package shm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
)

// Sentinel errors for segments. Errors from this package also match the fs
// sentinels where one applies: fs.ErrExist (Create over an existing
// segment), fs.ErrNotExist (no such segment), fs.ErrPermission, and
// mmap.ErrNotRegular (a name that is a symbolic link, a FIFO, a directory...).
var (
	// ErrBadName: the name is empty, too long, or contains '/', '\\', "..",
	// a NUL or another control character; on Windows also one of <>:"|?*,
	// a trailing dot or space, or a device name such as NUL or COM1.
	ErrBadName = errors.New("invalid segment name")
	// ErrBadSize: a segment size that is zero, negative or too large.
	ErrBadSize = errors.New("invalid segment size")
)

// MaxNameLen is the longest segment name accepted: NAME_MAX on Linux, where a
// segment is a file in /dev/shm.
const MaxNameLen = 255

// Options tune Create and Open. A nil *Options and every zero field mean the
// documented default.
type Options struct {
	// Replace lets Create replace an existing segment: the old name is
	// removed first (a symbolic link planted there is removed, never its
	// target), and processes that have the old segment mapped keep it.
	// Without it Create refuses an existing name with an error matching
	// fs.ErrExist. On Windows a segment that a process has open or mapped
	// cannot be removed, so Create refuses to replace it, saying so.
	// Create only.
	Replace bool
	// Perm is the new segment's permission bits (default 0600: owner only).
	// Create only.
	Perm fs.FileMode
	// Map tunes the mapping (populate, huge pages).
	Map mmap.Options
}

// Dir returns the directory that holds the segments: /dev/shm on Linux (the
// same objects shm_open(3) and Python's multiprocessing.shared_memory use), and
// a private directory under os.TempDir() elsewhere.
func Dir() string { return defaultDir() }

// path returns the file of the segment name. It does not check the name.
func path(name string) string { return filepath.Join(defaultDir(), name) }

// ValidateName checks a segment name and returns an error matching ErrBadName
// that says what is wrong with it. Names are single path components of
// printable characters: Python's leading '/' convention is not accepted, so
// "psm_1234" is right and "/psm_1234" is not.
func ValidateName(name string) error {
	if why := nameProblem(name); why != "" {
		return fmt.Errorf("%w %q: %s", ErrBadName, name, why)
	}
	return nil
}

// nameProblem says what is wrong with a segment name, or "".
func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxNameLen:
		return fmt.Sprintf("%d bytes long, the limit is %d", len(name), MaxNameLen)
	case name == ".":
		return "the directory itself"
	case strings.Contains(name, ".."):
		return `contains ".."`
	case strings.ContainsAny(name, `/\`):
		return "contains a path separator"
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("contains control character %#02x", c)
		}
	}
	return osNameProblem(name)
}

// checkName validates name for operation op and returns the segment's path.
// A bad name is the error's Path (there is no file), said once.
func checkName(op, name string) (string, error) {
	if why := nameProblem(name); why != "" {
		return "", &fs.PathError{Op: "shm: " + op, Path: name, Err: fmt.Errorf("%w: %s", ErrBadName, why)}
	}
	return path(name), nil
}

// Create makes a new segment of size bytes and maps it read-write. It refuses
// a name that exists with an error matching fs.ErrExist, unless
// opts.Replace: it never attaches to, or truncates, someone else's segment.
// The segment is mode 0600 (owner only) unless opts.Perm says otherwise.
//
// The memory is allocated now (fallocate on Linux), so a full /dev/shm is an
// error from Create rather than a SIGBUS on the first write to an unbacked
// page later. The segment lives until Unlink, even after every process has
// closed it: there is no background tracker that deletes it behind other
// users' backs (the trap in Python's multiprocessing.shared_memory before
// 3.13).
func Create(name string, size int, opts *Options) (*mmap.Region, error) {
	if opts == nil {
		opts = &Options{}
	}
	p, err := checkName("create", name)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, &fs.PathError{Op: "shm: create", Path: p, Err: fmt.Errorf("%w: %d bytes", ErrBadSize, size)}
	}
	if err := ensureDir(); err != nil {
		return nil, sys.WrapPath("shm: create", p, err)
	}
	perm := opts.Perm
	if perm == 0 {
		perm = 0o600
	}
	f, err := createFile(p, perm, opts.Replace)
	if err != nil {
		return nil, sys.WrapPath("shm: create", p, err)
	}
	r, err := allocAndMap(f, size, &opts.Map)
	f.Close()
	if err != nil {
		os.Remove(p) // ours: O_EXCL made it
		return nil, sys.WrapPath("shm: create", p, err)
	}
	return r, nil
}

// inUse explains Windows' refusal to remove a segment that a process has
// open or mapped; Unlink (what "removes") and Create with Replace ("replaces")
// fail then, where Linux would remove the name and leave the memory to those
// who map it. Other errors are returned as they are.
func inUse(err error, what string) error {
	if !sys.IsInUse(err) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("the segment is still open or mapped, and Windows %s it only after every process has closed it: %w", what, err)
}

// createFile makes a new file at p (O_EXCL, never through a symbolic link).
// With replace, an existing name is removed first; another process creating
// the same name in between wins, and this one fails with fs.ErrExist.
func createFile(p string, perm fs.FileMode, replace bool) (*os.File, error) {
	if replace {
		if err := sys.RemoveUnused(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, inUse(err, "replaces")
		}
	}
	return sys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm, true)
}

func allocAndMap(f *os.File, size int, opts *mmap.Options) (*mmap.Region, error) {
	err := sys.Fallocate(f.Fd(), 0, int64(size))
	if errors.Is(err, errors.ErrUnsupported) {
		err = f.Truncate(int64(size))
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the caller names the file
		}
	}
	if err != nil {
		return nil, fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	return mmap.Map(f, mmap.ReadWrite, 0, 0, opts)
}

// Open attaches to an existing segment. Unlike Python, a read-only attach
// exists: with mmap.ReadOnly the mapping has no write permission, so a bug in
// a reader cannot corrupt the segment (writes return mmap.ErrReadOnly).
// mmap.CopyOnWrite gives a private scratch copy. The Region is the segment's
// current size; an empty segment gives an empty Region.
//
// The name is opened without following a symbolic link and without
// blocking: anything but a regular file (a link or a FIFO planted in the
// world-writable /dev/shm) is refused with an error matching
// mmap.ErrNotRegular that says what it is.
func Open(name string, mode mmap.Mode, opts *Options) (*mmap.Region, error) {
	if opts == nil {
		opts = &Options{}
	}
	p, err := checkName("open", name)
	if err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if mode == mmap.ReadWrite {
		flag = os.O_RDWR
	}
	f, err := sys.OpenFile(p, flag, 0, true)
	if err != nil {
		return nil, sys.WrapPath("shm: open", p, err)
	}
	defer f.Close()
	r, err := mmap.Map(f, mode, 0, 0, &opts.Map)
	if err != nil {
		return nil, sys.WrapPath("shm: open", p, err)
	}
	return r, nil
}

// Unlink removes the segment's name. Processes that have it mapped keep their
// memory until they close it; the memory is freed after the last one does.
// Removing a missing segment returns an error matching fs.ErrNotExist.
//
// Windows cannot remove a file that a process has open or mapped: there
// Unlink of a segment still in use fails with an error that says so, and
// succeeds once every process has closed it.
func Unlink(name string) error {
	p, err := checkName("unlink", name)
	if err != nil {
		return err
	}
	if err := sys.RemoveUnused(p); err != nil {
		return sys.WrapPath("shm: unlink", p, inUse(err, "removes"))
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
	// at offset 0, "ring" for a ring file (a Queue is one), or "" when unknown.
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
		return nil, sys.WrapPath("shm: list", defaultDir(), err)
	}
	var out []Info
	for _, e := range ents {
		if !e.Type().IsRegular() || ValidateName(e.Name()) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue // removed or replaced since ReadDir
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
// segment truncated meanwhile cannot fault; the open cannot block on a FIFO
// swapped in since ReadDir.
func sniff(p string) string {
	f, err := sys.OpenFile(p, os.O_RDONLY, 0, true)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b [8]byte
	n, _ := io.ReadFull(f, b[:])
	switch {
	case n >= len(slotMagic) && string(b[:len(slotMagic)]) == slotMagic:
		return "slot"
	case ring.IsRing(b[:n]):
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
