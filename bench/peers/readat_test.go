package peers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	mmapgo "github.com/edsrzf/mmap-go"
	xmmap "golang.org/x/exp/mmap"

	"github.com/mmapkit/mmapkit/mmap"
)

// The data file: MMAPKIT_PEERS_SIZE bytes (default 1 GiB) of pseudo-random
// data in MMAPKIT_PEERS_DIR (default the temporary directory), written once
// and reused by later runs.
var (
	fileOnce sync.Once
	filePath string
	fileSize int64
	fileErr  error
)

func dataFile(tb testing.TB) (string, int64) {
	tb.Helper()
	fileOnce.Do(func() {
		fileSize = 1 << 30
		if s := os.Getenv("MMAPKIT_PEERS_SIZE"); s != "" {
			fileSize, fileErr = strconv.ParseInt(s, 10, 64)
			if fileErr != nil || fileSize < 1<<20 {
				fileErr = fmt.Errorf("MMAPKIT_PEERS_SIZE=%q: want a byte count of at least 1 MiB", s)
				return
			}
		}
		dir := os.Getenv("MMAPKIT_PEERS_DIR")
		if dir == "" {
			dir = os.TempDir()
		}
		filePath = filepath.Join(dir, fmt.Sprintf("mmapkit-peers-%d.bin", fileSize))
		if fi, err := os.Stat(filePath); err == nil && fi.Size() == fileSize {
			return
		}
		fileErr = writeData(filePath, fileSize)
	})
	if fileErr != nil {
		tb.Fatal(fileErr)
	}
	return filePath, fileSize
}

func writeData(path string, size int64) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewPCG(1, 2)
	var word [8]byte
	for n := int64(0); n < size; n += 8 {
		v := rng.Uint64()
		for i := range word {
			word[i] = byte(v >> (8 * i))
		}
		if _, err := w.Write(word[:min(8, size-n)]); err != nil {
			f.Close()
			return err
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// offsets returns n random offsets (a power of two) of reads of size bytes,
// aligned to size, so that no read straddles a page.
func offsets(n int, size int, span int64) []int64 {
	rng := rand.New(rand.NewPCG(3, 4))
	offs := make([]int64, n)
	slots := (span - int64(size)) / int64(size)
	for i := range offs {
		offs[i] = rng.Int64N(slots) * int64(size)
	}
	return offs
}

// reader is what every library offers for a read at an offset.
type reader interface {
	io.ReaderAt
	Close() error
}

// A library under test: how to open the data file for reading.
type library struct {
	name string
	open func(path string) (reader, error)
}

// mmapgoReader reads from an edsrzf/mmap-go mapping the way x/exp/mmap's
// ReaderAt does: check the offset, copy out of the slice.
type mmapgoReader struct {
	m mmapgo.MMap
	f *os.File
}

func (r *mmapgoReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || int64(len(r.m)) < off {
		return 0, fmt.Errorf("mmap-go: invalid ReadAt offset %d", off)
	}
	n := copy(p, r.m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *mmapgoReader) Close() error { return errors.Join(r.m.Unmap(), r.f.Close()) }

// The libraries, x/exp/mmap first: benchstat -col /impl compares the others
// with the first column.
var libraries = []library{
	{"x-exp-mmap", func(path string) (reader, error) { return xmmap.Open(path) }},
	{"mmapkit", func(path string) (reader, error) { return mmap.Open(path, mmap.ReadOnly, nil) }},
	{"mmap-go", func(path string) (reader, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		m, err := mmapgo.Map(f, mmapgo.RDONLY, 0)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &mmapgoReader{m: m, f: f}, nil
	}},
	{"pread", func(path string) (reader, error) { return os.Open(path) }},
}

var readSizes = []int{8, 64, 4096}

// warm reads one byte of every page through r, so that every page is in the
// page cache and, for the mappings, mapped: what follows measures the read
// path, not the faults.
func warm(tb testing.TB, r reader, size int64) {
	tb.Helper()
	var b [1]byte
	for off := int64(0); off < size; off += 4096 {
		if _, err := r.ReadAt(b[:], off); err != nil {
			tb.Fatal(err)
		}
	}
}

func openWarm(b *testing.B, lib library) (reader, int64) {
	path, size := dataFile(b)
	r, err := lib.open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	warm(b, r, size)
	return r, size
}

// BenchmarkReadAt: random reads of 8 B, 64 B and 4 KiB from one goroutine,
// every page of the file in the page cache and mapped.
func BenchmarkReadAt(b *testing.B) {
	for _, size := range readSizes {
		for _, lib := range libraries {
			b.Run(fmt.Sprintf("size=%dB/impl=%s", size, lib.name), func(b *testing.B) {
				r, span := openWarm(b, lib)
				offs := offsets(1<<20, size, span)
				mask := len(offs) - 1
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					if _, err := r.ReadAt(buf, offs[i&mask]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReadAtParallel: the same reads from GOMAXPROCS goroutines at once
// (ns/op is per read, across all goroutines).
func BenchmarkReadAtParallel(b *testing.B) {
	for _, size := range readSizes {
		for _, lib := range libraries {
			b.Run(fmt.Sprintf("size=%dB/impl=%s", size, lib.name), func(b *testing.B) {
				r, span := openWarm(b, lib)
				offs := offsets(1<<20, size, span)
				mask := len(offs) - 1
				var seed atomic.Int64
				b.SetBytes(int64(size))
				b.RunParallel(func(pb *testing.PB) {
					buf := make([]byte, size)
					i := int(seed.Add(1) * 7919)
					for ; pb.Next(); i++ {
						if _, err := r.ReadAt(buf, offs[i&mask]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// freshRound is how many reads share one mapping in BenchmarkReadAtFresh.
const freshRound = 1024

// BenchmarkReadAtFresh: the file is in the page cache but the mapping is
// new every freshRound reads, so each read of a new page takes a page fault
// (a minor one); the open and close are part of the cost. pread has no
// mapping and is opened the same way.
func BenchmarkReadAtFresh(b *testing.B) {
	for _, size := range readSizes {
		for _, lib := range libraries {
			b.Run(fmt.Sprintf("size=%dB/impl=%s", size, lib.name), func(b *testing.B) {
				path, span := dataFile(b)
				// The page cache is warm; no mapping is.
				r0, err := lib.open(path)
				if err != nil {
					b.Fatal(err)
				}
				warm(b, r0, span)
				r0.Close()
				offs := offsets(1<<20, size, span)
				mask := len(offs) - 1
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				var r reader
				for i := 0; b.Loop(); i++ {
					if i%freshRound == 0 {
						if r != nil {
							r.Close()
						}
						if r, err = lib.open(path); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := r.ReadAt(buf, offs[i&mask]); err != nil {
						b.Fatal(err)
					}
				}
				if r != nil {
					r.Close()
				}
			})
		}
	}
}

// The readers agree on the bytes: the benchmark compares equal work.
func TestLibrariesAgree(t *testing.T) {
	path, span := dataFile(t)
	var want []byte
	offs := offsets(64, 4096, span)
	for _, lib := range libraries {
		r, err := lib.open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 100)
		for _, off := range offs {
			if _, err := r.ReadAt(buf, off); err != nil {
				t.Fatalf("%s: %v", lib.name, err)
			}
			got = append(got, buf...)
		}
		r.Close()
		if want == nil {
			want = got
		} else if string(got) != string(want) {
			t.Errorf("%s reads other bytes than %s", lib.name, libraries[0].name)
		}
	}
}
