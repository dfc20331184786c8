package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// pagingExec runs one of the commands in-process, as main would, and returns
// its parsed --json report, its stderr and the exit status main would use.
func pagingExec(t *testing.T, op string, args ...string) (pagingReport, string, int) {
	t.Helper()
	cmd := newPagingCmd(op)
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"--json"}, args...))
	code := 0
	if err := cmd.Execute(); err != nil {
		code = exitCode(err)
	}
	var rep pagingReport
	decodeJSON(t, out.String(), &rep)
	if rep.Op != op {
		t.Fatalf("report op %q, want %q", rep.Op, op)
	}
	return rep, errb.String(), code
}

func pagingTestFile(t *testing.T, dir, name string, size int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i / 4096)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The residency of a file through evict and prefetch, read from --json.
func TestPagingCommandsEvictPrefetch(t *testing.T) {
	const pages = 2048 + 1
	path := pagingTestFile(t, t.TempDir(), "data.bin", pages*4096-5)
	steps := []struct {
		op             string
		before, after  int // -1: not checked
		faultsReported bool
	}{
		{pagingEvict, -1, 0, false},
		{pagingResidency, -1, 0, false},
		{pagingPrefetch, 0, pages, true},
		{pagingResidency, -1, pages, false},
		{pagingEvict, pages, 0, false},
	}
	for _, st := range steps {
		rep, stderr, code := pagingExec(t, st.op, path)
		if code != 0 || len(rep.Files) != 1 || len(rep.Errors) != 0 {
			t.Fatalf("%s: exit %d, report %+v, stderr %s", st.op, code, rep, stderr)
		}
		f := rep.Files[0]
		if f.Path != path || f.Pages != pages || f.Size != pages*4096-5 || f.PageSize != os.Getpagesize() {
			t.Fatalf("%s: file entry %+v", st.op, f)
		}
		if f.Resident != st.after {
			t.Fatalf("%s: resident %d, want %d", st.op, f.Resident, st.after)
		}
		if (f.Before != nil) != (st.op != pagingResidency) {
			t.Fatalf("%s: before %v", st.op, f.Before)
		}
		if st.before >= 0 && *f.Before != st.before {
			t.Fatalf("%s: before %d, want %d", st.op, *f.Before, st.before)
		}
		if st.faultsReported && (f.Faults == nil || f.Faults.Minor+f.Faults.Major == 0) {
			t.Fatalf("%s: faults %v, want the faults that read the file in", st.op, f.Faults)
		}
		if rep.Total.Files != 1 || rep.Total.Pages != pages || rep.Total.Resident != st.after {
			t.Fatalf("%s: total %+v", st.op, rep.Total)
		}
	}
}

