package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// Faults counts page faults.
type Faults struct {
	Minor int64 `json:"minor"`
	Major int64 `json:"major"`
}

// Result is what one method measured in its own process.
type Result struct {
	Method   string    `json:"method"`
	Lang     string    `json:"lang"` // "go" or "python"
	State    string    `json:"state"`
	Setup    Seconds   `json:"setup_s"`
	Access   Seconds   `json:"access_s"`
	Total    Seconds   `json:"total_s"`
	Reads    int       `json:"reads"`
	Bytes    int64     `json:"bytes"`
	NsPerOp  float64   `json:"ns_per_read"`
	FloorNs  float64   `json:"floor_ns_per_read,omitempty"` // mapped-copy floor (second pass, pages mapped)
	Peak     Mem       `json:"peak"`                        // RssAnon and RssFile peaks of the child
	Baseline Mem       `json:"baseline"`                    // the child before the method started
	Faults   Faults    `json:"faults"`
	Sums     Checksums `json:"checksum"`
	// Filled in by the report: whether the checksum equals the reference
	// (full for Go methods, spot for Python), and speed relative to pread
	// (pread time / this time).
	ChecksumOK   bool    `json:"checksum_ok"`
	SpeedVsPread float64 `json:"speed_vs_pread,omitempty"`
	// With repeated runs the result is the median run; Runs, MinTotal and
	// MaxTotal say how many there were and how far apart.
	Runs     int     `json:"runs,omitempty"`
	MinTotal Seconds `json:"min_total_s,omitempty"`
	MaxTotal Seconds `json:"max_total_s,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// Seconds is a duration that marshals as seconds.
type Seconds float64

func secs(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// ChildMain runs the method that the Spec read from in asks for and writes
// its Result as JSON to out. The CLI's hidden child command and the tests'
// re-executed binary call it; it returns the process exit status.
func ChildMain(in io.Reader, out io.Writer) int {
	var s Spec
	res, err := runChild(in, &s)
	if err != nil {
		res.Error = err.Error()
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 2
	}
	return 0
}

func runChild(in io.Reader, s *Spec) (Result, error) {
	var res Result
	res.Lang = "go"
	if err := json.NewDecoder(in).Decode(s); err != nil {
		return res, fmt.Errorf("bad spec: %w", err)
	}
	res.Method = s.Method
	m, ok := methods[s.Method]
	if !ok || m.run == nil {
		return res, fmt.Errorf("unknown method %q", s.Method)
	}
	var offs []int64
	if s.Offsets != "" {
		var err error
		if offs, err = ReadOffsets(s.Offsets); err != nil {
			return res, err
		}
	}
	res.Baseline, _ = ReadMem(0)
	w, err := m.run(*s, offs)
	if err != nil {
		return res, err
	}
	f0, _ := mmap.ReadFaults()
	setup, err := timeIt(w.setup)
	if err != nil {
		return res, fmt.Errorf("setup: %w", err)
	}
	defer func() {
		if w.cleanup != nil {
			w.cleanup()
		}
	}()
	access, err := timeIt(w.access)
	if err != nil {
		return res, fmt.Errorf("access: %w", err)
	}
	f1, _ := mmap.ReadFaults()
	// Sampled before anything is released: for the mapping methods the end of
	// the pass is when the most pages are mapped.
	res.Peak, _ = ReadMem(0)
	res.Peak.max(res.Baseline)
	d := f1.Sub(f0)
	res.Faults = Faults{Minor: d.Minor, Major: d.Major}
	res.Setup, res.Access, res.Total = secs(setup), secs(access), secs(setup+access)
	res.Sums = w.sums
	if m.Kind == Sequential {
		fi, err := os.Stat(s.File)
		if err == nil {
			res.Bytes = fi.Size()
			res.Reads = seqChunks(fi.Size(), s.Block)
		}
	} else {
		res.Reads = len(offs)
		res.Bytes = int64(len(offs)) * s.Block
	}
	if res.Reads > 0 {
		res.NsPerOp = float64(access.Nanoseconds()) / float64(res.Reads)
	}
	if w.floor != nil {
		fl, err := timeIt(w.floor)
		if err != nil {
			return res, fmt.Errorf("floor pass: %w", err)
		}
		res.FloorNs = float64(fl.Nanoseconds()) / float64(len(offs))
	}
	return res, nil
}

// Runner starts child processes. Exe and Args re-execute the current program
// in child mode (the CLI's hidden command, or a test binary with an
// environment variable); Env is added to the child's environment.
type Runner struct {
	Exe  string
	Args []string
	Env  []string
	// SampleEvery is how often the parent samples the child's RssAnon and
	// RssFile from /proc while it runs (default 5 ms). The child adds a
	// sample of its own at the end of its reads.
	SampleEvery time.Duration
}

// Run runs one method in a fresh child process and returns its result.
// Cancelling ctx kills the child.
func (rn *Runner) Run(ctx context.Context, s Spec) (Result, error) {
	spec, err := json.Marshal(s)
	if err != nil {
		return Result{}, err
	}
	var cmd *exec.Cmd
	if m, ok := methods[s.Method]; ok && m.Kind == Python {
		cmd = exec.CommandContext(ctx, s.Python, s.Script)
	} else {
		cmd = exec.CommandContext(ctx, rn.Exe, rn.Args...)
		cmd.Env = append(os.Environ(), rn.Env...)
	}
	cmd.Stdin = bytes.NewReader(spec)
	// A child must not outlive a parent killed with SIGKILL: it would go on
	// reading gigabytes and hold the run's temporary directory.
	sys.KillWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("bench: start child for %s: %w", s.Method, err)
	}
	every := rn.SampleEvery
	if every <= 0 {
		every = 5 * time.Millisecond
	}
	stop := make(chan struct{})
	sampled := make(chan Mem, 1)
	go func() {
		var peak Mem
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := ReadMem(cmd.Process.Pid); err == nil {
				peak.max(m)
			}
			select {
			case <-stop:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	werr := cmd.Wait()
	close(stop)
	peak := <-sampled
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if werr != nil {
			return Result{}, fmt.Errorf("bench: child for %s failed (%v): %s", s.Method, werr, msg)
		}
		return Result{}, fmt.Errorf("bench: child for %s: bad output: %w (%s)", s.Method, err, msg)
	}
	res.Peak.max(peak)
	if werr != nil && res.Error == "" {
		res.Error = werr.Error()
	}
	if res.Error != "" {
		return res, errors.New(res.Error)
	}
	return res, nil
}
