package mmap_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// TestHelperFileLock runs in a child process. With MMAPKIT_HELPER_FLOCK_MODE
// "hold-ex" or "hold-sh" it takes the lock, prints LOCKED, and keeps it until
// a line (or EOF) arrives on stdin; with "try-ex" or "try-sh" it tries once
// and prints TRY ok, TRY locked or TRY error.
func TestHelperFileLock(t *testing.T) {
	mode := os.Getenv("MMAPKIT_HELPER_FLOCK_MODE")
	if mode == "" {
		t.Skip("helper process for the file-lock tests")
	}
	f, err := os.Open(os.Getenv("MMAPKIT_HELPER_FLOCK_PATH"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exclusive := strings.HasSuffix(mode, "-ex")
	switch {
	case strings.HasPrefix(mode, "hold"):
		l, err := mmap.LockFile(context.Background(), f, exclusive)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("LOCKED")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
		fmt.Println("RELEASED")
	case strings.HasPrefix(mode, "try"):
		l, err := mmap.TryLockFile(f, exclusive)
		switch {
		case err == nil:
			fmt.Println("TRY ok")
			l.Unlock()
		case errors.Is(err, mmap.ErrLocked):
			fmt.Println("TRY locked")
		default:
			fmt.Println("TRY error", err)
		}
	}
}

type flockChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func flockStart(t *testing.T, path, mode string) *flockChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFileLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MMAPKIT_HELPER_FLOCK_MODE="+mode, "MMAPKIT_HELPER_FLOCK_PATH="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &flockChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

// line returns the child's next output line that is one of its own messages.
func (c *flockChild) line(t *testing.T) string {
	t.Helper()
	for {
		s, err := c.out.ReadString('\n')
		if err != nil {
			t.Fatalf("child output ended: %v (last %q)", err, s)
		}
		s = strings.TrimSpace(s)
		if s == "LOCKED" || s == "RELEASED" || strings.HasPrefix(s, "TRY ") {
			return s
		}
	}
}

// flockHold starts a child that holds the lock, and returns once it does.
func flockHold(t *testing.T, path string, exclusive bool) *flockChild {
	t.Helper()
	mode := "hold-sh"
	if exclusive {
		mode = "hold-ex"
	}
	c := flockStart(t, path, mode)
	if s := c.line(t); s != "LOCKED" {
		t.Fatalf("holder said %q", s)
	}
	return c
}

func (c *flockChild) release(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "release\n"); err != nil {
		t.Fatal(err)
	}
	if s := c.line(t); s != "RELEASED" {
		t.Fatalf("holder said %q", s)
	}
}

func flockPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func flockName(ex bool) string {
	if ex {
		return "exclusive"
	}
	return "shared"
}

// Exclusive excludes, shared shares, in both directions between two real
// processes. The try side returns at once: the holder keeps its lock until
// told to let go, which happens only after the try has returned, so a try that
// waited would hang the test rather than pass.
func TestFileLockBetweenProcesses(t *testing.T) {
	for _, tc := range []struct {
		holdEx, tryEx bool
		wantLocked    bool
	}{
		{true, true, true},
		{true, false, true},
		{false, true, true},
		{false, false, false},
	} {
		for _, parentHolds := range []bool{false, true} {
			name := fmt.Sprintf("%s held by child, %s tried by parent", flockName(tc.holdEx), flockName(tc.tryEx))
			if parentHolds {
				name = fmt.Sprintf("%s held by parent, %s tried by child", flockName(tc.holdEx), flockName(tc.tryEx))
			}
			t.Run(name, func(t *testing.T) {
				path := flockPath(t)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if parentHolds {
					l, err := mmap.LockFile(context.Background(), f, tc.holdEx)
					if err != nil {
						t.Fatal(err)
					}
					defer l.Unlock()
					mode := "try-sh"
					if tc.tryEx {
						mode = "try-ex"
					}
					want := "TRY ok"
					if tc.wantLocked {
						want = "TRY locked"
					}
					if got := flockStart(t, path, mode).line(t); got != want {
						t.Fatalf("child: %q, want %q", got, want)
					}
					return
				}
				holder := flockHold(t, path, tc.holdEx)
				l, err := mmap.TryLockFile(f, tc.tryEx)
				if tc.wantLocked {
					if !errors.Is(err, mmap.ErrLocked) {
						t.Fatalf("TryLockFile = %v, want ErrLocked", err)
					}
				} else {
					if err != nil {
						t.Fatalf("TryLockFile = %v, want success", err)
					}
					l.Unlock()
				}
				holder.release(t)
				// Released: now the same try succeeds.
				l, err = mmap.TryLockFile(f, tc.tryEx)
				if err != nil {
					t.Fatalf("TryLockFile after release = %v", err)
				}
				l.Unlock()
			})
		}
	}
}

// A waiting LockFile gives up with the context's error, and does not take
// the lock on its way out.
func TestFileLockWaitHonoursContext(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	holder := flockHold(t, path, true)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		l, err := mmap.LockFile(ctx, f, false)
		if err == nil {
			l.Unlock()
		}
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("LockFile after cancel = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := mmap.LockFile(ctx, f, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFile past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if _, err := mmap.TryLockFile(f, false); !errors.Is(err, mmap.ErrLocked) {
		t.Fatalf("holder lost its lock: TryLockFile = %v", err)
	}
	holder.release(t)
}

// A waiting LockFile gets the lock once the other process lets go.
func TestFileLockWaitAcquiresOnRelease(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	holder := flockHold(t, path, true)
	done := make(chan error, 1)
	var l *mmap.FileLock
	go func() {
		var err error
		l, err = mmap.LockFile(context.Background(), f, true)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("LockFile returned (%v) while another process held the lock", err)
	default:
	}
	holder.release(t)
	if err := <-done; err != nil {
		t.Fatalf("LockFile after release = %v", err)
	}
	defer l.Unlock()
	// And now we hold it: a new process is kept out.
	if got := flockStart(t, path, "try-sh").line(t); got != "TRY locked" {
		t.Fatalf("child: %q, want TRY locked", got)
	}
}

// The kernel drops the lock of a process killed with SIGKILL.
func TestFileLockReleasedWhenHolderKilled(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	holder := flockHold(t, path, true)
	if _, err := mmap.TryLockFile(f, true); !errors.Is(err, mmap.ErrLocked) {
		t.Fatalf("TryLockFile while held = %v, want ErrLocked", err)
	}
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.cmd.Wait()
	l, err := mmap.TryLockFile(f, true)
	if err != nil {
		t.Fatalf("TryLockFile after the holder was killed = %v", err)
	}
	l.Unlock()
}

// Two FileLocks in one process exclude each other like two processes, and
// Unlock twice is harmless.
func TestFileLockSameProcess(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := mmap.TryLockFile(f, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mmap.TryLockFile(f, false); !errors.Is(err, mmap.ErrLocked) {
		t.Fatalf("second lock in the same process = %v, want ErrLocked", err)
	}
	f.Close() // closing the caller's file does not release the lock
	if got := flockStart(t, path, "try-sh").line(t); got != "TRY locked" {
		t.Fatalf("child after closing f: %q, want TRY locked", got)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatalf("second Unlock = %v", err)
	}
	if got := flockStart(t, path, "try-ex").line(t); got != "TRY ok" {
		t.Fatalf("child after Unlock: %q, want TRY ok", got)
	}
	if _, err := mmap.TryLockFile(nil, true); err == nil {
		t.Fatal("TryLockFile(nil) succeeded")
	}
}

// Locking by a name that now points at another file is refused: the lock
// would not exclude anyone holding the original.
func TestFileLockReplacedFile(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = os.Rename(tmp, path)
	if runtime.GOOS == "windows" {
		// Windows refuses to replace a file that is open, so the name
		// keeps pointing at the file and the lock works.
		if !sys.IsInUse(err) && !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("rename over an open file = %v, want it refused", err)
		}
		l, err := mmap.TryLockFile(f, true)
		if err != nil {
			t.Fatalf("TryLockFile after the refused rename = %v", err)
		}
		l.Unlock()
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mmap.TryLockFile(f, true); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("TryLockFile on a replaced file = %v", err)
	}
	if _, err := mmap.LockFile(context.Background(), f, true); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LockFile on a replaced file = %v", err)
	}
}

// A lock held by another process names that process and what to do; one
// held by this process says so.
func TestFileLockErrorNamesHolder(t *testing.T) {
	path := flockPath(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	holder := flockHold(t, path, true)
	_, err = mmap.TryLockFile(f, true)
	pid := strconv.Itoa(holder.cmd.Process.Pid)
	if !errors.Is(err, mmap.ErrLocked) {
		t.Fatalf("TryLockFile: %v, want ErrLocked", err)
	}
	if runtime.GOOS == "linux" && (!strings.Contains(err.Error(), "process "+pid) || !strings.Contains(err.Error(), "LockFile")) {
		t.Errorf("%q does not name the holder (pid %s) and what to do", err, pid)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path || strings.Count(err.Error(), path) != 1 {
		t.Errorf("%v: want a *fs.PathError naming %s once", err, path)
	}
	holder.release(t)

	l, err := mmap.TryLockFile(f, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = mmap.TryLockFile(f, false)
	if !errors.Is(err, mmap.ErrLocked) {
		t.Fatalf("second lock in the same process: %v, want ErrLocked", err)
	}
	if runtime.GOOS == "linux" && !strings.Contains(err.Error(), "this process") {
		t.Errorf("%q does not say the lock is held by this process", err)
	}
}
