package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/units"
)

const childEnv = "MMAPKIT_BENCH_TEST_CHILD"

// A test binary started with parentEnv set to a data file acts as a bench
// run: it makes its temporary directory in parentTmpEnv and runs a child
// that blocks (see TestChildDiesWithKilledParent).
const (
	parentEnv    = "MMAPKIT_BENCH_TEST_PARENT"
	parentTmpEnv = "MMAPKIT_BENCH_TEST_PARENT_TMP"
)

func blockingParent(file, tmp string) int {
	_, release, err := TempDir(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer release()
	if _, err := testRunner().Run(context.Background(), Spec{Method: "test-block", File: file, Block: 8}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testKind keeps the test-only methods out of every table.
const testKind Kind = 99

// TestMain turns the test binary into a benchmark child when the runner
// re-executes it, so the tests exercise real child processes.
func TestMain(m *testing.M) {
	register("test-heap200", testKind, "pread, holding 200 MiB of touched heap", methodHeap200)
	register("test-block", testKind, "writes its pid to the file, then blocks", methodBlock)
	if os.Getenv(childEnv) == "1" {
		os.Exit(ChildMain(os.Stdin, os.Stdout))
	}
	if file := os.Getenv(parentEnv); file != "" {
		os.Exit(blockingParent(file, os.Getenv(parentTmpEnv)))
	}
	os.Exit(m.Run())
}

var heapSink []byte

func methodHeap200(s Spec, offs []int64) (*work, error) {
	w, err := methodPread(s, offs)
	if err != nil {
		return nil, err
	}
	access := w.access
	w.access = func() error {
		heapSink = make([]byte, 200<<20)
		for i := 0; i < len(heapSink); i += 4096 { // every page becomes resident
			heapSink[i] = byte(i>>12) | 1
		}
		return access()
	}
	return w, nil
}

func methodBlock(s Spec, _ []int64) (*work, error) {
	return &work{
		setup: func() error {
			return os.WriteFile(s.File+".pid", []byte(strconv.Itoa(os.Getpid())), 0o644)
		},
		access: func() error { time.Sleep(time.Hour); return nil },
	}, nil
}

func testRunner() *Runner {
	return &Runner{Exe: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{childEnv + "=1"}}
}

// testDataFile creates a small data file and returns its path.
func testDataFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.bin")
	if err := CreateDataFile(context.Background(), path, DataHeader{Size: size, Seed: 7}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// expected computes the checksums of reads straight from the file's bytes,
// independently of every method.
func expected(t *testing.T, path string, offs []int64, block int64) Checksums {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Checksums
	for i, off := range offs {
		b := data[off : off+block]
		var x uint64
		for k := 0; k < len(b); k += 8 {
			x ^= uint64(b[k]) | uint64(b[k+1])<<8 | uint64(b[k+2])<<16 | uint64(b[k+3])<<24 |
				uint64(b[k+4])<<32 | uint64(b[k+5])<<40 | uint64(b[k+6])<<48 | uint64(b[k+7])<<56
		}
		c.Full += x * uint64(2*i+1)
		k := (i % len(b[:len(b)/8])) * 8
		c.Spot += (uint64(b[k]) | uint64(b[k+1])<<8 | uint64(b[k+2])<<16 | uint64(b[k+3])<<24 |
			uint64(b[k+4])<<32 | uint64(b[k+5])<<40 | uint64(b[k+6])<<48 | uint64(b[k+7])<<56) * uint64(2*i+1)
	}
	return c
}

func TestEveryMethodReadsTheSameBytes(t *testing.T) {
	const size, block, reads = 4 << 20, 4096, 1000
	path := testDataFile(t, size)
	want := expected(t, path, Offsets(size, block, reads, 7), block)
	states := []string{StateCold, StateWarmSeq, StateWarmRandom}
	names := MethodNames(Random)
	if py, _ := FindPython(); py != "" {
		script, err := WritePythonScript(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, MethodNames(Python)...)
		defer func(p, s string) { pythonInterp, pythonScript = p, s }(pythonInterp, pythonScript)
		pythonInterp, pythonScript = py, script
	}
	rep, err := Run(context.Background(), Config{
		File: path, Block: block, Reads: reads, Seed: 7, Methods: names, States: states,
		Python: pythonInterp, Script: pythonScript, TempDir: t.TempDir(), Runner: testRunner(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.States) != len(states) {
		t.Fatalf("%d states in the report, want %d", len(rep.States), len(states))
	}
	for _, sr := range rep.States {
		if len(sr.Results) != len(names) {
			t.Fatalf("%s: %d results, want %d", sr.State, len(sr.Results), len(names))
		}
		for _, r := range sr.Results {
			if r.Error != "" || r.Skipped != "" {
				t.Errorf("%s/%s: error %q skipped %q", sr.State, r.Method, r.Error, r.Skipped)
				continue
			}
			if r.Sums.Spot != want.Spot || (r.Lang == "go" && r.Sums.Full != want.Full) {
				t.Errorf("%s/%s: checksums %+v, want %+v", sr.State, r.Method, r.Sums, want)
			}
			if !r.ChecksumOK || r.Reads != reads {
				t.Errorf("%s/%s: checksum ok %v, reads %d", sr.State, r.Method, r.ChecksumOK, r.Reads)
			}
		}
		if sr.Recommendation == "" || strings.HasPrefix(sr.Recommendation, "no method") {
			t.Errorf("%s: recommendation %q", sr.State, sr.Recommendation)
		}
	}
}

var pythonInterp, pythonScript string

func TestSequentialMethodsAgree(t *testing.T) {
	// Not a multiple of the chunk or of 8: the last chunk is short.
	const size, chunk = 3<<20 + 12345, 1 << 20
	path := testDataFile(t, size)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want Checksums
	for j := 0; j*chunk < size; j++ {
		want.add(j, data[j*chunk:min((j+1)*chunk, size)])
	}
	rep, err := Run(context.Background(), Config{
		File: path, Block: chunk, Methods: MethodNames(Sequential), States: []string{StateWarmSeq, StateCold},
		TempDir: t.TempDir(), Runner: testRunner(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range rep.States {
		for _, r := range sr.Results {
			if r.Error != "" || r.Sums != want || r.Bytes != size {
				t.Errorf("%s/%s: error %q sums %+v bytes %d, want %+v %d", sr.State, r.Method, r.Error, r.Sums, r.Bytes, want, size)
			}
		}
	}
}

// The memory and fault figures are the child's: a method that holds 200 MiB
// of heap shows about 200 MiB more RssAnon than pread, and the faults to
// touch it.
func TestChildFiguresAreTheChilds(t *testing.T) {
	if _, err := ReadMem(0); err != nil {
		t.Skipf("no /proc status here: %v", err)
	}
	const size, block = 1 << 20, 4096
	path := testDataFile(t, size)
	offPath := filepath.Join(t.TempDir(), "offs")
	if err := WriteOffsets(offPath, Offsets(size, block, 500, 7)); err != nil {
		t.Fatal(err)
	}
	run := func(method string) Result {
		r, err := testRunner().Run(context.Background(), Spec{Method: method, File: path, Offsets: offPath, Block: block})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return r
	}
	before, _ := ReadMem(0)
	pread, heap := run("pread"), run("test-heap200")
	after, _ := ReadMem(0)
	diff := heap.Peak.RssAnon - pread.Peak.RssAnon
	if diff < 190<<20 || diff > raceMemFactor*200<<20+60<<20 {
		t.Errorf("RssAnon peaks: heap200 %s, pread %s: difference %s, want about 200 MiB", units.FormatBytes(heap.Peak.RssAnon), units.FormatBytes(pread.Peak.RssAnon), units.FormatBytes(diff))
	}
	if pread.Peak.RssAnon > 64<<20 {
		t.Errorf("pread child RssAnon peak %s: not the child's own figure", units.FormatBytes(pread.Peak.RssAnon))
	}
	if got := heap.Faults.Minor - pread.Faults.Minor; got < 100 {
		t.Errorf("heap200 took %d more minor faults than pread, want at least 100 (200 MiB of new memory)", got)
	}
	if after.RssAnon-before.RssAnon > 100<<20 {
		t.Errorf("the parent's RssAnon grew by %s: the method ran in the parent?", units.FormatBytes(after.RssAnon-before.RssAnon))
	}
	if heap.Sums != pread.Sums {
		t.Errorf("checksums differ: %+v vs %+v", heap.Sums, pread.Sums)
	}
}

func TestCreateDataFileCancelRemovesPartial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.bin")
	ctx, cancel := context.WithCancel(context.Background())
	err := CreateDataFile(ctx, path, DataHeader{Size: 256 << 20, Seed: 1}, func(n int64) {
		if n >= 16<<20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateDataFile after cancel: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestDataFileReuse(t *testing.T) {
	path := testDataFile(t, MinDataSize)
	h := DataHeader{Size: MinDataSize, Seed: 7}
	tests := []struct {
		name   string
		h      DataHeader
		mutate func(t *testing.T)
		want   bool
	}{
		{"same size and seed", h, nil, true},
		{"other seed", DataHeader{Size: MinDataSize, Seed: 8}, nil, false},
		{"other size", DataHeader{Size: 2 * MinDataSize, Seed: 7}, nil, false},
		{"content changed", h, func(t *testing.T) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 1024), MinDataSize/2); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"truncated", h, func(t *testing.T) {
			if err := os.Truncate(path, MinDataSize-4096); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mutate != nil {
				tc.mutate(t)
			}
			ok, err := CheckDataFile(path, tc.h)
			if err != nil || ok != tc.want {
				t.Fatalf("CheckDataFile = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	if _, err := ReadHeader(filepath.Join(t.TempDir(), "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadHeader of a missing file: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other, []byte("not a data file, just some text of some length............."), 0o644)
	if _, err := ReadHeader(other); !errors.Is(err, ErrNotDataFile) {
		t.Fatalf("ReadHeader of another file: %v, want ErrNotDataFile", err)
	}
}

func TestDataFileContentsNonZero(t *testing.T) {
	path := testDataFile(t, 1<<20)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < len(data); p += 4096 {
		zero := true
		for _, b := range data[p : p+4096] {
			if b != 0 {
				zero = false
				break
			}
		}
		if zero {
			t.Fatalf("page at %d is all zeros", p)
		}
	}
}

func TestBadSpaceAndSizes(t *testing.T) {
	dir := t.TempDir()
	if err := CheckSpace(dir, 1<<62); !errors.Is(err, ErrNoSpace) {
		t.Errorf("CheckSpace(2^62 bytes) = %v, want ErrNoSpace", err)
	}
	if err := CreateDataFile(context.Background(), filepath.Join(dir, "x"), DataHeader{Size: 1 << 62}, nil); !errors.Is(err, ErrNoSpace) {
		t.Errorf("CreateDataFile(2^62 bytes) = %v, want ErrNoSpace", err)
	}
	if err := CreateDataFile(context.Background(), filepath.Join(dir, "x"), DataHeader{Size: 100}, nil); !errors.Is(err, ErrBadSize) {
		t.Errorf("CreateDataFile(100 bytes) = %v, want ErrBadSize", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    Mem
		wantErr bool
	}{
		{"Name:\tx\nVmRSS:\t  300 kB\nRssAnon:\t  100 kB\nRssFile:\t  200 kB\nRssShmem:\t0 kB\n", Mem{100 << 10, 200 << 10}, false},
		{"Name:\tx\nVmRSS:\t  300 kB\n", Mem{}, true},
		{"RssAnon: lots\nRssFile: 1 kB\n", Mem{}, true},
	}
	for _, tc := range tests {
		got, err := parseStatus([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStatus(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestBlockXor(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 64, 65, 4096, 4099} {
		b := make([]byte, n+1)
		for i := range b {
			b[i] = byte(i*31 + 5)
		}
		for _, s := range [][]byte{b[:n], b[1 : n+1]} { // aligned and not
			var want uint64
			for k := 0; k < len(s); k += 8 {
				var w [8]byte
				copy(w[:], s[k:])
				for j := 7; j >= 0; j-- {
					want ^= uint64(w[j]) << (8 * j)
				}
			}
			if got := blockXor(s); got != want {
				t.Errorf("blockXor(%d bytes) = %x, want %x", len(s), got, want)
			}
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("RssAnon:\t  100 kB\nRssFile:\t  200 kB\n"))
	f.Add([]byte("RssAnon:\nRssFile: -1 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseStatus(b)
		if err == nil && (m.RssAnon < 0 && m.RssAnon>>10 > 0) {
			t.Fatal("impossible")
		}
	})
}

func TestMedian(t *testing.T) {
	r := func(total Seconds) Result { return Result{Method: "m", Total: total} }
	tests := []struct {
		name          string
		runs          []Result
		want          Seconds
		min, max      Seconds
		wantError     bool
		wantRunsCount int
	}{
		{"one run", []Result{r(2)}, 2, 2, 2, false, 1},
		{"odd", []Result{r(3), r(1), r(2)}, 2, 1, 3, false, 3},
		{"even takes the lower middle", []Result{r(4), r(1), r(3), r(2)}, 2, 1, 4, false, 4},
		{"a failed run is reported", []Result{r(1), {Method: "m", Error: "boom"}}, 0, 0, 0, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := median(tc.runs)
			if tc.wantError {
				if got.Error == "" {
					t.Fatalf("median = %+v, want the failed run", got)
				}
				return
			}
			if got.Total != tc.want || got.MinTotal != tc.min || got.MaxTotal != tc.max || got.Runs != tc.wantRunsCount {
				t.Fatalf("median = total %v min %v max %v runs %d; want %v %v %v %d", got.Total, got.MinTotal, got.MaxTotal, got.Runs, tc.want, tc.min, tc.max, tc.wantRunsCount)
			}
		})
	}
}
