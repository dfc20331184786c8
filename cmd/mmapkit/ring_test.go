package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

func ringRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetArgs(args)
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetIn(strings.NewReader(stdin))
	err := rootCmd.Execute()
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
		{"stat", "", []string{"ring", "stat", path}, []string{"records:     5 (sequence 0 .. 4)", "writer:      none"}, nil},
		{"stat-json", "", []string{"ring", "stat", "--json", path}, []string{`"Records": 5`, `"Policy": "overwrite"`}, nil},
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
	if os.Getenv("MMAPKIT_RING_CLI_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				rootCmd.SetArgs(os.Args[i+1:])
			}
		}
		main()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "f.ring")
	w, err := ring.Create(path, &ring.Options{Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRingCLITailFollow$", "--", "ring", "tail", "-f", path)
	cmd.Env = append(os.Environ(), "MMAPKIT_RING_CLI_MAIN=1")
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
