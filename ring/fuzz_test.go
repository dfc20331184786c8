package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	fuzzBaseOnce sync.Once
	fuzzBase     [2][]byte // valid ring images that have wrapped: Overwrite, Block
)

// FuzzOpen damages a valid ring file (a list of byte edits, optionally with
// the header checksum recomputed so that damage to the fields behind it is
// reached) and checks that readers and a recovering writer refuse it or cope:
// no panic, no endless loop, and after recovery only intact records.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1})
	f.Add([]byte{0x80, 0x10, 0x00, 0x05})                   // capacity byte, CRC fixed
	f.Add([]byte{0x81, 0x00, 0x01, 0xFF})                   // limit word
	f.Add([]byte{0x80, 0x08, 0x01, 0x00, 0x10, 0x01, 0x40}) // oldest word
	f.Add([]byte{0x00, 0x00, 0x10, 0x00})                   // first frame's commit word
	f.Add([]byte{0x01, 0x08, 0x08, 0x01})                   // a reader slot's owner
	f.Fuzz(func(t *testing.T, edits []byte) {
		fuzzBaseOnce.Do(func() {
			fuzzBase[0] = ringBytes(t, 150, Overwrite)
			fuzzBase[1] = ringBytes(t, 30, Block)
		})
		if len(edits) == 0 {
			return
		}
		img := append([]byte(nil), fuzzBase[edits[0]&1]...)
		for e := edits[1:]; len(e) >= 3; e = e[3:] {
			off := int(binary.LittleEndian.Uint16(e)) % len(img)
			img[off] = e[2]
		}
		if edits[0]&0x80 != 0 {
			binary.LittleEndian.PutUint32(img[offStaticCRC:], crc32.ChecksumIEEE(img[:staticLen]))
		}
		path := filepath.Join(t.TempDir(), "fuzz.ring")
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		// Read-only: every record yielded is intact; the scan ends.
		if r, err := OpenReader(path, &ReaderOptions{Observe: true}); err == nil {
			readAllBounded(t, r, false)
			r.SeekNewest()
			r.SeekEnd()
			r.SeekSeq(r.Seq() + 1)
			r.Close()
		}
		w, err := OpenWriter(path, nil)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrNotRing) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		defer w.Close()
		next := w.Next()
		for i := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			seq, err := w.AppendContext(ctx, []byte("fuzz"))
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				return // a Block ring held by a (forged) live reader slot
			}
			if errors.Is(err, ErrTooLarge) && w.MaxRecord() < 4 {
				return // a (valid) header with a tiny max record
			}
			if err != nil || seq != next+uint64(i) {
				t.Fatalf("append after recovery: %d %v", seq, err)
			}
		}
		r, err := OpenReader(path, &ReaderOptions{Observe: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		last := readAllBounded(t, r, true)
		if last == nil || string(last.Data) != "fuzz" || last.Seq != next+2 {
			t.Fatalf("after recovery the newest record is %+v, want fuzz #%d", last, next+2)
		}
	})
}

// readAllBounded reads to the end; a static file cannot hold more than one
// lap of valid frames, so more iterations than that is an endless loop.
func readAllBounded(t *testing.T, r *Reader, strict bool) *Record {
	var last *Record
	for i := 0; ; i++ {
		if i > int(r.g.capacity/frameAlign)+64 {
			t.Fatal("reader does not terminate")
		}
		rec, err := r.TryNext()
		if errors.Is(err, ErrEmpty) || (!strict && errors.Is(err, ErrCorrupt)) {
			return last
		}
		if errors.Is(err, ErrLapped) {
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		// (A ring without checksums, such as one whose header was edited to
		// say so, has nothing to check a payload against.)
		if r.g.crc && crcOf(rec.Data) != binary.LittleEndian.Uint32(r.data[(r.pos-uint64(frameSize(len(rec.Data))))&r.g.mask+12:]) {
			t.Fatal("record yielded with a bad checksum")
		}
		last = &Record{Seq: rec.Seq, Data: append([]byte(nil), rec.Data...)}
	}
}
