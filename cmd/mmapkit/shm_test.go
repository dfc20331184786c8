package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

func TestShmCLI(t *testing.T) {
	slotName := fmt.Sprintf("mmapkit-cli-test-%d-slot", os.Getpid())
	rawName := fmt.Sprintf("mmapkit-cli-test-%d-raw", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(slotName); _ = shm.Unlink(rawName) })

	r, err := shm.Create(slotName, shm.SlotSize(16), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shm.NewSlot(r, 0, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store([]byte("latest")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = shm.Create(rawName, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	r.Close()

	missing := "no-such-segment-" + slotName
	perm := "-rw-------"
	if runtime.GOOS == "windows" {
		perm = "-rw-rw-rw-" // no permission bits: the directory's ACL keeps segments private
	}
	tests := []struct {
		args   []string
		want   []string // substrings of stdout
		code   int
		stderr string // a substring of stderr, which must hold one line per error
	}{
		{[]string{"shm", "ls"}, []string{"NAME", slotName + "  ", "slot", rawName, perm}, 0, ""},
		{[]string{"shm", "cat", slotName}, []string{"latest\n"}, 0, ""},
		{[]string{"shm", "cat", "--format", "hex", "--seq", slotName}, []string{"2\t" + fmt.Sprintf("%x", "latest") + "\n"}, 0, ""},
		{[]string{"shm", "cat", "--hex", slotName}, []string{fmt.Sprintf("%x", "latest") + "\n"}, 0, "deprecated"},
		{[]string{"shm", "cat", "--format", "json", slotName}, []string{`{"seq":2,"len":6,"text":"latest"}`}, 0, ""},
		{[]string{"shm", "cat", rawName}, []string{"hello\n"}, 0, ""},
		{[]string{"shm", "cat", "--format", "raw", rawName}, []string{"hello"}, 0, ""},
		{[]string{"shm", "cat", "--format", "hex", rawName}, []string{"68 65 6c 6c 6f"}, 0, ""},
		{[]string{"shm", "cat", "--whole", "--format", "raw", slotName}, []string{"MKSL"}, 0, ""},
		{[]string{"shm", "cat", "--raw", slotName}, []string{"MKSL"}, 0, "deprecated"},
		{[]string{"shm", "cat", "--whole", "--follow", slotName}, nil, 2, "cannot be used with --follow"},
		{[]string{"shm", "cat", "--format", "yaml", slotName}, nil, 2, `unknown format "yaml"`},
		{[]string{"shm", "cat", "--offset", "8", slotName}, nil, 1, shm.ErrNotSlot.Error()},
		{[]string{"shm", "cat", "--follow", rawName}, nil, 1, shm.ErrNotSlot.Error()},
		{[]string{"shm", "cat", missing}, nil, 1, notExistText(t)},
		{[]string{"shm", "cat", "../x"}, nil, 1, "name"},
		{[]string{"shm", "rm", missing}, nil, 1, notExistText(t)},
		{[]string{"shm", "rm", slotName, missing}, nil, 1, "1 of 2 segments failed"},
		{[]string{"shm", "rm", rawName}, nil, 0, ""},
	}
	for _, tt := range tests {
		r := cli(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%v: want status %d and %q on stderr, got %v", tt.args, tt.code, tt.stderr, r)
		}
		if strings.Contains(tt.stderr, "deprecated") {
			continue
		}
		// Each error is printed once: one line per failed segment, plus
		// the summary when there were several.
		lines := strings.Count(r.stderr, "\n")
		if want := min(tt.code, 1) * (1 + strings.Count(strings.Join(tt.args, " "), missing+" ")); strings.Contains(r.stderr, "of 2") && lines != 2 || !strings.Contains(r.stderr, "of 2") && lines != want {
			t.Errorf("%v: %d lines on stderr:\n%s", tt.args, lines, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output %q lacks %q", tt.args, r.stdout, w)
			}
		}
	}
	for _, n := range []string{slotName, rawName} {
		if _, err := shm.Open(n, 0, nil); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after rm: %v", n, err)
		}
	}
}

// cat --follow prints every value a writer stores until cancelled.
func TestShmCatFollow(t *testing.T) {
	name := fmt.Sprintf("mmapkit-cli-test-%d-follow", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	r, err := shm.Create(name, shm.SlotSize(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := shm.NewSlot(r, 0, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store([]byte("v1")); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetOut(pw)
	root.SetArgs([]string{"shm", "cat", "--follow", "--seq", name})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	sc := bufio.NewScanner(pr)
	for i := 1; i <= 5; i++ {
		if !sc.Scan() {
			t.Fatalf("cat stopped: %v", <-done)
		}
		want := fmt.Sprintf("%d\tv%d", 2*i, i)
		if sc.Text() != want {
			t.Fatalf("line %d: %q, want %q", i, sc.Text(), want)
		}
		// the next value only after cat printed this one, so none is skipped
		if err := s.Store([]byte(fmt.Sprintf("v%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := <-done; err != nil {
		t.Fatalf("cat --follow after cancel: %v", err)
	}
}

// shm cat must not hang on names a hostile process planted or on a slot
// whose writer never completes a store: before, a FIFO blocked the open for
// ever, and a writer keeping the sequence odd (bumping it by 2) kept Load
// spinning for ever.
func TestShmCatHostile(t *testing.T) {
	fifo := fmt.Sprintf("mmapkit-cli-test-%d-fifo", os.Getpid())
	slot := fmt.Sprintf("mmapkit-cli-test-%d-hostile", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(fifo); _ = shm.Unlink(slot) })
	if err := sys.Mkfifo(filepath.Join(shm.Dir(), fifo), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := shm.Create(slot, shm.SlotSize(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := shm.NewSlot(r, 0, 8, nil); err != nil {
		t.Fatal(err)
	}
	seq := (*uint64)(unsafe.Pointer(&r.Bytes()[64])) // FORMAT.md: the sequence word
	atomic.AddUint64(seq, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				atomic.AddUint64(seq, 2)
				runtime.Gosched()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for _, tt := range []struct{ name, saying string }{{fifo, "is a FIFO"}, {slot, "stuck"}} {
		res := make(chan cliResult, 1)
		go func() { res <- cli(t, "shm", "cat", tt.name) }()
		select {
		case r := <-res:
			if r.code != 1 || !strings.Contains(r.stderr, tt.saying) {
				t.Errorf("shm cat %s: want status 1 and %q, got %v", tt.name, tt.saying, r)
			}
		case <-time.After(time.Minute):
			t.Fatalf("shm cat %s still running after a minute: it hangs", tt.name)
		}
	}
}

// shmTestSegment makes a named segment holding data (removed at the end of
// the test).
func shmTestSegment(t *testing.T, name string, data []byte) {
	t.Helper()
	r, err := shm.Create(name, len(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Cleanup(func() { _ = shm.Unlink(name) })
	if _, err := r.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
}

// shmTestSlot makes a named segment holding a slot with value.
func shmTestSlot(t *testing.T, name string, capacity int, value []byte) {
	t.Helper()
	r, err := shm.Create(name, shm.SlotSize(capacity), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Cleanup(func() { _ = shm.Unlink(name) })
	s, err := shm.NewSlot(r, 0, capacity, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store(value); err != nil {
		t.Fatal(err)
	}
}

var shmTimeRE = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?`)

// A session of the shm commands against a golden file.
func TestShmGolden(t *testing.T) {
	// Unique (other test runs share the directory) and of a fixed length,
	// so that normalizing it keeps the columns aligned.
	prefix := fmt.Sprintf("mmapkit-golden-%010d-", os.Getpid())
	shmTestSlot(t, prefix+"slot", 32, []byte("price\t42.5\n"))
	shmTestSegment(t, prefix+"raw", []byte("hello, \x00\x01 world"))
	var b strings.Builder
	for _, args := range [][]string{
		{"shm", "ls", prefix + "*"},
		{"shm", "ls", "--json", prefix + "*"},
		{"shm", "ls", "no-such-prefix-*"},
		{"shm", "ls", "--json", "no-such-prefix-*"},
		{"shm", "ls", "["},
		{"shm", "cat", prefix + "slot"},
		{"shm", "cat", "--seq", "--format", "hex", prefix + "slot"},
		{"shm", "cat", "--json", prefix + "slot"},
		{"shm", "cat", prefix + "raw"},
		{"shm", "cat", "--format", "hex", prefix + "raw"},
		{"shm", "cat", "--format", "json", prefix + "raw"},
		{"shm", "cat", "--follow", prefix + "raw"},
		{"shm", "cat", prefix + "missing"},
		{"shm", "rm", prefix + "missing"},
		{"shm", "rm", prefix + "raw", prefix + "missing"},
		{"shm", "ls", prefix + "*"},
	} {
		r := cli(t, args...)
		if r.code == 0 && slices.Contains(args, "--json") {
			checkJSON(t, r.stdout)
		}
		fmt.Fprintf(&b, "$ mmapkit %s\n%s", strings.Join(args, " "), r.stdout)
		if r.stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", r.stderr)
		}
		fmt.Fprintf(&b, "[exit %d]\n", r.code)
	}
	out := shmTimeRE.ReplaceAllString(normalize(b.String(), prefix, "mmapkit-golden-PPPPPPPPPP-", shm.Dir(), "$SHM"), "YYYY-MM-DD hh:mm:ss")
	if runtime.GOOS == "windows" {
		// Windows files have no permission bits (Go reports a writable file
		// as 0666); segments are private through their directory there.
		out = strings.ReplaceAll(out, "-rw-rw-rw-", "-rw-------")
	}
	golden(t, "shm-session", out)
}

// cat of a segment holding a ring points to ring tail.
func TestShmCatRingHint(t *testing.T) {
	name := fmt.Sprintf("mmapkit-cli-test-%d-ring", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	w, err := ring.Create(filepath.Join(shm.Dir(), name), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := cli(t, "shm", "cat", "--format", "raw", name)
	if r.code != 0 || !strings.Contains(r.stderr, "holds a ring; mmapkit ring tail "+filepath.Join(shm.Dir(), name)) {
		t.Fatalf("%v", r.stderr)
	}
}

// notExistText is what this OS says about a missing file ("no such file or
// directory" on Unix, "The system cannot find the file specified." on
// Windows).
func notExistText(t *testing.T) string {
	t.Helper()
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("open of a missing file: %v", err)
	}
	return pe.Err.Error()
}
