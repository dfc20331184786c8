package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// sigterm is SIGTERM, the signal that stops lock.
var sigterm = sys.StopSignals[len(sys.StopSignals)-1]

// pagingExec runs one of the commands in-process with --json and returns its
// parsed report, its stderr and the exit status main would use.
func pagingExec(t *testing.T, op string, args ...string) (pagingReport, string, int) {
	t.Helper()
	r := cli(t, append([]string{op, "--json"}, args...)...)
	var rep pagingReport
	if r.stdout == "" {
		return rep, r.stderr, r.code
	}
	decodeJSON(t, r.stdout, &rep)
	if rep.Op != op {
		t.Fatalf("report op %q, want %q", rep.Op, op)
	}
	return rep, r.stderr, r.code
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

// residentPages says which pages of path are in the page cache, from a
// mapping of this process (mincore), independent of the command.
func residentPages(t *testing.T, path string) []int {
	t.Helper()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Resident()
	if err != nil {
		t.Fatal(err)
	}
	var pages []int
	for p := range s.Pages {
		if s.IsResident(p) {
			pages = append(pages, p)
		}
	}
	return pages
}

// touchPages evicts path and then reads exactly the given pages in (Random
// advice: no read-around).
func touchPages(t *testing.T, path string, pages []int) {
	t.Helper()
	r, err := mmap.Open(path, mmap.ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Evict(0, r.Len()); err != nil {
		t.Fatal(err)
	}
	if err := r.Advise(mmap.AdviceRandom); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if _, err := r.ReadAt(make([]byte, 1), int64(p)*4096); err != nil {
			t.Fatal(err)
		}
	}
}

func pageRange(lo, hi int) []int {
	var p []int
	for i := lo; i < hi; i++ {
		p = append(p, i)
	}
	return p
}

// The residency of a file through evict and prefetch, read from --json: a
// small file (one request) and a whole file bigger than prefetchSmall, read
// in parts of prefetchPart from several goroutines (the last part short).
func TestPagingCommandsEvictPrefetch(t *testing.T) {
	for _, size := range []int{64<<10 - 5, 2*prefetchPart + 3*4096 + 7} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			pagingEvictPrefetch(t, size)
		})
	}
}

func pagingEvictPrefetch(t *testing.T, size int) {
	pages := (size + 4095) / 4096
	path := pagingTestFile(t, t.TempDir(), "data.bin", size)
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
		if f.Path != path || f.Pages != pages || f.Size != int64(size) || rep.PageSize != os.Getpagesize() {
			t.Fatalf("%s: file entry %+v", st.op, f)
		}
		if f.Resident != st.after || f.ResidentBytes != int64(st.after)*4096 {
			t.Fatalf("%s: resident %d (%d bytes), want %d", st.op, f.Resident, f.ResidentBytes, st.after)
		}
		if (f.Before != nil) != (st.op != pagingResidency) {
			t.Fatalf("%s: before %v", st.op, f.Before)
		}
		if st.before >= 0 && *f.Before != st.before {
			t.Fatalf("%s: before %d, want %d", st.op, *f.Before, st.before)
		}
		// The process's faults are reported (the descriptor paths read
		// without faulting, so there is no count to expect).
		if (rep.Total.Faults != nil) != st.faultsReported {
			t.Fatalf("%s: faults %v", st.op, rep.Total.Faults)
		}
		// The bytes read from disk: the whole file after evict (where the
		// kernel counts a task's I/O: /proc/self/io).
		if (rep.Total.ReadBytes != nil) != (st.op == pagingPrefetch) {
			t.Fatalf("%s: read_bytes %v", st.op, rep.Total.ReadBytes)
		}
		if _, err := os.Stat("/proc/self/io"); err == nil && st.op == pagingPrefetch && *rep.Total.ReadBytes < int64(pages-1)*4096 {
			t.Fatalf("%s: read_bytes %d, want the file's %d bytes read from disk", st.op, *rep.Total.ReadBytes, size)
		}
		if rep.Total.Files != 1 || rep.Total.Pages != pages || rep.Total.Resident != st.after {
			t.Fatalf("%s: total %+v", st.op, rep.Total)
		}
		if got := len(residentPages(t, path)); got != st.after {
			t.Fatalf("%s: mincore says %d pages resident, want %d", st.op, got, st.after)
		}
	}
}

