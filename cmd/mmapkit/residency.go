package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mmapkit/mmapkit/mmap"
)

// The page-cache commands: residency (like vmtouch -v / fincore), prefetch
// and evict. All three take files and, with -r, directories; they map each
// file read-only, so they need only read permission (but see mmap.Residency
// about what Linux reports for files the caller may not write).

const (
	pagingResidency = "residency"
	pagingPrefetch  = "prefetch"
	pagingEvict     = "evict"
)

func init() {
	for _, op := range []string{pagingResidency, pagingPrefetch, pagingEvict} {
		register(func() *cobra.Command { return newPagingCmd(op) })
	}
}

// pagingOptions are the flags shared by the three commands.
type pagingOptions struct {
	recursive bool
	json      bool
	width     int
}

func newPagingCmd(op string) *cobra.Command {
	var o pagingOptions
	short := map[string]string{
		pagingResidency: "Show which pages of files are in the page cache",
		pagingPrefetch:  "Load files into the page cache, showing residency before and after",
		pagingEvict:     "Drop files from the page cache, showing residency before and after",
	}[op]
	long := short + `.

One line per file with a bar of its pages ('O' all resident, 'o' some,
' ' none), the resident and total pages, and a total line. Directories are
walked with -r; anything that is not a regular file (devices, sockets, FIFOs,
symbolic links met while walking) is skipped with a message on stderr.
A file that fails does not stop the others: the exit status is 1 if some
files failed and 2 if all of them did.`
	switch op {
	case pagingPrefetch:
		long += `

prefetch reads every page in and maps it (MADV_POPULATE_READ), and reports the
page faults that took: major faults are pages read from disk.`
	case pagingEvict:
		long += `

evict writes back dirty pages and then drops the pages (MADV_DONTNEED +
POSIX_FADV_DONTNEED). It needs no root; pages that another process has
mapped stay in the cache.`
	}
	cmd := &cobra.Command{
		Use:   op + " FILE...",
		Short: short,
		Long:  long,
		Args:  cobra.MinimumNArgs(1),
		// main reports the error; a usage text would hide the per-file report.
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return pagingRun(cmd.OutOrStdout(), cmd.ErrOrStderr(), op, args, o)
		},
	}
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "r", false, "walk directories")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON document instead of text")
	cmd.Flags().IntVar(&o.width, "width", 40, "width of the residency bar in characters")
	return cmd
}

// pagingFile is one file's result, as printed by --json.
type pagingFile struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	PageSize int    `json:"page_size"`
	Pages    int    `json:"pages"`
	Resident int    `json:"resident"`
	// Before is the resident page count before prefetch or evict.
	Before  *int          `json:"before,omitempty"`
	Faults  *pagingFaults `json:"faults,omitempty"`
	Seconds float64       `json:"seconds,omitempty"`
	bar     string
}

// pagingFaults are the page faults prefetch took.
type pagingFaults struct {
	Minor int64 `json:"minor"`
	Major int64 `json:"major"`
}

type pagingProblem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

type pagingTotal struct {
	Files    int   `json:"files"`
	Size     int64 `json:"size"`
	Pages    int   `json:"pages"`
	Resident int   `json:"resident"`
	Before   *int  `json:"before,omitempty"`
}

type pagingReport struct {
	Op      string          `json:"op"`
	Files   []pagingFile    `json:"files"`
	Skipped []pagingProblem `json:"skipped"`
	Errors  []pagingProblem `json:"errors"`
	Total   pagingTotal     `json:"total"`
}

func pagingRun(stdout, stderr io.Writer, op string, args []string, o pagingOptions) error {
	rep := pagingReport{Op: op, Files: []pagingFile{}, Skipped: []pagingProblem{}, Errors: []pagingProblem{}}
	if op != pagingResidency {
		rep.Total.Before = new(int)
	}
	skip := func(path, why string) {
		rep.Skipped = append(rep.Skipped, pagingProblem{path, why})
		fmt.Fprintf(stderr, "mmapkit %s: skipping %s: %s\n", op, path, why)
	}
	fail := func(path string, err error) {
		rep.Errors = append(rep.Errors, pagingProblem{path, err.Error()})
		fmt.Fprintf(stderr, "mmapkit %s: %v\n", op, err)
	}
	do := func(path string) {
		f, err := pagingOne(op, path, o.width)
		if err != nil {
			fail(path, err)
			return
		}
		rep.Files = append(rep.Files, f)
		rep.Total.Files++
		rep.Total.Size += f.Size
		rep.Total.Pages += f.Pages
		rep.Total.Resident += f.Resident
		if f.Before != nil {
			*rep.Total.Before += *f.Before
		}
		if !o.json {
			pagingPrintFile(stdout, op, f)
		}
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			fail(arg, err)
			continue
		}
		switch {
		case fi.Mode().IsRegular():
			do(arg)
		case fi.IsDir() && !o.recursive:
			skip(arg, "is a directory (use -r to walk it)")
		case fi.IsDir():
			err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					// An unreadable directory: report it, walk on.
					fail(path, err)
					if d != nil && d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				switch t := d.Type(); {
				case t.IsDir():
				case t.IsRegular():
					do(path)
				default:
					skip(path, pagingKind(t))
				}
				return nil
			})
			if err != nil {
				fail(arg, err)
			}
		default:
			skip(arg, pagingKind(fi.Mode()))
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		pagingPrintTotal(stdout, op, rep.Total)
	}
	switch {
	case len(rep.Errors) == 0:
		return nil
	case len(rep.Files) == 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: all %d files failed", op, len(rep.Errors))}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%s: %d of %d files failed", op, len(rep.Errors), len(rep.Errors)+len(rep.Files))}
}

func pagingKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link (not followed inside a directory)"
	case m&fs.ModeDevice != 0:
		return "device, not a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe, not a regular file"
	case m&fs.ModeSocket != 0:
		return "socket, not a regular file"
	}
	return "not a regular file"
}

// pagingOne maps one file read-only and does op on it.
func pagingOne(op, path string, width int) (pagingFile, error) {
	f := pagingFile{Path: path, PageSize: os.Getpagesize()}
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		return f, err
	}
	defer r.Close()
	f.Size = int64(r.Len())
	s, err := r.Resident()
	if err != nil {
		return f, err
	}
	if op != pagingResidency {
		before := s.Resident
		f.Before = &before
		f0, ferr := mmap.ReadFaults()
		start := time.Now()
		if op == pagingPrefetch {
			err = r.Prefetch(0, int(f.Size))
		} else {
			err = r.Evict(0, int(f.Size))
		}
		f.Seconds = time.Since(start).Seconds()
		if err != nil {
			return f, err
		}
		if f1, err := mmap.ReadFaults(); ferr == nil && err == nil && op == pagingPrefetch {
			d := f1.Sub(f0)
			f.Faults = &pagingFaults{Minor: int64(d.Minor), Major: int64(d.Major)}
		}
		if s, err = r.Resident(); err != nil {
			return f, err
		}
	}
	f.Pages, f.Resident = s.Pages, s.Resident
	f.bar = pagingBar(s, width)
	return f, nil
}

// pagingBar draws a vmtouch-style bar: each character stands for a run of
// pages and is 'O' if all of them are resident, 'o' if some are, ' ' if none.
func pagingBar(s mmap.Residency, width int) string {
	width = max(1, min(width, s.Pages))
	if s.Pages == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for c := 0; c < width; c++ {
		lo, hi := c*s.Pages/width, (c+1)*s.Pages/width
		n := 0
		for p := lo; p < hi; p++ {
			if s.IsResident(p) {
				n++
			}
		}
		switch {
		case n == hi-lo:
			b.WriteByte('O')
		case n > 0:
			b.WriteByte('o')
		default:
			b.WriteByte(' ')
		}
	}
	b.WriteByte(']')
	return b.String()
}

func pagingPercent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func pagingPrintFile(w io.Writer, op string, f pagingFile) {
	line := fmt.Sprintf("%s %d/%d pages %5.1f%%", f.bar, f.Resident, f.Pages, pagingPercent(f.Resident, f.Pages))
	if f.Before != nil {
		line = fmt.Sprintf("%s before %d/%d (%.1f%%), after", f.bar, *f.Before, f.Pages, pagingPercent(*f.Before, f.Pages)) +
			fmt.Sprintf(" %d/%d (%.1f%%) in %s", f.Resident, f.Pages, pagingPercent(f.Resident, f.Pages), pagingDuration(f.Seconds))
	}
	if f.Faults != nil {
		line += fmt.Sprintf(", %d major + %d minor faults", f.Faults.Major, f.Faults.Minor)
	}
	fmt.Fprintf(w, "%s  %s  %s\n", line, bytesText(f.Size), f.Path)
}

func pagingPrintTotal(w io.Writer, op string, t pagingTotal) {
	ps := os.Getpagesize()
	if t.Before != nil {
		fmt.Fprintf(w, "total: %d files, %s; resident before %s (%.1f%%), after %s (%.1f%%)\n", t.Files, bytesText(t.Size),
			bytesText(int64(*t.Before)*int64(ps)), pagingPercent(*t.Before, t.Pages),
			bytesText(int64(t.Resident)*int64(ps)), pagingPercent(t.Resident, t.Pages))
		return
	}
	fmt.Fprintf(w, "total: %d files, %s; resident %d/%d pages, %s (%.1f%%)\n", t.Files, bytesText(t.Size),
		t.Resident, t.Pages, bytesText(int64(t.Resident)*int64(ps)), pagingPercent(t.Resident, t.Pages))
}

func pagingDuration(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}
