package mmap_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// lockVmLck returns the bytes this process has locked, from /proc/self/status.
func lockVmLck(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmLck:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmLck in /proc/self/status")
	return 0
}

// Lock within RLIMIT_MEMLOCK pins every page (the kernel's VmLck grows by the
// Region's size and all pages become resident); Unlock gives them back.
func TestLockUnlockWithinLimit(t *testing.T) {
	const size = 512 << 10
	limit, err := sys.MemlockLimit()
	if err != nil {
		t.Fatal(err)
	}
	if limit >= 0 && limit < 2*size && !sys.HasCapIPCLock() {
		t.Skipf("RLIMIT_MEMLOCK is %d bytes, too small for a %d-byte test", limit, size)
	}
	r := pagingOpen(t, pagingFile(t, size), mmap.ReadOnly)
	pagingEvictAll(t, r)
	before := lockVmLck(t)
	if err := r.Lock(); err != nil {
		t.Fatal(err)
	}
	if got := lockVmLck(t) - before; got != size {
		t.Errorf("Lock: VmLck grew by %d bytes, want %d", got, size)
	}
	if s, err := r.Resident(); err != nil || s.Resident != s.Pages {
		t.Errorf("after Lock %d of %d pages resident (%v); mlock must read them all in", s.Resident, s.Pages, err)
	}
	if err := r.Unlock(); err != nil {
		t.Fatal(err)
	}
	if got := lockVmLck(t); got != before {
		t.Errorf("Unlock: VmLck %d, want %d", got, before)
	}
}

type lockHelperResult struct {
	HasCap       bool
	SmallErr     string
	BigErr       string
	BigIsMemlock bool
	VmLckSmall   int64
}

// TestHelperMemlock runs in a child process (see TestLockLimit): it lowers
// RLIMIT_MEMLOCK for the whole process, optionally drops CAP_IPC_LOCK from its
// own thread (capabilities are per thread, so the goroutine is pinned to it),
// then locks a Region within the limit and one beyond it.
func TestHelperMemlock(t *testing.T) {
	limitS := os.Getenv("MMAPKIT_HELPER_MEMLOCK")
	if limitS == "" {
		t.Skip("helper process for TestLockLimit")
	}
	limit, _ := strconv.ParseUint(limitS, 10, 64)
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	if err := sys.SetMemlockLimit(limit); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MMAPKIT_HELPER_DROPCAP") == "1" {
		if err := sys.DropCapIPCLock(); err != nil {
			t.Fatal(err)
		}
	}
	res := lockHelperResult{HasCap: sys.HasCapIPCLock()}
	if limit > 0 {
		small, err := mmap.Anonymous(int(limit/2), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := small.Lock(); err != nil {
			res.SmallErr = err.Error()
		}
		res.VmLckSmall = lockVmLck(t)
		if err := small.Unlock(); err != nil {
			t.Fatal(err)
		}
		small.Close()
	}
	big, err := mmap.Anonymous(int(limit)+4<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Lock(); err != nil {
		res.BigErr = err.Error()
		res.BigIsMemlock = errors.Is(err, mmap.ErrMemlock)
	}
	big.Close()
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
}

// Locking more than RLIMIT_MEMLOCK fails with ErrMemlock and a message that
// names the limit and the size, unless the process has CAP_IPC_LOCK: root
// normally has it, and then Linux ignores the limit, which the last case
// checks rather than assumes. The limit is lowered in a child process so this
// process is not affected.
func TestLockLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		limit   uint64
		dropCap bool
	}{
		{"1MiB without CAP_IPC_LOCK", mib, true},
		{"zero without CAP_IPC_LOCK", 0, true},
		{"1MiB as is", mib, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMemlock$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("MMAPKIT_HELPER_MEMLOCK=%d", tc.limit))
			if tc.dropCap {
				cmd.Env = append(cmd.Env, "MMAPKIT_HELPER_DROPCAP=1")
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			_, js, ok := strings.Cut(string(out), "RESULT ")
			if !ok {
				t.Fatalf("helper printed no result:\n%s", out)
			}
			js, _, _ = strings.Cut(js, "\n")
			var res lockHelperResult
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatal(err)
			}
			t.Logf("helper: %+v", res)
			if tc.limit > 0 {
				if res.SmallErr != "" {
					t.Errorf("Lock within the limit: %s", res.SmallErr)
				}
				if res.VmLckSmall != int64(tc.limit/2) {
					t.Errorf("Lock within the limit: VmLck %d, want %d", res.VmLckSmall, tc.limit/2)
				}
			}
			if res.HasCap {
				if tc.dropCap {
					t.Fatal("helper still has CAP_IPC_LOCK after dropping it")
				}
				if res.BigErr != "" {
					t.Errorf("with CAP_IPC_LOCK, Lock beyond the limit failed: %s", res.BigErr)
				}
				return
			}
			if !res.BigIsMemlock {
				t.Fatalf("Lock beyond the limit: %q, want an error matching ErrMemlock", res.BigErr)
			}
			for _, want := range []string{strconv.FormatUint(tc.limit, 10) + " bytes", strconv.Itoa(int(tc.limit)+4*mib) + " bytes asked", "RLIMIT_MEMLOCK"} {
				if !strings.Contains(res.BigErr, want) {
					t.Errorf("error %q does not mention %q", res.BigErr, want)
				}
			}
		})
	}
}