// residency agrees with util-linux fincore, page for page counts, on files
// with chosen pages resident.
func TestPagingResidencyAgreesWithFincore(t *testing.T) {
	fincore, err := exec.LookPath("fincore")
	if err != nil {
		t.Skip("util-linux fincore is not installed")
	}
	dir := t.TempDir()
	cases := map[string][]int{
		"none.bin":  nil,
		"some.bin":  {0, 3, 4, 5, 17, 63},
		"all.bin":   pageRange(0, 64),
		"tail.bin":  {63},
		"empty.bin": nil,
	}
	var paths []string
	for name, touch := range cases {
		size := 64 * 4096
		if name == "empty.bin" {
			size = 0
		}
		p := pagingTestFile(t, dir, name, size)
		if size > 0 {
			touchPages(t, p, touch)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	rep, stderr, code := pagingExec(t, pagingResidency, paths...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out, err := exec.Command(fincore, append([]string{"--bytes", "--raw", "--noheadings", "--output", "PAGES,RES,FILE"}, paths...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		n, _ := strconv.Atoi(f[0])
		want[f[2]] = n
	}
	for _, f := range rep.Files {
		if f.Resident != want[f.Path] {
			t.Errorf("%s: %d pages resident, fincore says %d", f.Path, f.Resident, want[f.Path])
		}
		if w := len(cases[filepath.Base(f.Path)]); f.Resident != w {
			t.Errorf("%s: %d pages resident, touched %d", f.Path, f.Resident, w)
		}
	}
	if len(rep.Files) != len(paths) {
		t.Fatalf("%d files reported, want %d", len(rep.Files), len(paths))
	}
}

// --range works on exactly the pages of the range, checked page by page.
func TestPagingRange(t *testing.T) {
	type step struct {
		args []string
		want []int
	}
	// A small range is prefetched through the descriptor, a range over
	// prefetchSmall through a mapping: both read exactly its pages.
	big := int(prefetchSmall/4096) + 64
	for _, tc := range []struct {
		name  string
		pages int
		steps []step
	}{
		{"small", 64, []step{
			{[]string{"evict"}, nil},
			{[]string{"prefetch", "--range", "8KiB-40KiB"}, pageRange(2, 10)},
			{[]string{"prefetch", "--range", "240KiB-"}, append(pageRange(2, 10), pageRange(60, 64)...)},
			{[]string{"evict", "--range", "16KiB-24KiB"}, append(append(pageRange(2, 4), pageRange(6, 10)...), pageRange(60, 64)...)},
			{[]string{"prefetch", "--range", "4KiB"}, append(append([]int{0}, append(pageRange(2, 4), pageRange(6, 10)...)...), pageRange(60, 64)...)},
			{[]string{"evict", "--range", "0-256KiB"}, nil},
			// unaligned bounds widen to whole pages
			{[]string{"prefetch", "--range", "4097-8193"}, pageRange(1, 3)},
			{[]string{"prefetch", "--range", "32KiB-48KiB"}, append(pageRange(1, 3), pageRange(8, 12)...)},
			{[]string{"evict", "--range", "4097-8193"}, pageRange(8, 12)},
		}},
		{"big", big, []step{
			{[]string{"evict"}, nil},
			{[]string{"prefetch", "--range", fmt.Sprintf("%d-%d", 16*4096, (big-16)*4096)}, pageRange(16, big-16)},
			{[]string{"evict"}, nil},
			{[]string{"prefetch", "--range", fmt.Sprintf("%d-%d", 4096, 4096+prefetchSmall+1)}, pageRange(1, 2+prefetchSmall/4096)},
			{[]string{"prefetch", "--range", fmt.Sprintf("%d-", (big-8)*4096)}, append(pageRange(1, 2+prefetchSmall/4096), pageRange(big-8, big)...)},
		}},
	} {
		path := pagingTestFile(t, t.TempDir(), "r.bin", tc.pages*4096)
		for _, st := range tc.steps {
			args := append(st.args, path)
			if r := cli(t, args...); r.code != 0 {
				t.Fatalf("%s: %v: %v", tc.name, args, r)
			}
			if got := residentPages(t, path); !slices.Equal(got, st.want) {
				t.Fatalf("%s: after %v: resident pages %v, want %v", tc.name, args, got, st.want)
			}
		}
	}
	path := pagingTestFile(t, t.TempDir(), "r.bin", 64*4096)
	touchPages(t, path, pageRange(0, 3))
	rep, _, code := pagingExec(t, pagingResidency, "--range", "4KiB-12KiB", path)
	if code != 0 || rep.Range == nil || rep.Range.Start != 4096 || rep.Range.End != 12288 || rep.Files[0].Pages != 2 || rep.Files[0].Resident != 2 {
		t.Fatalf("residency --range: %+v", rep)
	}
}

// Bad input gives the documented exit status and touches nothing else.
func TestPagingBadInput(t *testing.T) {
	dir := t.TempDir()
	good := pagingTestFile(t, dir, "good.bin", 16*4096)
	small := pagingTestFile(t, dir, "small.bin", 4*4096)
	missing := filepath.Join(dir, "missing.bin")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   string
		resident map[string][]int // after the command
	}{
		{"negative max size", []string{"evict", "--max-size", "-1", good}, 2, "negative size", map[string][]int{good: pageRange(0, 16)}},
		{"negative range", []string{"evict", "--range", "-4KiB", good}, 2, "negative size", map[string][]int{good: pageRange(0, 16)}},
		{"range backwards", []string{"evict", "--range", "8KiB-4KiB", good}, 2, "start is past the end", map[string][]int{good: pageRange(0, 16)}},
		{"unknown flag", []string{"evict", "--nosuch", good}, 2, "unknown flag", map[string][]int{good: pageRange(0, 16)}},
		{"no files", []string{"evict"}, 2, "no files given", nil},
		{"null without a list", []string{"evict", "-0", good}, 2, "needs --files-from", map[string][]int{good: pageRange(0, 16)}},
		{"bad glob", []string{"evict", "--ignore", "[", good}, 2, "bad glob", map[string][]int{good: pageRange(0, 16)}},
		{"range past the end of one file", []string{"evict", "--range", "8KiB-32KiB", small, good}, 1, "ends past the end of the file (16 KiB)",
			map[string][]int{small: pageRange(0, 4), good: append(pageRange(0, 2), pageRange(8, 16)...)}},
		{"a missing file among good ones", []string{"evict", small, missing, good}, 1, "1 of 3 files failed", map[string][]int{small: nil, good: nil}},
		{"only a missing file", []string{"evict", missing}, 1, "no such file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			touchPages(t, good, pageRange(0, 16))
			touchPages(t, small, pageRange(0, 4))
			r := cli(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want status %d and %q on stderr, got %v", tc.code, tc.stderr, r)
			}
			if tc.code == 2 && r.stdout != "" {
				t.Errorf("bad usage printed a report:\n%s", r.stdout)
			}
			for path, want := range tc.resident {
				if got := residentPages(t, path); !slices.Equal(got, want) {
					t.Errorf("%s: resident pages %v, want %v", filepath.Base(path), got, want)
				}
			}
			if _, err := os.Stat(missing); err == nil {
				t.Errorf("%s was created", missing)
			}
		})
	}
}

// Failures, skips and walking: one bad file does not stop the others, and
// the exit status says whether any failed.
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
					if n := strings.Count(stderr, e.Message); n != 1 {
						t.Errorf("error %q reported %d times on stderr:\n%s", e.Message, n, stderr)
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

// Trees: symbolic links (followed or not, loops), hard links counted once,
// --ignore/--include/--max-size, per-directory totals, lists with -0.
func TestPagingTrees(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	a := pagingTestFile(t, tree, "a.bin", 2*4096)
	b := pagingTestFile(t, tree, "sub/b.bin", 3*4096)
	big := pagingTestFile(t, tree, "sub/big.dat", 10*4096)
	log := pagingTestFile(t, tree, "sub/deeper/c.log", 4096)
	outside := pagingTestFile(t, dir, "outside/o.bin", 4*4096)
	if err := os.Link(a, filepath.Join(tree, "sub", "a-hardlink.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "outside"), filepath.Join(tree, "to-outside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tree, filepath.Join(tree, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		files      []string
		duplicates int
		dirs       map[string]int // directory → files under it
	}{
		{"plain walk", []string{"-r", tree}, []string{a, b, big, log}, 1,
			map[string]int{tree: 4, filepath.Join(tree, "sub"): 3, filepath.Join(tree, "sub", "deeper"): 1}},
		{"follow symlinks (the loop is walked once)", []string{"-r", "-L", tree}, []string{a, b, big, log, filepath.Join(tree, "to-outside", "o.bin")}, 1, nil},
		{"ignore", []string{"-r", "--ignore", "*.log", "--ignore", "big*", tree}, []string{a, b}, 1, nil},
		{"ignore a directory", []string{"-r", "--ignore", "sub", tree}, []string{a}, 0, nil},
		{"include", []string{"-r", "--include", "*.bin", tree}, []string{a, b}, 1, nil},
		{"max size", []string{"-r", "--max-size", "12KiB", tree}, []string{a, b, log}, 1, nil},
		{"two names of one file on the command line", []string{a, filepath.Join(tree, "sub", "a-hardlink.bin"), outside}, []string{a, outside}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, stderr, code := pagingExec(t, pagingResidency, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var files []string
			for _, f := range rep.Files {
				files = append(files, f.Path)
			}
			slices.Sort(files)
			want := slices.Sorted(slices.Values(tc.files))
			if !slices.Equal(files, want) {
				t.Errorf("files %q, want %q", files, want)
			}
			if rep.Total.Duplicates != tc.duplicates {
				t.Errorf("duplicates %d, want %d", rep.Total.Duplicates, tc.duplicates)
			}
			for d, n := range tc.dirs {
				i := slices.IndexFunc(rep.Dirs, func(x pagingDir) bool { return x.Path == d })
				if i < 0 || rep.Dirs[i].Files != n {
					t.Errorf("directory %s: %+v, want %d files", d, rep.Dirs, n)
				}
			}
		})
	}

	// A list of names on stdin, NUL-separated, with a newline in a name.
	odd := pagingTestFile(t, dir, "odd\nname.bin", 4096)
	r := cliIn(t, a+"\x00"+odd+"\x00", "residency", "--json", "--files-from", "-", "-0")
	var rep pagingReport
	decodeJSON(t, r.stdout, &rep)
	if r.code != 0 || len(rep.Files) != 2 || rep.Files[1].Path != odd {
		t.Fatalf("files from stdin: %v", r)
	}
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte(a+"\n"+b+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _, code := pagingExec(t, pagingResidency, "--files-from", list, log)
	if code != 0 || len(rep.Files) != 3 {
		t.Fatalf("files from a list: %+v", rep)
	}
}

// --one-file-system stays out of a tmpfs mounted inside the tree.
func TestPagingOneFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "a.bin", 4096)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "mmapkit-test", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	inner := pagingTestFile(t, mnt, "inner.bin", 4096)
	for _, tc := range []struct {
		args  []string
		files []string
	}{
		{[]string{"-r", dir}, []string{a, inner}},
		{[]string{"-r", "--one-file-system", dir}, []string{a}},
	} {
		rep, stderr, code := pagingExec(t, pagingResidency, tc.args...)
		var files []string
		for _, f := range rep.Files {
			files = append(files, f.Path)
		}
		if code != 0 || !slices.Equal(files, tc.files) {
			t.Errorf("%v: files %q (exit %d, %s), want %q", tc.args, files, code, stderr, tc.files)
		}
	}
}

// --ndjson: one object per line, typed, streamed, and a total.
func TestPagingNDJSON(t *testing.T) {
	dir := t.TempDir()
	pagingTestFile(t, dir, "t/a.bin", 4096)
	pagingTestFile(t, dir, "t/b.bin", 2*4096)
	r := cli(t, "residency", "--ndjson", "-r", filepath.Join(dir, "t"), filepath.Join(dir, "missing"))
	if r.code != 1 {
		t.Fatalf("%v", r)
	}
	docs := checkJSON(t, r.stdout)
	var types []string
	for _, d := range docs {
		m := d.(map[string]any)
		types = append(types, m["type"].(string))
		// Each line carries its object's fields.
		key := map[string]string{"file": "resident", "dir": "files", "error": "message", "total": "resident_bytes"}[m["type"].(string)]
		if _, ok := m[key]; !ok {
			t.Errorf("a %s line without %q: %v", m["type"], key, m)
		}
	}
	// In list order: the tree's files, then the missing name.
	if strings.Join(types, ",") != "file,file,dir,error,total" && strings.Join(types, ",") != "file,file,error,dir,total" {
		t.Fatalf("line types %v:\n%s", types, r.stdout)
	}
	if n := strings.Count(r.stdout, "\n"); n != len(docs) {
		t.Fatalf("%d lines for %d objects", n, len(docs))
	}
}

// --watch redraws --count times; with --json one object per round.
func TestPagingWatch(t *testing.T) {
	path := pagingTestFile(t, t.TempDir(), "w.bin", 4*4096)
	r := cli(t, "residency", "--watch", "1ms", "--count", "3", "--json", path)
	if r.code != 0 {
		t.Fatal(r)
	}
	docs := checkJSON(t, r.stdout)
	if len(docs) != 3 {
		t.Fatalf("%d rounds, want 3:\n%s", len(docs), r.stdout)
	}
	for _, d := range docs {
		m := d.(map[string]any)
		if _, ok := m["time"]; !ok || m["op"] != "residency" || len(m["files"].([]any)) != 1 {
			t.Fatalf("a round: %v", m)
		}
	}
	r = cli(t, "residency", "--watch", "1ms", "--count", "2", path)
	if r.code != 0 || strings.Count(r.stdout, "total: 1 file,") != 2 {
		t.Fatalf("text watch: %v", r)
	}
	if r := cli(t, "residency", "--count", "2", path); r.code != 2 {
		t.Fatalf("--count without --watch: %v", r)
	}
}

// The bar: one character per run of pages, 'O' all resident, 'o' some, ' '
// none.
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
		touchPages(t, path, tc.touch)
		r, err := mmap.Open(path, mmap.ReadOnly, nil)
		if err != nil {
			t.Fatal(err)
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

// durationRE matches a duration and the padding before it (and the TIME
// header's): times vary, so their column's width does too.
var durationRE = regexp.MustCompile(` +([0-9.]+(ns|µs|ms|s)|TIME)\b`)
var faultsRE = regexp.MustCompile(`[0-9]+ major \+ [0-9]+ minor`)
var readRE = regexp.MustCompile(`[0-9.]+ (B|KiB|MiB|GiB) read from disk`)

// The text of each page-cache command, against golden files.
func TestPagingGolden(t *testing.T) {
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "tree/a.bin", 16*4096)
	b := pagingTestFile(t, dir, "tree/sub/b.bin", 3*4096+100)
	pagingTestFile(t, dir, "tree/empty.bin", 0)
	touchPages(t, a, []int{0, 1, 2, 3, 15})
	touchPages(t, b, pageRange(0, 4))
	tree := filepath.Join(dir, "tree")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"residency", []string{"residency", "--width", "16", "-r", tree}},
		{"residency-summary", []string{"residency", "-s", "-r", tree, filepath.Join(dir, "missing")}},
		{"evict", []string{"evict", "--width", "8", "-r", tree}},
		{"prefetch", []string{"prefetch", "--width", "8", "--range", "4KiB-12KiB", a, b}},
	} {
		r := cli(t, tc.args...)
		out := normalize(r.stdout+"--- stderr\n"+r.stderr, dir, "$DIR")
		out = faultsRE.ReplaceAllString(durationRE.ReplaceAllString(out, " $$TIME"), "$$FAULTS")
		out = readRE.ReplaceAllString(out, "$$READ read from disk")
		golden(t, "paging-"+tc.name, out+"--- exit status "+strconv.Itoa(r.code)+"\n")
	}
}

// The built command: text output and the exit status the shell sees.
func TestPagingCommandProcess(t *testing.T) {
	dir := t.TempDir()
	good := pagingTestFile(t, dir, "good.bin", 16*4096)
	r := cliExec(t, nil, "evict", good, filepath.Join(dir, "missing"))
	if r.code != 1 {
		t.Fatalf("want status 1: %v", r)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "                    BEFORE  AFTER  PAGES    SIZE") ||
		strings.Join(strings.Fields(lines[1])[:7], " ") != "[ ] 100.0% 0.0% 0/16 64 KiB" ||
		!strings.HasSuffix(lines[1], good) || !strings.HasPrefix(lines[2], "total: 1 file, 64 KiB") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "missing") || !strings.Contains(r.stderr, "1 of 2 files failed") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
}

// lockVmLck reads VmLck of a process in KiB.
func lockVmLck(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmLck:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return -1
}

// lock in the foreground: VmLck of the process covers the files until
// SIGTERM, which unlocks, removes the pidfile and exits 0.
func TestLockForeground(t *testing.T) {
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "a.bin", 256*4096)
	b := pagingTestFile(t, dir, "b.bin", 100*4096)
	pidfile := filepath.Join(dir, "lock.pid")
	touchPages(t, a, nil)
	cmd := cliCommand(t, "lock", "--json", "--pidfile", pidfile, a, b)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var rep lockReport
	if err := json.NewDecoder(stdout).Decode(&rep); err != nil {
		t.Fatalf("no report: %v; stderr %s", err, stderr.String())
	}
	if !rep.Locked || rep.PID != cmd.Process.Pid || rep.Total.Files != 2 || rep.Total.Resident != 356 {
		t.Fatalf("report %+v", rep)
	}
	if got := lockVmLck(t, cmd.Process.Pid); got < 356*4 {
		t.Fatalf("VmLck %d kB, want at least %d", got, 356*4)
	}
	if got := residentPages(t, a); len(got) != 256 {
		t.Fatalf("%d pages of a resident", len(got))
	}
	if b, err := os.ReadFile(pidfile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pidfile: %q, %v", b, err)
	}
	if err := cmd.Process.Signal(sigterm); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v; stderr %s", err, stderr.String())
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile still there: %v", err)
	}
}

