package ringnats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// The puller's table of runs (see run): for each source ring it saw, the
// runsPerRing runs of that ring it extended last, for up to maxRings rings
// (the rings used longest ago are forgotten first). A stream fed by many
// rings (one subject per host) interleaves their records, so one list of
// runs over all rings, as the state file's slot holds, would forget a
// ring's run a few messages after it was extended; kept per ring, a record
// shipped twice is recognised however many rings feed the stream.
//
// The slot keeps the maxRuns runs extended last (it is written before each
// append); the whole table is saved beside the state file, in
// "<state file>.runs", about once a second and at Close. After a crash the
// table is the saved one updated with the slot's runs: what it lacks (runs
// extended in the last second, beyond the slot's) only makes a record
// shipped twice count as suspect instead of being skipped.
const (
	runsPerRing = 4
	maxRings    = 4096
)

// ringRuns are one source ring's runs, most recently extended first.
type ringRuns struct {
	runs []run
	used uint64 // the table's clock when a run was last extended
}

// runTable holds the runs by source ring. The Puller guards it with mu.
type runTable struct {
	rings map[ID]*ringRuns
	clock uint64
	// evicted counts rings forgotten because maxRings were remembered.
	evicted uint64
}

func newRunTable() *runTable { return &runTable{rings: make(map[ID]*ringRuns)} }

// lookup returns a copy of the runs of ring id.
func (t *runTable) lookup(id ID) []run {
	rr := t.rings[id]
	if rr == nil {
		return nil
	}
	return append([]run(nil), rr.runs...)
}

// add records that mark's record was appended at the local sequence number
// at (see put).
func (t *runTable) add(mark pullMark, at uint64) {
	if mark.hasID {
		t.put(run{id: mark.id, lo: mark.seq, hi: mark.seq, at: at})
	}
}

// put merges r into its ring's runs: it extends the run it continues (the
// next records, appended right after it), widens a run with the same start,
// or becomes a new run, dropping the ring's run extended longest ago
// beyond runsPerRing.
func (t *runTable) put(r run) {
	t.clock++
	rr := t.rings[r.id]
	if rr == nil {
		if len(t.rings) >= maxRings {
			t.evictOldest()
		}
		rr = &ringRuns{}
		t.rings[r.id] = rr
	}
	rr.used = t.clock
	for i, x := range rr.runs {
		switch {
		case x.hi < math.MaxUint64 && r.lo == x.hi+1 && x.at <= math.MaxUint64-(x.hi-x.lo)-1 && r.at == x.at+(x.hi-x.lo)+1:
			x.hi = r.hi
		case r.lo == x.lo && r.at == x.at:
			x.hi = max(x.hi, r.hi)
		default:
			continue
		}
		copy(rr.runs[1:i+1], rr.runs[:i])
		rr.runs[0] = x
		return
	}
	if len(rr.runs) < runsPerRing {
		rr.runs = append(rr.runs, run{})
	}
	copy(rr.runs[1:], rr.runs[:len(rr.runs)-1])
	rr.runs[0] = r
}

// evictOldest forgets the ring whose runs were extended longest ago.
func (t *runTable) evictOldest() {
	var oldest ID
	first := true
	var used uint64
	for id, rr := range t.rings {
		if first || rr.used < used {
			oldest, used, first = id, rr.used, false
		}
	}
	delete(t.rings, oldest)
	t.evicted++
}

// all returns every run, the rings extended longest ago first and each
// ring's runs oldest first, so that putting them back in order rebuilds
// the table.
func (t *runTable) all() []run {
	ids := make([]ID, 0, len(t.rings))
	for id := range t.rings {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return t.rings[ids[i]].used < t.rings[ids[j]].used })
	var out []run
	for _, id := range ids {
		rs := t.rings[id].runs
		for i := len(rs) - 1; i >= 0; i-- {
			out = append(out, rs[i])
		}
	}
	return out
}

// The runs file: "MMKRUNS\0", the local ring's ID (16 bytes), the number of
// runs (u32), the CRC-32 (IEEE) of the runs, then the runs, 40 bytes each
// (source ring ID, lo, hi, at), little-endian.
var runsMagic = [8]byte{'M', 'M', 'K', 'R', 'U', 'N', 'S', 0}

const (
	runsHdr     = 32
	maxRunsFile = runsHdr + runLen*maxRings*runsPerRing
)

func encodeRuns(local ID, runs []run) []byte {
	b := make([]byte, runsHdr+runLen*len(runs))
	copy(b, runsMagic[:])
	copy(b[8:24], local[:])
	binary.LittleEndian.PutUint32(b[24:], uint32(len(runs)))
	for i, r := range runs {
		o := b[runsHdr+runLen*i:]
		copy(o, r.id[:])
		binary.LittleEndian.PutUint64(o[16:], r.lo)
		binary.LittleEndian.PutUint64(o[24:], r.hi)
		binary.LittleEndian.PutUint64(o[32:], r.at)
	}
	binary.LittleEndian.PutUint32(b[28:], crc32.ChecksumIEEE(b[runsHdr:]))
	return b
}

// decodeRuns validates a runs file for the local ring and returns its runs.
func decodeRuns(b []byte, local ID) ([]run, error) {
	if len(b) < runsHdr || [8]byte(b[:8]) != runsMagic {
		return nil, fmt.Errorf("not a runs file: %w", ErrNotState)
	}
	if ID(b[8:24]) != local {
		return nil, fmt.Errorf("runs of another ring: %w", ErrStateMismatch)
	}
	n := int(binary.LittleEndian.Uint32(b[24:]))
	if n > maxRings*runsPerRing || len(b) != runsHdr+runLen*n {
		return nil, fmt.Errorf("%d runs in %d bytes: %w", n, len(b), ErrNotState)
	}
	if crc32.ChecksumIEEE(b[runsHdr:]) != binary.LittleEndian.Uint32(b[28:]) {
		return nil, fmt.Errorf("checksum mismatch: %w", ErrNotState)
	}
	runs := make([]run, n)
	for i := range runs {
		o := b[runsHdr+runLen*i:]
		r := run{id: ID(o[:16]), lo: binary.LittleEndian.Uint64(o[16:]), hi: binary.LittleEndian.Uint64(o[24:]), at: binary.LittleEndian.Uint64(o[32:])}
		if r.lo > r.hi || r.at > math.MaxUint64-(r.hi-r.lo) {
			return nil, fmt.Errorf("impossible run %d..%d at %d: %w", r.lo, r.hi, r.at, ErrNotState)
		}
		runs[i] = r
	}
	return runs, nil
}

// readRuns reads the runs file at path (nil, nil if there is none). It
// refuses what is not a regular file without following a link.
func readRuns(path string, local ID) ([]run, error) {
	f, err := sys.OpenFile(path, os.O_RDONLY, 0, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "ringnats: read runs", Path: path, Err: unwrapPath(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRunsFile+1))
	if err == nil {
		var runs []run
		if runs, err = decodeRuns(b, local); err == nil {
			return runs, nil
		}
	}
	return nil, &fs.PathError{Op: "ringnats: read runs", Path: path, Err: unwrapPath(err)}
}

// writeRuns replaces the runs file at path: written to a temporary file
// beside it (0600), then renamed over it, so that a reader sees the old
// file or the new one, whole.
func writeRuns(path string, local ID, runs []run) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return &fs.PathError{Op: "ringnats: write runs", Path: path, Err: unwrapPath(err)}
	}
	_, err = tmp.Write(encodeRuns(local, runs))
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return &fs.PathError{Op: "ringnats: write runs", Path: path, Err: unwrapPath(err)}
	}
	return nil
}
