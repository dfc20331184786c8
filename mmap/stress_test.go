package mmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/mmap"
)

// watchdog fails the test with every goroutine's stack if it is not stopped
// within d: a deadlock shows where everyone waits instead of hanging the run.
func watchdog(t *testing.T, d time.Duration, what string) (stop func()) {
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic(fmt.Sprintf("%s: still running after %v (deadlock?)\n%s", what, d, buf[:n]))
	})
	return func() { timer.Stop() }
}

// regionOp is one Region method, called with arguments that are valid for
// some length of the Region (the length may change under it).
type regionOp struct {
	name string
	call func(r *mmap.Region, rng *rand.Rand) error
}

var stressOps = []regionOp{
	{"ReadAt", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.ReadAt(make([]byte, 100), rng.Int64N(64<<10))
		return err
	}},
	{"WriteAt", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.WriteAt([]byte("stress"), rng.Int64N(64<<10))
		return err
	}},
	{"Read", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.Read(make([]byte, 100)); return err }},
	{"Write", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.Write([]byte("w")); return err }},
	{"Seek", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.Seek(rng.Int64N(32<<10), io.SeekStart)
		return err
	}},
	{"ReadByte", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.ReadByte(); return err }},
	{"WriteByte", func(r *mmap.Region, rng *rand.Rand) error { return r.WriteByte('b') }},
	{"ReadLine", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.ReadLine(); return err }},
	{"Tell", func(r *mmap.Region, rng *rand.Rand) error { r.Tell(); return nil }},
	{"WriteTo", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.WriteTo(io.Discard); return err }},
	{"ReadFrom", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.ReadFrom(bytes.NewReader([]byte("from")))
		return err
	}},
	{"Find", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.Find([]byte("zz"), rng.Int64N(32<<10))
		return err
	}},
	{"FindLast", func(r *mmap.Region, rng *rand.Rand) error {
		_, err := r.FindLast([]byte("zz"), rng.Int64N(32<<10))
		return err
	}},
	{"Move", func(r *mmap.Region, rng *rand.Rand) error {
		return r.Move(rng.Int64N(30<<10), rng.Int64N(30<<10), 1000)
	}},
	{"Do", func(r *mmap.Region, rng *rand.Rand) error {
		return r.Do(func(b []byte) error {
			var sum byte
			for i := 0; i < len(b); i += 4096 {
				sum += b[i]
			}
			_ = sum
			return nil
		})
	}},
	{"Bytes", func(r *mmap.Region, rng *rand.Rand) error { _ = r.Bytes(); return nil }},
	{"Len", func(r *mmap.Region, rng *rand.Rand) error { _ = r.Len(); return nil }},
	{"Flush", func(r *mmap.Region, rng *rand.Rand) error { return r.Flush() }},
	{"FlushRange", func(r *mmap.Region, rng *rand.Rand) error { return r.FlushRange(rng.Int64N(16<<10), 4096) }},
	{"Advise", func(r *mmap.Region, rng *rand.Rand) error { return r.Advise(mmap.AdviceRandom) }},
	{"AdviseRange", func(r *mmap.Region, rng *rand.Rand) error {
		return r.AdviseRange(rng.Int64N(16<<10), 4096, mmap.AdviceWillNeed)
	}},
	{"Prefetch", func(r *mmap.Region, rng *rand.Rand) error { return r.Prefetch(0, r.Len()) }},
	{"PrefetchOffsets", func(r *mmap.Region, rng *rand.Rand) error {
		return r.PrefetchOffsets([]int64{0, rng.Int64N(16 << 10)}, 100)
	}},
	{"Evict", func(r *mmap.Region, rng *rand.Rand) error { return r.Evict(0, r.Len()) }},
	{"Resident", func(r *mmap.Region, rng *rand.Rand) error { _, err := r.Resident(); return err }},
	{"Lock", func(r *mmap.Region, rng *rand.Rand) error {
		if err := r.Lock(); err != nil {
			return err
		}
		return r.Unlock()
	}},
	{"Resize", func(r *mmap.Region, rng *rand.Rand) error { return r.Resize(32<<10 + rng.IntN(4)*16<<10) }},
	{"Close", func(r *mmap.Region, rng *rand.Rand) error { return r.Close() }},
}

