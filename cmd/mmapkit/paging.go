package main

// The page-cache commands: residency (like vmtouch -v and fincore), prefetch
// (vmtouch -t), evict (vmtouch -e) and lock (vmtouch -l/-L/-d, in
// paging_lock.go). They take files and, with -r, directories; they map each
// file read-only, so they need only read permission (but see mmap.Residency
// about what Linux reports for files the caller may not write).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/units"
	"github.com/mmapkit/mmapkit/mmap"
)

const (
	pagingResidency = "residency"
	pagingPrefetch  = "prefetch"
	pagingEvict     = "evict"
	pagingLock      = "lock"
)

func init() {
	for _, op := range []string{pagingResidency, pagingPrefetch, pagingEvict} {
		register(func() *cobra.Command { return newPagingCmd(op) })
	}
	register(newLockCmd)
}

// rangeValue is the --range flag: "10MiB-20MiB", "1GiB-", "64KiB".
type rangeValue struct {
	set    bool
	lo, hi int64 // hi -1: to the end of the file
	text   string
}

func (v *rangeValue) String() string { return v.text }

// Set parses a range (a bad one is a usage error).
func (v *rangeValue) Set(s string) error {
	lo, hi, err := units.ParseRange(s)
	if err != nil {
		return err
	}
	*v = rangeValue{set: true, lo: lo, hi: hi, text: s}
	return nil
}

// Type names the flag's value in help.
func (v *rangeValue) Type() string { return "range" }

// pagingOptions are the flags of the page-cache commands.
type pagingOptions struct {
	recursive      bool
	json, ndjson   bool
	summary        bool
	width          int
	rng            rangeValue
	maxSize        int64
	followSymlinks bool
	oneFileSystem  bool
	ignore         []string
	include        []string
	filesFrom      string
	null           bool
	jobs           int
	watch          time.Duration
	count          int
	// lock only
	daemon  bool
	wait    bool
	pidfile string
}

// addPagingFlags defines the flags every page-cache command shares.
func addPagingFlags(fl *pflag.FlagSet, o *pagingOptions, op string) {
	fl.BoolVarP(&o.recursive, "recursive", "r", false, "walk directories")
	fl.BoolVar(&o.json, "json", false, "print one JSON document (shape in docs/cli.md)")
	fl.BoolVar(&o.ndjson, "ndjson", false, "print one JSON object per line, as the work goes (for huge trees)")
	fl.BoolVarP(&o.summary, "summary", "s", false, "print only the totals, not a line per file")
	fl.IntVar(&o.width, "width", 40, "width of the residency bar in characters")
	fl.Var(&o.rng, "range", "work on this byte range of each file: 10MiB-20MiB, 1GiB- (to the end), 64KiB (the start)")
	sizeFlag(fl, &o.maxSize, "max-size", "0", "skip files larger than this (0: no limit)")
	fl.BoolVarP(&o.followSymlinks, "follow-symlinks", "L", false, "follow symbolic links met while walking directories (named ones always are)")
	fl.BoolVar(&o.oneFileSystem, "one-file-system", false, "do not walk into other file systems")
	fl.StringArrayVar(&o.ignore, "ignore", nil, "skip files and directories whose name matches this glob (repeatable)")
	fl.StringArrayVar(&o.include, "include", nil, "take only files whose name matches this glob (repeatable)")
	fl.StringVar(&o.filesFrom, "files-from", "", "also take the names listed in this file, one per line ('-' for stdin)")
	fl.BoolVarP(&o.null, "null", "0", false, "names in --files-from are separated by NUL bytes (find -print0)")
	jobs := 16
	if op == pagingPrefetch || op == pagingLock {
		jobs = 32
	}
	fl.IntVarP(&o.jobs, "jobs", "j", jobs, "files worked on at once")
}

