package sys

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// cacheTestFile writes a file of pages pages and drops it from the page
// cache, then reads the pages in resident (one byte each, with read-around
// off), so that exactly those pages are cached.
func cacheTestFile(t *testing.T, pages int, resident []int) string {
	t.Helper()
	ps := PageSize()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, pages*ps), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // dirty pages are not dropped
		t.Fatal(err)
	}
	if err := Fadvise(f.Fd(), 0, 0, FadvDontNeed); err != nil {
		t.Fatal(err)
	}
	if err := Fadvise(f.Fd(), 0, 0, FadvRandom); err != nil {
		t.Fatal(err)
	}
	for _, p := range resident {
		if _, err := f.ReadAt(make([]byte, 1), int64(p*ps)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func incorePages(t *testing.T, f *CacheFile) []int {
	t.Helper()
	vec, err := f.Incore(0, f.Size())
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for p, v := range vec {
		if v&1 != 0 {
			got = append(got, p)
		}
	}
	return got
}

// Cached counts like mincore, with cachestat and with the fallback, on
// ranges that start and end inside pages.
func TestCacheFileCached(t *testing.T) {
	ps := int64(PageSize())
	path := cacheTestFile(t, 32, []int{0, 1, 5, 6, 7, 31})
	f, err := OpenCacheFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 32*ps {
		t.Fatalf("size %d", f.Size())
	}
	if got := incorePages(t, f); !slices.Equal(got, []int{0, 1, 5, 6, 7, 31}) {
		t.Fatalf("set-up: resident pages %v", got)
	}
	for _, fallback := range []bool{false, true} {
		noCachestat.Store(fallback)
		for _, tc := range []struct {
			off, n int64
			want   int
		}{
			{0, 32 * ps, 6},
			{0, 1, 1},
			{ps + 1, 1, 1},       // inside page 1
			{ps - 1, 2, 2},       // pages 0 and 1
			{2 * ps, 3 * ps, 0},  // pages 2-4
			{4*ps + 1, ps, 1},    // pages 4 and 5
			{5*ps + 1, ps, 2},    // pages 5 and 6
			{6 * ps, 26 * ps, 3}, // to the end
		} {
			got, err := f.Cached(tc.off, tc.n)
			if err != nil || got != tc.want {
				t.Errorf("fallback %v: Cached(%d, %d) = %d, %v; want %d", fallback, tc.off, tc.n, got, err, tc.want)
			}
		}
	}
	noCachestat.Store(false)
	if _, err := f.Cached(0, 0); err == nil {
		t.Error("Cached of an empty range: no error")
	}
}

// Read reads exactly the pages of the range, also where the kernel would
// read around them (the file is not read to its end), with sendfile and
// with the pread fallback.
func TestCacheFileRead(t *testing.T) {
	ps := int64(PageSize())
	for _, fallback := range []bool{false, true} {
		noSendfile.Store(fallback)
		path := cacheTestFile(t, 64, nil)
		f, err := OpenCacheFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WillNeed(2*ps, 2*ps); err != nil {
			t.Fatal(err)
		}
		// Pages 2-3 are started; 4-9 are not, and are read by Read alone.
		if err := f.Read(2*ps+1, 7*ps); err != nil {
			t.Fatal(err)
		}
		want := []int{2, 3, 4, 5, 6, 7, 8, 9}
		if got := incorePages(t, f); !slices.Equal(got, want) {
			t.Errorf("fallback %v: resident pages %v, want %v", fallback, got, want)
		}
		if err := f.Read(60*ps, 8*ps); err == nil {
			t.Errorf("fallback %v: Read past the end: no error", fallback)
		}
		f.Close()
	}
	noSendfile.Store(false)
}

// ReadAhead from several goroutines at once, on parts of a whole file,
// leaves every page of it cached, with sendfile and with the fallback.
func TestCacheFileReadAhead(t *testing.T) {
	ps := int64(PageSize())
	const pages, parts = 256, 8
	for _, fallback := range []bool{false, true} {
		noSendfile.Store(fallback)
		f, err := OpenCacheFile(cacheTestFile(t, pages, nil))
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, parts)
		for i := range int64(parts) {
			go func() { errs <- f.ReadAhead(i*pages/parts*ps, pages/parts*ps) }()
		}
		for range parts {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got, err := f.Cached(0, f.Size()); err != nil || got != pages {
			t.Errorf("fallback %v: %d of %d pages cached (%v)", fallback, got, pages, err)
		}
		if err := f.ReadAhead((pages-2)*ps, 4*ps); err == nil {
			t.Errorf("fallback %v: ReadAhead past the end: no error", fallback)
		}
		f.Close()
	}
	noSendfile.Store(false)
}

// Anything but a regular file is refused, a FIFO without blocking.
func TestOpenCacheFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{fifo, dir} {
		if _, err := OpenCacheFile(name); !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v, want ErrNotRegular", name, err)
		}
	}
	if _, err := OpenCacheFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// Drop drops exactly the pages of the range, dirty ones too.
func TestCacheFileDrop(t *testing.T) {
	ps := int64(PageSize())
	path := cacheTestFile(t, 16, pageList(0, 16))
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt([]byte("dirty"), 5*ps); err != nil {
		t.Fatal(err)
	}
	f, err := OpenCacheFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Drop(4*ps+1, 2*ps); err != nil { // pages 4-6
		t.Fatal(err)
	}
	if got, want := incorePages(t, f), append(pageList(0, 4), pageList(7, 16)...); !slices.Equal(got, want) {
		t.Errorf("resident pages %v, want %v", got, want)
	}
}

func pageList(lo, hi int) []int {
	var p []int
	for i := lo; i < hi; i++ {
		p = append(p, i)
	}
	return p
}
