package ring

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pyRing runs a Python script with the package in python/ importable, or
// skips the test when there is no Python 3 (unless CI requires it).
func pyRing(t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Python reader is tested on Linux")
	}
	py := ""
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import mmap, struct, zlib").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		if os.Getenv("MMAPKIT_REQUIRE_PYTHON") == "1" || os.Getenv("MMAPKIT_REQUIRE_NUMPY") == "1" {
			t.Fatal("no python3 interpreter found, and the Python interop tests are required")
		}
		t.Skip("no python3 interpreter")
	}
	dir, err := filepath.Abs("../python")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// TestPythonSeekEndBusyWriter: Ring(from_end=True) starts from the writer's
// tail hint and walks a few KiB at most, so it succeeds against a writer
// appending as fast as it can (walking every record from a stale hint, it
// was lapped and raised Lapped from its constructor), and lands at or past
// the end as it was when it started.
func TestPythonSeekEndBusyWriter(t *testing.T) {
	for _, capacity := range []int{64 << 10, 16 << 20} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "busy.ring")
			w, err := Create(path, &Options{Capacity: capacity, MaxRecord: 200})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// Fill a lap first, so a walk from the oldest record is long.
			for i := 0; w.Next() < uint64(capacity/64); i++ {
				if _, err := w.Append(payload(uint64(i), 48)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := w.Next(); ctx.Err() == nil; i++ {
					if _, err := w.Append(payload(i, 48)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			defer wg.Wait()
			defer cancel()
			const script = `
import sys, mmapkit
print("ready", flush=True)
for line in sys.stdin:
    with mmapkit.Ring(sys.argv[1], from_end=True) as r:
        print(r.seq, flush=True)
`
			cmd := pyRing(t, script, path)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer stdin.Close()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("python: %q", lines.Text())
			}
			for i := range 20 {
				before := w.Next()
				fmt.Fprintln(stdin, "seek")
				if !lines.Scan() {
					t.Fatalf("seek %d: python died (see its error above)", i)
				}
				got, err := strconv.ParseUint(strings.TrimSpace(lines.Text()), 10, 64)
				if err != nil {
					t.Fatalf("seek %d: python printed %q", i, lines.Text())
				}
				if got < before {
					t.Fatalf("seek %d: from_end started at %d, before the end (%d) when it was called", i, got, before)
				}
			}
		})
	}
}

// TestPythonReadsBothChecksums: the Python reader reads rings with and
// without checksums, and refuses a damaged record where there is one.
func TestPythonReadsBothChecksums(t *testing.T) {
	const script = `
import sys, mmapkit
with mmapkit.Ring(sys.argv[1]) as r:
    out = [r.ring_id, str(r.crc).lower()]
    while True:
        try:
            rec = r.next()
        except mmapkit.FormatError as e:
            out.append("FormatError@%d" % r.seq)
            break
        if rec is None:
            break
        out.append("%d:%s" % (rec[0], rec[1].hex()))
print(" ".join(out))
`
	for _, sum := range []Checksum{ChecksumCRC32, ChecksumNone} {
		for _, damage := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v-damaged-%v", sum, damage), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "sum.ring")
				w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Checksum: sum})
				if err != nil {
					t.Fatal(err)
				}
				// Closed also when pyRing skips: Windows cannot remove the
				// temporary directory while the ring is open.
				defer w.Close()
				const n = 200 // several laps
				for i := range n {
					if _, err := w.Append(payload(uint64(i), 100)); err != nil {
						t.Fatal(err)
					}
				}
				id := w.ID()
				if damage { // a flipped payload byte in the newest record
					w.data[(w.pos-uint64(frameSize(len(payload(n-1, 100)))))&w.g.mask+frameHdrSize] ^= 1
				}
				w.publishTail()
				out, err := pyRing(t, script, path).Output()
				w.Close()
				if err != nil {
					t.Fatal(err)
				}
				f := strings.Fields(string(out))
				if len(f) < 3 || f[0] != id.String() || f[1] != strconv.FormatBool(sum == ChecksumCRC32) {
					t.Fatalf("python printed %.200q (ring %s, checksum %v)", out, id, sum)
				}
				recs, end := f[2:], n
				if damage && sum == ChecksumCRC32 {
					end = n - 1
					if last := recs[len(recs)-1]; last != fmt.Sprintf("FormatError@%d", n-1) {
						t.Fatalf("the damaged record: python said %q", last)
					}
					recs = recs[:len(recs)-1]
				}
				first := end - len(recs)
				for i, r := range recs {
					seq := first + i
					want := fmt.Sprintf("%d:%x", seq, payload(uint64(seq), 100))
					if damage && sum == ChecksumNone && seq == n-1 {
						continue // no checksum: the damage goes unseen, as documented
					}
					if r != want {
						t.Fatalf("record %d: python read %q, want %q", seq, r, want)
					}
				}
				if first <= 0 || len(recs) < 10 {
					t.Fatalf("python read %d records from %d", len(recs), first)
				}
			})
		}
	}
}