func newPagingCmd(op string) *cobra.Command {
	var o pagingOptions
	short := map[string]string{
		pagingResidency: "Show which pages of files are in the page cache",
		pagingPrefetch:  "Load files into the page cache, showing residency before and after",
		pagingEvict:     "Drop files from the page cache, showing residency before and after",
	}[op]
	long := short + `.

One line per file: a bar of its pages ('O' all resident, 'o' some, ' ' none),
the share resident, pages and bytes, then totals. Directories are walked with
-r; a file reached by several names (hard links, followed symbolic links) is
counted once. Anything that is not a regular file (devices, sockets, FIFOs,
symbolic links met while walking) is skipped with a message on stderr; files
left out by --ignore, --include, --max-size or --one-file-system are skipped
silently (listed in --json). A file that fails does not stop the others.
On Linux the pages are counted with cachestat(2) (mincore(2) on a mapping
where the kernel lacks it, and for the bar of a file cached in part).`
	switch op {
	case pagingResidency:
		long += `

--watch INTERVAL redraws the residency every INTERVAL (e.g. 1s) until
Ctrl-C or --count rounds: handy while a database or a benchmark warms up.`
	case pagingPrefetch:
		long += `

prefetch reads every page of the files (or of --range) into the page cache
with many reads in flight: it starts the reads of many files ahead of the
--jobs workers that wait for them. Ranges up to 1 MiB are read through the
file descriptor (posix_fadvise, sendfile to /dev/null, cachestat), and so
is a whole bigger file, in 32 MiB parts from 8 goroutines at once; a
bigger range that is not a whole file is read through a mapping
(MADV_POPULATE_READ), which reads exactly its pages. The total says how
much the command read from disk (Linux) and the page faults it took (those
of the mappings; major faults: pages read from disk).`
	case pagingEvict:
		long += `

evict writes back dirty pages and then drops the pages (sync_file_range +
POSIX_FADV_DONTNEED). It needs no root; pages that another process has
mapped or locked stay in the cache.`
	}
	cmd := &cobra.Command{
		Use:   op + " FILE...",
		Short: short,
		Long:  long,
		Example: fmt.Sprintf(`  mmapkit %s data.bin
  mmapkit %s -r --summary /var/lib/db
  mmapkit %s --range 10MiB-20MiB data.bin
  find /srv -name '*.idx' -print0 | mmapkit %s --files-from - -0`, op, op, op, op),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.filesFrom == "" {
				return usagef("no files given (name them, or use --files-from)")
			}
			if err := checkPagingOptions(cmd, &o); err != nil {
				return err
			}
			if o.watch > 0 {
				return pagingWatch(cmd, op, args, &o)
			}
			return pagingRun(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), op, args, &o)
		},
	}
	addPagingFlags(cmd.Flags(), &o, op)
	if op == pagingResidency {
		cmd.Flags().DurationVar(&o.watch, "watch", 0, "redraw every INTERVAL (e.g. 500ms, 2s) until Ctrl-C")
		cmd.Flags().IntVar(&o.count, "count", 0, "with --watch, stop after this many rounds (0: until Ctrl-C)")
	}
	return cmd
}

func checkPagingOptions(cmd *cobra.Command, o *pagingOptions) error {
	switch {
	case o.json && o.ndjson:
		return usagef("--json and --ndjson: choose one")
	case o.jobs < 1:
		return usagef("--jobs %d: must be at least 1", o.jobs)
	case o.width < 1:
		return usagef("--width %d: must be at least 1", o.width)
	case o.watch < 0:
		return usagef("--watch %s: must be positive", o.watch)
	case o.count < 0:
		return usagef("--count %d: must be 0 or more", o.count)
	case cmd.Flags().Changed("count") && o.watch == 0:
		return usagef("--count needs --watch")
	case o.null && o.filesFrom == "":
		return usagef("-0 (--null) needs --files-from")
	}
	for _, p := range append(append([]string(nil), o.ignore...), o.include...) {
		if _, err := pathMatch(p); err != nil {
			return usagef("bad glob %q: %v", p, err)
		}
	}
	return nil
}

