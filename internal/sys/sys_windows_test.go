package sys

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func resident(t *testing.T, b []byte) int {
	t.Helper()
	ps := PageSize()
	vec := make([]byte, (len(b)+ps-1)/ps)
	if err := Mincore(b, vec); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// Mincore answers from the working set: pages of fresh anonymous memory are
// not in it until they are touched, and exactly the touched ones are then.
func TestMincoreWorkingSet(t *testing.T) {
	const pages = 64
	ps := PageSize()
	m, err := Map(NoFile, 0, pages*ps, ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if n := resident(t, m.Data); n != 0 {
		t.Fatalf("fresh anonymous memory: %d of %d pages resident, want 0", n, pages)
	}
	for p := 0; p < pages; p += 4 {
		m.Data[p*ps] = 1
	}
	vec := make([]byte, pages)
	if err := Mincore(m.Data, vec); err != nil {
		t.Fatal(err)
	}
	for p, v := range vec {
		if want := p%4 == 0; (v&1 != 0) != want {
			t.Fatalf("page %d resident %v, want %v (vector %v)", p, v&1 != 0, want, vec)
		}
	}
}

// PopulateRead and PopulateWrite put every page into the working set;
// PopulateWrite leaves the contents alone.
func TestPopulate(t *testing.T) {
	const pages = 32
	ps := PageSize()
	path := filepath.Join(t.TempDir(), "populate.bin")
	data := make([]byte, pages*ps)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, adv := range []Advice{AdvPopulateRead, AdvPopulateWrite} {
		t.Run(adv.String(), func(t *testing.T) {
			m, err := Map(f.Fd(), 0, len(data), ProtRead|ProtWrite, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Unmap()
			before := resident(t, m.Data)
			if err := Advise(m.Data, adv); err != nil {
				t.Fatal(err)
			}
			if n := resident(t, m.Data); n != pages {
				t.Fatalf("after %s %d of %d pages resident (%d before)", adv, n, pages, before)
			}
			if string(m.Data) != string(data) {
				t.Fatalf("%s changed the contents", adv)
			}
		})
	}
}

// A page that cannot be accessed is an error matching EFAULT, not a crash.
func TestPopulateWriteReadOnlyFaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.bin")
	if err := os.WriteFile(path, make([]byte, PageSize()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Map(f.Fd(), 0, PageSize(), ProtRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if err := Advise(m.Data, AdvPopulateWrite); !errors.Is(err, syscall.EFAULT) {
		t.Fatalf("PopulateWrite on a read-only view = %v, want EFAULT", err)
	}
}

// The access hints are accepted and do nothing; WillNeed prefetches; the
// rest are refused with the reason.
func TestAdviseWindows(t *testing.T) {
	m, err := Map(NoFile, 0, 16*PageSize(), ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	for a := AdvNormal; a < advCount; a++ {
		err := Advise(m.Data, a)
		switch a {
		case AdvNormal, AdvSequential, AdvRandom, AdvWillNeed, AdvPopulateRead, AdvPopulateWrite:
			if err != nil {
				t.Errorf("Advise(%s) = %v", a, err)
			}
		default:
			if !errors.Is(err, errors.ErrUnsupported) || adviceWhy[a] == "" {
				t.Errorf("Advise(%s) = %v, want ErrUnsupported with a reason", a, err)
			}
		}
	}
}

// Lock pins more than the default working-set minimum allows by raising the
// quota, and Unlock gives the quota back.
func TestLockBeyondDefaultQuota(t *testing.T) {
	const size = 64 << 20 // the default minimum working set is about 200 KiB
	m, err := Map(NoFile, 0, size, ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if err := Lock(m.Data); err != nil {
		t.Fatal(err)
	}
	lockMu.Lock()
	t.Logf("Lock raised the working-set quota by %d bytes", lockGrown)
	lockMu.Unlock()
	if n := resident(t, m.Data); n != size/PageSize() {
		t.Errorf("after Lock %d of %d pages resident", n, size/PageSize())
	}
	if err := Unlock(m.Data); err != nil {
		t.Fatal(err)
	}
	lockMu.Lock()
	grown := lockGrown
	lockMu.Unlock()
	if grown != 0 {
		t.Errorf("after Unlock the working set is still %d bytes larger", grown)
	}
}

// Shrink keeps the mapping where it is.
func TestShrink(t *testing.T) {
	m, err := Map(NoFile, 0, 1<<20, ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	base := &m.Data[0]
	m.Data[1000] = 9
	if err := m.Shrink(4096); err != nil {
		t.Fatal(err)
	}
	if len(m.Data) != 4096 || &m.Data[0] != base || m.Data[1000] != 9 {
		t.Fatalf("after Shrink: len %d, moved %v, data %d", len(m.Data), &m.Data[0] != base, m.Data[1000])
	}
	if err := m.Shrink(8192); err == nil {
		t.Fatal("Shrink to a larger size succeeded")
	}
}

// Truncating and removing a mapped file are refused, and the errors say so.
func TestMappedFileRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapped.bin")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map(f.Fd(), 0, 1<<16, ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100); !IsUserMapped(err) {
		t.Errorf("truncate a mapped file = %v, want ERROR_USER_MAPPED_FILE", err)
	}
	if err := os.Remove(path); !IsInUse(err) {
		t.Errorf("remove an open, mapped file = %v, want it refused as in use", err)
	}
	f.Close()
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Errorf("remove after unmap and close: %v", err)
	}
}

// OpenFile shares the file as POSIX does: it can be renamed while open, and
// while mapped; a mapped file still cannot be removed. Directories and
// devices are refused; creation and absence are the usual errors.
func TestOpenFileWindows(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	f, err := OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 16); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, true); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive create of an existing file: %v, want ErrExist", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0, true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing file: %v, want ErrNotExist", err)
	}
	m, err := Map(f.Fd(), 0, 1<<16, ProtRead|ProtWrite, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Data[0] = 'x'
	renamed := filepath.Join(dir, "b")
	if err := os.Rename(path, renamed); err != nil {
		t.Errorf("rename of an open, mapped file: %v", err)
	}
	for _, tc := range []struct{ name, kind string }{
		{dir, "a directory"},
		{"NUL", "a character device"},
	} {
		_, err := OpenFile(tc.name, os.O_RDONLY, 0, true)
		var nre *NotRegularError
		if !errors.As(err, &nre) || nre.Kind != tc.kind || !errors.Is(err, ErrNotRegular) {
			t.Errorf("open %s: %v, want it refused as %s", tc.name, err, tc.kind)
		}
	}
	defer m.Unmap()
	t.Run("remove refused while mapped", func(t *testing.T) {
		if UnderWine() {
			t.Skip("Wine 8 lets a file with a mapped view be deleted; Windows refuses (STATUS_CANNOT_DELETE): not checked under Wine")
		}
		if err := os.Remove(renamed); err == nil {
			t.Errorf("remove of a mapped file succeeded")
		}
	})
}

// A path longer than MAX_PATH opens, as it does with package os. (Wine has
// no MAX_PATH limit, so under Wine this shows only that the \\?\ form
// opens the same file; TestLongPath checks the conversion.)
func TestOpenFileLongPath(t *testing.T) {
	dir := t.TempDir()
	for range 4 {
		dir = filepath.Join(dir, strings.Repeat("d", 80))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "file")
	f, err := OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, true)
	if err != nil {
		t.Fatalf("open a %d-character path: %v", len(path), err)
	}
	f.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestLongPath(t *testing.T) {
	long := strings.Repeat("d", 300)
	abs, err := filepath.Abs(long)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{`C:\short\name`, `C:\short\name`},
		{long, `\\?\` + abs},
		{`C:\x\..\` + long, `\\?\C:\` + long},
		{`\\server\share\` + long, `\\?\UNC\server\share\` + long},
		{`\\?\C:\` + long, `\\?\C:\` + long},
	} {
		if got := longPath(tc.in); got != tc.want {
			t.Errorf("longPath(%.40q...) = %.60q..., want %.60q...", tc.in, got, tc.want)
		}
	}
}

// RemoveUnused refuses a file that is open (even one opened with
// FILE_SHARE_DELETE, which os.Remove would only mark for deletion) and
// removes it, name and all, once it is closed.
func TestRemoveUnused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := RemoveUnused(path); !IsInUse(err) {
		t.Errorf("RemoveUnused of an open file = %v, want a sharing violation", err)
	}
	f.Close()
	if err := RemoveUnused(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveUnused: %v, want the name gone", err)
	}
	if err := RemoveUnused(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoveUnused of a missing file = %v, want ErrNotExist", err)
	}
}

// Flock excludes other lockers but, unlike a Windows lock over the data, lets
// every handle read and write the file (flock is advisory on Unix).
func TestFlockIsAdvisory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked")
	if err := os.WriteFile(path, []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	holder, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := Flock(holder.Fd(), true, false); err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := Flock(other.Fd(), false, false); err != ErrWouldBlock {
		t.Errorf("second lock while held: %v, want ErrWouldBlock", err)
	}
	b := make([]byte, 5)
	if _, err := other.ReadAt(b, 0); err != nil || string(b) != "state" {
		t.Errorf("read through another handle while locked: %q, %v", b, err)
	}
	if _, err := other.WriteAt([]byte("STATE"), 0); err != nil {
		t.Errorf("write through another handle while locked: %v", err)
	}
	if err := Funlock(holder.Fd()); err != nil {
		t.Fatal(err)
	}
	if err := Flock(other.Fd(), true, false); err != nil {
		t.Errorf("lock after the holder unlocked: %v", err)
	}
}

// Interrupt stops a child the way ^C stops a program: it sees os.Interrupt.
func TestInterrupt(t *testing.T) {
	if os.Getenv("MMAPKIT_SYS_HELPER") == "interrupt" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, os.Interrupt)
		fmt.Println("ready")
		<-c
		fmt.Println("interrupted")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterrupt$")
	cmd.Env = append(os.Environ(), "MMAPKIT_SYS_HELPER=interrupt")
	Interruptible(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child: %q", sc.Text())
	}
	if err := Interrupt(cmd.Process); err != nil {
		if UnderWine() {
			t.Skipf("Wine 8 does not deliver console control events (GenerateConsoleCtrlEvent: %v)", err)
		}
		t.Fatalf("Interrupt: %v", err)
	}
	if !sc.Scan() || sc.Text() != "interrupted" {
		t.Fatalf("child after Interrupt: %q", sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