// Failures, skips and walking: one bad file does not stop the others, and
// the exit status says how many failed.
func TestPagingCommandsMixedArguments(t *testing.T) {
	dir := t.TempDir()
	good := pagingTestFile(t, dir, "good.bin", 3*4096)
	nested := pagingTestFile(t, dir, "tree/a/nested.bin", 5*4096)
	pagingTestFile(t, dir, "tree/top.bin", 4096+1)
	empty := pagingTestFile(t, dir, "tree/empty.bin", 0)
	if err := os.Symlink(good, filepath.Join(dir, "tree", "link")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := sys.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.bin")
	tree := filepath.Join(dir, "tree")

	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		files     []string // paths reported, in order
		errors    []string
		skipped   []string
		skipWords []string // a word each skip message must contain
	}{
		{
			name: "file, missing, directory without -r, fifo",
			args: []string{good, missing, tree, fifo}, code: 1,
			files: []string{good}, errors: []string{missing}, skipped: []string{tree, fifo},
			skipWords: []string{"-r", "pipe"},
		},
		{
			name: "recursive walk skips the symlink, keeps the empty file",
			args: []string{"-r", tree}, code: 0,
			files:   []string{nested, empty, filepath.Join(tree, "top.bin")},
			skipped: []string{filepath.Join(tree, "link")}, skipWords: []string{"symbolic link"},
		},
		{
			name: "a symlink named on the command line is followed",
			args: []string{filepath.Join(tree, "link")}, code: 0,
			files: []string{filepath.Join(tree, "link")},
		},
		{
			name: "all failed",
			args: []string{missing, missing + "2"}, code: 1,
			errors: []string{missing, missing + "2"},
		},
	} {
		for _, op := range []string{pagingResidency, pagingPrefetch, pagingEvict} {
			t.Run(op+"/"+tc.name, func(t *testing.T) {
				rep, stderr, code := pagingExec(t, op, tc.args...)
				if code != tc.code {
					t.Errorf("exit status %d, want %d", code, tc.code)
				}
				var files, errs, skipped []string
				for _, f := range rep.Files {
					files = append(files, f.Path)
				}
				for _, e := range rep.Errors {
					errs = append(errs, e.Path)
					if !strings.Contains(stderr, e.Message) {
						t.Errorf("error %q not reported on stderr:\n%s", e.Message, stderr)
					}
				}
				for i, s := range rep.Skipped {
					skipped = append(skipped, s.Path)
					if i < len(tc.skipWords) && !strings.Contains(s.Message, tc.skipWords[i]) {
						t.Errorf("skip message %q lacks %q", s.Message, tc.skipWords[i])
					}
					if !strings.Contains(stderr, "skipping "+s.Path) {
						t.Errorf("skip of %s not reported on stderr:\n%s", s.Path, stderr)
					}
				}
				for _, c := range []struct {
					what      string
					got, want []string
				}{{"files", files, tc.files}, {"errors", errs, tc.errors}, {"skipped", skipped, tc.skipped}} {
					if strings.Join(c.got, "|") != strings.Join(c.want, "|") {
						t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
					}
				}
			})
		}
	}
}

// The bar: one character per run of pages, 'O' all resident, 'o' some, ' '
// none. The residency is made real: evict, then read chosen pages with
// Random advice so that exactly those become resident.
func TestPagingBar(t *testing.T) {
	path := pagingTestFile(t, t.TempDir(), "bar.bin", 8*4096)
	for _, tc := range []struct {
		touch []int
		width int
		want  string
	}{
		{nil, 4, "[    ]"},
		{[]int{0, 1, 2, 3}, 4, "[OO  ]"},
		{[]int{0}, 4, "[o   ]"},
		{[]int{0, 7}, 8, "[O      O]"},
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, 100, "[OOOOOOOO]"}, // never wider than the pages
		{[]int{3, 4}, 2, "[oo]"},
	} {
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Evict(0, r.Len()); err != nil {
			t.Fatal(err)
		}
		if err := r.Advise(mmap.AdviceRandom); err != nil {
			t.Fatal(err)
		}
		for _, p := range tc.touch {
			if _, err := r.ReadAt(make([]byte, 1), int64(p)*4096); err != nil {
				t.Fatal(err)
			}
		}
		s, err := r.Resident()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := pagingBar(s, tc.width); got != tc.want {
			t.Errorf("pages %v, width %d: bar %q, want %q", tc.touch, tc.width, got, tc.want)
		}
	}
	if got := pagingBar(mmap.Residency{}, 40); got != "[]" {
		t.Errorf("empty file: bar %q", got)
	}
}

// The built command: text output and the exit status the shell sees.
func TestPagingCommandBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mmapkit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	good := pagingTestFile(t, dir, "good.bin", 16*4096)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "evict", good, filepath.Join(dir, "missing"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[                ] before 16/16 (100.0%), after 0/16 (0.0%)") ||
		!strings.HasSuffix(lines[0], good) || !strings.HasPrefix(lines[1], "total: 1 files, 64 KiB") {
		t.Fatalf("stdout:\n%s", &stdout)
	}
	if !strings.Contains(stderr.String(), "missing") || !strings.Contains(stderr.String(), "1 of 2 files failed") {
		t.Fatalf("stderr:\n%s", &stderr)
	}
}