// lock --daemon --wait returns once everything is locked; the daemon holds
// the pages in another process, which SIGTERM ends.
func TestLockDaemon(t *testing.T) {
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "a.bin", 64*4096)
	pidfile := filepath.Join(dir, "d.pid")
	r := cliExec(t, nil, "lock", "--daemon", "--wait", "--pidfile", pidfile, "--json", a)
	if r.code != 0 {
		t.Fatal(r)
	}
	var rep lockReport
	decodeJSON(t, r.stdout, &rep)
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid != rep.PID || !rep.Locked || rep.Total.Resident != 64 {
		t.Fatalf("pidfile %d, report %+v", pid, rep)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if got := lockVmLck(t, pid); got < 64*4 {
		t.Fatalf("daemon VmLck %d kB", got)
	}
	// A second daemon with the same pidfile is refused.
	if r := cliExec(t, nil, "lock", "--daemon", "--wait", "--pidfile", pidfile, a); r.code != 1 || !strings.Contains(r.stderr, "names running process") {
		t.Fatalf("second daemon: %v", r)
	}
	if err := p.Signal(sigterm); err != nil {
		t.Fatal(err)
	}
	// The daemon is not our child: wait for its pidfile to go, by inotify
	// would be nicer; the kernel tells us through /proc when it is gone.
	waitGone(t, pid, pidfile)
}

