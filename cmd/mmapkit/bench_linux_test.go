package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/bench"
)

// The bench command re-executes its own binary for every method, so these
// tests build the real binary once and run it as a user would.
var (
	benchBinOnce sync.Once
	benchBinPath string
	benchBinErr  error
)

func benchBinary(t *testing.T) string {
	t.Helper()
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mmapkit-bench-test-")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBinPath = filepath.Join(dir, "mmapkit")
		out, err := exec.Command("go", "build", "-o", benchBinPath, ".").CombinedOutput()
		if err != nil {
			benchBinErr = errors.New(string(out))
		}
	})
	if benchBinErr != nil {
		t.Fatalf("building mmapkit: %v", benchBinErr)
	}
	return benchBinPath
}

// benchRun runs the binary with a private cache directory and returns stdout,
// stderr and the exit status.
func benchRun(t *testing.T, home string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(benchBinary(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
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

func TestBenchJSONHasEveryMethodAndState(t *testing.T) {
	home := t.TempDir()
	out, stderr, code := benchRun(t, home, "bench", "--size", "2MiB", "--reads", "800", "--json", "--compare-python", "--plot", filepath.Join(home, "b.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
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
		{"file in a read-only place", []string{"--file", "/proc/mmapkit-bench.dat", "--size", "1MiB"}, "cannot create the data file"},
		{"not enough disk", []string{"--size", "1000TiB"}, "not enough free disk space"},
		{"unknown method", []string{"--methods", "pread,fast"}, `unknown method "fast"`},
		{"unknown state", []string{"--states", "tepid"}, `unknown cache state "tepid"`},
		{"plot in a missing place", []string{"--size", "1MiB", "--plot", filepath.Join(notDir, "x.png")}, "--plot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, stderr, code := benchRun(t, home, append([]string{"bench"}, tc.args...)...)
			if code == 0 {
				t.Fatalf("exit 0, want failure; stdout %s", out)
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
}

// Ctrl-C while the data file is being written removes the partial file.
func TestBenchInterruptRemovesPartialFile(t *testing.T) {
	home := t.TempDir()
	// Big enough that writing it takes a while; the space is reserved up front.
	if err := bench.CheckSpace(home, 2<<30); err != nil {
		t.Skipf("needs 2 GiB of free disk: %v", err)
	}
	cmd := exec.Command(benchBinary(t), "bench", "--size", "1GiB")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
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
