package ring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// payload is the deterministic content of record seq, of 1..maxLen bytes, so
// any reader can check a record without being told what was written.
func payload(seq uint64, maxLen int) []byte {
	n := 1 + int((seq*7919)%uint64(maxLen))
	p := make([]byte, n)
	if n >= 8 {
		binary.LittleEndian.PutUint64(p, seq)
	} else {
		for i := range p {
			p[i] = byte(seq >> (8 * i))
		}
	}
	for i := 8; i < n; i++ {
		p[i] = byte(seq) ^ byte(i*31)
	}
	return p
}

func checkPayload(t testing.TB, rec Record, maxLen int) {
	t.Helper()
	if want := payload(rec.Seq, maxLen); !bytes.Equal(rec.Data, want) {
		t.Fatalf("record %d: got %d bytes %x, want %d bytes %x", rec.Seq, len(rec.Data), rec.Data[:min(16, len(rec.Data))], len(want), want[:min(16, len(want))])
	}
}

func newRing(t testing.TB, opts *Options) (string, *Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.ring")
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

func openTestReader(t testing.TB, path string, opts *ReaderOptions) *Reader {
	t.Helper()
	r, err := OpenReader(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestAppendAndReadThroughWraps(t *testing.T) {
	cases := []struct {
		name     string
		capacity int
		maxRec   int
		policy   Policy
		records  int
		batch    int // appends between reads
	}{
		{"overwrite-4K-tiny", 4096, 8, Overwrite, 5000, 1},
		{"overwrite-4K-max", 4096, 2048 - 16, Overwrite, 2000, 1},
		{"overwrite-64K", 64 << 10, 1000, Overwrite, 20000, 7},
		{"block-4K", 4096, 100, Block, 5000, 3},
		{"block-64K-big", 64 << 10, 32<<10 - 16, Block, 1000, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, w := newRing(t, &Options{Capacity: tc.capacity, MaxRecord: tc.maxRec, Policy: tc.policy})
			r := openTestReader(t, path, &ReaderOptions{})
			next := uint64(0)
			for i := 0; i < tc.records; {
				for j := 0; j < tc.batch && i < tc.records; j++ {
					seq, err := w.Append(payload(uint64(i), tc.maxRec))
					if err != nil {
						t.Fatal(err)
					}
					if seq != uint64(i) {
						t.Fatalf("append %d got sequence %d", i, seq)
					}
					i++
				}
				for {
					rec, err := r.TryNext()
					if errors.Is(err, ErrEmpty) {
						break
					}
					if err != nil {
						t.Fatalf("read after %d appends: %v", i, err)
					}
					if rec.Seq != next {
						t.Fatalf("read sequence %d, want %d", rec.Seq, next)
					}
					checkPayload(t, rec, tc.maxRec)
					next++
				}
			}
			if next != uint64(tc.records) {
				t.Fatalf("read %d records, want %d", next, tc.records)
			}
			if w.g.capacity*3 > w.pos {
				t.Fatalf("test wrote only %d bytes into a %d-byte ring: not enough laps", w.pos, w.g.capacity)
			}
		})
	}
}

func TestOverwriteLappedCountsExactly(t *testing.T) {
	cases := []struct {
		name     string
		read     int // records read before the writer laps the reader
		appended int
	}{
		{"lapped-from-start", 0, 3000},
		{"lapped-midway", 100, 5000},
		{"lapped-many-times", 10, 50000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const maxRec = 60
			path, w := newRing(t, &Options{Capacity: 8192, MaxRecord: maxRec})
			r := openTestReader(t, path, &ReaderOptions{})
			for i := range tc.appended {
				if _, err := w.Append(payload(uint64(i), maxRec)); err != nil {
					t.Fatal(err)
				}
				if i < tc.read {
					rec, err := r.TryNext()
					if err != nil || rec.Seq != uint64(i) {
						t.Fatalf("read %d: %v %v", i, rec.Seq, err)
					}
				}
			}
			_, err := r.TryNext()
			var le *LappedError
			if !errors.As(err, &le) || !errors.Is(err, ErrLapped) {
				t.Fatalf("got %v, want a *LappedError", err)
			}
			oldest := load64(w.hdr, offOldSeq)
			if le.Missed != oldest-uint64(tc.read) || le.Next != oldest {
				t.Fatalf("missed %d next %d; oldest retained is %d and the reader had read %d", le.Missed, le.Next, oldest, tc.read)
			}
			got := uint64(0)
			for rec, err := range r.Records() {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Seq != le.Next+got {
					t.Fatalf("after the lap: sequence %d, want %d", rec.Seq, le.Next+got)
				}
				checkPayload(t, rec, maxRec)
				got++
			}
			if uint64(tc.read)+le.Missed+got != uint64(tc.appended) {
				t.Fatalf("read %d + missed %d + after %d != appended %d", tc.read, le.Missed, got, tc.appended)
			}
		})
	}
}

func TestBlockWriterWaitsForReader(t *testing.T) {
	const maxRec, n = 200, 20000
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: maxRec, Policy: Block})
	r := openTestReader(t, path, &ReaderOptions{})
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := w.Append(payload(uint64(i), maxRec)); err != nil {
				werr = err
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Seq != uint64(i) {
			t.Fatalf("got sequence %d, want %d", rec.Seq, i)
		}
		checkPayload(t, rec, maxRec)
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
}