// waitGone waits until the process has exited and its pidfile is removed.
func waitGone(t *testing.T, pid int, pidfile string) {
	t.Helper()
	for range 2000 {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		_, perr := os.Stat(pidfile)
		gone := err != nil || strings.Contains(string(st), ") Z ")
		if gone && os.IsNotExist(perr) {
			return
		}
		// Poll: the process is not ours to wait for.
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("daemon %d still running or pidfile %s left", pid, pidfile)
}

// Bad input to lock: nothing is locked, the documented status.
func TestLockBadInput(t *testing.T) {
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "a.bin", 4*4096)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"lock", a, filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"lock", "--wait", a}, 2, "--wait needs --daemon"},
		{[]string{"lock", "--range", "8KiB-64KiB", a}, 1, "past the end"},
		{[]string{"lock", "--daemon", "--wait", a, filepath.Join(dir, "missing")}, 1, "no such file"},
	} {
		r := cliExec(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
			t.Errorf("%v: want status %d and %q, got %v", tc.args, tc.code, tc.stderr, r)
		}
	}
}

// A locked-memory limit too small: the error names RLIMIT_MEMLOCK and the
// size, and nothing stays locked. Root is exempt (CAP_IPC_LOCK), so the
// command runs without that capability under a 64 KiB limit.
func TestLockMemlockLimit(t *testing.T) {
	prlimit, err1 := exec.LookPath("prlimit")
	setpriv, err2 := exec.LookPath("setpriv")
	if err1 != nil || err2 != nil {
		t.Skip("needs util-linux prlimit and setpriv")
	}
	a := pagingTestFile(t, t.TempDir(), "a.bin", 256*4096)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prlimit, "--memlock=65536:65536", setpriv, "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--", exe, "lock", a)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("lock under a 64 KiB limit: %v\n%s", err, out)
	}
	if ee.ExitCode() != 1 || !strings.Contains(string(out), "RLIMIT_MEMLOCK") || !strings.Contains(string(out), "1 MiB (1048576 bytes) to lock") || !strings.Contains(string(out), "64 KiB (65536 bytes)") {
		t.Fatalf("exit %d:\n%s", ee.ExitCode(), out)
	}
}

