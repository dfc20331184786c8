package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/mmapkit/mmapkit/internal/units"
	"github.com/mmapkit/mmapkit/mmap"
)

// Cache states a method can start from.
const (
	StateCold       = "cold"
	StateWarmSeq    = "warm-seq"
	StateWarmRandom = "warm-random"
)

// StateLabel says what a cache state is, for the report.
func StateLabel(state string) string {
	switch state {
	case StateCold:
		return "cold: the file evicted from the page cache before each method"
	case StateWarmSeq:
		return "warm after a sequential read: the whole file cached, in large folios (2 MiB where the filesystem allows)"
	case StateWarmRandom:
		return "warm after random reads: only the blocks the methods read are cached, in 4 KiB pages"
	}
	return state
}

// Config describes one benchmark run.
type Config struct {
	File    string
	Block   int64 // bytes per random read, or the chunk size for sequential methods
	Reads   int   // random reads (ignored by sequential methods)
	Seed    uint64
	Methods []string // methods to run, in order
	States  []string
	Python  string // interpreter for Python methods ("" = none)
	Script  string // path of the Python script
	TempDir string // for the offsets file
	Runner  *Runner
	Repeat  int // runs of each method per state; the median (by total time) is reported
	// Progress, if set, is called before each method run and once at the end
	// with done == total.
	Progress func(done, total int, what string)
}

// StateReport holds the results of every method from one cache state.
type StateReport struct {
	State          string   `json:"state"`
	Label          string   `json:"label"`
	Notes          []string `json:"notes,omitempty"`
	Results        []Result `json:"results"`
	Recommendation string   `json:"recommendation"`
}

// Report is the outcome of a run: what was measured, on what, how.
type Report struct {
	Kind    string        `json:"kind"` // "random" or "sequential"
	File    string        `json:"file"`
	Size    int64         `json:"size"`
	Block   int64         `json:"block"`
	Reads   int           `json:"reads,omitempty"`
	Seed    uint64        `json:"seed"`
	Machine Machine       `json:"machine"`
	States  []StateReport `json:"states"`
	Python  string        `json:"python,omitempty"`
	Repeat  int           `json:"repeat"`
	Started time.Time     `json:"started"`
	Elapsed Seconds       `json:"elapsed_s"`
}

// Machine describes where the numbers come from.
type Machine struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu,omitempty"`
	Memory    int64  `json:"memory,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go"`
	ReadAhead string `json:"read_ahead_kb,omitempty"`
}

func describeMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.Memory = kb << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// Run runs every configured method in every configured cache state, each in
// its own child process, and returns the report. Methods that fail or are
// skipped are recorded as such; Run itself fails only for setup problems or
// when ctx is cancelled.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	fi, err := os.Stat(cfg.File)
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	kind := "random"
	for _, name := range cfg.Methods {
		m, ok := methods[name]
		if !ok {
			return nil, fmt.Errorf("bench: unknown method %q", name)
		}
		if m.Kind == Sequential {
			kind = "sequential"
		}
	}
	rep := &Report{Kind: kind, File: cfg.File, Size: size, Block: cfg.Block, Seed: cfg.Seed, Machine: describeMachine(), Started: start}
	if ra, err := readAheadKB(cfg.File); err == nil {
		rep.Machine.ReadAhead = ra
	}
	var offs []int64
	offPath := ""
	if kind == "random" {
		rep.Reads = cfg.Reads
		offs = Offsets(size, cfg.Block, cfg.Reads, cfg.Seed)
		f, err := os.CreateTemp(cfg.TempDir, "mmapkit-offsets-*.bin")
		if err != nil {
			return nil, err
		}
		offPath = f.Name()
		f.Close()
		defer os.Remove(offPath)
		if err := WriteOffsets(offPath, offs); err != nil {
			return nil, err
		}
	}
	if cfg.Python != "" {
		rep.Python = cfg.Python
	}
	repeat := max(cfg.Repeat, 1)
	rep.Repeat = repeat
	total := len(cfg.States) * len(cfg.Methods) * repeat
	done := 0
	for _, state := range cfg.States {
		sr := StateReport{State: state, Label: StateLabel(state)}
		notes := map[string]bool{}
		runs := make([][]Result, len(cfg.Methods))
		// Round-robin over the methods, so that a noisy moment on a shared
		// machine spreads over all of them rather than hitting one.
		for k := range repeat {
			for i, name := range cfg.Methods {
				if cfg.Progress != nil {
					what := state + ": " + name
					if repeat > 1 {
						what += fmt.Sprintf(" (run %d/%d)", k+1, repeat)
					}
					cfg.Progress(done, total, what)
				}
				done++
				res := Result{Method: name, State: state, Lang: "go"}
				if methods[name].Kind == Python {
					res.Lang = "python"
				}
				if strings.HasSuffix(name, "readall") {
					if avail, err := MemAvailable(); err == nil && avail < size+(512<<20) {
						res.Skipped = fmt.Sprintf("the file (%s) does not fit in available RAM (%s)", units.FormatBytes(size), units.FormatBytes(avail))
						runs[i] = append(runs[i], res)
						continue
					}
				}
				note, err := prepareState(ctx, state, cfg.File, offs, cfg.Block, i == 0 && k == 0)
				if err != nil {
					return nil, err
				}
				if note != "" && !notes[note] {
					notes[note] = true
					sr.Notes = append(sr.Notes, note)
				}
				spec := Spec{Method: name, File: cfg.File, Offsets: offPath, Block: cfg.Block, Python: cfg.Python, Script: cfg.Script}
				r, err := cfg.Runner.Run(ctx, spec)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil && r.Method == "" {
					r = res
					r.Error = err.Error()
				}
				r.State, r.Lang = state, res.Lang
				runs[i] = append(runs[i], r)
			}
		}
		for _, rs := range runs {
			sr.Results = append(sr.Results, median(rs))
		}
		finishState(&sr)
		rep.States = append(rep.States, sr)
	}
	if cfg.Progress != nil {
		cfg.Progress(total, total, "done")
	}
	rep.Elapsed = secs(time.Since(start))
	return rep, nil
}

