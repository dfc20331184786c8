package main

// The file set of the page-cache commands (residency, prefetch, evict, lock):
// command-line names, names read from a file or stdin, directories walked
// with -r, filtered by --ignore/--include/--max-size, --one-file-system and
// --follow-symlinks, each file counted once however many names (hard links,
// symbolic links) lead to it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/units"
)

// pagingTarget is one file to work on.
type pagingTarget struct {
	path string
	size int64
	off  int64 // the byte range [off, off+n) of the file to work on
	n    int64
	root int // index into collector.roots of the walked directory, -1 for a named file
}

// pagingProblem is a skipped or failed name, in --json.
type pagingProblem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// fileKey identifies a file on this machine (device and inode).
type fileKey struct{ dev, ino uint64 }

// pagingEvent is one entry of the file list as the collector finds it: a
// file to work on, a name skipped, or a name that failed. seq numbers the
// entries in list order.
type pagingEvent struct {
	seq       int
	target    *pagingTarget
	skipped   *pagingProblem
	loud      bool // a skip to report on stderr
	failed    *pagingProblem
	failedErr error
}

// collector builds the target list. With events set it also sends each
// entry there as it goes, and leaves printing to the receiver.
type collector struct {
	ctx     context.Context
	events  chan<- pagingEvent
	seq     int
	o       *pagingOptions
	stderr  io.Writer
	op      string
	roots   []string
	targets []pagingTarget
	// skipped: names left out. Those the user asked for (--ignore,
	// --include, --max-size, another file system, a second name of the
	// same file) are listed silently; surprising ones (not a regular file,
	// a directory without -r, a symbolic link not followed) are also
	// reported on stderr.
	skipped []pagingProblem
	errors  []pagingProblem
	// duplicates counts names of files already in the set (hard links,
	// symbolic links followed to a file met before).
	duplicates int
	seen       map[fileKey]string
	dirsSeen   map[fileKey]bool
}

func newCollector(op string, o *pagingOptions, stderr io.Writer) *collector {
	return &collector{o: o, stderr: stderr, op: op, seen: map[fileKey]string{}, dirsSeen: map[fileKey]bool{}}
}

func (c *collector) emit(ev pagingEvent) {
	ev.seq = c.seq
	c.seq++
	c.events <- ev
}

func (c *collector) skip(path, why string, loud bool) {
	p := pagingProblem{path, why}
	c.skipped = append(c.skipped, p)
	if c.events != nil {
		c.emit(pagingEvent{skipped: &p, loud: loud})
	} else if loud {
		fmt.Fprintf(c.stderr, "mmapkit %s: skipping %s: %s\n", c.op, visible(path), visible(why))
	}
}

func (c *collector) fail(path string, err error) {
	p := pagingProblem{path, err.Error()}
	c.errors = append(c.errors, p)
	if c.events != nil {
		c.emit(pagingEvent{failed: &p, failedErr: err})
	} else {
		fmt.Fprintf(c.stderr, "mmapkit: %s\n", visible(err.Error()))
	}
}

// stopped reports whether the command is being stopped (Ctrl-C).
func (c *collector) stopped() bool { return c.ctx != nil && c.ctx.Err() != nil }

// ignored reports whether name's base name matches an --ignore pattern.
func (c *collector) ignored(name string) bool {
	base := filepath.Base(name)
	for _, p := range c.o.ignore {
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
	}
	return false
}

// included reports whether a file passes the --include patterns (all do
// without one).
func (c *collector) included(name string) bool {
	if len(c.o.include) == 0 {
		return true
	}
	base := filepath.Base(name)
	for _, p := range c.o.include {
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
	}
	return false
}

// readNames reads a list of names from r: one per line, or NUL-separated
// with null. Empty names are ignored.
func readNames(r io.Reader, null bool) ([]string, error) {
	sep := byte('\n')
	if null {
		sep = 0
	}
	var names []string
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes(sep)
		b = bytes.TrimSuffix(b, []byte{sep})
		if !null {
			b = bytes.TrimSuffix(b, []byte{'\r'})
		}
		if len(b) > 0 {
			names = append(names, string(b))
		}
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return names, err
		}
	}
}

// add takes one name from the command line or a list.
func (c *collector) add(name string) {
	if c.ignored(name) {
		c.skip(name, "matches --ignore", false)
		return
	}
	// A name given by the user is followed if it is a symbolic link.
	fi, err := os.Stat(name)
	if err != nil {
		c.fail(name, fmt.Errorf("%s: %w", c.op, err))
		return
	}
	switch {
	case fi.Mode().IsRegular():
		c.addFile(name, fi, -1)
	case fi.IsDir() && !c.o.recursive:
		c.skip(name, "is a directory (use -r to walk it)", true)
	case fi.IsDir():
		c.roots = append(c.roots, name)
		dev, _, _, _ := sys.FileID(fi)
		c.walk(name, fi, len(c.roots)-1, dev)
	default:
		c.skip(name, pagingKind(fi.Mode()), true)
	}
}

