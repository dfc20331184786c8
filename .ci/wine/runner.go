// Command runner builds each package's test binary for windows/amd64, runs it
// under Wine and reports every test's result. .ci/windows starts it after it
// has set up Wine (WINEPREFIX, WINE and WINESERVER in the environment); it is
// not meant to be run by hand.
//
// A test binary runs with -test.v=test2json and its output goes through
// `go tool test2json`, so every line of output is attributed to its test even
// when tests run in parallel. A binary that is killed by -test.timeout (a
// hang) or exits in the middle of a test (os.Exit, a crash) has the tests that
// were running recorded as hung or died, and is run again with them skipped so
// that the rest of the package still runs.
//
// It exits 1 if a package did not build, a test failed, hung or died, or a
// test skipped without saying why; 0 otherwise.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	workDir  = flag.String("work", "", "directory for test binaries and logs (required)")
	overlay  = flag.String("overlay", "", "go build -overlay file, if any")
	timeout  = flag.Duration("timeout", 5*time.Minute, "-test.timeout of each run of a test binary")
	skipFile = flag.String("skips", "", "file of tests not to run: lines 'package TestName' (# starts a comment)")
	maxRuns  = flag.Int("runs", 4, "runs of one binary at most (each run skips the tests that hung or died before)")
	jobs     = flag.Int("j", 1, "test binaries that run at the same time")
)

// event is one line of `go tool test2json` output.
type event struct {
	Action string
	Test   string
	Output string
}

type result struct {
	state  string // pass, fail, skip, hung, died
	output []string
}

type pkgResult struct {
	path     string
	buildErr string
	tests    map[string]*result // by full name (Top/sub)
	order    []string
	listed   []string // skipped by the list in .ci/windows
	runs     int
	duration time.Duration
}

func main() {
	flag.Parse()
	if *workDir == "" {
		fmt.Fprintln(os.Stderr, "runner: -work is required")
		os.Exit(2)
	}
	skips, err := readSkips(*skipFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(2)
	}
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	list, err := listPackages(pkgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(2)
	}
	module, _ := output("go", "list", "-m")
	module = strings.TrimSpace(module)

	start := time.Now()
	results := make([]*pkgResult, len(list))
	for i, p := range list {
		results[i] = &pkgResult{path: p.path, tests: map[string]*result{}, listed: skips[shortName(p.path, module)]}
	}
	// Build every test binary first, several at a time, then run them
	// -j at a time: most of a binary's time under Wine is waiting.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	exes := make([]string, len(list))
	for i, p := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			exes[i] = build(p, module, results[i])
		})
	}
	wg.Wait()
	built := time.Since(start)
	sem = make(chan struct{}, *jobs)
	for i, p := range list {
		if exes[i] == "" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			runPackage(p, exes[i], results[i])
		})
	}
	wg.Wait()
	// Helper processes a test left behind: end everything in the prefix.
	_ = exec.Command(os.Getenv("WINESERVER"), "-k").Run()
	os.Exit(report(results, module, built, time.Since(start)))
}