// median returns the run with the median total time, with the number of
// runs and their range. A failed or skipped run is returned as it is.
func median(rs []Result) Result {
	var ok []Result
	for _, r := range rs {
		if r.Error != "" || r.Skipped != "" {
			return r
		}
		ok = append(ok, r)
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].Total < ok[j].Total })
	m := ok[(len(ok)-1)/2]
	m.Runs = len(ok)
	m.MinTotal, m.MaxTotal = ok[0].Total, ok[len(ok)-1].Total
	return m
}

// prepareState puts the file's page cache into state and returns a note for
// the report (for example that eviction could not be verified). first is true
// for the first method of a state.
func prepareState(ctx context.Context, state, path string, offs []int64, block int64, first bool) (string, error) {
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		return "", fmt.Errorf("bench: prepare %s cache: %w", state, err)
	}
	defer r.Close()
	size := int64(r.Len())
	evict := func() (string, error) {
		if err := r.Evict(0, int(size)); err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return "eviction is not supported on this system: \"cold\" results are not cold", nil
			}
			return "", fmt.Errorf("bench: evict %s: %w", path, err)
		}
		res, err := r.Resident()
		if err != nil {
			return "eviction could not be verified (no residency information: " + err.Error() + ")", nil
		}
		if res.Resident > 0 {
			return fmt.Sprintf("eviction could not be verified: %d of %d pages stayed in the page cache", res.Resident, res.Pages), nil
		}
		return fmt.Sprintf("eviction verified before each method: 0 of %d pages resident", res.Pages), nil
	}
	switch state {
	case StateCold:
		return evict()
	case StateWarmSeq:
		// Evicting and reading once gives the large folios of a sequential
		// read; after that a method leaves the cache as it was, so a cheap
		// re-read (everything already cached) restores anything dropped.
		note := ""
		if first {
			n, err := evict()
			if err != nil {
				return "", err
			}
			note = n
		}
		if err := readSequential(ctx, path); err != nil {
			return "", err
		}
		res, err := r.Resident()
		if err == nil && res.Resident < res.Pages {
			return fmt.Sprintf("after the sequential read only %d of %d pages were resident", res.Resident, res.Pages), nil
		}
		if first && strings.HasPrefix(note, "eviction could not") {
			return note, nil
		}
		return "", nil
	case StateWarmRandom:
		// A method may have read more than the blocks (MAP_POPULATE, a whole-file
		// read), so start from an empty cache every time.
		note, err := evict()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(note, "eviction verified") {
			note = ""
		}
		if err := r.Advise(mmap.AdviceRandom); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return "", err
		}
		if err := r.PrefetchOffsets(offs, int(block)); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return "", err
		}
		// Wait for the reads: pread on a page still being read waits for it.
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		buf := make([]byte, block)
		for i, off := range offs {
			if i%4096 == 0 && ctx.Err() != nil {
				return "", ctx.Err()
			}
			if _, err := f.ReadAt(buf, off); err != nil {
				return "", err
			}
		}
		return note, nil
	}
	return "", fmt.Errorf("bench: unknown cache state %q", state)
}

func readSequential(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if i%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readAheadKB finds the read-ahead setting of the block device holding path.
func readAheadKB(path string) (string, error) {
	dev, err := deviceOf(path)
	if err != nil {
		return "", err
	}
	for _, p := range []string{"/sys/dev/block/" + dev + "/queue/read_ahead_kb", "/sys/dev/block/" + dev + "/../queue/read_ahead_kb"} {
		if b, err := os.ReadFile(filepath.Clean(p)); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	if b, err := os.ReadFile("/sys/dev/block/" + dev + "/bdi/read_ahead_kb"); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("unknown")
}
