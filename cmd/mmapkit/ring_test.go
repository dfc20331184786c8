package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

func ringRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	err := root.Execute()
	return out.String(), err
}

func TestRingCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cli.ring")
	steps := []struct {
		name    string
		stdin   string
		args    []string
		want    []string // substrings of the output
		wantErr error
	}{
		{"create", "", []string{"ring", "create", path, "--capacity", "8KiB", "--max-record", "100"}, []string{"capacity 8 KiB", "max record 100 B"}, nil},
		{"create-again", "", []string{"ring", "create", path, "--capacity", "8KiB"}, nil, os.ErrExist},
		{"bad-capacity", "", []string{"ring", "create", path + "2", "--capacity", "5000"}, nil, nil},
		{"append-args", "", []string{"ring", "append", path, "one", "two"}, []string{"appended 2 records"}, nil},
		{"append-stdin", "three\nfour\nfive", []string{"ring", "append", path}, []string{"appended 3 records"}, nil},
		{"too-large", "", []string{"ring", "append", path, strings.Repeat("x", 101)}, nil, ring.ErrTooLarge},
		{"tail", "", []string{"ring", "tail", "-n", "2", "--seq", path}, []string{"3\tfour\n4\tfive\n"}, nil},
		{"stat", "", []string{"ring", "stat", path}, []string{"records:    5 (sequence 0 .. 4)", "writer:     none"}, nil},
		{"stat-json", "", []string{"ring", "stat", "--json", path}, []string{`"records": 5`, `"policy": "overwrite"`, `"readers": []`}, nil},
		{"not-a-ring", "", []string{"ring", "stat", os.Args[0]}, nil, ring.ErrNotRing},
	}
	for _, s := range steps {
		out, err := ringRun(t, s.stdin, s.args...)
		switch {
		case s.name == "bad-capacity":
			if err == nil {
				t.Fatalf("%s: accepted", s.name)
			}
		case s.wantErr != nil:
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
			}
		case err != nil:
			t.Fatalf("%s: %v\n%s", s.name, err, out)
		}
		if strings.Contains(s.name, "json") {
			checkJSON(t, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: output %q lacks %q", s.name, out, w)
			}
		}
	}
}

// TestRingCLITailFollow runs `mmapkit ring tail -f` as its own process and
// appends from this one: the tail follows across processes.
func TestRingCLITailFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.ring")
	w, err := ring.Create(path, &ring.Options{Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := cliCommand(t, "ring", "tail", "-f", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	got := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 256)
		for {
			n, err := stdout.Read(buf)
			b = append(b, buf[:n]...)
			if strings.Contains(string(b), "last\n") || err != nil {
				got <- string(b)
				return
			}
		}
	}()
	for _, s := range []string{"first", "second", "last"} {
		if _, err := w.Append([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case out := <-got:
		if !strings.HasSuffix(out, "first\nsecond\nlast\n") {
			t.Fatalf("tail -f printed %q", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail -f printed nothing")
	}
}

// A session of every ring command, text and JSON, with the errors a user
// meets, against a golden file.
func TestRingGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.ring")
	npy := filepath.Join(dir, "a.npy")
	if err := os.WriteFile(npy, []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var created time.Time
	step := func(stdin string, args ...string) cliResult {
		r := cliIn(t, stdin, args...)
		fmt.Fprintf(&b, "$ mmapkit %s\n%s", strings.Join(args, " "), r.stdout)
		if r.stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", r.stderr)
		}
		fmt.Fprintf(&b, "[exit %d]\n", r.code)
		if r.code == 0 && strings.Contains(strings.Join(args, " "), "json") {
			checkJSON(t, r.stdout)
		}
		if created.IsZero() {
			if info, err := ring.Stat(path); err == nil {
				created = info.Created
			}
		}
		return r
	}
	step("", "ring", "create", path, "--capacity", "64KiB", "--max-record", "1KiB")
	step("", "ring", "append", path, "one", "two")
	step("line\nwith\ttab\n", "ring", "append", path)
	step("", "ring", "append", path, "a record\nholding a newline", "bytes \xff\x00 not text", `back\slash`)
	step("", "ring", "append", path, strings.Repeat("x", 1025))
	for _, f := range []string{"text", "hex", "json", "raw"} {
		step("", "ring", "tail", "--seq", "--format", f, path)
	}
	step("", "ring", "tail", "-n", "2", "--json", path)
	step("", "ring", "stat", path)
	step("", "ring", "stat", "--json", path)
	step("", "ring", "create", path)
	step("", "ring", "create", path+"2", "--capacity", "5000")
	step("", "ring", "create", path+"2", "--policy", "fifo")
	step("", "ring", "stat", npy)
	step("", "ring", "stat", empty)
	step("", "ring", "tail", filepath.Join(dir, "missing"))
	step("", "ring", "tail", "--json", "--format", "hex", path)
	out := normalize(b.String(), dir, "$DIR",
		created.UTC().Format(time.RFC3339Nano), "$CREATED", created.UTC().Format(time.RFC3339), "$CREATED")
	golden(t, "ring-session", out)
}

// A ring held by a writer in another process: the error names its pid and
// says what to do.
func TestRingAppendLockedNamesWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.ring")
	w, err := ring.Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := cliExec(t, nil, "ring", "append", path, "x")
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(r.stderr, "--wait") {
		t.Fatalf("%v", r)
	}
	if n := strings.Count(r.stderr, "mmapkit:"); n != 1 {
		t.Fatalf("%d error lines:\n%s", n, r.stderr)
	}
}
