package ringnats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
)

// The state file of a shipper or a puller: 4096 bytes, little-endian.
//
//	0     8  magic "MMKNATS\0"
//	8     4  version (1)
//	12    4  kind (1 ship, 2 pull)
//	16   16  ring id
//	32    8  created, Unix ns
//	40    2  length of the stream name
//	42    2  length of the name (subject for ship, consumer for pull)
//	44  256  stream name
//	300 1024 name
//	2044  4  CRC-32 (IEEE) of bytes 0..2043
//	2048 1024 slot A
//	3072 1024 slot B
//
// A slot is {u64 generation, u32 CRC-32 of the payload, u32 payload length,
// payload}. A write goes to the slot the current one is not in, with one
// pwrite, so a torn write (power loss) leaves the other, older slot intact;
// a reader takes the valid slot with the higher generation.
const (
	stateSize    = 4096
	stateVersion = 1
	staticLen    = 2044
	slotA        = 2048
	slotSize     = 1024
	slotHdr      = 16
	maxPayload   = slotSize - slotHdr
	maxStream    = 256
	maxName      = 1024

	kindShip = 1
	kindPull = 2
)

var stateMagic = [8]byte{'M', 'M', 'K', 'N', 'A', 'T', 'S', 0}

// stateHeader is the static part of a state file.
type stateHeader struct {
	kind    uint32
	ring    ID
	created time.Time
	stream  string
	name    string
}

