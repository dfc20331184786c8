package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/mmapkit/mmapkit/internal/bench"
	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/units"
	"github.com/spf13/cobra"
)

// benchFlags are the options shared by `bench` and `bench seq`.
type benchFlags struct {
	file            string
	size, block     int64
	reads, repeat   int
	seed            uint64
	json            bool
	plot            string
	python          bool
	methods, states string
}

func init() {
	register(newBenchCmd)
	register(newBenchChildCmd)
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "The classic mmap-vs-read benchmark, on this machine's disk",
		Long: `bench answers "should I mmap this file, and how?" for your file and your disk.

It reads the same random block-aligned offsets with every method — pread,
mmap copy-out, mmap + Random advice, mmap zero-copy, mmap populated at map
time, mmap + PrefetchOffsets (many reads in flight), and read-the-whole-file —
each in its own child process, from three page-cache states: cold (evicted),
warm after a sequential read, warm after random reads. It prints time (setup
and access), ns per read, RssAnon and RssFile peaks, page faults, speed
relative to pread and a checksum proving every method read the same bytes.

Without --file it creates a data file once (default 4 GiB of pseudo-random
bytes) in the user's cache directory and reuses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchMain(cmd, f, bench.Random)
		},
	}
	benchAddFlags(cmd, &f, "4KiB", true)
	cmd.Flags().IntVar(&f.reads, "reads", 100000, "number of random reads")
	cmd.Flags().BoolVar(&f.python, "compare-python", false, "also run the source's Python methods (needs a python3) on the same file, offsets and cache states")

	var sf benchFlags
	seq := &cobra.Command{
		Use:   "seq",
		Short: "Sequential scan: mmap with Normal vs Sequential advice vs pread with 1 MiB buffers, warm and cold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchMain(cmd, sf, bench.Sequential)
		},
	}
	benchAddFlags(seq, &sf, "1MiB", false)
	cmd.AddCommand(seq)
	return cmd
}

func newBenchChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-child",
		Hidden: true,
		Short:  "runs one benchmark method (spec on stdin, result on stdout)",
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if code := bench.ChildMain(os.Stdin, os.Stdout); code != 0 {
				return &exitError{code: code, err: errors.New("bench child failed")}
			}
			return nil
		},
	}
}

func benchAddFlags(cmd *cobra.Command, f *benchFlags, block string, random bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.file, "file", "", "benchmark this file instead of the generated data file (created there if missing)")
	sizeFlag(fl, &f.size, "size", "4GiB", "size of the generated data file (K/KiB, M/MiB, G/GiB are powers of 1024; kB/KB, MB, GB of 1000)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for the data file's contents and the read offsets")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.plot, "plot", "", "also draw the results as a PNG chart into this file")
	if random {
		sizeFlag(fl, &f.block, "block", block, "bytes per read (a multiple of 8)")
		fl.StringVar(&f.states, "states", "cold,warm-seq,warm-random", "cache states to run, comma-separated")
	} else {
		sizeFlag(fl, &f.block, "block", block, "buffer size of the pread method and checksum chunk (a multiple of 8)")
		fl.StringVar(&f.states, "states", "warm-seq,cold", "cache states to run, comma-separated")
	}
	fl.StringVar(&f.methods, "methods", "", "run only these methods, comma-separated (default: all)")
	fl.IntVar(&f.repeat, "repeat", 1, "run each method this many times per cache state and report the median (for noisy machines)")
}

func benchUsageError(err error) error { return usageError(err) }

func benchMain(cmd *cobra.Command, f benchFlags, kind bench.Kind) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), sys.StopSignals...)
	defer stop()
	stderr := cmd.ErrOrStderr()
	stdout := cmd.OutOrStdout()

	// Everything that can be checked is checked before any long work.
	size, block := f.size, f.block
	if block < 8 || block%8 != 0 {
		return benchUsageError(fmt.Errorf("--block %d: must be a positive multiple of 8 bytes: %w", block, bench.ErrBadSize))
	}
	if kind == bench.Random && f.reads < 1 {
		return benchUsageError(fmt.Errorf("--reads %d: must be at least 1: %w", f.reads, bench.ErrBadSize))
	}
	if f.repeat < 1 {
		return usagef("--repeat %d: must be at least 1", f.repeat)
	}
	states := benchSplit(f.states)
	for _, s := range states {
		if s != bench.StateCold && s != bench.StateWarmSeq && s != bench.StateWarmRandom {
			return benchUsageError(fmt.Errorf("--states: unknown cache state %q (cold, warm-seq, warm-random)", s))
		}
	}
	if len(states) == 0 {
		return benchUsageError(errors.New("--states: no cache state given"))
	}
	names := bench.MethodNames(kind)
	if f.methods != "" {
		names = benchSplit(f.methods)
		for _, n := range names {
			if m, ok := bench.LookupMethod(n); !ok || m.Kind != kind {
				return benchUsageError(fmt.Errorf("--methods: unknown method %q (have %s)", n, strings.Join(bench.MethodNames(kind), ", ")))
			}
		}
	}
	if f.plot != "" {
		// The chart goes where the user said: a missing directory is an
		// error now, not a directory created behind their back and an
		// error after minutes of work.
		if err := bench.CheckWritable(f.plot, false); err != nil {
			return usagef("--plot: %w", err)
		}
	}

	h := bench.DataHeader{Size: size, Seed: f.seed}
	path := f.file
	create := true
	sizeGiven := cmd.Flags().Changed("size")
	if path == "" {
		if size < bench.MinDataSize {
			return benchUsageError(fmt.Errorf("--size %s: the data file must be at least %s: %w", units.FormatBytes(size), units.FormatBytes(bench.MinDataSize), bench.ErrBadSize))
		}
		var err error
		if path, err = bench.DefaultDataPath(h); err != nil {
			return err
		}
	} else if fi, err := os.Stat(path); err == nil {
		// An existing file is used as it is and never written to.
		if !fi.Mode().IsRegular() {
			return usagef("--file %s: not a regular file", path)
		}
		dh, herr := bench.ReadHeader(path)
		switch {
		case herr != nil && sizeGiven:
			return usagef("--size cannot be used with --file %s: it is not a mmapkit data file, so it is benchmarked at its own size", path)
		case herr != nil:
			// Someone's own file, benchmarked at its size.
		case sizeGiven && dh.Size != size:
			return usagef("--file %s is a data file of %s, not the %s --size asks for: drop --size to use it as it is, or name a new file", path, units.FormatBytes(dh.Size), units.FormatBytes(size))
		default:
			ok, err := bench.CheckDataFile(path, dh)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("--file %s: a data file of %s that is incomplete or damaged; remove it to make a new one", path, units.FormatBytes(dh.Size))
			}
		}
		create = false
		size = fi.Size()
	} else if !errors.Is(err, os.ErrNotExist) && !sys.IsNotDir(err) {
		return usagef("--file %s: %w", path, err)
	}
	if block > size {
		return benchUsageError(fmt.Errorf("--block %s is larger than the file (%s): %w", units.FormatBytes(block), units.FormatBytes(size), bench.ErrBadSize))
	}
	if create {
		ok, err := bench.CheckDataFile(path, h)
		if err != nil {
			return err
		}
		if !ok {
			if size < bench.MinDataSize {
				return benchUsageError(fmt.Errorf("--size %s: the data file must be at least %s: %w", units.FormatBytes(size), units.FormatBytes(bench.MinDataSize), bench.ErrBadSize))
			}
			// The cache directory is ours to create; a --file's is not.
			if err := bench.CheckWritable(path, f.file == ""); err != nil {
				return benchUsageError(fmt.Errorf("--file: %w", err))
			}
			if err := bench.CheckSpace(filepath.Dir(path), size); err != nil {
				return benchUsageError(err)
			}
			if err := benchCreate(ctx, stderr, path, h); err != nil {
				if ctx.Err() != nil {
					return interrupted("the partial data file was removed")
				}
				return err
			}
		}
	}

	var py, pyVersion, script string
	tmp, release, err := bench.TempDir("")
	if err != nil {
		return err
	}
	defer release()
	if f.python {
		py, pyVersion = bench.FindPython()
		if py == "" {
			fmt.Fprintln(stderr, "mmapkit: --compare-python: no Python 3.8+ found (python3 on PATH or /usr/bin/python3); running the Go methods only")
		} else {
			if script, err = bench.WritePythonScript(tmp); err != nil {
				return err
			}
			names = append(names, bench.MethodNames(bench.Python)...)
		}
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: cannot find this program to start child processes: %w", err)
	}
	cfg := bench.Config{
		File: path, Block: block, Reads: f.reads, Seed: f.seed,
		Methods: names, States: states, Python: py, Script: script, TempDir: tmp, Repeat: f.repeat,
		Runner:   &bench.Runner{Exe: exe, Args: []string{"bench-child"}},
		Progress: benchProgress(stderr),
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("child processes were stopped")
		}
		return err
	}
	if pyVersion != "" {
		rep.Python = pyVersion + " (" + py + ")"
	}
	if f.plot != "" {
		if err := benchPlot(rep, f.plot); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}

func benchSplit(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// benchCreate writes the data file with a progress bar.
func benchCreate(ctx context.Context, stderr io.Writer, path string, h bench.DataHeader) error {
	fmt.Fprintf(stderr, "creating the data file %s (%s, once; later runs reuse it)\n", path, units.FormatBytes(h.Size))
	bar := newProgress(stderr, h.Size, "writing data file", true)
	err := bench.CreateDataFile(ctx, path, h, bar.set)
	bar.finish()
	return err
}

// benchProgress shows a bar on a terminal and one line per method elsewhere.
func benchProgress(stderr io.Writer) func(done, total int, what string) {
	var bar *progress
	tty := isTerminal(stderr)
	return func(done, total int, what string) {
		if !tty {
			if done < total {
				fmt.Fprintf(stderr, "[%d/%d] %s\n", done+1, total, what)
			}
			return
		}
		if bar == nil {
			bar = newProgress(stderr, int64(total), "", false)
		}
		if done == total {
			bar.finish()
			return
		}
		bar.set(int64(done))
		bar.describe(fmt.Sprintf("%-28s", what))
	}
}