func TestBlockAppendHonoursContext(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	_ = openTestReader(t, path, &ReaderOptions{}) // registered, never reads
	p := make([]byte, 100)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err = w.AppendContext(ctx, p)
		cancel()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline once the ring is full", err)
	}
	// An observer does not hold the writer back.
	obs := openTestReader(t, path, &ReaderOptions{Observe: true})
	if obs.slot >= 0 {
		t.Fatal("observer took a slot")
	}
}

func TestBlockWithoutReadersKeepsData(t *testing.T) {
	// A queue with no consumer yet keeps what it has and blocks when full.
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	var n int
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := w.AppendContext(ctx, payload(uint64(n), 100))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	r := openTestReader(t, path, &ReaderOptions{})
	got := 0
	for rec, err := range r.Records() {
		if err != nil {
			t.Fatal(err)
		}
		checkPayload(t, rec, 100)
		got++
	}
	if got != n || n == 0 {
		t.Fatalf("read %d of %d records", got, n)
	}
}

func TestAppendFunc(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100})
	r := openTestReader(t, path, nil)
	ctx := context.Background()
	if _, err := w.AppendFunc(ctx, 101, func([]byte) error { return nil }); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendFunc(101): %v", err)
	}
	if _, err := w.Append(make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(101 bytes): %v", err)
	}
	errFill := errors.New("fill failed")
	if _, err := w.AppendFunc(ctx, 5, func(b []byte) error { copy(b, "dropd"); return errFill }); err != errFill {
		t.Fatalf("failing fill: %v, want the fill's own error", err)
	}
	if _, err := r.TryNext(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("after a failed fill: %v, want ErrEmpty", err)
	}
	// A panicking fill publishes nothing and leaves the writer usable.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the fill's panic did not go on")
			}
		}()
		w.AppendFunc(ctx, 5, func(b []byte) error { panic("fill") })
	}()
	for i := range 300 { // several laps of appends, some dropped
		if i%7 == 3 {
			if _, err := w.AppendFunc(ctx, 100-i%50, func([]byte) error { return errFill }); err != errFill {
				t.Fatal(err)
			}
		}
		p := payload(uint64(i), 100)
		seq, err := w.AppendFunc(ctx, len(p), func(b []byte) error {
			if len(b) != len(p) || cap(b) != len(p) {
				t.Errorf("fill got len %d cap %d, want %d", len(b), cap(b), len(p))
			}
			copy(b, p)
			return nil
		})
		if err != nil || seq != uint64(i) {
			t.Fatalf("append %d: %d %v", i, seq, err)
		}
		rec, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		checkPayload(t, rec, 100)
	}
	if _, err := w.Append(nil); err != nil { // empty records are records
		t.Fatal(err)
	}
	if rec, err := r.TryNext(); err != nil || len(rec.Data) != 0 || rec.Seq != 300 {
		t.Fatalf("empty record: %+v %v", rec, err)
	}
}

func TestSeek(t *testing.T) {
	const maxRec = 50
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: maxRec})
	r := openTestReader(t, path, &ReaderOptions{})
	if err := r.SeekNewest(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.TryNext(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty ring: %v", err)
	}
	const n = 1000 // several laps: the oldest records are gone
	for i := range n {
		if _, err := w.Append(payload(uint64(i), maxRec)); err != nil {
			t.Fatal(err)
		}
	}
	oldest := load64(w.hdr, offOldSeq)
	if oldest == 0 {
		t.Fatal("ring did not wrap")
	}
	tests := []struct {
		name    string
		seek    func() error
		want    uint64 // sequence of the next record, or n for "none"
		wantErr error
	}{
		{"oldest", r.SeekOldest, oldest, nil},
		{"newest", r.SeekNewest, n - 1, nil},
		{"end", r.SeekEnd, n, nil},
		{"seq-oldest", func() error { return r.SeekSeq(oldest) }, oldest, nil},
		{"seq-middle", func() error { return r.SeekSeq(oldest + 7) }, oldest + 7, nil},
		{"seq-newest", func() error { return r.SeekSeq(n - 1) }, n - 1, nil},
		{"seq-next", func() error { return r.SeekSeq(n) }, n, nil},
		{"seq-too-old", func() error { return r.SeekSeq(oldest - 1) }, 0, ErrNotFound},
		{"seq-future", func() error { return r.SeekSeq(n + 1) }, 0, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.seek()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec, err := r.TryNext()
			if tc.want == n {
				if !errors.Is(err, ErrEmpty) {
					t.Fatalf("got %v %v, want ErrEmpty", rec.Seq, err)
				}
				return
			}
			if err != nil || rec.Seq != tc.want {
				t.Fatalf("got %d %v, want %d", rec.Seq, err, tc.want)
			}
			checkPayload(t, rec, maxRec)
		})
	}
	// Every record still in the ring can be found, including those right
	// after a padding frame.
	for seq := oldest; seq < n; seq++ {
		if err := r.SeekSeq(seq); err != nil {
			t.Fatalf("SeekSeq(%d): %v", seq, err)
		}
		if rec, err := r.TryNext(); err != nil || rec.Seq != seq {
			t.Fatalf("after SeekSeq(%d): %d %v", seq, rec.Seq, err)
		}
	}
	// FromEnd readers see only new records.
	r2 := openTestReader(t, path, &ReaderOptions{Start: FromEnd})
	if _, err := w.Append(payload(n, maxRec)); err != nil {
		t.Fatal(err)
	}
	if rec, err := r2.TryNext(); err != nil || rec.Seq != n {
		t.Fatalf("FromEnd: %d %v", rec.Seq, err)
	}
}