// walk adds the files under dir (sorted by name, depth first).
func (c *collector) walk(dir string, fi fs.FileInfo, root int, rootDev uint64) {
	if dev, ino, _, ok := sys.FileID(fi); ok {
		k := fileKey{dev, ino}
		if c.dirsSeen[k] {
			c.skip(dir, "directory already walked (a symbolic link loop or a second name)", false)
			return
		}
		c.dirsSeen[k] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		// An unreadable directory: report it, walk on.
		c.fail(dir, fmt.Errorf("%s: %w", c.op, err))
		if len(ents) == 0 {
			return
		}
	}
	for _, e := range ents {
		if c.stopped() {
			return
		}
		path := filepath.Join(dir, e.Name())
		if c.ignored(path) {
			c.skip(path, "matches --ignore", false)
			continue
		}
		t := e.Type()
		if t&fs.ModeSymlink != 0 {
			if !c.o.followSymlinks {
				c.skip(path, "symbolic link (not followed inside a directory; use --follow-symlinks)", true)
				continue
			}
			sfi, err := os.Stat(path)
			if err != nil {
				c.fail(path, fmt.Errorf("%s: follow symbolic link: %w", c.op, err))
				continue
			}
			c.walkEntry(path, sfi, root, rootDev)
			continue
		}
		efi, err := e.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // removed meanwhile: nothing to do
				c.fail(path, fmt.Errorf("%s: %w", c.op, err))
			}
			continue
		}
		c.walkEntry(path, efi, root, rootDev)
	}
}

func (c *collector) walkEntry(path string, fi fs.FileInfo, root int, rootDev uint64) {
	if c.o.oneFileSystem {
		if dev, _, _, ok := sys.FileID(fi); ok && dev != rootDev {
			c.skip(path, "on another file system (--one-file-system)", false)
			return
		}
	}
	switch {
	case fi.IsDir():
		c.walk(path, fi, root, rootDev)
	case fi.Mode().IsRegular():
		c.addFile(path, fi, root)
	default:
		c.skip(path, pagingKind(fi.Mode()), true)
	}
}

// addFile adds a regular file unless a filter or the set already has it.
func (c *collector) addFile(path string, fi fs.FileInfo, root int) {
	if !c.included(path) {
		c.skip(path, "does not match --include", false)
		return
	}
	size := fi.Size()
	if c.o.maxSize > 0 && size > c.o.maxSize {
		c.skip(path, fmt.Sprintf("larger than --max-size %s (%s)", units.FormatBytes(c.o.maxSize), units.FormatBytes(size)), false)
		return
	}
	if dev, ino, _, ok := sys.FileID(fi); ok {
		k := fileKey{dev, ino}
		if first, dup := c.seen[k]; dup {
			c.duplicates++
			c.skip(path, "same file as "+first+" (counted once)", false)
			return
		}
		c.seen[k] = path
	}
	off, n := int64(0), size
	if c.o.rng.set {
		lo, hi := c.o.rng.lo, c.o.rng.hi
		if hi < 0 {
			hi = size
		}
		if lo > size || hi > size {
			c.fail(path, fmt.Errorf("%s %s: --range %s ends past the end of the file (%s)", c.op, path, c.o.rng.text, units.FormatBytes(size)))
			return
		}
		off, n = lo, hi-lo
	}
	t := pagingTarget{path: path, size: size, off: off, n: n, root: root}
	if c.events != nil {
		c.emit(pagingEvent{target: &t})
		return
	}
	c.targets = append(c.targets, t)
}

// pagingNames is the list of names to work on: args, then the names of
// --files-from.
func pagingNames(o *pagingOptions, args []string, stdin io.Reader) ([]string, error) {
	if o.filesFrom == "" {
		return args, nil
	}
	var r io.Reader = stdin
	if o.filesFrom != "-" {
		f, err := os.Open(o.filesFrom)
		if err != nil {
			return nil, usageError(fmt.Errorf("--files-from: %w", err))
		}
		defer f.Close()
		r = f
	}
	list, err := readNames(r, o.null)
	if err != nil {
		return nil, fmt.Errorf("--files-from %s: %w", o.filesFrom, err)
	}
	return append(append([]string(nil), args...), list...), nil
}

// collect builds the whole file set before anything is done with it (lock
// needs all of it to decide).
func collect(op string, o *pagingOptions, args []string, stdin io.Reader, stderr io.Writer) (*collector, error) {
	names, err := pagingNames(o, args, stdin)
	if err != nil {
		return nil, err
	}
	c := newCollector(op, o, stderr)
	for _, n := range names {
		c.add(n)
	}
	return c, nil
}

// pagingKind says what a non-regular file is.
func pagingKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link (not followed inside a directory; use --follow-symlinks)"
	case m&fs.ModeDevice != 0:
		return "device, not a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe, not a regular file"
	case m&fs.ModeSocket != 0:
		return "socket, not a regular file"
	}
	return "not a regular file"
}

// dirTotals sums the files under each walked directory (every level);
// targets[i] is the target of files[i].
func dirTotals(roots []string, files []pagingFile, targets []pagingTarget) []pagingDir {
	byPath := map[string]*pagingDir{}
	for i, f := range files {
		t := targets[i]
		if t.root < 0 {
			continue
		}
		root := filepath.Clean(roots[t.root])
		for d := filepath.Dir(t.path); ; d = filepath.Dir(d) {
			pd := byPath[d]
			if pd == nil {
				pd = &pagingDir{Path: d}
				if f.Before != nil {
					pd.Before = new(int)
				}
				byPath[d] = pd
			}
			pd.Files++
			pd.Size += f.Size
			pd.Pages += f.Pages
			pd.Resident += f.Resident
			pd.ResidentBytes += f.ResidentBytes
			if f.Before != nil {
				*pd.Before += *f.Before
			}
			if filepath.Clean(d) == root || d == filepath.Dir(d) {
				break
			}
		}
	}
	dirs := make([]pagingDir, 0, len(byPath))
	for _, d := range byPath {
		dirs = append(dirs, *d)
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].Path < dirs[j].Path })
	return dirs
}
