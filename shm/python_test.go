package shm_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// python returns a Python 3 interpreter (the module needs only the standard
// library). It skips the test if there is none, unless CI asks for the
// cross-language tests to be mandatory.
func python(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Python module reads segments from /dev/shm")
	}
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import mmap, struct, zlib").Run() == nil {
			return p
		}
	}
	if os.Getenv("MMAPKIT_REQUIRE_PYTHON") == "1" || os.Getenv("MMAPKIT_REQUIRE_NUMPY") == "1" {
		t.Fatal("no python3 interpreter found, and the Python interop tests are required")
	}
	t.Skip("no python3 interpreter")
	return ""
}

// pyCmd runs a Python script with the Python package in python/ importable.
func pyCmd(t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	dir, err := filepath.Abs("../python")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python(t), append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// A Python process reads (counter, timestamp, counter) values that this
// process stores as fast as it can: every value it loads is whole.
func TestPythonReadsSlot(t *testing.T) {
	const script = `
import struct, sys, mmapkit
s = mmapkit.Slot(sys.argv[1], stuck_timeout=60)
s.wait(0, timeout=60)
last = distinct = torn = 0
for _ in range(int(sys.argv[2])):
    seq, v = s.load()
    a, ts, b = struct.unpack("<QQQ", v)
    if a != b or a < last:
        torn += 1
    if a != last:
        distinct += 1
    last = a
print(torn, distinct, last)
`
	name := segName(t)
	s := newSegmentSlot(t, name, 64)
	var stop atomic.Bool
	var stored atomic.Uint64
	done := make(chan error, 1)
	go func() {
		var v [24]byte
		for i := uint64(1); !stop.Load(); i++ {
			binary.LittleEndian.PutUint64(v[0:], i)
			binary.LittleEndian.PutUint64(v[8:], uint64(time.Now().UnixNano()))
			binary.LittleEndian.PutUint64(v[16:], i)
			if err := s.Store(v[:]); err != nil {
				done <- err
				return
			}
			stored.Store(i)
		}
		done <- nil
	}()
	out, err := pyCmd(t, script, name, "50000").Output()
	stop.Store(true)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var torn, distinct, last uint64
	if _, err := fmt.Sscan(string(out), &torn, &distinct, &last); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	t.Logf("python: 50000 loads, %d torn, %d distinct, last %d; Go stored %d", torn, distinct, last, stored.Load())
	if torn != 0 {
		t.Errorf("python saw %d torn or backward values", torn)
	}
	// A seqlock reader slower than the writer (Python here) succeeds mostly
	// when the writer pauses, so few distinct values: at least the value
	// must have changed during the reads.
	if distinct < 3 || last > stored.Load() {
		t.Errorf("python saw %d distinct values, last %d of %d stored", distinct, last, stored.Load())
	}
}

// The source's example across languages: a Go writer publishes
// struct.pack('Qd', counter, time.time()) and a Python reader follows it
// with wait(), seeing every store.
func TestPythonFollowsSlot(t *testing.T) {
	const script = `
import struct, sys, mmapkit
s = mmapkit.Slot(sys.argv[1], stuck_timeout=60)
seq = 0
for _ in range(int(sys.argv[2])):
    seq = s.wait(seq, timeout=60)
    seq, v = s.load()
    counter, ts = struct.unpack("<Qd", v)
    print(counter, ts, flush=True)
`
	const rounds = 100
	name := segName(t)
	s := newSegmentSlot(t, name, 16)
	cmd := pyCmd(t, script, name, strconv.Itoa(rounds))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(stdout)
	var v [16]byte
	for i := 1; i <= rounds; i++ {
		now := float64(time.Now().UnixNano()) / 1e9
		binary.LittleEndian.PutUint64(v[0:], uint64(i))
		binary.LittleEndian.PutUint64(v[8:], math.Float64bits(now))
		if err := s.Store(v[:]); err != nil {
			t.Fatal(err)
		}
		// the next store waits for Python to report this one
		if !sc.Scan() {
			t.Fatalf("round %d: python stopped", i)
		}
		var counter int
		var ts float64
		if _, err := fmt.Sscan(sc.Text(), &counter, &ts); err != nil || counter != i || ts != now {
			t.Fatalf("round %d: python printed %q, want %d %v", i, sc.Text(), i, now)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v", err)
	}
}

// The Python reader refuses bad slots with FormatError or WriterStuck, and
// never fails any other way, on hand-made and randomly damaged segments.
func TestPythonRejectsGarbage(t *testing.T) {
	const script = `
import sys, mmapkit
for path in sys.argv[1:]:
    try:
        s = mmapkit.Slot(path, stuck_timeout=0.01)
        try:
            seq, v = s.load()
            s.wait(seq, timeout=0.001)
        except TimeoutError as e:
            if isinstance(e, mmapkit.WriterStuck):
                raise
        finally:
            s.close()
        print("ok")
    except mmapkit.FormatError:
        print("FormatError")
    except mmapkit.WriterStuck:
        print("WriterStuck")
    except Exception as e:
        print("OTHER", type(e).__name__, e)
`
	valid := func() []byte {
		r, err := mmap.Anonymous(shm.SlotSize(32), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		s, err := shm.NewSlot(r, 0, 32, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store([]byte("a value")); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), r.Bytes()...)
	}
	patch := func(f func(b []byte)) []byte { b := valid(); f(b); return b }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"valid", valid(), "ok"},
		{"empty", nil, "FormatError"},
		{"short", []byte("MKSL"), "FormatError"},
		{"magic", patch(func(b []byte) { b[1] = 'x' }), "FormatError"},
		{"crc", patch(func(b []byte) { b[13]++ }), "FormatError"},
		{"version", patch(func(b []byte) { b[4] = 9; fixCRC(b) }), "FormatError"},
		{"capacity past end", patch(func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 1<<20); fixCRC(b) }), "FormatError"},
		{"capacity unaligned", patch(func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 12); fixCRC(b) }), "FormatError"},
		{"length past capacity", patch(func(b []byte) { binary.LittleEndian.PutUint32(b[76:], 33) }), "FormatError"},
		{"stuck store", patch(func(b []byte) { b[64] |= 1 }), "WriterStuck"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := valid()
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		if rng.IntN(3) == 0 {
			fixCRC(b)
		}
		if rng.IntN(5) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		cases = append(cases, struct {
			name string
			data []byte
			want string
		}{fmt.Sprintf("random %d", i), b, ""})
	}
	dir := t.TempDir()
	var paths []string
	for i, c := range cases {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := pyCmd(t, script, paths...).Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("python printed %d lines for %d files:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		got := lines[i]
		if strings.HasPrefix(got, "OTHER") || (c.want != "" && got != c.want) {
			t.Errorf("%s: python says %q, want %q", c.name, got, c.want)
		}
	}
}