// pagingFile is one file's result, in --json and --ndjson.
type pagingFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Pages and Resident count the pages of the range worked on (the whole
	// file without --range); ResidentBytes is Resident times the page size:
	// the memory the page cache holds for it.
	Pages         int   `json:"pages"`
	Resident      int   `json:"resident"`
	ResidentBytes int64 `json:"resident_bytes"`
	// Before is the resident page count before prefetch or evict.
	Before  *int     `json:"before,omitempty"`
	Seconds *float64 `json:"seconds,omitempty"`
	bar     string
}

// pagingDir sums the files under one walked directory.
type pagingDir struct {
	Path          string `json:"path"`
	Files         int    `json:"files"`
	Size          int64  `json:"size"`
	Pages         int    `json:"pages"`
	Resident      int    `json:"resident"`
	ResidentBytes int64  `json:"resident_bytes"`
	Before        *int   `json:"before,omitempty"`
}

// pagingFaults are the page faults the whole command took.
type pagingFaults struct {
	Minor int64 `json:"minor"`
	Major int64 `json:"major"`
}

type pagingTotal struct {
	Files         int           `json:"files"`
	Size          int64         `json:"size"`
	Pages         int           `json:"pages"`
	Resident      int           `json:"resident"`
	ResidentBytes int64         `json:"resident_bytes"`
	Before        *int          `json:"before,omitempty"`
	Seconds       float64       `json:"seconds"`
	Faults        *pagingFaults `json:"faults,omitempty"`
	ReadBytes     *int64        `json:"read_bytes,omitempty"`
	Skipped       int           `json:"skipped"`
	Duplicates    int           `json:"duplicates"`
	Errors        int           `json:"errors"`
}

// pagingRangeJSON is the --range in --json.
type pagingRangeJSON struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"` // -1: to the end of each file
}

type pagingReport struct {
	Op       string           `json:"op"`
	PageSize int              `json:"page_size"`
	Range    *pagingRangeJSON `json:"range,omitempty"`
	Files    []pagingFile     `json:"files"`
	Dirs     []pagingDir      `json:"dirs"`
	Skipped  []pagingProblem  `json:"skipped"`
	Errors   []pagingProblem  `json:"errors"`
	Total    pagingTotal      `json:"total"`
}

// pagingLine is one line of --ndjson: "type" says which object follows, and
// its fields are merged into the line.
type pagingLine struct {
	Type string // "file", "dir", "skipped", "error", "total"
	*pagingFile
	*pagingDir
	*pagingProblem
	*pagingTotal
}

// MarshalJSON writes {"type": ..., and the fields of the one object set}.
func (l pagingLine) MarshalJSON() ([]byte, error) {
	var inner any
	switch {
	case l.pagingFile != nil:
		inner = l.pagingFile
	case l.pagingDir != nil:
		inner = l.pagingDir
	case l.pagingProblem != nil:
		inner = l.pagingProblem
	case l.pagingTotal != nil:
		inner = l.pagingTotal
	}
	var b bytes.Buffer
	if err := writeNDJSON(&b, inner); err != nil {
		return nil, err
	}
	obj := bytes.TrimSpace(b.Bytes())
	head := fmt.Appendf(nil, `{"type":%q`, l.Type)
	if len(obj) <= 2 {
		return append(head, '}'), nil
	}
	return append(append(head, ','), obj[1:]...), nil
}

func pagingRun(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, op string, args []string, o *pagingOptions) error {
	rep, err := pagingReportFor(ctx, stdin, stdout, stderr, op, args, o, !o.json && !o.ndjson && !o.summary && o.watch == 0)
	if err != nil {
		return err
	}
	if o.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else if o.ndjson {
		for i := range rep.Dirs {
			if err := writeNDJSON(stdout, pagingLine{Type: "dir", pagingDir: &rep.Dirs[i]}); err != nil {
				return err
			}
		}
		if err := writeNDJSON(stdout, pagingLine{Type: "total", pagingTotal: &rep.Total}); err != nil {
			return err
		}
	} else {
		if err := pagingPrintText(stdout, op, rep, o); err != nil {
			return err
		}
	}
	return pagingExit(rep)
}

