package bench

import (
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/mmapkit/mmapkit/mmap"
)

// A Spec tells a child process what to run.
type Spec struct {
	Method  string `json:"method"`
	File    string `json:"file"`
	Offsets string `json:"offsets,omitempty"` // offsets file (random methods)
	Block   int64  `json:"block"`             // bytes per read (the chunk size for sequential methods)
	Python  string `json:"python,omitempty"`  // interpreter, for Python methods
	Script  string `json:"script,omitempty"`  // the Python script
}

// work is what a method does in the child: setup (open, map, advise, load)
// then access (the reads). Splitting them lets the report show, say, that
// MAP_POPULATE moves the cost into setup rather than removing it.
type work struct {
	setup  func() error
	access func() error
	// floor, if set, repeats the reads with the pages already mapped; its
	// time is the mapped-copy floor the warm results are judged against.
	floor   func() error
	cleanup func()
	sums    Checksums
}

type methodFunc func(s Spec, offs []int64) (*work, error)

// Method describes one benchmark method.
type Method struct {
	Name string
	Desc string
	Kind Kind
	run  methodFunc
}

// Kind says which table a method belongs to.
type Kind int

// Method kinds.
const (
	Random     Kind = iota // the classic random-read table
	Sequential             // `bench seq`
	Python                 // the source's Python methods (--compare-python)
)

var methods = map[string]*Method{}

func register(name string, kind Kind, desc string, run methodFunc) {
	methods[name] = &Method{Name: name, Desc: desc, Kind: kind, run: run}
}