func TestNextWaitsAndWakes(t *testing.T) {
	for _, pol := range []Policy{Overwrite, Block} {
		t.Run(pol.String(), func(t *testing.T) {
			path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: pol})
			r := openTestReader(t, path, &ReaderOptions{Spin: time.Microsecond})
			got := make(chan Record, 1)
			errc := make(chan error, 1)
			go func() {
				rec, err := r.Next(context.Background())
				if err != nil {
					errc <- err
					return
				}
				got <- Record{Seq: rec.Seq, Data: bytes.Clone(rec.Data)}
			}()
			// Wait until the reader is asleep on the futex (it sets the
			// flag), so the wake-up path is what delivers the record.
			for load32(w.hdr, offRdrWait) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			if _, err := w.Append([]byte("wake")); err != nil {
				t.Fatal(err)
			}
			select {
			case rec := <-got:
				if string(rec.Data) != "wake" {
					t.Fatalf("got %q", rec.Data)
				}
			case err := <-errc:
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for load32(w.hdr, offRdrWait) == 0 {
					time.Sleep(100 * time.Microsecond)
				}
				cancel()
			}()
			if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Next: %v", err)
			}
		})
	}
}

func TestFollow(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100})
	r := openTestReader(t, path, &ReaderOptions{})
	go func() {
		for i := range 500 {
			if _, err := w.Append(payload(uint64(i), 100)); err != nil {
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // let the reader catch up and sleep
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var next, missed uint64
	for rec, err := range r.Follow(ctx) {
		var le *LappedError
		if errors.As(err, &le) {
			missed += le.Missed
			next = le.Next
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Seq != next {
			t.Fatalf("got %d, want %d", rec.Seq, next)
		}
		checkPayload(t, rec, 100)
		next++
		if next == 500 {
			break
		}
	}
	if next != 500 {
		t.Fatalf("followed to %d (%v)", next, ctx.Err())
	}
}

func TestSecondWriterIsRefused(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096})
	if _, err := OpenWriter(path, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := OpenWriterWait(ctx, path, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting second writer: %v, want DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() {
		w2, err := OpenWriterWait(context.Background(), path, nil)
		if err == nil {
			_, err = w2.Append([]byte("second"))
			w2.Close()
		}
		done <- err
	}()
	if _, err := w.Append([]byte("first")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := openTestReader(t, path, &ReaderOptions{})
	var got []string
	for rec, err := range r.Records() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec.Data))
	}
	if len(got) != 2 || got[0] != "first" || got[1] != "second" {
		t.Fatalf("got %q", got)
	}
}

func TestCreateRefusesExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Create(path, &Options{Capacity: 4096})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "ring: create" || pe.Path != path || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("error %q: want a *fs.PathError naming the operation and the file once", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatal("file changed")
	}
	// Replace replaces it.
	w, err := Create(path, &Options{Capacity: 4096, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append([]byte("new")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if ok, err := Sniff(path); !ok || err != nil {
		t.Fatalf("replaced file: Sniff %v %v", ok, err)
	}
	bad := []Options{
		{Capacity: 1000}, {Capacity: 2048}, {Capacity: 4096, MaxRecord: 4096}, {Capacity: 4096, MaxRecord: -1},
		{Capacity: 4096, Policy: 7}, {Capacity: 4096, Durability: 9}, {Capacity: 4096, Interval: -1},
	}
	for _, o := range bad {
		if _, err := Create(filepath.Join(dir, "y"), &o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
	// Nothing but the two names is left in the directory: no temporary
	// names, whether Create failed or succeeded.
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != "x" {
		t.Fatalf("directory holds %v", names)
	}
}

func TestZeroOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zero.ring")
	w, err := Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Capacity() != DefaultCapacity || w.Capacity() != 1<<20 || w.Policy() != Overwrite || w.MaxRecord() != 1<<19-16 {
		t.Fatalf("nil options: capacity %d, policy %v, max record %d", w.Capacity(), w.Policy(), w.MaxRecord())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != headerSize+1<<20 {
		t.Fatalf("file size %v %v", fi.Size(), err)
	}
}

// ringBytes returns a valid small ring file's bytes with n records.
func ringBytes(t testing.TB, n int, policy Policy) []byte {
	path := filepath.Join(t.TempDir(), "src.ring")
	w, err := Create(path, &Options{Capacity: 4096, MaxRecord: 100, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := w.Append(payload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRefusesDamagedHeaderWithoutModifying(t *testing.T) {
	good := ringBytes(t, 10, Overwrite)
	wrapped := ringBytes(t, 300, Overwrite) // several laps: the oldest record is far from 0
	le := binary.LittleEndian
	// Damage to the header words no checksum covers, with or without the
	// check word recomputed to fit (as a careless or hostile peer would).
	hot := func(f func(oldest, oldSeq uint64) (uint64, uint64), recheck bool) func([]byte) []byte {
		return func([]byte) []byte {
			b := bytes.Clone(wrapped)
			o, s := f(le.Uint64(b[offOldest:]), le.Uint64(b[offOldSeq:]))
			le.PutUint64(b[offOldest:], o)
			le.PutUint64(b[offOldSeq:], s)
			if recheck {
				le.PutUint64(b[offOldCheck:], oldCheck(o, s))
			}
			return b
		}
	}
	resum := func(b []byte) { le.PutUint32(b[offStaticCRC:], crc32.ChecksumIEEE(b[:staticLen])) }
	cases := []struct {
		name   string
		damage func([]byte) []byte
		want   error
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrNotRing},
		{"short", func(b []byte) []byte { return b[:100] }, ErrNotRing},
		{"text", func(b []byte) []byte { return bytes.Repeat([]byte("hello\n"), 2000) }, ErrNotRing},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrNotRing},
		{"version", func(b []byte) []byte { le.PutUint32(b[offVersion:], 3); resum(b); return b }, ErrVersion},
		{"version-1", func(b []byte) []byte { le.PutUint32(b[offVersion:], 1); resum(b); return b }, ErrVersion},
		{"checksum-kind", func(b []byte) []byte { le.PutUint32(b[offChecksum:], 7); resum(b); return b }, ErrVersion},
		{"flags", func(b []byte) []byte { le.PutUint32(b[offFlags:], 1<<5); resum(b); return b }, ErrVersion},
		{"checksum", func(b []byte) []byte { b[offCapacity] ^= 1; return b }, ErrBadHeader},
		{"capacity", func(b []byte) []byte { le.PutUint64(b[offCapacity:], 5000); resum(b); return b }, ErrBadHeader},
		{"max-record", func(b []byte) []byte { le.PutUint32(b[offMaxRecord:], 4000); resum(b); return b }, ErrBadHeader},
		{"truncated", func(b []byte) []byte { return b[:len(b)-4096] }, ErrBadHeader},
		{"extended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, ErrBadHeader},
		{"hot-words", func(b []byte) []byte { le.PutUint64(b[offOldest:], 1<<40); return b }, ErrBadHeader},
		{"positions-near-2^64", func([]byte) []byte {
			b := bytes.Clone(wrapped)
			const near = ^uint64(0) &^ (1<<20 - 1) // 2^64 - 2^20, a multiple of the capacity
			o, l := le.Uint64(b[offOldest:])+near, le.Uint64(b[offLimit:])+near
			le.PutUint64(b[offOldest:], o)
			le.PutUint64(b[offLimit:], l)
			le.PutUint64(b[offOldCheck:], oldCheck(o, le.Uint64(b[offOldSeq:])))
			return b
		}, ErrBadHeader},
		{"oldest-seq-high-byte", hot(func(o, s uint64) (uint64, uint64) { return o, s | 1<<56 }, false), ErrBadHeader},
		{"oldest-seq-high-byte-rechecked", hot(func(o, s uint64) (uint64, uint64) { return o, s | 1<<40 }, true), ErrBadHeader},
		{"oldest-seq-low-bits-rechecked", hot(func(o, s uint64) (uint64, uint64) { return o, s + 1 }, true), ErrBadHeader},
		{"oldest-seq-zeroed-rechecked", hot(func(o, s uint64) (uint64, uint64) { return o, 0 }, true), ErrBadHeader},
		{"oldest-frame-seq32", func([]byte) []byte {
			b := bytes.Clone(wrapped)
			off := headerSize + int(le.Uint64(b[offOldest:])&4095) + 8
			le.PutUint32(b[off:], le.Uint32(b[off:])+3)
			return b
		}, ErrBadHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(bytes.Clone(good))
			path := filepath.Join(t.TempDir(), "bad.ring")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			before := sha256.Sum256(b)
			_, err := OpenWriter(path, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenWriter: %v, want %v", err, tc.want)
			}
			if _, err := OpenReader(path, nil); !errors.Is(err, tc.want) {
				t.Fatalf("OpenReader: %v, want %v", err, tc.want)
			}
			if _, err := Stat(path); !errors.Is(err, tc.want) {
				t.Fatalf("Stat: %v, want %v", err, tc.want)
			}
			after, _ := os.ReadFile(path)
			if sha256.Sum256(after) != before {
				t.Fatal("the refused file was modified")
			}
		})
	}
}

func TestRecoveryDropsTornTail(t *testing.T) {
	cases := []struct {
		name string
		tear func(b []byte, lastOff int) // damage the last record
		kept int
	}{
		{"intact", func([]byte, int) {}, 20},
		{"uncommitted", func(b []byte, off int) { clear(b[off : off+8]) }, 19},
		{"bad-crc", func(b []byte, off int) { b[off+frameHdrSize] ^= 0xFF }, 19},
		{"wrong-lap", func(b []byte, off int) { b[off+4] ^= 0x40 }, 19},
		{"wrong-seq", func(b []byte, off int) { b[off+8]++ }, 19},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := ringBytes(t, 20, Overwrite)
			// find the last frame
			pos := uint64(0)
			last := 0
			for i := range 20 {
				last = int(pos)
				pos += uint64(frameSize(len(payload(uint64(i), 100))))
			}
			tc.tear(b[headerSize:], last)
			path := filepath.Join(t.TempDir(), "torn.ring")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := OpenWriter(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if rec := w.Recovery(); rec.Records != uint64(tc.kept) || rec.Next != uint64(tc.kept) {
				t.Fatalf("recovery %+v, want %d records", rec, tc.kept)
			}
			// The writer continues right after the last intact record.
			if seq, err := w.Append(payload(uint64(tc.kept), 100)); err != nil || seq != uint64(tc.kept) {
				t.Fatalf("append after recovery: %d %v", seq, err)
			}
			r := openTestReader(t, path, &ReaderOptions{})
			n := 0
			for rec, err := range r.Records() {
				if err != nil {
					t.Fatal(err)
				}
				checkPayload(t, rec, 100)
				n++
			}
			if n != tc.kept+1 {
				t.Fatalf("read %d records, want %d", n, tc.kept+1)
			}
		})
	}
}

func TestStat(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	r := openTestReader(t, path, &ReaderOptions{})
	for i := range 10 {
		if _, err := w.Append(payload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if _, err := r.TryNext(); err != nil {
			t.Fatal(err)
		}
	}
	r.publish(true)
	info, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.WriterPID != os.Getpid() || info.Next != 10 || info.Oldest != 0 || info.Records != 10 || info.Policy != Block {
		t.Fatalf("stat with a writer: %+v", info)
	}
	if len(info.Readers) != 1 || info.Readers[0].PID != os.Getpid() || info.Readers[0].Next != 4 {
		t.Fatalf("readers: %+v", info.Readers)
	}
	w.Close()
	if info, err = Stat(path); err != nil || info.WriterPID != 0 {
		t.Fatalf("stat without a writer: %+v %v", info, err)
	}
}

func TestCloseReleasesBlockedAppend(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	_ = openTestReader(t, path, &ReaderOptions{}) // registered, never reads
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := w.Append(make([]byte, 100)); err != nil {
				errc <- err
				return
			}
		}
	}()
	for load32(w.hdr, offWrWait) == 0 { // the writer is asleep waiting for room
		time.Sleep(100 * time.Microsecond)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked append after Close: %v", err)
	}
}

// TestZeroCopyViews: a registered reader of a Block ring gets views into the
// mapping once past its first lap; readers of an Overwrite ring get copies.
func TestZeroCopyViews(t *testing.T) {
	for _, pol := range []Policy{Block, Overwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: pol})
			r := openTestReader(t, path, &ReaderOptions{})
			inMapping := func(b []byte) bool {
				base := uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))
				p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
				return p >= base && p < base+uintptr(len(r.data))
			}
			var views int
			for i := range 400 { // several laps
				if _, err := w.Append(payload(uint64(i), 100)); err != nil {
					t.Fatal(err)
				}
				rec, err := r.TryNext()
				if err != nil {
					t.Fatal(err)
				}
				checkPayload(t, rec, 100)
				if inMapping(rec.Data) {
					views++
					if r.pos <= r.copyUntil {
						t.Fatal("view during the first lap")
					}
				}
			}
			if pol == Block && views == 0 {
				t.Fatal("no zero-copy views")
			}
			if pol == Overwrite && views != 0 {
				t.Fatalf("%d views into an Overwrite ring", views)
			}
		})
	}
}