// The text of lock --daemon --wait, against a golden file.
func TestLockGolden(t *testing.T) {
	dir := t.TempDir()
	pagingTestFile(t, dir, "t/a.bin", 8*4096)
	pagingTestFile(t, dir, "t/b.bin", 3*4096+1)
	pidfile := filepath.Join(dir, "g.pid")
	r := cliExec(t, nil, "lock", "--daemon", "--wait", "--width", "8", "--pidfile", pidfile, "-r", filepath.Join(dir, "t"))
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Signal(sigterm)
	}
	waitGone(t, pid, pidfile)
	out := normalize(r.stdout+"--- stderr\n"+r.stderr, dir, "$DIR", "pid "+strconv.Itoa(pid), "pid $PID")
	golden(t, "lock", durationRE.ReplaceAllString(out, " $$TIME")+"--- exit status "+strconv.Itoa(r.code)+"\n")
}

// A pidfile planted by someone who can write its directory: a FIFO is
// refused at once (a plain read of it waited for a writer for good), and a
// link planted under the temporary name is not written through.
func TestLockPidfilePlanted(t *testing.T) {
	dir := t.TempDir()
	a := pagingTestFile(t, dir, "a.bin", 4*4096)

	fifo := filepath.Join(dir, "fifo.pid")
	if err := sys.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := cliCommand(t, "lock", "--pidfile", fifo, a)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(errb.String(), "FIFO") {
			t.Fatalf("lock --pidfile FIFO: %v, stderr %q; want an error naming the FIFO", err, errb.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("lock --pidfile FIFO still running after a minute (blocked opening the FIFO)")
	}

	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "lock.pid")
	if err := os.Symlink(victim, fmt.Sprintf("%s.%d.tmp", pidfile, os.Getpid())); err != nil {
		t.Fatal(err)
	}
	if err := writePidfile(pidfile); err == nil {
		t.Error("writePidfile wrote through a planted temporary name")
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Fatalf("the link's target now holds %q (%v)", b, err)
	}
	if _, err := os.Lstat(pidfile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a pidfile was left: %v", err)
	}
}

