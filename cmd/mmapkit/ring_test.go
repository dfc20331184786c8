package main

import (
	"bytes"
	"errors"
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
		{"create", "", []string{"ring", "create", path, "--capacity", "8KiB", "--max-record", "100"}, []string{"capacity 8192 bytes", "max record 100"}, nil},
		{"create-again", "", []string{"ring", "create", path, "--capacity", "8KiB"}, nil, os.ErrExist},
		{"bad-capacity", "", []string{"ring", "create", path + "2", "--capacity", "5000"}, nil, nil},
		{"append-args", "", []string{"ring", "append", path, "one", "two"}, []string{"appended 2 records"}, nil},
		{"append-stdin", "three\nfour\nfive", []string{"ring", "append", path}, []string{"appended 3 records"}, nil},
		{"too-large", "", []string{"ring", "append", path, strings.Repeat("x", 101)}, nil, ring.ErrTooLarge},
		{"tail", "", []string{"ring", "tail", "-n", "2", "--seq", path}, []string{"3\tfour\n4\tfive\n"}, nil},
		{"stat", "", []string{"ring", "stat", path}, []string{"records:  5 (sequence 0 .. 4)", "writer:   none"}, nil},
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

// The text and JSON of ring stat, against golden files.
func TestRingStatGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.ring")
	if r := cli(t, "ring", "create", path, "--capacity", "64KiB", "--max-record", "1KiB"); r.code != 0 {
		t.Fatal(r)
	}
	if r := cliIn(t, "one\ntwo\nthree\n", "ring", "append", path); r.code != 0 {
		t.Fatal(r)
	}
	info, err := ring.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, flag string }{{"ring-stat", ""}, {"ring-stat-json", "--json"}} {
		args := []string{"ring", "stat", path}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		r := cli(t, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatal(r)
		}
		if tc.flag == "--json" {
			checkJSON(t, r.stdout)
		}
		// The path as JSON escapes it, then as printed (with the
		// separator of the OS: \ on Windows).
		golden(t, tc.name, normalize(r.stdout, strings.ReplaceAll(path, `\`, `\\`), "$DIR/g.ring", path, "$DIR/g.ring",
			info.Created.UTC().Format(time.RFC3339Nano), "$CREATED", info.Created.UTC().Format(time.RFC3339), "$CREATED"))
	}
}