// TestRecoveryStaleOldestSeq: a writer killed between storing the oldest
// position and its sequence number leaves a stale number; recovery takes the
// right one from the frame and keeps every record.
func TestRecoveryStaleOldestSeq(t *testing.T) {
	b := ringBytes(t, 300, Overwrite) // several laps
	le := binary.LittleEndian
	oldSeq := le.Uint64(b[offOldSeq:])
	if oldSeq < 10 {
		t.Fatal("ring did not wrap")
	}
	le.PutUint64(b[offOldSeq:], oldSeq-7)
	path := filepath.Join(t.TempDir(), "stale.ring")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if rec := w.Recovery(); rec.Oldest != oldSeq || rec.Next != 300 {
		t.Fatalf("recovery %+v, want records %d..299", rec, oldSeq)
	}
}

// TestStaleBytesThatLookLikeAFrame: before the writer reaches a position, its
// bytes can be the payload of a frame from the previous lap, and payload bytes
// can carry this lap's tag. A reader must take that for "no record yet", not
// damage, and read the real record once it is committed.
func TestStaleBytesThatLookLikeAFrame(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 200})
	for i := range 3 {
		if _, err := w.Append(payload(uint64(i), 200)); err != nil {
			t.Fatal(err)
		}
	}
	r := openTestReader(t, path, &ReaderOptions{})
	for range 3 {
		if _, err := r.TryNext(); err != nil {
			t.Fatal(err)
		}
	}
	// Forge what a pending append over old payload bytes looks like: this
	// lap's tag with an impossible kind and length, and the new seq32.
	off := int(w.pos & w.g.mask)
	store64(w.data, off, uint64(uint32(w.g.lap(w.pos)+1))<<32|0xE9CA2B14)
	binary.LittleEndian.PutUint32(w.data[off+8:], uint32(w.seq))
	if _, err := r.TryNext(); err != ErrEmpty {
		t.Fatalf("TryNext over stale bytes: %v, want ErrEmpty", err)
	}
	// The same with a plausible kind and length whose checksum fails.
	store64(w.data, off, commitWord(kindData, 40, w.g.lap(w.pos)))
	if _, err := r.TryNext(); err != ErrEmpty {
		t.Fatalf("TryNext over stale bytes with a bad checksum: %v, want ErrEmpty", err)
	}
	// Once the writer has committed past it, the record reads normally.
	if _, err := w.Append(payload(3, 200)); err != nil {
		t.Fatal(err)
	}
	w.publishTail()
	rec, err := r.TryNext()
	if err != nil || rec.Seq != 3 {
		t.Fatalf("after the append: seq %d, %v", rec.Seq, err)
	}
	checkPayload(t, rec, 200)
	// Real damage behind the tail hint is still reported.
	if _, err := w.Append(payload(4, 200)); err != nil {
		t.Fatal(err)
	}
	w.publishTail()
	off = int((w.pos - uint64(frameSize(len(payload(4, 200))))) & w.g.mask)
	w.data[off+frameHdrSize] ^= 0xFF
	if _, err := r.TryNext(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged committed record: %v, want ErrCorrupt", err)
	}
}

