package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/units"
)

// Errors for bad input, matchable with errors.Is.
var (
	// ErrBadSize: a size, block or read count that cannot be used.
	ErrBadSize = errors.New("bench: bad size")
	// ErrNoSpace: not enough free disk space for the data file.
	ErrNoSpace = errors.New("bench: not enough free disk space")
	// ErrNotDataFile: a file that is not a mmapkit benchmark data file where one
	// was required.
	ErrNotDataFile = errors.New("bench: not a mmapkit benchmark data file")
)

// The data file starts with a header so a later run can tell that the file is
// complete and was made with the same size and seed. Everything else is
// pseudo-random, never zero pages, so no filesystem or kernel shortcut (sparse
// extents, the shared zero page) can make a method look faster than it is.
const (
	headerMagic = "MMAPKIT-BENCH-v1"
	headerLen   = 48 // magic 16, size 8, seed 8, header hash 8, reserved 8
)

// MinDataSize is the smallest data file the benchmark creates.
const MinDataSize = 64 << 10

// DataHeader is what the header of a data file records.
type DataHeader struct {
	Size int64
	Seed uint64
}

func encodeHeader(h DataHeader) []byte {
	b := make([]byte, headerLen)
	copy(b, headerMagic)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.Size))
	binary.LittleEndian.PutUint64(b[24:], h.Seed)
	f := fnv.New64a()
	f.Write(b[:32])
	binary.LittleEndian.PutUint64(b[32:], f.Sum64())
	binary.LittleEndian.PutUint64(b[40:], 0x5a5a5a5a5a5a5a5a) // keeps the header non-zero
	return b
}

// ReadHeader reads and validates the header of a data file. A file that is not
// one returns an error matching ErrNotDataFile.
func ReadHeader(path string) (DataHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return DataHeader{}, err
	}
	defer f.Close()
	b := make([]byte, headerLen)
	if _, err := io.ReadFull(f, b); err != nil {
		return DataHeader{}, fmt.Errorf("%s: %w (too short for a header)", path, ErrNotDataFile)
	}
	if string(b[:16]) != headerMagic {
		return DataHeader{}, fmt.Errorf("%s: %w (no header)", path, ErrNotDataFile)
	}
	h := fnv.New64a()
	h.Write(b[:32])
	if binary.LittleEndian.Uint64(b[32:]) != h.Sum64() {
		return DataHeader{}, fmt.Errorf("%s: %w (header checksum mismatch)", path, ErrNotDataFile)
	}
	return DataHeader{Size: int64(binary.LittleEndian.Uint64(b[16:])), Seed: binary.LittleEndian.Uint64(b[24:])}, nil
}

// splitmix64 is the content generator: word k of the file is mix(seed, k), so
// any chunk can be generated independently (in parallel, or to spot-check a
// reused file).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func contentWord(seed uint64, k int64) uint64 {
	return splitmix64(seed ^ uint64(k)*0xd1b54a32d192ed03)
}

// fillChunk fills b, which starts at file offset off (a multiple of 8), with
// the content words, then puts the header over the start of the file.
func fillChunk(b []byte, off int64, h DataHeader) {
	k := off / 8
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], contentWord(h.Seed, k))
		k++
	}
	if rem := len(b) % 8; rem != 0 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], contentWord(h.Seed, k))
		copy(b[len(b)-rem:], w[:])
	}
	if off < headerLen {
		copy(b, encodeHeader(h)[off:])
	}
}

// CheckDataFile reports whether path is a complete data file for h: the header
// matches, the length matches and a few words of content are what the
// generator makes.
func CheckDataFile(path string, h DataHeader) (bool, error) {
	got, err := ReadHeader(path)
	if err != nil {
		if errors.Is(err, ErrNotDataFile) || errors.Is(err, os.ErrNotExist) || sys.IsNotDir(err) {
			return false, nil // to be created (which reports why it cannot be)
		}
		return false, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if got != h || fi.Size() != h.Size {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := make([]byte, 4096)
	have := make([]byte, 4096)
	for i := int64(1); i <= 8; i++ {
		off := (h.Size - int64(len(want))) / 8 * i / 8 * 8
		if off < headerLen {
			off = headerLen / 8 * 8
		}
		n := min(int64(len(want)), h.Size-off)
		fillChunk(want[:n], off, h)
		if _, err := f.ReadAt(have[:n], off); err != nil {
			return false, err
		}
		if string(want[:n]) != string(have[:n]) {
			return false, nil
		}
	}
	return true, nil
}

// DefaultDataPath is where the default data file lives: the user's cache
// directory, named by size and seed.
func DefaultDataPath(h DataHeader) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("bench: no cache directory for the data file (use --file): %w", err)
	}
	return filepath.Join(dir, "mmapkit", fmt.Sprintf("bench-%d-%x.dat", h.Size, h.Seed)), nil
}

