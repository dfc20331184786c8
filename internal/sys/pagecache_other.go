//go:build !linux

package sys

// CacheFile is a regular file opened to work on its page cache through the
// descriptor alone; only Linux has it (cachestat(2), posix_fadvise).
type CacheFile struct{}

// OpenCacheFile answers an error matching errors.ErrUnsupported: callers
// map the file instead.
func OpenCacheFile(string) (*CacheFile, error) { return nil, unsupported("cachestat") }

// Size is the file's size when it was opened.
func (*CacheFile) Size() int64 { return 0 }

// Close closes the descriptor.
func (*CacheFile) Close() error { return nil }

// Cached returns how many of the pages holding [off, off+n) are cached.
func (*CacheFile) Cached(off, n int64) (int, error) { return 0, unsupported("cachestat") }

// WillNeed starts reading the pages holding [off, off+n) in the background.
func (*CacheFile) WillNeed(off, n int64) error { return unsupported("fadvise") }

// Incore returns one byte per page holding [off, off+n), bit 0 set when cached.
func (*CacheFile) Incore(off, n int64) ([]byte, error) { return nil, unsupported("mincore") }

// Read reads the pages holding [off, off+n) into the page cache.
func (*CacheFile) Read(off, n int64) error { return unsupported("fadvise") }

// ReadAhead reads the pages holding [off, off+n) into the page cache,
// reading ahead as for a sequential read.
func (*CacheFile) ReadAhead(off, n int64) error { return unsupported("sendfile") }

// Drop writes back and drops the pages holding [off, off+n) from the page cache.
func (*CacheFile) Drop(off, n int64) error { return unsupported("fadvise") }
