package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/shm"
)

// shmRun runs a fresh root command with args and returns its output.
func shmRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestShmCLI(t *testing.T) {
	slotName := fmt.Sprintf("mmapkit-cli-test-%d-slot", os.Getpid())
	rawName := fmt.Sprintf("mmapkit-cli-test-%d-raw", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(slotName); _ = shm.Unlink(rawName) })

	r, err := shm.Create(slotName, int64(shm.SlotSize(16)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := shm.NewSlot(r, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store([]byte("latest")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = shm.Create(rawName, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	r.Close()

	tests := []struct {
		args    []string
		want    []string // substrings of the output
		wantErr error
	}{
		{[]string{"shm", "ls"}, []string{"NAME", slotName + "  ", "slot", rawName, "-rw-------"}, nil},
		{[]string{"shm", "cat", slotName}, []string{"latest"}, nil},
		{[]string{"shm", "cat", "--hex", slotName}, []string{"2 " + fmt.Sprintf("%x", "latest")}, nil},
		{[]string{"shm", "cat", rawName}, []string{"hello"}, nil},
		{[]string{"shm", "cat", "--hex", rawName}, []string{"68 65 6c 6c 6f"}, nil},
		{[]string{"shm", "cat", "--raw", slotName}, []string{"MKSL"}, nil},
		{[]string{"shm", "cat", "--offset", "8", slotName}, nil, shm.ErrNotSlot},
		{[]string{"shm", "cat", "--follow", rawName}, nil, shm.ErrNotSlot},
		{[]string{"shm", "cat", "no-such-segment-" + slotName}, nil, shm.ErrNotFound},
		{[]string{"shm", "cat", "../x"}, nil, shm.ErrBadName},
		{[]string{"shm", "rm", slotName, "no-such-segment-" + slotName}, []string{"no such segment"}, shm.ErrNotFound},
		{[]string{"shm", "rm", rawName}, nil, nil},
	}
	for _, tt := range tests {
		out, err := shmRun(t, tt.args...)
		if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("%v: error %v, want %v", tt.args, err, tt.wantErr)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output %q lacks %q", tt.args, out, w)
			}
		}
	}
	for _, n := range []string{slotName, rawName} {
		if _, err := shm.Open(n, 0); !errors.Is(err, shm.ErrNotFound) {
			t.Errorf("%s still exists after rm: %v", n, err)
		}
	}
}

// cat --follow prints every value a writer stores until cancelled.
func TestShmCatFollow(t *testing.T) {
	name := fmt.Sprintf("mmapkit-cli-test-%d-follow", os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	r, err := shm.Create(name, int64(shm.SlotSize(8)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := shm.NewSlot(r, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store([]byte("v1")); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetOut(pw)
	root.SetArgs([]string{"shm", "cat", "--follow", name})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	sc := bufio.NewScanner(pr)
	for i := 1; i <= 5; i++ {
		if !sc.Scan() {
			t.Fatalf("cat stopped: %v", <-done)
		}
		want := fmt.Sprintf("%d %x", 2*i, fmt.Sprintf("v%d", i))
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
