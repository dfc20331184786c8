package main

// mmapkit lock: keep files' pages in RAM (mlock) until signalled, in the
// foreground or as a daemon (vmtouch -l, -L, -d, -w, -P).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// lockStatusEnv names the descriptor on which a daemon child reports to the
// parent that started it (see lockMessage).
const lockStatusEnv = "MMAPKIT_LOCK_STATUS_FD"

// lockMessage is one line the daemon child sends its parent.
type lockMessage struct {
	Stage  string      `json:"stage"` // "started", "locked" or "failed"
	PID    int         `json:"pid"`
	Error  string      `json:"error,omitempty"`
	Code   int         `json:"code,omitempty"`
	Report *lockReport `json:"report,omitempty"`
	// Text is the report as the child prints it (its bars are not in the
	// JSON report).
	Text string `json:"text,omitempty"`
}

// lockReport is the --json output of lock.
type lockReport struct {
	pagingReport
	PID     int    `json:"pid"`
	Pidfile string `json:"pidfile,omitempty"`
	// Locked is true once every page is locked; false in the answer of a
	// --daemon without --wait, which returns as soon as the daemon runs.
	Locked bool `json:"locked"`
}

func newLockCmd() *cobra.Command {
	var o pagingOptions
	cmd := &cobra.Command{
		Use:   "lock FILE...",
		Short: "Keep files in RAM (mlock) until stopped with SIGTERM or Ctrl-C",
		Long: `lock maps the files read-only and locks their pages in RAM (mlock), reading
them in first, then stays running: the pages cannot be evicted or swapped
until it stops. SIGTERM or SIGINT (Ctrl-C) unlocks them and ends it.

It is all or nothing: if any file cannot be locked (missing, unreadable, more
than the locked-memory limit allows), nothing stays locked and the exit
status is 1. An unprivileged process may lock only RLIMIT_MEMLOCK bytes
(ulimit -l; LimitMEMLOCK= in a systemd unit); root or CAP_IPC_LOCK lifts it.

--daemon detaches: the command returns once the daemon runs (with --wait,
once every page is locked, with its report and exit status), the daemon
writes its pid to --pidfile and removes it when it stops.`,
		Example: `  mmapkit lock index.db                          # until Ctrl-C
  mmapkit lock --daemon --wait --pidfile /run/idx.pid -r /srv/index
  kill $(cat /run/idx.pid)                        # unlock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.filesFrom == "" {
				return usagef("no files given (name them, or use --files-from)")
			}
			if err := checkPagingOptions(cmd, &o); err != nil {
				return err
			}
			if o.wait && !o.daemon {
				return usagef("--wait needs --daemon (in the foreground, lock prints its report once every page is locked)")
			}
			if o.daemon && o.filesFrom == "-" {
				return usagef("--daemon cannot read --files-from from stdin: give a file")
			}
			if fd := os.Getenv(lockStatusEnv); fd != "" && o.daemon {
				return lockDaemonChild(cmd, args, &o, fd)
			}
			if o.daemon {
				return lockStartDaemon(cmd, args, &o)
			}
			return lockForeground(cmd, args, &o)
		},
	}
	fl := cmd.Flags()
	addPagingFlags(fl, &o, pagingLock)
	fl.BoolVarP(&o.daemon, "daemon", "d", false, "detach and keep the pages locked in the background")
	fl.BoolVarP(&o.wait, "wait", "w", false, "with --daemon, return only once every page is locked")
	fl.StringVarP(&o.pidfile, "pidfile", "P", "", "write the locking process's pid to this file (removed when it stops)")
	return cmd
}

// lockHeld is the set of locked Regions of a running lock.
type lockHeld struct {
	regions []*mmap.Region
	pidfile string
}

// release unlocks and unmaps everything and removes the pidfile if it is
// still ours.
func (h *lockHeld) release() {
	for _, r := range h.regions {
		_ = r.Unlock()
		_ = r.Close()
	}
	h.regions = nil
	if h.pidfile != "" {
		if b, err := readPidfile(h.pidfile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			_ = os.Remove(h.pidfile)
		}
	}
}

// readPidfile reads a pidfile without following a symbolic link and without
// blocking: anyone who can write the pidfile's directory could plant a FIFO
// there (a plain read waits for a writer for good, deaf to SIGTERM) or a link
// to some other file.
func readPidfile(path string) ([]byte, error) {
	f, err := sys.OpenFile(path, os.O_RDONLY, 0, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64))
}

// writePidfile writes this process's pid to path, refusing a pidfile that
// names another running process.
func writePidfile(path string) error {
	b, err := readPidfile(path)
	switch {
	case err == nil:
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && sys.ProcessAlive(pid) {
			return fmt.Errorf("lock: pidfile %s names running process %d: stop it first (kill %d) or choose another --pidfile", path, pid, pid)
		}
	case !errors.Is(err, fs.ErrNotExist):
		// A FIFO, a directory, a symbolic link: not a pidfile this
		// command wrote, so not one it may replace.
		return fmt.Errorf("lock: --pidfile: %w", err)
	}
	// The temporary name is created, never opened if it exists: a link
	// planted under it would otherwise make this write through to its
	// target.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := sys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644, true)
	if err != nil {
		return fmt.Errorf("lock: write --pidfile: %w", err)
	}
	_, werr := f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lock: write --pidfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lock: write --pidfile: %w", err)
	}
	return nil
}

// lockPrepare collects the files and writes the pidfile: everything that can
// fail on bad input, before anything is locked.
func lockPrepare(cmd *cobra.Command, args []string, o *pagingOptions) (*collector, *lockHeld, error) {
	c, err := collect(pagingLock, o, args, cmd.InOrStdin(), cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, err
	}
	if len(c.errors) > 0 {
		return nil, nil, lockFailed(len(c.errors), c.errors[len(c.errors)-1].Message)
	}
	h := &lockHeld{}
	if o.pidfile != "" {
		if err := writePidfile(o.pidfile); err != nil {
			return nil, nil, err
		}
		h.pidfile = o.pidfile
	}
	return c, h, nil
}

func lockFailed(n int, last string) error {
	if n == 1 {
		return &exitError{code: exitFailed, err: errors.New(last), printed: true}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("lock: %s failed; nothing is locked", plural(n, "file"))}
}

// lockAll maps and locks every target, jobs at a time. On any failure it
// releases everything and returns the error.
func lockAll(ctx context.Context, c *collector, h *lockHeld, o *pagingOptions, stderr io.Writer) (*pagingReport, error) {
	rep := &pagingReport{Op: pagingLock, PageSize: os.Getpagesize(), Skipped: list(c.skipped), Errors: []pagingProblem{}, Dirs: []pagingDir{}}
	if o.rng.set {
		rep.Range = &pagingRangeJSON{Start: o.rng.lo, End: o.rng.hi}
	}
	if err := lockCheckLimit(c.targets); err != nil {
		return rep, err
	}
	start := time.Now()
	files := make([]pagingFile, len(c.targets))
	regions := make([]*mmap.Region, len(c.targets))
	errs := make([]error, len(c.targets))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(o.jobs, max(len(c.targets), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				files[i], regions[i], errs[i] = lockOne(c.targets[i], o.width)
			}
		}()
	}
	for i := range c.targets {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range regions {
		if r != nil {
			h.regions = append(h.regions, r)
		}
	}
	if ctx.Err() != nil {
		h.release()
		return nil, interrupted("lock stopped; nothing is locked")
	}
	n, last := 0, ""
	for i, err := range errs {
		if err != nil {
			n++
			last = err.Error()
			rep.Errors = append(rep.Errors, pagingProblem{c.targets[i].path, last})
			fmt.Fprintln(stderr, "mmapkit:", visible(err.Error()))
		}
	}
	if n > 0 {
		h.release()
		return rep, lockFailed(n, last)
	}
	rep.Files = list(files)
	for _, f := range files {
		rep.Total.Files++
		rep.Total.Size += f.Size
		rep.Total.Pages += f.Pages
		rep.Total.Resident += f.Resident
		rep.Total.ResidentBytes += f.ResidentBytes
	}
	rep.Dirs = dirTotals(c.roots, files, c.targets)
	rep.Total.Seconds = time.Since(start).Seconds()
	rep.Total.Skipped, rep.Total.Duplicates = len(c.skipped), c.duplicates
	return rep, nil
}

// lockCheckLimit refuses, before locking anything, more bytes than
// RLIMIT_MEMLOCK lets this process lock, saying both sizes and what to do.
func lockCheckLimit(targets []pagingTarget) error {
	if !sys.MemlockLimited() {
		return nil
	}
	limit, err := sys.MemlockLimit()
	if err != nil || limit < 0 {
		return nil // cannot tell: mlock itself reports a refusal
	}
	ps := int64(os.Getpagesize())
	var need int64
	for _, t := range targets {
		if t.n > 0 {
			need += (t.off%ps + t.n + ps - 1) / ps * ps
		}
	}
	if locked, err := sys.LockedBytes(); err == nil {
		need += locked
	}
	if need <= limit {
		return nil
	}
	return fmt.Errorf("lock: %s, %s (%d bytes) to lock, but RLIMIT_MEMLOCK allows %s (%d bytes) for this process: raise it (ulimit -l; LimitMEMLOCK= in a systemd unit), run with CAP_IPC_LOCK, or lock less (--range, --max-size); nothing was locked: %w",
		plural(len(targets), "file"), bytesText(need), need, bytesText(limit), limit, mmap.ErrMemlock)
}

// lockOne maps and locks one target; the Region stays mapped and locked.
func lockOne(t pagingTarget, width int) (pagingFile, *mmap.Region, error) {
	f := pagingFile{Path: t.path, Size: t.size}
	if t.n == 0 {
		f.bar = pagingBar(mmap.Residency{}, width)
		return f, nil, nil
	}
	r, err := pagingMap(t.path, t.off, t.n, t.size)
	if err != nil {
		return f, nil, err
	}
	start := time.Now()
	if err := r.Lock(); err != nil {
		r.Close()
		if errors.Is(err, mmap.ErrMemlock) {
			err = fmt.Errorf("%w; lock fewer bytes with --range or --max-size", err)
		}
		return f, nil, err
	}
	secs := time.Since(start).Seconds()
	f.Seconds = &secs
	s, err := r.Resident()
	if err != nil {
		_ = r.Unlock()
		r.Close()
		return f, nil, err
	}
	f.Pages, f.Resident, f.ResidentBytes = s.Pages, s.Resident, int64(s.Resident)*int64(os.Getpagesize())
	f.bar = pagingBar(s, width)
	return f, r, nil
}

// lockPrint prints the report of a lock that holds its pages.
func lockPrint(w io.Writer, lr *lockReport, o *pagingOptions) error {
	if o.json {
		return writeJSON(w, lr)
	}
	if o.ndjson {
		return writeNDJSON(w, lr)
	}
	rep := &lr.pagingReport
	if !o.summary && len(rep.Files) > 0 {
		t := newTable("", "LOCKED", "PAGES", "SIZE", "FILE")
		for _, f := range rep.Files {
			t.row(f.bar, pagingPct(f.Resident, f.Pages), fmt.Sprintf("%d/%d", f.Resident, f.Pages), bytesText(f.Size), f.Path)
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	t := rep.Total
	msg := fmt.Sprintf("total: %s, %s; %s locked (%s) in %s\n", plural(t.Files, "file"), bytesText(t.Size),
		plural(t.Resident, "page"), bytesText(t.ResidentBytes), pagingDuration(t.Seconds))
	if lr.Locked {
		msg += fmt.Sprintf("pid %d holds them until SIGTERM or SIGINT", lr.PID)
		if lr.Pidfile != "" {
			msg += " (pidfile " + lr.Pidfile + ")"
		}
		msg += "\n"
	}
	_, err := io.WriteString(w, msg)
	return err
}

func lockForeground(cmd *cobra.Command, args []string, o *pagingOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), sys.StopSignals...)
	defer stop()
	c, h, err := lockPrepare(cmd, args, o)
	if err != nil {
		return err
	}
	defer h.release()
	rep, err := lockAll(ctx, c, h, o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := lockPrint(cmd.OutOrStdout(), &lockReport{*rep, os.Getpid(), o.pidfile, true}, o); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// lockDaemonChild is the detached process: it reports each stage on the
// status descriptor, then holds the pages until SIGTERM or SIGINT.
func lockDaemonChild(cmd *cobra.Command, args []string, o *pagingOptions, fd string) error {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return fmt.Errorf("%s=%q: not a descriptor", lockStatusEnv, fd)
	}
	status := os.NewFile(uintptr(n), "lock-status")
	send := func(m lockMessage) {
		m.PID = os.Getpid()
		if status != nil {
			_ = writeNDJSON(status, m)
		}
	}
	closeStatus := func() {
		if status != nil {
			status.Close()
			status = nil
		}
	}
	defer closeStatus()
	ctx, stop := signal.NotifyContext(context.Background(), sys.StopSignals...)
	defer stop()
	var errs strings.Builder
	cmd.SetErr(&errs)
	c, h, err := lockPrepare(cmd, args, o)
	if err != nil {
		send(lockMessage{Stage: "failed", Error: strings.TrimSpace(errs.String() + "\n" + lockErrText(err)), Code: exitCode(err)})
		return err
	}
	defer h.release()
	send(lockMessage{Stage: "started"})
	rep, err := lockAll(ctx, c, h, o, &errs)
	if err != nil {
		send(lockMessage{Stage: "failed", Error: strings.TrimSpace(errs.String() + "\n" + lockErrText(err)), Code: exitCode(err)})
		return err
	}
	lr := &lockReport{*rep, os.Getpid(), o.pidfile, true}
	var text strings.Builder
	if err := lockPrint(&text, lr, o); err != nil {
		return err
	}
	send(lockMessage{Stage: "locked", Report: lr, Text: text.String()})
	closeStatus()
	<-ctx.Done()
	return nil
}

// lockErrText is the text of a failure for the parent to print ("" if the
// error was already part of the per-file messages).
func lockErrText(err error) string {
	var e *exitError
	if errors.As(err, &e) && e.printed {
		return ""
	}
	return "mmapkit: " + err.Error()
}

// lockStartDaemon starts the detached child and relays what it reports.
func lockStartDaemon(cmd *cobra.Command, args []string, o *pagingOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("lock: cannot find this program to start the daemon: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	child := exec.Command(exe, append(append([]string{"lock"}, lockFlagArgs(cmd.Flags())...), append([]string{"--"}, args...)...)...)
	child.Env = append(os.Environ(), lockStatusEnv+"=3")
	child.ExtraFiles = []*os.File{w}
	// stdin, stdout and stderr stay /dev/null: a daemon must not hold its
	// starter's pipes open.
	sys.Detach(child)
	if err := child.Start(); err != nil {
		w.Close()
		return fmt.Errorf("lock: start the daemon: %w", err)
	}
	w.Close()
	pid := child.Process.Pid
	_ = child.Process.Release()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<30)
	for sc.Scan() {
		var m lockMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("lock: the daemon (pid %d) said %q: %w", pid, sc.Text(), err)
		}
		switch m.Stage {
		case "failed":
			if m.Error != "" {
				fmt.Fprintln(stderr, visible(m.Error))
			}
			return &exitError{code: max(m.Code, exitFailed), err: errors.New("lock failed"), printed: true}
		case "started":
			if !o.wait {
				if o.json || o.ndjson {
					return writeNDJSON(stdout, struct {
						PID     int    `json:"pid"`
						Pidfile string `json:"pidfile,omitempty"`
						Locked  bool   `json:"locked"`
					}{pid, o.pidfile, false})
				}
				_, err := fmt.Fprintf(stdout, "lock: daemon pid %d started, locking in the background (--wait waits for it)\n", pid)
				return err
			}
		case "locked":
			if m.Report == nil {
				return fmt.Errorf("lock: the daemon (pid %d) sent no report", pid)
			}
			_, err := io.WriteString(stdout, m.Text)
			return err
		}
	}
	return fmt.Errorf("lock: the daemon (pid %d) ended before it locked the files", pid)
}

// lockFlagArgs turns the flags the user set back into arguments for the
// daemon child.
func lockFlagArgs(fs *pflag.FlagSet) []string {
	var out []string
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return out
}