// MethodNames returns the names of the methods of a kind, in table order.
func MethodNames(kind Kind) []string {
	var names []string
	for n, m := range methods {
		if m.Kind == kind {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	return names
}

var tableOrder = []string{
	"pread", "mmap-copy", "mmap-random", "mmap-zerocopy", "mmap-populate", "mmap-prefetch", "readall",
	"py-seek-read", "py-mmap", "py-mmap-random", "py-readall",
	"seq-pread-1m", "seq-mmap-normal", "seq-mmap-sequential",
}

func order(name string) int {
	for i, n := range tableOrder {
		if n == name {
			return i
		}
	}
	return len(tableOrder)
}

// LookupMethod returns the method called name.
func LookupMethod(name string) (*Method, bool) {
	m, ok := methods[name]
	return m, ok
}

func init() {
	register("pread", Random, "os.File.ReadAt (pread) into a 4 KiB buffer", methodPread)
	register("mmap-copy", Random, "Region.ReadAt: copy out of the mapping", mmapCopy(false, false))
	register("mmap-random", Random, "Region.ReadAt with Random advice (MADV_RANDOM)", mmapCopy(true, false))
	register("mmap-populate", Random, "mapping populated at map time (MAP_POPULATE), then Region.ReadAt", mmapCopy(false, true))
	register("mmap-zerocopy", Random, "checksum in place inside Region.Do, no copy", methodZeroCopy)
	register("mmap-prefetch", Random, "Random advice + Region.PrefetchOffsets of all offsets (many reads in flight), then Region.ReadAt", methodPrefetch)
	register("readall", Random, "read the whole file into the heap, then index it", methodReadAll)

	register("seq-pread-1m", Sequential, "pread with a 1 MiB buffer over the whole file", seqPread)
	register("seq-mmap-normal", Sequential, "mapping with Normal advice, checksum in place", seqMmap(mmap.AdviceNormal))
	register("seq-mmap-sequential", Sequential, "mapping with Sequential advice (MADV_SEQUENTIAL), checksum in place", seqMmap(mmap.AdviceSequential))

	for _, p := range []struct{ name, desc string }{
		{"py-seek-read", "Python f.seek()+f.read()"},
		{"py-mmap", "Python mmap slice mm[off:off+block]"},
		{"py-mmap-random", "Python mmap + madvise(MADV_RANDOM), slice"},
		{"py-readall", "Python f.read() of the whole file, then slice"},
	} {
		register(p.name, Python, p.desc, nil)
	}
}

func methodPread(s Spec, offs []int64) (*work, error) {
	w := &work{}
	var f *os.File
	buf := make([]byte, s.Block)
	w.setup = func() (err error) {
		f, err = os.Open(s.File)
		return err
	}
	w.access = func() error {
		return readBlocks(f, offs, buf, &w.sums)
	}
	w.cleanup = func() { f.Close() }
	return w, nil
}

func openRegion(s Spec, opts *mmap.Options) (*mmap.Region, error) {
	return mmap.Open(s.File, mmap.ReadOnly, opts)
}

// readBlocks reads the block at every offset through ra into buf and folds
// it into sums: the access loop of every copying method.
func readBlocks(ra io.ReaderAt, offs []int64, buf []byte, sums *Checksums) error {
	for i, off := range offs {
		if _, err := ra.ReadAt(buf, off); err != nil {
			return err
		}
		sums.add(i, buf)
	}
	return nil
}

func mmapCopy(random, populate bool) methodFunc {
	return func(s Spec, offs []int64) (*work, error) {
		w := &work{}
		var r *mmap.Region
		buf := make([]byte, s.Block)
		w.setup = func() (err error) {
			r, err = openRegion(s, &mmap.Options{Populate: populate})
			if err != nil {
				return err
			}
			if random {
				return r.Advise(mmap.AdviceRandom)
			}
			return nil
		}
		w.access = func() error {
			return readBlocks(r, offs, buf, &w.sums)
		}
		if !random && !populate {
			w.floor = func() error {
				var sums Checksums
				if err := readBlocks(r, offs, buf, &sums); err != nil {
					return err
				}
				if sums != w.sums {
					return fmt.Errorf("second pass read different bytes")
				}
				return nil
			}
		}
		w.cleanup = func() { r.Close() }
		return w, nil
	}
}

func zeroCopyAccess(r *mmap.Region, block int64, offs []int64, sums *Checksums) error {
	return r.Do(func(b []byte) error {
		for i, off := range offs {
			sums.add(i, b[off:off+block])
		}
		return nil
	})
}

func methodZeroCopy(s Spec, offs []int64) (*work, error) {
	w := &work{}
	var r *mmap.Region
	w.setup = func() (err error) {
		r, err = openRegion(s, nil)
		return err
	}
	w.access = func() error { return zeroCopyAccess(r, s.Block, offs, &w.sums) }
	w.cleanup = func() { r.Close() }
	return w, nil
}

// methodPrefetch is the cold-random method: every read is requested up front
// with PrefetchOffsets (asynchronous, so the device sees dozens of requests
// at once), and the copy-out pass then waits at most for the read of the page
// it touches. Random advice keeps a page that is not yet requested from
// pulling in a read-around window.
func methodPrefetch(s Spec, offs []int64) (*work, error) {
	w := &work{}
	var r *mmap.Region
	w.setup = func() (err error) {
		r, err = openRegion(s, nil)
		if err != nil {
			return err
		}
		return r.Advise(mmap.AdviceRandom)
	}
	w.access = func() error {
		if err := r.PrefetchOffsets(offs, int(s.Block)); err != nil {
			return err
		}
		buf := make([]byte, s.Block)
		return readBlocks(r, offs, buf, &w.sums)
	}
	w.cleanup = func() { r.Close() }
	return w, nil
}

func methodReadAll(s Spec, offs []int64) (*work, error) {
	w := &work{}
	var data []byte
	w.setup = func() error {
		f, err := os.Open(s.File)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		data = make([]byte, fi.Size())
		_, err = io.ReadFull(f, data)
		return err
	}
	w.access = func() error {
		for i, off := range offs {
			w.sums.add(i, data[off:off+s.Block])
		}
		return nil
	}
	w.cleanup = func() { data = nil }
	return w, nil
}

// Sequential methods fold chunk j (s.Block bytes, the last one shorter) into
// the checksum as block j, so all three agree.

func seqChunks(size, chunk int64) int { return int((size + chunk - 1) / chunk) }

func seqPread(s Spec, _ []int64) (*work, error) {
	w := &work{}
	var f *os.File
	var size int64
	buf := make([]byte, s.Block)
	w.setup = func() error {
		var err error
		f, err = os.Open(s.File)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		size = fi.Size()
		return err
	}
	w.access = func() error {
		for j := range seqChunks(size, s.Block) {
			off := int64(j) * s.Block
			n := min(s.Block, size-off)
			if _, err := io.ReadFull(io.NewSectionReader(f, off, n), buf[:n]); err != nil {
				return err
			}
			w.sums.add(j, buf[:n])
		}
		return nil
	}
	w.cleanup = func() { f.Close() }
	return w, nil
}

func seqMmap(adv mmap.Advice) methodFunc {
	return func(s Spec, _ []int64) (*work, error) {
		w := &work{}
		var r *mmap.Region
		w.setup = func() (err error) {
			r, err = openRegion(s, nil)
			if err != nil {
				return err
			}
			return r.Advise(adv)
		}
		w.access = func() error {
			return r.Do(func(b []byte) error {
				size := int64(len(b))
				for j := range seqChunks(size, s.Block) {
					off := int64(j) * s.Block
					w.sums.add(j, b[off:min(off+s.Block, size)])
				}
				return nil
			})
		}
		w.cleanup = func() { r.Close() }
		return w, nil
	}
}

// timeIt runs fn and returns its duration.
func timeIt(fn func() error) (time.Duration, error) {
	t := time.Now()
	err := fn()
	return time.Since(t), err
}