// Names come from the file system: a newline in one must not start a line
// of its own in the table or forge a line on stderr, and an escape sequence
// must not reach the terminal. Each is printed escaped, on its own row.
func TestPagingUnprintableNames(t *testing.T) {
	dir := t.TempDir()
	names := map[string]string{ // name → as printed
		"line\nbreak.bin":  `line\nbreak.bin`,
		"esc\x1b[31mred":   `esc\x1b[31mred`,
		"bad\xffutf8":      `bad\xffutf8`,
		"plain name.bin":   "plain name.bin",
		"ünïcode.bin":      "ünïcode.bin",
		"back\\slash\tTab": `back\\slash\tTab`,
	}
	for name := range names {
		pagingTestFile(t, dir, name, 2*4096)
	}
	missing := filepath.Join(dir, "gone\nmmapkit: forged line")
	for _, op := range []string{"residency", "evict", "prefetch"} {
		t.Run(op, func(t *testing.T) {
			r := cli(t, op, "-r", dir, missing)
			if r.code != 1 {
				t.Fatalf("want status 1 (the missing name), got %v", r)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != 1+len(names)+1 { // header, a row per file, total
				t.Fatalf("%d lines, want %d:\n%s", len(lines), 1+len(names)+1, r.stdout)
			}
			for name, shown := range names {
				want := dir + string(filepath.Separator) + shown
				found := 0
				for _, l := range lines[1 : len(lines)-1] {
					if strings.HasSuffix(l, "  "+want) {
						found++
					}
				}
				if found != 1 {
					t.Errorf("%q: %d rows end with %q:\n%s", name, found, want, r.stdout)
				}
			}
			// The error and the summary: the forged text stays inside the
			// first line.
			errLines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(errLines) != 2 || !strings.Contains(errLines[0], `gone\nmmapkit: forged line: no such file`) {
				t.Errorf("stderr: want the missing file's error on one line, then the summary, got %q", r.stderr)
			}
			if out := r.stdout + r.stderr; strings.ContainsAny(out, "\x1b\t") || !utf8.ValidString(out) {
				t.Errorf("a raw control byte reached the output: %q", r.stdout+r.stderr)
			}
		})
	}
}