// CheckSpace returns an error matching ErrNoSpace unless the filesystem holding
// dir has room for need bytes plus a small margin. dir is created if missing.
func CheckSpace(dir string, need int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: cannot create directory for the data file: %w", err)
	}
	free, err := sys.DiskFree(dir)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return nil // cannot tell: the write itself will report a full disk
		}
		return fmt.Errorf("bench: free space of %s: %w", dir, err)
	}
	const margin = 64 << 20
	if free < need+margin {
		return fmt.Errorf("%w on %s: the data file needs %s, %s free (use --size or --file)", ErrNoSpace, dir, units.FormatBytes(need), units.FormatBytes(free))
	}
	return nil
}

// CheckWritable fails early (before any long work) when a file cannot be
// created at path: it creates and removes a small probe file next to it. With
// mkdir, missing directories are created (the data file's place in the
// cache directory); without, a missing directory is an error: a place the
// user named is never created behind their back.
func CheckWritable(path string, mkdir bool) error {
	dir := filepath.Dir(path)
	if mkdir {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create the directory %s: %w", dir, err)
		}
	} else if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("cannot create %s: %s is not a directory", path, dir)
	}
	probe, err := os.CreateTemp(dir, ".mmapkit-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	name := probe.Name()
	probe.Close()
	return os.Remove(name)
}

// CreateDataFile writes a data file of h.Size bytes at path. It writes to a
// temporary name and renames it into place when complete, so an interrupted
// run (ctx cancelled, Ctrl-C, a full disk) never leaves a half-written file
// that a later run could mistake for a good one: the partial file is removed.
// progress, if not nil, is called with the number of bytes written so far.
func CreateDataFile(ctx context.Context, path string, h DataHeader, progress func(int64)) (err error) {
	if h.Size < MinDataSize {
		return fmt.Errorf("%w: data file of %d bytes is smaller than the minimum %s", ErrBadSize, h.Size, units.FormatBytes(MinDataSize))
	}
	if err := CheckSpace(filepath.Dir(path), h.Size); err != nil {
		return err
	}
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("bench: create data file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Reserve the blocks first where the filesystem can, so a full disk shows
	// up now and not after minutes of writing.
	if err := sys.Fallocate(f.Fd(), 0, h.Size); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("bench: reserve %s for the data file: %w", units.FormatBytes(h.Size), err)
	}

	const chunk = 4 << 20
	type job struct {
		off int64
		buf []byte
	}
	// Generating is about as fast as the disk takes the data: chunks are
	// filled in parallel (bounded by the free buffers) and written in order.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, min(runtime.NumCPU(), 4))
	free := make(chan []byte, workers+2)
	for range workers + 2 {
		free <- make([]byte, chunk)
	}
	order := make(chan chan job, workers+2)
	go func() {
		defer close(order)
		for off := int64(0); off < h.Size; off += chunk {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			c := make(chan job, 1)
			select {
			case order <- c:
			case <-ctx.Done():
				return
			}
			go func(j job) {
				fillChunk(j.buf, j.off, h)
				c <- j
			}(job{off, buf[:min(int64(chunk), h.Size-off)]})
		}
	}()
	var written int64
	for c := range order {
		var j job
		select {
		case j = <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, err := f.WriteAt(j.buf, j.off); err != nil {
			return fmt.Errorf("bench: write data file: %w", err)
		}
		written += int64(len(j.buf))
		free <- j.buf[:cap(j.buf)]
		if progress != nil {
			progress(written)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("bench: sync data file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: close data file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bench: put data file in place: %w", err)
	}
	return nil
}