// pagingExit: 0 if every file worked, 1 if any failed (each was reported on
// stderr as it happened).
func pagingExit(rep *pagingReport) error {
	switch n := len(rep.Errors); {
	case n == 0:
		return nil
	case n == 1 && rep.Total.Files == 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %s", rep.Op, rep.Errors[0].Message), printed: true}
	case rep.Total.Files == 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: all %s failed", rep.Op, plural(n, "file"))}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%s: %d of %s failed", rep.Op, len(rep.Errors), plural(len(rep.Errors)+rep.Total.Files, "file"))}
}

// pagingResult is one entry of the file list, done: a file worked on (or
// failed), or a name skipped or failed while listing.
type pagingResult struct {
	ev   pagingEvent
	file pagingFile
	err  error
}

// pagingReportFor lists the files and works on them as they are found (the
// walk of a big tree overlaps the reads), jobs at a time; results are
// reported in list order. With --ndjson each entry is printed as soon as it
// and the ones before it are done.
func pagingReportFor(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, op string, args []string, o *pagingOptions, progressOK bool) (*pagingReport, error) {
	names, err := pagingNames(o, args, stdin)
	if err != nil {
		return nil, err
	}
	rep := &pagingReport{Op: op, PageSize: os.Getpagesize(), Skipped: []pagingProblem{}}
	if o.rng.set {
		rep.Range = &pagingRangeJSON{Start: o.rng.lo, End: o.rng.hi}
	}
	if op != pagingResidency {
		rep.Total.Before = new(int)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Counters and clock start before any work does: the feeders start
	// reads as soon as the walk finds files.
	f0, ferr := mmap.ReadFaults()
	ru0, ruErr := sys.GetRusage()
	start := time.Now()

	// The lister walks and sends events; a dispatcher passes files to the
	// feeders and everything else straight to the results.
	c := newCollector(op, o, stderr)
	c.ctx = ctx
	events := make(chan pagingEvent, 1024)
	c.events = events
	go func() {
		defer close(events)
		for _, n := range names {
			if ctx.Err() != nil {
				return
			}
			c.add(n)
		}
	}()
	targets := make(chan pagingEvent)
	results := make(chan pagingResult, 64)
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() {
		defer dwg.Done()
		defer close(targets)
		for ev := range events {
			if ev.target != nil {
				targets <- ev
			} else {
				results <- pagingResult{ev: ev}
			}
		}
	}()

	// prefetch keeps the device busy: feeders open the files ahead of the
	// workers and start their reads (a small range: one POSIX_FADV_WILLNEED
	// on the descriptor; a big range that is not a whole file: mapped,
	// PrefetchOffsets), up to prefetchAhead bytes and prefetchFilesAhead
	// files in flight; a worker then waits for a file's pages (sendfile to
	// /dev/null, or MADV_POPULATE_READ) and measures it, and reads a whole
	// big file in parts (pagingReadWhole). Several feeders, since starting
	// a read allocates its pages and submits the I/O in the system call,
	// which one thread would serialize.
	var work chan *pagingJob
	budget := newByteBudget(prefetchAhead)
	feeders := 1
	if op == pagingPrefetch {
		feeders = min(4, o.jobs)
		// Small files' reads are started and their descriptors held
		// until a worker gets to them: up to prefetchFilesAhead.
		work = make(chan *pagingJob, prefetchFilesAhead)
	} else {
		work = make(chan *pagingJob)
	}
	var fwg sync.WaitGroup
	for range feeders {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for ev := range targets {
				j := &pagingJob{ev: ev}
				if op == pagingPrefetch && ctx.Err() == nil {
					j.budget = min(ev.target.n, prefetchWindow)
					if budget.acquire(ctx, j.budget) {
						pagingStart(op, *ev.target, j)
					} else {
						j.budget = 0
					}
				}
				work <- j
			}
		}()
	}
	barWidth := o.width // 0: no bars printed, none drawn
	if o.summary || o.json || o.ndjson {
		barWidth = 0
	}
	var wwg sync.WaitGroup
	for range o.jobs {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for j := range work {
				var r pagingResult
				r.ev = j.ev
				if ctx.Err() != nil {
					j.close()
					r.err = ctx.Err()
				} else {
					r.file, r.err = pagingFinish(op, *j.ev.target, j, barWidth)
				}
				budget.release(j.budget)
				results <- r
			}
		}()
	}
	go func() {
		dwg.Wait()
		fwg.Wait()
		close(work)
		wwg.Wait()
		close(results)
	}()

	var (
		files   []pagingFile
		done    []pagingTarget // the targets of files, in the same order
		errs    []pagingProblem
		pending = map[int]pagingResult{}
		next    int
		bar     *progress
		seen    int64
		werr    error
	)
	report := func(r pagingResult) error {
		switch {
		case r.ev.skipped != nil:
			rep.Skipped = append(rep.Skipped, *r.ev.skipped)
			if r.ev.loud {
				fmt.Fprintf(stderr, "mmapkit %s: skipping %s: %s\n", op, visible(r.ev.skipped.Path), visible(r.ev.skipped.Message))
			}
			if o.ndjson {
				return writeNDJSON(stdout, pagingLine{Type: "skipped", pagingProblem: r.ev.skipped})
			}
		case r.ev.failed != nil || r.err != nil:
			p, msg := r.ev.failed, ""
			if p == nil {
				p, msg = &pagingProblem{r.ev.target.path, r.err.Error()}, r.err.Error()
			} else {
				msg = r.ev.failedErr.Error()
			}
			errs = append(errs, *p)
			fmt.Fprintln(stderr, "mmapkit:", visible(msg))
			if o.ndjson {
				return writeNDJSON(stdout, pagingLine{Type: "error", pagingProblem: p})
			}
		default:
			files = append(files, r.file)
			done = append(done, *r.ev.target)
			if o.ndjson {
				return writeNDJSON(stdout, pagingLine{Type: "file", pagingFile: &files[len(files)-1]})
			}
		}
		return nil
	}
	for r := range results {
		if r.ev.target != nil {
			seen += r.ev.target.n
			if bar == nil && progressOK && (seen >= 64<<20 || len(files) >= 1000) {
				bar = newProgress(stderr, -1, op, true)
			}
			bar.add(r.ev.target.n)
		}
		pending[r.ev.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := report(r); err != nil && werr == nil {
				werr = err
				cancel()
			}
		}
	}
	bar.finish()
	if werr != nil {
		return nil, werr
	}
	if err := ctx.Err(); err != nil {
		return nil, interrupted(op + " stopped")
	}
	rep.Total.Seconds = time.Since(start).Seconds()
	if f1, err := mmap.ReadFaults(); ferr == nil && err == nil && op == pagingPrefetch {
		d := f1.Sub(f0)
		rep.Total.Faults = &pagingFaults{Minor: int64(d.Minor), Major: int64(d.Major)}
	}
	if ru1, err := sys.GetRusage(); ruErr == nil && err == nil && ru0.ReadBytes >= 0 && op == pagingPrefetch {
		n := ru1.ReadBytes - ru0.ReadBytes
		rep.Total.ReadBytes = &n
	}
	rep.Files = list(files)
	for _, f := range files {
		rep.Total.Files++
		rep.Total.Size += f.Size
		rep.Total.Pages += f.Pages
		rep.Total.Resident += f.Resident
		rep.Total.ResidentBytes += f.ResidentBytes
		if f.Before != nil {
			*rep.Total.Before += *f.Before
		}
	}
	rep.Dirs = dirTotals(c.roots, files, done)
	rep.Errors = list(errs)
	rep.Total.Skipped = len(rep.Skipped)
	rep.Total.Duplicates = c.duplicates
	rep.Total.Errors = len(errs)
	return rep, nil
}