// allowed reports whether err is an outcome a racing call may have: the
// Region changed size or closed under it. Anything else is a bug.
func allowed(err error) bool {
	for _, ok := range []error{io.EOF, mmap.ErrClosed, mmap.ErrOutOfRange, mmap.ErrExported, errors.ErrUnsupported} {
		if errors.Is(err, ok) {
			return true
		}
	}
	return err == nil
}

// Every pair of Region methods, Resize and Close included, runs at once on
// the same Region: nothing deadlocks (the position methods used to wait for
// a Resize that waited for them), crashes or fails in a way a concurrent
// change does not explain. Run it under -race.
func TestEveryMethodPairConcurrently(t *testing.T) {
	const opsPerSide = 25
	ops := stressOps
	for i, a := range ops {
		for _, b := range ops[i:] {
			t.Run(a.name+"+"+b.name, func(t *testing.T) {
				stop := watchdog(t, 2*time.Minute, a.name+" with "+b.name)
				defer stop()
				path := writeFile(t, bytes.Repeat([]byte("0123456789abcde\n"), 4<<10)) // 64 KiB
				r := mapPath(t, path, mmap.ReadWrite, 0, 0)
				var wg sync.WaitGroup
				for side, op := range []regionOp{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(side), 7))
						for range opsPerSide {
							err := op.call(r, rng)
							if op.name == "Evict" && err != nil && strings.Contains(err.Error(), "locked in RAM") && (a.name == "Lock" || b.name == "Lock") {
								continue // the other side holds the pages locked
							}
							if !allowed(err) {
								t.Errorf("%s (with %s running): %v", op.name, map[bool]string{true: b.name, false: a.name}[side == 0], err)
								return
							}
						}
					}()
				}
				wg.Wait()
				// Whatever happened, the Region still works or is closed,
				// and after Close every call says so, naming the file.
				if _, err := r.ReadAt(make([]byte, 1), 0); err != nil && !errors.Is(err, mmap.ErrClosed) {
					t.Fatalf("ReadAt afterwards: %v", err)
				}
				if err := r.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				for _, op := range ops {
					err := op.call(r, rand.New(rand.NewPCG(1, 1)))
					switch op.name {
					case "Tell", "Len", "Bytes", "Close":
						continue // no error to report
					case "Seek":
						if err == nil {
							continue
						}
					}
					var pe *fs.PathError
					if !errors.Is(err, mmap.ErrClosed) || !errors.As(err, &pe) || pe.Path != path {
						t.Errorf("%s after Close: %v, want ErrClosed naming %s", op.name, err, path)
					}
				}
			})
		}
	}
}

