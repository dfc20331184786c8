package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Cancelling the context (Ctrl-C in the CLI) kills a running child.
func TestCancelKillsChild(t *testing.T) {
	path := testDataFile(t, MinDataSize)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := testRunner().Run(ctx, Spec{Method: "test-block", File: path, Block: 8})
		done <- err
	}()
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(path + ".pid"); err == nil && len(b) > 0 {
			pid, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	// Run has waited for the child, so it is gone (and reaped).
	if sys.ProcessAlive(pid) {
		t.Fatalf("child %d still exists after cancel", pid)
	}
}

// waitChild waits for the test-block child to write its pid.
func waitChild(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path + ".pid"); err == nil && len(b) > 0 {
			pid, _ := strconv.Atoi(string(b))
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(time.Millisecond)
	}
}

// gone reports whether a process has exited (it may be a zombie that its new
// parent has not reaped).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(b), ") Z ")
}

// A bench run killed with SIGKILL takes its child with it (the child would
// otherwise read on for minutes), and the next run removes the temporary
// directory the killed run could not.
func TestChildDiesWithKilledParent(t *testing.T) {
	path := testDataFile(t, MinDataSize)
	tmp := t.TempDir()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), parentEnv+"="+path, parentTmpEnv+"="+tmp)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	child := waitChild(t, path)
	defer func() {
		if p, err := os.FindProcess(child); err == nil {
			_ = p.Kill()
		}
	}()
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	// The kernel kills the child as the parent exits; the child blocks for
	// an hour otherwise.
	deadline := time.Now().Add(30 * time.Second)
	for !gone(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs after its parent was killed", child)
		}
		time.Sleep(time.Millisecond)
	}

	// A live run's directory stays; the killed run's goes.
	_, release, err := TempDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dirs, _ := filepath.Glob(filepath.Join(tmp, tempPattern+"*"))
	if len(dirs) != 1 {
		t.Fatalf("after a new run started: %v, want only the new run's directory", dirs)
	}
	if n := CleanStaleTempDirs(tmp); n != 0 {
		t.Fatalf("removed %d directories of live runs", n)
	}
	if dirs2, _ := filepath.Glob(filepath.Join(tmp, tempPattern+"*")); len(dirs2) != 1 || dirs2[0] != dirs[0] {
		t.Fatalf("the live run's directory went: %v", dirs2)
	}
}

// Anyone can make a directory in a shared /tmp that looks like a run's. The
// cleaner opened its owner file with a plain open, which blocks on a FIFO
// for good: every later bench run hung at start. Nothing planted there may
// hang the cleaner or make it remove what a live run owns.
func TestCleanStaleTempDirsPlanted(t *testing.T) {
	tmp := t.TempDir()
	plant := func(name string, owner func(path string) error) string {
		d := filepath.Join(tmp, tempPattern+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := owner(filepath.Join(d, ownerFile)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	_, release, err := TempDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	live, _ := filepath.Glob(filepath.Join(tmp, tempPattern+"*", ownerFile))
	fifo := plant("fifo", func(p string) error { return sys.Mkfifo(p, 0o644) })
	plant("dir", func(p string) error { return os.Mkdir(p, 0o755) })
	link := plant("link", func(p string) error { return os.Symlink(live[0], p) })
	done := make(chan int, 1)
	go func() { done <- CleanStaleTempDirs(tmp) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		// Let the blocked open go, so the test binary can exit.
		if f, err := os.OpenFile(filepath.Join(fifo, ownerFile), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
		t.Fatal("CleanStaleTempDirs hung on a FIFO planted as a run's owner file")
	}
	for _, d := range []string{link, filepath.Dir(live[0])} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: its owner file is (a link to) a live run's: %v", d, err)
		}
	}
}