func shortName(path, module string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

type pkg struct{ path, dir string }

func listPackages(patterns []string) ([]pkg, error) {
	args := append([]string{"list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var ps []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, dir, ok := strings.Cut(line, " "); ok {
			ps = append(ps, pkg{path, dir})
		}
	}
	return ps, nil
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

// readSkips reads lines "package TestName # reason" (package relative to the
// module: "mmap", "cmd/mmapkit").
func readSkips(file string) (map[string][]string, error) {
	m := map[string][]string{}
	if file == "" {
		return m, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		switch len(f) {
		case 0:
			continue
		case 2:
			m[f[0]] = append(m[f[0]], f[1])
		default:
			return nil, fmt.Errorf("%s:%d: want 'package TestName', got %q", file, i+1, line)
		}
	}
	return m, nil
}

// build builds p's test binary for windows/amd64 and returns its name as
// Wine sees it (the work directory is drive N:), or "" if p has no tests
// for Windows or did not build.
func build(p pkg, module string, res *pkgResult) string {
	name := strings.ReplaceAll(shortName(p.path, module), "/", "_")
	if name == "" {
		name = "root"
	}
	exe := filepath.Join(*workDir, "bin", name+".test.exe")
	_ = os.Remove(exe)
	args := []string{"test", "-c", "-o", exe}
	if *overlay != "" {
		args = append(args, "-overlay", *overlay)
	}
	cmd := exec.Command("go", append(args, p.path)...)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		res.buildErr = strings.TrimSpace(string(out))
		return ""
	}
	if _, err := os.Stat(exe); err != nil {
		return "" // no tests for windows
	}
	return `N:\bin\` + name + ".test.exe"
}

// runPackage runs p's test binary, again without the tests that hung or
// died, until a run finishes.
func runPackage(p pkg, exe string, res *pkgResult) {
	t0 := time.Now()
	defer func() { res.duration = time.Since(t0) }()
	name := strings.TrimSuffix(exe[strings.LastIndex(exe, `\`)+1:], ".test.exe")
	skip := append([]string(nil), res.listed...)
	for run := 1; run <= *maxRuns; run++ {
		res.runs = run
		logFile := filepath.Join(*workDir, "logs", fmt.Sprintf("%s.run%d.json", name, run))
		unfinished, hung := runBinary(p, exe, skip, logFile, res)
		if len(unfinished) == 0 {
			break
		}
		for _, t := range unfinished {
			r := res.tests[t]
			r.state = "died"
			if hung {
				r.state = "hung"
			}
			if !strings.Contains(t, "/") {
				skip = append(skip, t)
			}
		}
	}
}

// runBinary runs the test binary once and records its results in res. It
// returns the tests that started and never finished, and whether the binary
// was stopped by -test.timeout.
func runBinary(p pkg, exe string, skip []string, logFile string, res *pkgResult) (unfinished []string, hung bool) {
	wine := os.Getenv("WINE")
	args := []string{exe, "-test.v=test2json", "-test.timeout=" + timeout.String()}
	if len(skip) > 0 {
		re := make([]string, len(skip))
		for i, s := range skip {
			re[i] = "^" + regexp.QuoteMeta(s) + "$"
		}
		args = append(args, "-test.skip="+strings.Join(re, "|"))
	}
	// The outer limit only matters if the binary cannot even time out.
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wine, args...)
	cmd.Dir = p.dir // as go test does; Wine sees it through the M: drive
	cmd.Env = os.Environ()
	cmd.WaitDelay = 10 * time.Second
	conv := exec.Command("go", "tool", "test2json", "-p", p.path)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	conv.Stdin = pr
	convOut, err := conv.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := conv.Start(); err != nil {
		panic(err)
	}
	logf, err := os.Create(logFile)
	if err != nil {
		panic(err)
	}
	defer logf.Close()
	runErr := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		pw.Close()
		_ = conv.Wait()
		res.buildErr = "start wine: " + err.Error()
		return nil, false
	}
	go func() { runErr <- cmd.Wait(); pw.Close() }()

	started := map[string]bool{}
	var pkgOutput []string
	pkgAction := ""
	sc := bufio.NewScanner(io.TeeReader(convOut, logf))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		if ev.Test == "" {
			switch ev.Action {
			case "output":
				pkgOutput = append(pkgOutput, ev.Output)
			case "pass", "fail":
				pkgAction = ev.Action
			}
			continue
		}
		r := res.tests[ev.Test]
		if r == nil {
			r = &result{}
			res.tests[ev.Test] = r
			res.order = append(res.order, ev.Test)
		}
		switch ev.Action {
		case "run":
			started[ev.Test] = true
			r.state, r.output = "", nil
		case "output":
			r.output = append(r.output, ev.Output)
			if strings.HasPrefix(ev.Output, "panic: test timed out") {
				hung = true
			}
		case "pass", "fail", "skip":
			r.state = ev.Action
			delete(started, ev.Test)
		}
	}
	_ = conv.Wait()
	err = <-runErr
	if errors.Is(err, exec.ErrWaitDelay) && pkgAction == "pass" {
		// The binary passed and exited, but a helper process it started
		// still holds its stdout: not a failure of the binary.
		err = nil
	}
	if *jobs == 1 {
		// Helper processes a test left behind would keep files open
		// for the next run: end everything in the prefix.
		_ = exec.Command(os.Getenv("WINESERVER"), "-k").Run()
	}
	for _, o := range pkgOutput {
		if strings.HasPrefix(o, "panic: test timed out") {
			hung = true
		}
	}
	for t := range started {
		unfinished = append(unfinished, t)
	}
	sort.Strings(unfinished)
	if err != nil && len(unfinished) == 0 && !anyFailed(res) {
		// The binary failed outside any test (TestMain, init, a crash
		// between tests): record it against the package.
		r := &result{state: "died", output: append(pkgOutput, fmt.Sprintf("exit: %v\n", err))}
		res.tests["(package)"] = r
		res.order = append(res.order, "(package)")
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(os.Stderr, "runner: %s: %v\n", p.path, err)
	}
	return unfinished, hung
}

func anyFailed(res *pkgResult) bool {
	for _, r := range res.tests {
		if r.state == "fail" {
			return true
		}
	}
	return false
}

// skipReason returns the message a skipped test gave, without the framing
// lines that test2json passes through.
func skipReason(r *result) string {
	var b bytes.Buffer
	for _, o := range r.output {
		s := strings.TrimSpace(o)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- SKIP") {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func report(results []*pkgResult, module string, built, took time.Duration) int {
	bad := 0
	var tp, tf, th, ts, tl, tsub int
	fmt.Println()
	for _, res := range results {
		short := shortName(res.path, module)
		if short == "" {
			short = "."
		}
		if res.buildErr != "" {
			fmt.Printf("%-16s BUILD FAILED\n%s\n", short, indent(res.buildErr))
			bad = 1
			continue
		}
		var p, f, h, s, sub int
		var lines []string
		for _, name := range res.order {
			r := res.tests[name]
			top := !strings.Contains(name, "/")
			if !top {
				sub++
			}
			switch r.state {
			case "pass":
				if top {
					p++
				}
			case "skip":
				if top {
					s++
				}
				why := skipReason(r)
				if why == "" {
					why = "NO REASON GIVEN"
					bad = 1
				}
				lines = append(lines, fmt.Sprintf("  skip  %s: %s", name, why))
			case "fail", "hung", "died", "":
				if r.state == "" {
					r.state = "died"
				}
				switch {
				case !top:
				case r.state == "hung":
					h++
				default:
					f++
				}
				bad = 1
				lines = append(lines, fmt.Sprintf("  %s  %s\n%s", strings.ToUpper(r.state), name, indent(tail(r.output, 30))))
			}
		}
		status := "ok"
		if f+h > 0 {
			status = "FAIL"
		}
		fmt.Printf("%-16s %-4s %3d passed, %d failed, %d hung, %d skipped, %d on the skip list; %d subtests; %d run(s), %.0fs\n",
			short, status, p, f, h, s, len(res.listed), sub, res.runs, res.duration.Seconds())
		for _, l := range lines {
			fmt.Println(l)
		}
		for _, l := range res.listed {
			fmt.Printf("  listed %s (skip list in .ci/windows)\n", l)
		}
		tp, tf, th, ts, tl, tsub = tp+p, tf+f, th+h, ts+s, tl+len(res.listed), tsub+sub
	}
	fmt.Printf("\nwindows/amd64 under %s: %d passed, %d failed, %d hung, %d skipped, %d on the skip list (top-level tests and examples; %d subtests) in %.0fs (%.0fs to build)\n",
		wineVersion(), tp, tf, th, ts, tl, tsub, took.Seconds(), built.Seconds())
	return bad
}

func wineVersion() string {
	out, err := exec.Command(os.Getenv("WINE"), "--version").Output()
	if err != nil {
		return "wine"
	}
	return strings.TrimSpace(string(out))
}

func tail(lines []string, n int) string {
	var keep []string
	for _, l := range lines {
		s := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(s), "=== ") {
			continue
		}
		keep = append(keep, s)
	}
	if len(keep) > n {
		keep = append([]string{fmt.Sprintf("... (%d lines before)", len(keep)-n)}, keep[len(keep)-n:]...)
	}
	return strings.Join(keep, "\n")
}

func indent(s string) string {
	return "        " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n        ")
}