// pagingJob is one file on its way through the workers.
type pagingJob struct {
	ev     pagingEvent
	r      *mmap.Region   // mapped by pagingStart; nil before or for an empty range
	cf     *sys.CacheFile // or opened instead (pagingByFD)
	err    error          // of pagingStart
	before mmap.Residency
	cached int   // the pages of the range cached before, when cf is set
	ahead  int64 // bytes from the start of the range whose reads are started
	budget int64 // bytes of the read-ahead budget this job holds
	opened bool
}

func (j *pagingJob) close() {
	if j.r != nil {
		j.r.Close()
		j.r = nil
	}
	if j.cf != nil {
		j.cf.Close()
		j.cf = nil
	}
}

// pagingStart maps a target and notes its residency; for prefetch it starts
// the reads of the first window of the file. Where it can (pagingByFD), it
// opens the file instead of mapping it: setting up and tearing down a
// mapping costs more than reading 64 KiB, and mmap/munmap serialize the
// workers on the address-space lock.
func pagingStart(op string, t pagingTarget, j *pagingJob) {
	j.opened = true
	if t.n == 0 {
		return
	}
	if pagingByFD(op, t) {
		if j.cf, j.err = pagingOpenFD(op, t); j.err == nil {
			if j.cached, j.err = j.cf.Cached(t.off, t.n); j.err == nil && op == pagingPrefetch && !pagingWhole(t) {
				j.err = j.cf.WillNeed(t.off, t.n)
			}
			if j.err != nil {
				j.err = fmt.Errorf("%s %s: %w", op, t.path, j.err)
				j.close()
			}
			return
		}
		if !errors.Is(j.err, errors.ErrUnsupported) {
			return
		}
		j.err = nil // not on this OS: map it
	}
	if j.r, j.err = pagingMap(t.path, t.off, t.n, t.size); j.err != nil {
		return
	}
	if j.before, j.err = j.r.Resident(); j.err != nil {
		j.close()
		return
	}
	if op == pagingPrefetch {
		j.ahead, j.err = pagingReadAhead(j.r, 0, min(t.n, prefetchWindow))
		if j.err != nil {
			j.close()
		}
	}
}