func encodeHeader(h stateHeader) ([]byte, error) {
	if len(h.stream) > maxStream || len(h.name) > maxName {
		return nil, fmt.Errorf("stream name or subject too long (%d and %d bytes; at most %d and %d): %w", len(h.stream), len(h.name), maxStream, maxName, ErrBadName)
	}
	b := make([]byte, stateSize)
	copy(b, stateMagic[:])
	binary.LittleEndian.PutUint32(b[8:], stateVersion)
	binary.LittleEndian.PutUint32(b[12:], h.kind)
	copy(b[16:32], h.ring[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(h.created.UnixNano()))
	binary.LittleEndian.PutUint16(b[40:], uint16(len(h.stream)))
	binary.LittleEndian.PutUint16(b[42:], uint16(len(h.name)))
	copy(b[44:], h.stream)
	copy(b[300:], h.name)
	binary.LittleEndian.PutUint32(b[staticLen:], crc32.ChecksumIEEE(b[:staticLen]))
	return b, nil
}

// decodeState validates a whole state file image and returns its header and
// the payload of its newest valid slot (nil if no slot was ever written).
func decodeState(b []byte) (h stateHeader, gen uint64, payload []byte, err error) {
	if len(b) != stateSize || [8]byte(b[:8]) != stateMagic {
		return h, 0, nil, ErrNotState
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != stateVersion {
		return h, 0, nil, fmt.Errorf("version %d: %w", v, ErrNotState)
	}
	if crc32.ChecksumIEEE(b[:staticLen]) != binary.LittleEndian.Uint32(b[staticLen:]) {
		return h, 0, nil, fmt.Errorf("header checksum mismatch: %w", ErrNotState)
	}
	h.kind = binary.LittleEndian.Uint32(b[12:])
	copy(h.ring[:], b[16:32])
	h.created = time.Unix(0, int64(binary.LittleEndian.Uint64(b[32:])))
	ls, ln := int(binary.LittleEndian.Uint16(b[40:])), int(binary.LittleEndian.Uint16(b[42:]))
	if (h.kind != kindShip && h.kind != kindPull) || ls > maxStream || ln > maxName {
		return h, 0, nil, fmt.Errorf("impossible header values: %w", ErrNotState)
	}
	h.stream = string(b[44 : 44+ls])
	h.name = string(b[300 : 300+ln])
	written := false
	for i := range 2 {
		s := b[slotA+i*slotSize : slotA+(i+1)*slotSize]
		g := binary.LittleEndian.Uint64(s)
		n := int(binary.LittleEndian.Uint32(s[12:]))
		written = written || g != 0
		if g == 0 || n > maxPayload || crc32.ChecksumIEEE(s[slotHdr:slotHdr+n]) != binary.LittleEndian.Uint32(s[8:]) {
			continue
		}
		if g > gen {
			gen, payload = g, s[slotHdr:slotHdr+n]
		}
	}
	if written && payload == nil {
		// A write replaces one slot and leaves the other intact: both
		// failing their checks is damage, not a torn write. Starting over
		// would forget the position.
		return h, 0, nil, fmt.Errorf("neither position slot passes its checksum: %w", ErrNotState)
	}
	return h, gen, payload, nil
}

// defaultStatePath returns the state file a shipper (kind "ship", name the
// subject) or a puller (kind "pull", name the consumer) uses by default:
// beside the ring, named after it, the stream and the name. The stream and
// the name are escaped (escapeName) so that the file is always that one
// name in the ring's directory, whatever characters a subject holds.
func defaultStatePath(ringPath, stream, name, kind string) string {
	return ringPath + "." + escapeName(stream) + "." + escapeName(name) + "." + kind
}

// escapeName makes s fit for one file name on every system: each byte that
// is a path separator ('/', '\'), a character Windows does not allow in
// names (': * ? " < > |'), a control character, '%' itself, or part of an
// invalid UTF-8 sequence becomes "%XX" (upper-case hex). The mapping is
// one-to-one, and leaves the usual subject characters (letters, digits,
// '.', '-', '_', '$' and the like) alone, so the names of subjects made of
// them are what they always were.
func escapeName(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if escapeByte(s[i]) || (r == utf8.RuneError && n <= 1) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !escapeByte(s[i]) && (r != utf8.RuneError || n > 1) {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		fmt.Fprintf(&b, "%%%02X", s[i])
		i++
	}
	return b.String()
}

func escapeByte(c byte) bool {
	return c < 0x20 || c == 0x7f || strings.IndexByte(`/\:*?"<>|%`, c) >= 0
}

// stateFile is an open state file, held with an exclusive lock for as long
// as its shipper or puller runs.
type stateFile struct {
	path string
	f    *os.File
	lock *mmap.FileLock
	hdr  stateHeader
	gen  uint64
	buf  []byte
}

// openState opens (or creates) the state file at path for a shipper or
// puller of hdr.kind and returns the payload of its newest slot (nil for a
// new file, or when the file belonged to another ring: then it starts over
// and reset is true). A file for another stream or name is refused.
func openState(path string, hdr stateHeader) (st *stateFile, payload []byte, reset bool, err error) {
	fail := func(err error) (*stateFile, []byte, bool, error) {
		return nil, nil, false, &fs.PathError{Op: "ringnats: open state", Path: path, Err: err}
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		// A new state file appears with its header written, so that a
		// status reader never sees a half-written one.
		if err := createState(path, hdr); err != nil {
			return fail(err)
		}
	}
	// One open that cannot follow a link or block on a FIFO, with the type
	// checked on the descriptor: a check of the name before the open could
	// be answered by one file and the open by another put there meanwhile.
	f, err := sys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600, true)
	if err != nil {
		return fail(unwrapPath(err))
	}
	closeFail := func(err error) (*stateFile, []byte, bool, error) {
		f.Close()
		return fail(err)
	}
	lock, err := lockState(f)
	if err != nil {
		if errors.Is(err, mmap.ErrLocked) {
			pid := 0
			if b, e := readAll(f); e == nil {
				if _, _, p, e := decodeState(b); e == nil {
					pid = payloadPID(p)
				}
			}
			return closeFail(fmt.Errorf("another process (pid %d) ships or pulls with this state file: %w", pid, ErrLocked))
		}
		return closeFail(err)
	}
	st = &stateFile{path: path, f: f, lock: lock, hdr: hdr}
	b, err := readAll(f)
	if err != nil {
		st.close()
		return fail(err)
	}
	if allZero(b) {
		// A new file (or one created by a process killed before it wrote
		// the header).
		if err := st.writeHeader(); err != nil {
			st.close()
			return fail(err)
		}
		return st, nil, false, nil
	}
	old, gen, payload, err := decodeState(b)
	if err != nil {
		st.close()
		return fail(err)
	}
	if old.kind != hdr.kind || old.stream != hdr.stream || old.name != hdr.name {
		st.close()
		what := "shipper"
		if old.kind == kindPull {
			what = "puller"
		}
		return fail(fmt.Errorf("it is the state of a %s for stream %q, %q: %w", what, old.stream, old.name, ErrStateMismatch))
	}
	if old.ring != hdr.ring {
		// The ring was deleted and created anew: its records are other
		// records, and the position starts over.
		if err := st.writeHeader(); err != nil {
			st.close()
			return fail(err)
		}
		return st, nil, true, nil
	}
	st.hdr.created = old.created
	st.gen = gen
	return st, payload, false, nil
}

// createState creates the state file at path holding only hdr: written to a
// temporary file beside it, then linked into place, which fails if the name
// exists (another shipper or puller created it first: theirs is used). Where
// the file system has no hard links, the header is written in place.
func createState(path string, hdr stateHeader) error {
	if hdr.created.IsZero() {
		hdr.created = time.Now()
	}
	b, err := encodeHeader(hdr)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return nil // a directory we may not create files in: open reports it
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err != nil {
		return unwrapPath(err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil // no hard links here: openState writes the header in place
	}
	return nil
}

// Reading a state file while its shipper writes it sees a whole header and
// at least one whole slot (each write replaces one slot). Should a read
// still come out inconsistent (the page cache promises no atomicity to
// readers), it is read again: a write lasts microseconds, damage stays.
const (
	stateReadTries = 10
	stateReadPause = 20 * time.Millisecond
)

// stateReadHook, when set (by tests), runs after each failed attempt to read
// a state file.
var stateReadHook func(attempt int)

// readState reads a state file without locking it, for status reports.
// running is true when a shipper or puller holds it.
func readState(path string) (h stateHeader, payload []byte, running bool, err error) {
	for attempt := 1; ; attempt++ {
		h, payload, running, err = readStateOnce(path)
		if err == nil || !errors.Is(err, ErrNotState) || attempt == stateReadTries {
			return h, payload, running, err
		}
		if stateReadHook != nil {
			stateReadHook(attempt)
		}
		time.Sleep(stateReadPause)
	}
}

func readStateOnce(path string) (h stateHeader, payload []byte, running bool, err error) {
	fail := func(err error) (stateHeader, []byte, bool, error) {
		return h, nil, false, &fs.PathError{Op: "ringnats: read state", Path: path, Err: err}
	}
	f, err := sys.OpenFile(path, os.O_RDONLY, 0, true)
	if err != nil {
		return fail(unwrapPath(err))
	}
	defer f.Close()
	b, err := readAll(f)
	if err != nil {
		return fail(err)
	}
	if allZero(b) {
		// Created a moment ago by a shipper or puller that has not
		// written its header yet: as good as no state file.
		return fail(fmt.Errorf("empty, not written yet: %w", fs.ErrNotExist))
	}
	h, _, payload, err = decodeState(b)
	if err != nil {
		return fail(err)
	}
	if l, err := mmap.TryLockFile(f, false); err != nil {
		running = errors.Is(err, mmap.ErrLocked)
	} else {
		l.Unlock()
	}
	return h, payload, running, nil
}

// lockState takes the exclusive lock of a shipper or puller on its state
// file. A status report (readState) holds a shared lock for a moment to see
// whether anyone runs: that must not make a starting shipper fail, so while
// a shared lock can still be taken (no shipper or puller holds the file,
// only observers do) it tries again. An exclusive holder fails it at once.
func lockState(f *os.File) (*mmap.FileLock, error) {
	for try := 0; ; try++ {
		lock, err := mmap.TryLockFile(f, true)
		if err == nil || !errors.Is(err, mmap.ErrLocked) || try == 1000 {
			return lock, err
		}
		sh, e := mmap.TryLockFile(f, false)
		if e != nil {
			return nil, err // held exclusively: another shipper or puller
		}
		sh.Unlock()
		runtime.Gosched()
	}
}

func (st *stateFile) writeHeader() error {
	if st.hdr.created.IsZero() {
		st.hdr.created = time.Now()
	}
	b, err := encodeHeader(st.hdr)
	if err != nil {
		return err
	}
	if _, err := st.f.WriteAt(b, 0); err != nil {
		return unwrapPath(err)
	}
	st.gen = 0
	return nil
}

// write stores payload in the next slot with one pwrite. It survives the
// death of the process at once (the page cache); sync makes it survive a
// power loss.
func (st *stateFile) write(payload []byte) error {
	if len(payload) > maxPayload {
		panic("ringnats: state payload too large")
	}
	st.gen++
	off := slotA + int64(st.gen&1)*slotSize
	st.buf = appendSlot(st.buf[:0], st.gen, payload)
	if _, err := st.f.WriteAt(st.buf, off); err != nil {
		return &fs.PathError{Op: "ringnats: write state", Path: st.path, Err: unwrapPath(err)}
	}
	return nil
}

// appendSlot appends the slot of generation gen holding payload to b.
func appendSlot(b []byte, gen uint64, payload []byte) []byte {
	var h [slotHdr]byte
	binary.LittleEndian.PutUint64(h[:], gen)
	binary.LittleEndian.PutUint32(h[8:], crc32.ChecksumIEEE(payload))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(payload)))
	return append(append(b, h[:]...), payload...)
}

func (st *stateFile) sync() error {
	if err := st.f.Sync(); err != nil {
		return &fs.PathError{Op: "ringnats: sync state", Path: st.path, Err: unwrapPath(err)}
	}
	return nil
}

func (st *stateFile) close() error {
	err := st.lock.Unlock()
	if e := st.f.Close(); err == nil {
		err = e
	}
	return err
}

func readAll(f *os.File) ([]byte, error) {
	b := make([]byte, stateSize)
	n, err := f.ReadAt(b, 0)
	if err == io.EOF || (err == nil && n == stateSize) {
		if n == 0 {
			return b, nil // empty: all zero
		}
		if n != stateSize {
			return nil, fmt.Errorf("%d bytes long, a state file has %d: %w", n, stateSize, ErrNotState)
		}
		return b, nil
	}
	if err != nil {
		return nil, unwrapPath(err)
	}
	return b, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