// TestCloseWhileAppendFunc: fills run in several goroutines (some waiting
// for room on a full Block ring) while Close is called. Close waits for the
// running fills, no fill starts after it, and every append either succeeds
// or fails with ErrClosed: never a crash, never a write into unmapped memory.
func TestCloseWhileAppendFunc(t *testing.T) {
	for _, pol := range []Policy{Overwrite, Block} {
		t.Run(pol.String(), func(t *testing.T) {
			for round := range 20 {
				path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 256, Policy: pol})
				if pol == Block {
					openTestReader(t, path, nil) // registered, never reads: appends wait for room
				}
				var inFill, started atomic.Int64
				var closed atomic.Bool
				var wg sync.WaitGroup
				errs := make(chan error, 4)
				for g := range 4 {
					wg.Go(func() {
						for i := 0; ; i++ {
							_, err := w.AppendFunc(context.Background(), 1+(i*37+g)%256, func(b []byte) error {
								inFill.Add(1)
								defer inFill.Add(-1)
								started.Add(1)
								if closed.Load() {
									t.Error("a fill ran after Close returned")
								}
								for j := range b { // write every byte, slowly
									b[j] = byte(j)
									if j%64 == 0 {
										runtime.Gosched()
									}
								}
								return nil
							})
							if err != nil {
								errs <- err
								return
							}
						}
					})
				}
				for started.Load() < int64(10+round) {
					runtime.Gosched()
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				closed.Store(true)
				if n := inFill.Load(); n != 0 {
					t.Fatalf("Close returned with %d fills running", n)
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), path) {
						t.Fatalf("append racing Close: %v, want ErrClosed naming the file", err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				for _, err := range []error{w.Sync(), func() error { _, err := w.Append(nil); return err }()} {
					if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), path) {
						t.Fatalf("after Close: %v, want ErrClosed naming the file", err)
					}
				}
			}
		})
	}
}