// pagingFinish does op on a target (mapping it first if pagingStart has
// not) and measures the result.
func pagingFinish(op string, t pagingTarget, j *pagingJob, width int) (pagingFile, error) {
	ps := os.Getpagesize()
	f := pagingFile{Path: t.path, Size: t.size}
	if op != pagingResidency {
		f.Before, f.Seconds = new(int), new(float64)
	}
	if !j.opened {
		pagingStart(op, t, j)
	}
	if j.err != nil {
		return f, j.err
	}
	if j.cf != nil {
		defer j.close()
		return pagingFinishFD(op, t, j, f, width)
	}
	if j.r == nil {
		// Nothing to map and nothing to cache: zero pages, not an error.
		f.bar = pagingBar(mmap.Residency{}, width)
		return f, nil
	}
	defer j.close()
	s := j.before
	if op != pagingResidency {
		*f.Before = s.Resident
		start := time.Now()
		var err error
		if op == pagingPrefetch {
			err = pagingPrefetchRegion(j.r, j.ahead)
		} else {
			err = pagingEvictRegion(j.r)
		}
		secs := time.Since(start).Seconds()
		f.Seconds = &secs
		if err != nil {
			return f, err
		}
		if s, err = j.r.Resident(); err != nil {
			return f, err
		}
	}
	f.Pages, f.Resident, f.ResidentBytes = s.Pages, s.Resident, int64(s.Resident)*int64(ps)
	f.bar = pagingBar(s, width)
	return f, nil
}