// Readers and writers that take no lock keep going while Close runs: each
// call either completes with the right bytes or fails with ErrClosed, and
// none crashes, though Close takes the pages away under them.
func TestCloseWhileCopying(t *testing.T) {
	const size = 1 << 20
	orig := pattern(size)
	for round := range 20 {
		path := writeFile(t, orig)
		r := mapPath(t, path, mmap.ReadWrite, 0, 0)
		var wg sync.WaitGroup
		var done [6]atomic.Int64
		for g := range len(done) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), uint64(round)))
				buf := make([]byte, 1+rng.IntN(8192))
				for {
					off := rng.Int64N(size - int64(len(buf)))
					var err error
					switch g % 3 {
					case 0:
						_, err = r.ReadAt(buf, off)
						if err == nil && !bytes.Equal(buf, orig[off:off+int64(len(buf))]) {
							t.Errorf("ReadAt at %d: wrong bytes", off)
							return
						}
					case 1:
						// Writes the bytes that are there already, so
						// readers can keep checking.
						_, err = r.WriteAt(orig[off:off+int64(len(buf))], off)
					case 2:
						_, err = r.Find([]byte("no such bytes anywhere"), off)
					}
					if errors.Is(err, mmap.ErrClosed) {
						if !strings.Contains(err.Error(), path) {
							t.Errorf("error after Close does not name the file: %v", err)
						}
						return
					}
					if err != nil {
						t.Errorf("goroutine %d: %v", g, err)
						return
					}
					done[g].Add(1)
				}
			}()
		}
		for g := range done {
			for done[g].Load() == 0 {
				runtime.Gosched()
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// Resize (growing in place, moving, shrinking) runs while readers and
// writers copy without a lock: readers see the bytes that were written,
// writers' bytes are never lost (also not while anonymous memory is copied
// to its new place), and nobody crashes.
func TestResizeWhileCopying(t *testing.T) {
	for _, tc := range []struct {
		name      string
		anonymous bool
		move      bool
	}{
		{"file in place", false, false},
		{"file moving", false, true},
		{"anonymous in place", true, false},
		{"anonymous moving", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer mmap.SetForceMove(tc.move)()
			const head = 64 << 10 // never cut off: readers check it
			var r *mmap.Region
			if tc.anonymous {
				var err error
				if r, err = mmap.Anonymous(head, nil); err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if _, err := r.WriteAt(pattern(head), 0); err != nil {
					t.Fatal(err)
				}
			} else {
				r = mapPath(t, writeFile(t, pattern(head)), mmap.ReadWrite, 0, 0)
			}
			want := pattern(head)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var progress [4]atomic.Int64
			for g := range len(progress) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 3))
					buf := make([]byte, 512)
					slot := int64(g) * 8 // writers own 8 bytes each at the start
					for i := uint64(1); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if g%2 == 0 {
							off := 64 + rng.Int64N(head-64-int64(len(buf)))
							if _, err := r.ReadAt(buf, off); err != nil {
								t.Errorf("ReadAt during Resize: %v", err)
								return
							}
							if !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
								t.Errorf("ReadAt at %d during Resize: wrong bytes", off)
								return
							}
						} else {
							var w, back [8]byte
							for k := range w {
								w[k] = byte(i >> (8 * k))
							}
							if _, err := r.WriteAt(w[:], slot); err != nil {
								t.Errorf("WriteAt during Resize: %v", err)
								return
							}
							if _, err := r.ReadAt(back[:], slot); err != nil || back != w {
								t.Errorf("write %d lost during Resize (read back %v, %v)", i, back, err)
								return
							}
						}
						progress[g].Add(1)
					}
				}()
			}
			sizes := []int{head, 4 * head, head + 100, 16 * head, head, 2*head + 4096}
			for i := range 60 {
				// Each Resize waits for every goroutine to have made progress
				// since the last one, so they interleave for certain.
				for g := range progress {
					for progress[g].Load() < int64(i) {
						runtime.Gosched()
					}
				}
				n := sizes[i%len(sizes)]
				if err := r.Resize(n); err != nil {
					t.Fatalf("Resize(%d): %v", n, err)
				}
				if r.Len() != n {
					t.Fatalf("Len %d after Resize(%d)", r.Len(), n)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}

// A file truncated by another process while readers run: every read returns
// the file's bytes or ErrFault, nothing crashes, and once the truncation is
// done reads past the new end fault.
func TestTruncatedWhileReading(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows refuses to truncate a file that has a mapped view (ERROR_USER_MAPPED_FILE): the race cannot happen there")
	}
	const size = 1 << 20
	const newSize = 64 << 10
	orig := pattern(size)
	path := writeFile(t, orig)
	r := mapPath(t, path, mmap.ReadOnly, 0, 0)
	var wg sync.WaitGroup
	var faults, reads atomic.Int64
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 256)
			for {
				select {
				case <-stop:
					return
				default:
				}
				off := rng.Int64N(size - int64(len(buf)))
				_, err := r.ReadAt(buf, off)
				switch {
				case err == nil:
					if !bytes.Equal(buf, orig[off:off+int64(len(buf))]) {
						t.Errorf("ReadAt at %d: wrong bytes", off)
						return
					}
				case errors.Is(err, mmap.ErrFault):
					var fe *mmap.FaultError
					if !errors.As(err, &fe) || fe.Offset < newSize-4096 {
						t.Errorf("fault %v inside what is left of the file", err)
						return
					}
					faults.Add(1)
				default:
					t.Errorf("ReadAt: %v", err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	for reads.Load() < 100 {
		runtime.Gosched()
	}
	if runtime.GOOS == "windows" {
		// Windows refuses to truncate a file while a view of it is mapped:
		// the other process gets ERROR_USER_MAPPED_FILE, and the readers
		// carry on reading every byte right.
		out, err := helperOutput("truncate", "MMAPKIT_FILE="+path, fmt.Sprintf("MMAPKIT_SIZE=%d", newSize))
		if err == nil || !strings.HasPrefix(out, "ERROR_USER_MAPPED_FILE: ") {
			t.Errorf("truncating a mapped file: %v %q, want ERROR_USER_MAPPED_FILE", err, out)
		}
		for before := reads.Load(); reads.Load() < before+100 && !t.Failed(); {
			runtime.Gosched()
		}
		close(stop)
		wg.Wait()
		if n := faults.Load(); n != 0 {
			t.Errorf("%d faults though the file kept its size", n)
		}
		return
	}
	runHelper(t, "truncate", "MMAPKIT_FILE="+path, fmt.Sprintf("MMAPKIT_SIZE=%d", newSize))
	for before := faults.Load(); faults.Load() < before+50; {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if _, err := r.ReadAt(make([]byte, 10), size/2); !errors.Is(err, mmap.ErrFault) {
		t.Errorf("ReadAt past the new end: %v, want ErrFault", err)
	}
}

// Resize to 0 and back while readers copy without a lock: every 8-byte word
// the resizer writes holds its own offset, so a reader that got bytes of
// another offset, or of other memory, sees it. After a shrink to 0 the
// mapping grows again over its own reservation (the same addresses mean the
// same offsets), so a reader still holding an old view reads the Region.
func TestResizeToZeroWhileCopying(t *testing.T) {
	const size = 256 << 10
	word := func(off int64) uint64 { return uint64(off) | 0xA5<<56 }
	fill := func(t *testing.T, r *mmap.Region) {
		var b [8]byte
		for off := int64(0); off < size; off += 8 {
			binary.LittleEndian.PutUint64(b[:], word(off))
			if _, err := r.WriteAt(b[:], off); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, anonymous := range []bool{true, false} {
		t.Run(fmt.Sprintf("anonymous=%v", anonymous), func(t *testing.T) {
			var r *mmap.Region
			if anonymous {
				var err error
				if r, err = mmap.Anonymous(size, nil); err != nil {
					t.Fatal(err)
				}
				defer r.Close()
			} else {
				r = mapPath(t, writeFile(t, make([]byte, size)), mmap.ReadWrite, 0, 0)
			}
			fill(t, r)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var progress [3]atomic.Int64
			for g := range len(progress) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 5))
					buf := make([]byte, 8*(1+rng.IntN(512)))
					for {
						select {
						case <-stop:
							return
						default:
						}
						off := 8 * rng.Int64N((size-int64(len(buf)))/8)
						n, err := r.ReadAt(buf, off)
						if err != nil && err != io.EOF {
							t.Errorf("ReadAt: %v", err)
							return
						}
						for i := 0; i+8 <= n; i += 8 {
							got := binary.LittleEndian.Uint64(buf[i:])
							if got != 0 && got != word(off+int64(i)) {
								t.Errorf("ReadAt at %d: word %#x, want %#x or 0", off+int64(i), got, word(off+int64(i)))
								return
							}
						}
						progress[g].Add(1)
					}
				}()
			}
			for i := range 200 {
				for g := range progress {
					for progress[g].Load() < int64(i) {
						runtime.Gosched()
					}
				}
				if err := r.Resize(0); err != nil {
					t.Fatal(err)
				}
				if err := r.Resize(size); err != nil {
					t.Fatal(err)
				}
				if i%20 == 0 {
					fill(t, r)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}