// TestStatNeverMakesAWriterFail: Stat looks at the writer lock without
// taking it, so a writer opening at the same moment never gets ErrLocked
// (a shared lock taken for an instant made 212 of 28,175 opens fail).
func TestStatNeverMakesAWriterFail(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096})
	w.Close()
	stop := make(chan struct{})
	var stats atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := Stat(path); err != nil {
					t.Error(err)
					return
				}
				stats.Add(1)
			}
		})
	}
	opens := 0
	for stats.Load() < 5000 || opens < 2000 {
		w, err := OpenWriter(path, nil)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("OpenWriter %d (after %d Stats): %v", opens, stats.Load(), err)
		}
		w.Close()
		opens++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d opens, %d Stats", opens, stats.Load())
}

// TestErrorsNameTheFile: errors are *fs.PathError with "ring: op" and the
// path, once; a second writer is told who holds the ring.
func TestErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	zip := filepath.Join(dir, "data.npz")
	if err := os.WriteFile(zip, append([]byte("PK\x03\x04"), make([]byte, 8000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	path, w := newRing(t, &Options{Capacity: 4096})
	_, errW := OpenWriter(path, nil)
	cases := []struct {
		name, path string
		err        error
		op         string
		want       error
		text       string
	}{
		{"not-a-ring", zip, func() error { _, err := OpenReader(zip, nil); return err }(), "ring: open", ErrNotRing, `not a ring file (magic "PK\x03\x04`},
		{"writer-not-a-ring", zip, func() error { _, err := OpenWriter(zip, nil); return err }(), "ring: open", ErrNotRing, "a zip or .npz?"},
		{"missing", filepath.Join(dir, "nope"), func() error { _, err := OpenReader(filepath.Join(dir, "nope"), nil); return err }(), "ring: open", fs.ErrNotExist, ""},
		{"stat-missing", filepath.Join(dir, "nope"), func() error { _, err := Stat(filepath.Join(dir, "nope")); return err }(), "ring: stat", fs.ErrNotExist, ""},
		{"second-writer", path, errW, "ring: open", ErrLocked, "another Writer of this process"},
		{"too-large", path, func() error { _, err := w.Append(make([]byte, 5000)); return err }(), "ring: append", ErrTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pe *fs.PathError
			if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &pe) || pe.Op != tc.op || pe.Path != tc.path {
				t.Fatalf("got %v (%#v), want %v from %q on %s", tc.err, tc.err, tc.want, tc.op, tc.path)
			}
			msg := tc.err.Error()
			if rest, ok := strings.CutPrefix(msg, tc.op+" "+tc.path+": "); !ok || strings.Contains(rest, tc.path) || strings.Contains(rest, "ring: ") || !strings.Contains(msg, tc.text) {
				t.Fatalf("message %q: want the path and the package once, and %q", msg, tc.text)
			}
		})
	}
	if ok, err := Sniff(zip); ok || err != nil {
		t.Fatalf("Sniff(zip): %v %v", ok, err)
	}
	if ok, err := Sniff(path); !ok || err != nil {
		t.Fatalf("Sniff(ring): %v %v", ok, err)
	}
	if _, err := Sniff(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Sniff(missing): %v", err)
	}
}