// pagingFinishFD does op on a target that pagingStart opened rather than
// mapped and measures the result, all through the descriptor. width == 0:
// no bar is wanted.
func pagingFinishFD(op string, t pagingTarget, j *pagingJob, f pagingFile, width int) (pagingFile, error) {
	resident := j.cached
	if op != pagingResidency {
		*f.Before = j.cached
		start := time.Now()
		var err error
		switch {
		case op == pagingPrefetch && pagingWhole(t):
			err = pagingReadWhole(j.cf, t.off, t.n)
		case op == pagingPrefetch:
			err = j.cf.Read(t.off, t.n)
		default:
			err = j.cf.Drop(t.off, t.n)
		}
		secs := time.Since(start).Seconds()
		f.Seconds = &secs
		if err == nil {
			resident, err = j.cf.Cached(t.off, t.n)
		}
		if err != nil {
			return f, fmt.Errorf("%s %s: %w", op, t.path, err)
		}
	}
	ps := int64(os.Getpagesize())
	pages := int((t.off+t.n+ps-1)/ps - t.off/ps)
	f.Pages, f.Resident, f.ResidentBytes = pages, resident, int64(resident)*ps
	switch {
	case width == 0:
	case resident == 0 || resident == pages:
		f.bar = pagingBarOf(pages, func(int) bool { return resident > 0 }, width)
	default:
		// Which pages, for the bar.
		vec, err := j.cf.Incore(t.off, t.n)
		if err != nil {
			return f, fmt.Errorf("%s %s: %w", op, t.path, err)
		}
		f.bar = pagingBarOf(len(vec), func(p int) bool { return vec[p]&1 != 0 }, width)
	}
	return f, nil
}

