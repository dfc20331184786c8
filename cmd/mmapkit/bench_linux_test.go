package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/bench"
)

// benchRun runs the command as its own process (the bench command re-executes
// its own binary for every method) with a private cache directory and
// temporary directory, and returns stdout, stderr and the exit status.
func benchRun(t *testing.T, home string, args ...string) (string, string, int) {
	t.Helper()
	cmd := benchCommand(t, home, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func benchCommand(t *testing.T, home string, args ...string) *exec.Cmd {
	t.Helper()
	tmp := filepath.Join(home, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := cliCommand(t, args...)
	cmd.Env = append(cmd.Env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "TMPDIR="+tmp)
	return cmd
}

func TestBenchJSONHasEveryMethodAndState(t *testing.T) {
	home := t.TempDir()
	out, stderr, code := benchRun(t, home, "bench", "--size", "2MiB", "--reads", "800", "--json", "--compare-python", "--plot", filepath.Join(home, "b.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep bench.Report
	decodeJSON(t, out, &rep)
	want := bench.MethodNames(bench.Random)
	if py, _ := bench.FindPython(); py != "" {
		want = append(want, bench.MethodNames(bench.Python)...)
	}
	states := []string{bench.StateCold, bench.StateWarmSeq, bench.StateWarmRandom}
	if len(rep.States) != len(states) {
		t.Fatalf("%d states, want %d", len(rep.States), len(states))
	}
	for i, sr := range rep.States {
		if sr.State != states[i] {
			t.Errorf("state %d is %q, want %q", i, sr.State, states[i])
		}
		var got []string
		for _, r := range sr.Results {
			got = append(got, r.Method)
			if r.Error != "" || !r.ChecksumOK {
				t.Errorf("%s/%s: error %q, checksum ok %v", sr.State, r.Method, r.Error, r.ChecksumOK)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: methods %v, want %v", sr.State, got, want)
		}
	}
	if rep.Reads != 800 || rep.Size != 2<<20 || rep.Block != 4096 {
		t.Errorf("report says %d reads of %d bytes from %d bytes", rep.Reads, rep.Block, rep.Size)
	}
	if fi, err := os.Stat(filepath.Join(home, "b.png")); err != nil || fi.Size() == 0 {
		t.Errorf("no plot: %v", err)
	}
	// The data file was created in the cache directory and is reused.
	files, _ := filepath.Glob(filepath.Join(home, "cache", "mmapkit", "bench-*.dat"))
	if len(files) != 1 {
		t.Fatalf("data files in the cache directory: %v", files)
	}
	fi, _ := os.Stat(files[0])
	_, stderr, code = benchRun(t, home, "bench", "--size", "2MiB", "--reads", "10", "--states", "cold", "--methods", "pread")
	fi2, _ := os.Stat(files[0])
	if code != 0 || !fi2.ModTime().Equal(fi.ModTime()) || strings.Contains(stderr, "creating") {
		t.Errorf("second run (exit %d) did not reuse the data file: %s", code, stderr)
	}
}

func TestBenchSeqJSON(t *testing.T) {
	home := t.TempDir()
	out, stderr, code := benchRun(t, home, "bench", "seq", "--size", "3MiB", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(rep.States) != 2 || rep.Kind != "sequential" {
		t.Fatalf("kind %q, %d states", rep.Kind, len(rep.States))
	}
	for _, sr := range rep.States {
		if len(sr.Results) != len(bench.MethodNames(bench.Sequential)) {
			t.Errorf("%s: %d results", sr.State, len(sr.Results))
		}
		for _, r := range sr.Results {
			if r.Error != "" || !r.ChecksumOK || r.Bytes != 3<<20 {
				t.Errorf("%s/%s: error %q checksum ok %v bytes %d", sr.State, r.Method, r.Error, r.ChecksumOK, r.Bytes)
			}
		}
	}
}

func TestBenchBadInput(t *testing.T) {
	home := t.TempDir()
	notDir := filepath.Join(home, "plain")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(home, "foreign.bin")
	if err := os.WriteFile(foreign, bytes.Repeat([]byte("abcdefgh"), 512), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"size does not parse", []string{"--size", "lots"}, `"lots" for "--size" flag: "lots": not a size`},
		{"size unit unknown", []string{"--size", "4XB"}, `"4XB" for "--size" flag: "4XB": not a size`},
		{"block does not parse", []string{"--block", "-1"}, `"-1" for "--block" flag: "-1": negative size`},
		{"block not a multiple of 8", []string{"--size", "1MiB", "--block", "100"}, "multiple of 8"},
		{"block larger than the file", []string{"--size", "1MiB", "--block", "2MiB"}, "larger than the file"},
		{"block larger than a given file", []string{"--file", foreign, "--block", "8KiB"}, "larger than the file"},
		{"size with a foreign file", []string{"--file", foreign, "--size", "1MiB"}, "not a mmapkit data file"},
		{"size too small", []string{"--size", "1KiB"}, "at least"},
		{"reads zero", []string{"--size", "1MiB", "--reads", "0"}, "--reads 0"},
		{"repeat zero", []string{"--size", "1MiB", "--repeat", "0"}, "--repeat 0"},
		{"file cannot be created", []string{"--file", filepath.Join(notDir, "data.bin"), "--size", "1MiB"}, "cannot create"},
		{"file in a read-only place", []string{"--file", "/proc/mmapkit-bench.dat", "--size", "1MiB"}, "cannot create a file in /proc"},
		{"file in a missing directory", []string{"--file", filepath.Join(home, "nonexistent", "data.bin"), "--size", "1MiB"}, "no such file or directory"},
		{"plot in a missing directory", []string{"--size", "1MiB", "--plot", filepath.Join(home, "nonexistent", "x.png")}, "--plot: cannot create"},
		{"not enough disk", []string{"--size", "1000TiB"}, "not enough free disk space"},
		{"unknown method", []string{"--methods", "pread,fast"}, `unknown method "fast"`},
		{"unknown state", []string{"--states", "tepid"}, `unknown cache state "tepid"`},
		{"plot in a missing place", []string{"--size", "1MiB", "--plot", filepath.Join(notDir, "x.png")}, "--plot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, stderr, code := benchRun(t, home, append([]string{"bench"}, tc.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (bad usage); stdout %s; stderr %s", code, out, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr, tc.want)
			}
			if strings.Contains(stderr, "[1/") || strings.Contains(stderr, "creating the data file") {
				t.Fatalf("long work started before the error: %s", stderr)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Logf("took %v", d)
			}
		})
	}
	if files, _ := filepath.Glob(filepath.Join(home, "cache", "mmapkit", "*")); len(files) != 0 {
		t.Errorf("bad input left files behind: %v", files)
	}
	if _, err := os.Stat(filepath.Join(home, "nonexistent")); err == nil {
		t.Errorf("bad input created a directory")
	}
}

// Ctrl-C while the data file is being written removes the partial file.
func TestBenchInterruptRemovesPartialFile(t *testing.T) {
	home := t.TempDir()
	// Big enough that writing it takes a while; the space is reserved up front.
	if err := bench.CheckSpace(home, 2<<30); err != nil {
		t.Skipf("needs 2 GiB of free disk: %v", err)
	}
	cmd := benchCommand(t, home, "bench", "--size", "1GiB")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "cache", "mmapkit")
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
		if len(files) > 0 {
			if fi, err := os.Stat(files[0]); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the data file was never started: %s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit after SIGINT: %v (%s), want status 130", err, errb.String())
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Fatalf("left behind after Ctrl-C: %v", files)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted: %s", errb.String())
	}
}

// An existing data file named with --file is used as it is: never regenerated
// at the default size, never written to; a --size that differs, or a damaged
// data file, is refused.
func TestBenchExistingDataFile(t *testing.T) {
	home := t.TempDir()
	data := filepath.Join(home, "data.bin")
	quick := []string{"--states", "cold", "--methods", "pread", "--reads", "10", "--json"}
	_, stderr, code := benchRun(t, home, append([]string{"bench", "--file", data, "--size", "1MiB"}, quick...)...)
	if code != 0 || !strings.Contains(stderr, "creating the data file") {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	before, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := benchRun(t, home, append([]string{"bench", "--file", data}, quick...)...)
	var rep bench.Report
	if code != 0 {
		t.Fatalf("without --size: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Size != 1<<20 {
		t.Fatalf("without --size: size %d, %v", rep.Size, err)
	}
	after, err := os.Stat(data)
	if err != nil || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) || strings.Contains(stderr, "creating") {
		t.Fatalf("the data file was rewritten: %v, %v: %s", before, after, stderr)
	}
	_, stderr, code = benchRun(t, home, append([]string{"bench", "--file", data, "--size", "2MiB"}, quick...)...)
	if code != 2 || !strings.Contains(stderr, "is a data file of 1 MiB, not the 2 MiB --size asks for") {
		t.Fatalf("a different --size: exit %d: %s", code, stderr)
	}
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("damage"), 1<<19); err != nil {
		t.Fatal(err)
	}
	f.Close()
	damaged, _ := os.ReadFile(data)
	_, stderr, code = benchRun(t, home, append([]string{"bench", "--file", data}, quick...)...)
	if code != 1 || !strings.Contains(stderr, "incomplete or damaged; remove it") {
		t.Fatalf("a damaged data file: exit %d: %s", code, stderr)
	}
	if now, _ := os.ReadFile(data); !bytes.Equal(now, damaged) {
		t.Fatal("the damaged data file was changed")
	}
	if tmp, _ := filepath.Glob(filepath.Join(home, "tmp", "*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

var (
	benchNumberRE = regexp.MustCompile(`[0-9a-f]{16}|[0-9]+(\.[0-9]+)?`)
	benchSizeRE   = regexp.MustCompile(`N (B|KiB|MiB|GiB)\b`)
)

// The text report of bench, with its numbers masked, against a golden file:
// the layout, the headings, the methods and the units must not drift.
func TestBenchGolden(t *testing.T) {
	home := t.TempDir()
	out, stderr, code := benchRun(t, home, "bench", "--size", "1MiB", "--reads", "100", "--states", "cold,warm-seq", "--methods", "pread,mmap-copy,readall")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var lines []string
	for _, l := range strings.Split(normalize(out, home, "$HOME"), "\n") {
		if strings.HasPrefix(l, "machine:") {
			l = "machine: ..."
		}
		// Which method wins varies from run to run.
		if i := strings.Index(l, "recommendation: "); i >= 0 {
			if j := strings.Index(l[i+16:], ":"); j >= 0 {
				l = l[:i+16+j+1] + " ..."
			}
		}
		l = benchSizeRE.ReplaceAllString(benchNumberRE.ReplaceAllString(l, "N"), "SIZE")
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	golden(t, "bench", strings.Join(lines, "\n"))
}