// TestRefusesWhatIsNotARegularFile: a FIFO planted under a ring's name is
// refused by every opener without blocking on it; a symbolic link is
// refused with NoFollow and followed without.
func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := sys.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	path, w := newRing(t, &Options{Capacity: 4096})
	w.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	type opener func(string, bool) error
	openers := map[string]opener{
		"OpenReader": func(p string, nf bool) error {
			r, err := OpenReader(p, &ReaderOptions{NoFollow: nf})
			if err == nil {
				r.Close()
			}
			return err
		},
		"OpenWriter": func(p string, nf bool) error {
			w, err := OpenWriter(p, &Options{NoFollow: nf})
			if err == nil {
				w.Close()
			}
			return err
		},
		"Stat": func(p string, _ bool) error { _, err := Stat(p); return err },
	}
	for name, open := range openers {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- open(fifo, false) }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
					t.Fatalf("FIFO: %v, want ErrNotRegular saying it is a FIFO", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("blocked on a FIFO")
			}
			if name == "Stat" {
				return
			}
			if err := open(link, true); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("symlink with NoFollow: %v", err)
			}
			if err := open(link, false); err != nil {
				t.Fatalf("symlink without NoFollow: %v", err)
			}
		})
	}
	if ok, err := Sniff(fifo); ok || err != nil {
		t.Fatalf("Sniff(FIFO): %v %v, want false", ok, err)
	}
}

// TestManualRelease: a reader with ManualRelease reads ahead; the writer of
// the Block ring waits for what it released, not what it read, and the
// views of records read but not released stay intact.
func TestManualRelease(t *testing.T) {
	path, w := newRing(t, &Options{Capacity: 4096, MaxRecord: 100, Policy: Block})
	r := openTestReader(t, path, &ReaderOptions{ManualRelease: true})
	appendUntilFull := func(from uint64) uint64 {
		for seq := from; ; seq++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err := w.AppendContext(ctx, payload(seq, 100))
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				return seq
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three laps: the reader's first lap copies, the later ones hand out views.
	next, checked := uint64(0), 0
	for lap := range 3 {
		full := appendUntilFull(next)
		var views []Record
		for {
			rec, err := r.TryNext()
			if errors.Is(err, ErrEmpty) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPayload(t, rec, 100)
			views = append(views, rec)
		}
		if r.Seq() != full {
			t.Fatalf("lap %d: read up to %d, appended %d", lap, r.Seq(), full)
		}
		// Everything read, nothing released: the ring is still full.
		if got := appendUntilFull(full); got != full {
			t.Fatalf("lap %d: the writer appended %d records over unreleased ones", lap, got-full)
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))
		for _, v := range views {
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(v.Data))); p >= base && p < base+uintptr(len(r.data)) {
				checkPayload(t, v, 100) // a view into the mapping: still intact
				checked++
			}
		}
		if err := r.Release(full + 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("releasing what was not read: %v", err)
		}
		if err := r.Release(full); err != nil {
			t.Fatal(err)
		}
		next = full
	}
	if checked == 0 {
		t.Fatal("no view into the mapping was checked")
	}
	// An automatic reader frees space by reading alone.
	r2 := openTestReader(t, path, nil)
	r.Close()
	full := appendUntilFull(next)
	for r2.Seq() < full {
		if _, err := r2.TryNext(); err != nil {
			t.Fatal(err)
		}
	}
	r2.publish(true)
	if got := appendUntilFull(full); got == full {
		t.Fatal("reading did not make room for an automatic reader")
	}
}