// byteBudget bounds the bytes of reads started ahead of the workers.
type byteBudget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	avail int64
}

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{avail: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire takes n bytes (at least as many as are available when the budget
// is full, so one huge file never waits forever); it gives up when ctx ends.
// Only the feeder acquires.
func (b *byteBudget) acquire(ctx context.Context, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer stop()
	for b.avail < n && b.avail < prefetchAhead && ctx.Err() == nil {
		b.cond.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	b.avail -= n
	return true
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.avail += n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// pagingBar draws a vmtouch-style bar: each character stands for a run of
// pages and is 'O' if all of them are resident, 'o' if some are, ' ' if none.
func pagingBar(s mmap.Residency, width int) string {
	return pagingBarOf(s.Pages, s.IsResident, width)
}

// pagingBarOf draws the bar of pages pages, resident(p) telling page p's state.
func pagingBarOf(pages int, resident func(p int) bool, width int) string {
	width = max(1, min(width, pages))
	if pages == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for c := 0; c < width; c++ {
		lo, hi := c*pages/width, (c+1)*pages/width
		n := 0
		for p := lo; p < hi; p++ {
			if resident(p) {
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

func pagingPct(n, of int) string { return fmt.Sprintf("%.1f%%", percent(int64(n), int64(of))) }

// pagingPrintText prints the table of files (unless --summary) and the totals.
func pagingPrintText(w io.Writer, op string, rep *pagingReport, o *pagingOptions) error {
	if !o.summary && len(rep.Files) > 0 {
		var t *table
		switch op {
		case pagingResidency:
			t = newTable("", "RESIDENT", "PAGES", "CACHED", "SIZE", "FILE")
			for _, f := range rep.Files {
				t.row(f.bar, pagingPct(f.Resident, f.Pages), fmt.Sprintf("%d/%d", f.Resident, f.Pages), bytesText(f.ResidentBytes), bytesText(f.Size), f.Path)
			}
		default:
			t = newTable("", "BEFORE", "AFTER", "PAGES", "SIZE", "TIME", "FILE")
			for _, f := range rep.Files {
				t.row(f.bar, pagingPct(*f.Before, f.Pages), pagingPct(f.Resident, f.Pages), fmt.Sprintf("%d/%d", f.Resident, f.Pages), bytesText(f.Size), pagingDuration(*f.Seconds), f.Path)
			}
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	return pagingPrintTotal(w, op, rep)
}

func pagingPrintTotal(w io.Writer, op string, rep *pagingReport) error {
	t := rep.Total
	var b strings.Builder
	ps := int64(rep.PageSize)
	fmt.Fprintf(&b, "total: %s, %s", plural(t.Files, "file"), bytesText(t.Size))
	if rep.Range != nil {
		fmt.Fprintf(&b, " (range %s of each)", pagingRangeText(rep.Range))
	}
	switch op {
	case pagingResidency:
		fmt.Fprintf(&b, "; resident %d of %s, %s (%s)", t.Resident, plural(t.Pages, "page"), bytesText(t.ResidentBytes), pagingPct(t.Resident, t.Pages))
	default:
		fmt.Fprintf(&b, "; resident before %s (%s), after %s (%s) in %s", bytesText(int64(*t.Before)*ps), pagingPct(*t.Before, t.Pages),
			bytesText(t.ResidentBytes), pagingPct(t.Resident, t.Pages), pagingDuration(t.Seconds))
		if t.ReadBytes != nil {
			fmt.Fprintf(&b, ", %s read from disk", bytesText(*t.ReadBytes))
		}
		if t.Faults != nil {
			fmt.Fprintf(&b, ", %d major + %d minor faults", t.Faults.Major, t.Faults.Minor)
		}
	}
	var extra []string
	if t.Duplicates > 0 {
		extra = append(extra, plural(t.Duplicates, "name")+" of files already counted")
	}
	if n := t.Skipped - t.Duplicates; n > 0 {
		extra = append(extra, plural(n, "name")+" skipped")
	}
	if t.Errors > 0 {
		extra = append(extra, plural(t.Errors, "error"))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func pagingRangeText(r *pagingRangeJSON) string {
	if r.End < 0 {
		return bytesText(r.Start) + "-end"
	}
	return bytesText(r.Start) + "-" + bytesText(r.End)
}

func pagingDuration(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// pagingWatch redraws the residency every --watch until Ctrl-C or --count
// rounds. On a terminal the screen is cleared before each round; elsewhere
// rounds follow each other (--json and --ndjson print one JSON object per
// round, on one line).
func pagingWatch(cmd *cobra.Command, op string, args []string, o *pagingOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), sys.StopSignals...)
	defer stop()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	tty := isTerminal(stdout)
	var stdinNames []byte
	if o.filesFrom == "-" {
		// stdin can be read once: keep the list for every round.
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return err
		}
		stdinNames = b
	}
	var last *pagingReport
	tick := time.NewTicker(o.watch)
	defer tick.Stop()
	for round := 1; ; round++ {
		var errb strings.Builder
		rep, err := pagingReportFor(ctx, strings.NewReader(string(stdinNames)), io.Discard, &errb, op, args, o, false)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		last = rep
		var b strings.Builder
		switch {
		case o.json || o.ndjson:
			if err := writeNDJSON(&b, struct {
				Time string `json:"time"`
				pagingReport
			}{timeJSON(time.Now()), *rep}); err != nil {
				return err
			}
		default:
			if tty {
				b.WriteString("\x1b[H\x1b[2J")
			} else if round > 1 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "%s, every %s (Ctrl-C to stop)\n", time.Now().Format("15:04:05"), o.watch)
			if err := pagingPrintText(&b, op, rep, o); err != nil {
				return err
			}
			b.WriteString(errb.String())
		}
		if round == 1 && !(tty && !o.json && !o.ndjson) {
			// Problems are worth saying once, not every round.
			_, _ = io.WriteString(stderr, errb.String())
		}
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
		if o.count > 0 && round >= o.count {
			break
		}
		select {
		case <-ctx.Done():
			return pagingExit(last)
		case <-tick.C:
		}
	}
	return pagingExit(last)
}