// TestSeekWhileWriterOverwrites: seeks against a writer that overwrites
// the ring ahead of their walk. SeekSeq of a record that is in the ring
// finds it (it may only fail because the record was overwritten before the
// seek ended), and SeekEnd lands at or past every record appended before
// it began. (A walk stopped at the first frame that failed its checks, the
// one the writer was overwriting, and took it for the end of the ring:
// "sequence N is past the newest record", and SeekEnd landed behind
// records already appended.)
func TestSeekWhileWriterOverwrites(t *testing.T) {
	const seeks = 20000
	for _, tc := range []struct {
		name   string
		policy Policy
		seek   string // "seq": SeekSeq of a record of the last lap; "end": SeekEnd
	}{
		{"overwrite/seq", Overwrite, "seq"},
		{"overwrite/end", Overwrite, "end"},
		{"block, observed/seq", Block, "seq"},
		{"block, observed/end", Block, "end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const maxRec = 200
			path, w := newRing(t, &Options{Capacity: 64 << 10, MaxRecord: maxRec, Policy: tc.policy})
			r := openTestReader(t, path, &ReaderOptions{Observe: true})
			check := openTestReader(t, path, &ReaderOptions{Observe: true})
			perLap := uint64(64<<10) / uint64(frameSize(maxRec/2))
			var appended atomic.Uint64 // records whose Append returned
			// One context stops the writer and the consumer: a writer of
			// a Block ring waiting for room is stopped by it, not left
			// waiting for a consumer that stopped first.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 2)
			running := 1
			go func() {
				for seq := uint64(0); ; seq++ {
					if ctx.Err() != nil { // appends that do not wait ignore ctx
						done <- nil
						return
					}
					if _, err := w.AppendContext(ctx, payload(seq, maxRec)); err != nil {
						if ctx.Err() != nil {
							err = nil
						}
						done <- err
						return
					}
					appended.Store(seq + 1)
				}
			}()
			if tc.policy == Block {
				// A consumer makes room; the seeks observe.
				c := openTestReader(t, path, nil)
				running++
				go func() {
					for {
						if _, err := c.Next(ctx); err != nil {
							if ctx.Err() != nil {
								err = nil
							}
							done <- err
							return
						}
					}
				}()
			}
			defer func() {
				cancel()
				for range running {
					if err := <-done; err != nil {
						t.Error(err)
					}
				}
			}()
			rng := uint64(1)
			bad := 0
			// At least 20,000 seeks, while the writer wraps the ring 50 times.
			i := 0
			for ; i < seeks || appended.Load() < 50*perLap; i++ {
				n := appended.Load()
				if n == 0 {
					i--
					runtime.Gosched()
					continue
				}
				switch tc.seek {
				case "seq":
					rng = rng*6364136223846793005 + 1442695040888963407
					back := (rng >> 33) % perLap
					target := n - 1 - min(back, n-1)
					err := r.SeekSeq(target)
					if err == nil {
						if r.Seq() != target {
							t.Fatalf("SeekSeq(%d) moved to %d", target, r.Seq())
						}
						continue
					}
					if !errors.Is(err, ErrNotFound) {
						t.Fatal(err)
					}
					// Only a record overwritten meanwhile may be missing.
					if err := check.SeekOldest(); err != nil {
						t.Fatal(err)
					}
					if check.Seq() <= target {
						bad++
						if bad <= 3 {
							t.Errorf("SeekSeq(%d) with %d appended and the oldest record %d: %v", target, n, check.Seq(), err)
						}
					}
				case "end":
					if err := r.SeekEnd(); err != nil {
						t.Fatal(err)
					}
					if r.Seq() < n {
						bad++
						if bad <= 3 {
							t.Errorf("SeekEnd with %d records appended before it landed at %d", n, r.Seq())
						}
					}
				}
			}
			t.Logf("%d seeks while %d records were appended", i, appended.Load())
			if bad > 0 {
				t.Errorf("%d of %d seeks went wrong", bad, i)
			}
		})
	}
}

// TestReleasePublishesAtOnce: records given up with Release are free for
// the writer when Release returns, though the reader makes no other call
// (a consumer that releases, then pauses). (Release published lazily, once
// capacity/16 bytes were released: a writer waiting for fewer stayed
// blocked until the reader's next call.)
func TestReleasePublishesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release uint64 // records released, of 128 bytes each
	}{
		{"one record", 1},
		{"a few records", 3},
		{"capacity/16", 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const capacity, size = 64 << 10, 100
			if frameSize(size) != 128 {
				t.Fatalf("frame size %d, the test assumes 128", frameSize(size))
			}
			path, w := newRing(t, &Options{Capacity: capacity, MaxRecord: size, Policy: Block})
			r := openTestReader(t, path, &ReaderOptions{ManualRelease: true})
			rec := make([]byte, size)
			full := uint64(capacity / 128)
			for range full { // the ring exactly full, without ever waiting
				if _, err := w.Append(rec); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.release {
				if _, err := r.TryNext(); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Release(tc.release); err != nil {
				t.Fatal(err)
			}
			// The reader makes no call from here on. The deadline only
			// bounds a failure: the appends must not wait at all.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range tc.release {
				if _, err := w.AppendContext(ctx, rec); err != nil {
					t.Fatalf("append %d of %d into released room: %v", i+1, tc.release, err)
				}
			}
		})
	}
}
