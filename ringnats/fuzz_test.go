package ringnats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
	"time"
)

// FuzzParseMsgID: any string either parses into an id and sequence (and
// tag) that MsgID (or a shipper's tagged form) turns back into the same
// string, or fails with ErrForeignID.
func FuzzParseMsgID(f *testing.F) {
	f.Add(MsgID(ID{1, 2, 3}, 0))
	f.Add(MsgID(ID{0xff}, 1<<64-1))
	f.Add(string(appendTaggedMsgID(nil, ID{1, 2, 3}, 7, 0x0123456789abcdef)))
	f.Add(string(appendTaggedMsgID(nil, ID{0xff}, 1<<64-1, 1<<64-1)))
	f.Add("0123456789abcdef0123456789ABCDEF-1")
	f.Add("0123456789abcdef0123456789abcdef-01")
	f.Add("0123456789abcdef0123456789abcdef-+1")
	f.Add("0123456789abcdef0123456789abcdef-18446744073709551616")
	f.Add("AQIDAAAAAAAAAAAAAAAAAA.7.ASNFZ4mrze8")
	f.Add("AQIDAAAAAAAAAAAAAAAAAB.7.ASNFZ4mrze8")
	f.Add("AQIDAAAAAAAAAAAAAAAAAA.07.ASNFZ4mrze8")
	f.Add("AQIDAAAAAAAAAAAAAAAAAA..ASNFZ4mrze8")
	f.Add("AQIDAAAAAAAAAAAAAAAAAA.7.ASNFZ4mrze9")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		id, seq, tag, tagged, err := parseMsgID(s)
		id2, seq2, err2 := ParseMsgID(s)
		if id != id2 || seq != seq2 || (err == nil) != (err2 == nil) {
			t.Fatalf("%q: ParseMsgID says %s %d %v, parseMsgID %s %d %v", s, id2, seq2, err2, id, seq, err)
		}
		if err != nil {
			if !errors.Is(err, ErrForeignID) {
				t.Fatalf("%q: %v does not match ErrForeignID", s, err)
			}
			return
		}
		got := MsgID(id, seq)
		if tagged {
			got = string(appendTaggedMsgID(nil, id, seq, tag))
		}
		if got != s {
			t.Fatalf("%q parsed to %s, %d (tag %x %v), which prints as %q", s, id, seq, tag, tagged, got)
		}
	})
}

// FuzzDecodeState: the bytes of a state file (hostile: anything may have
// written it) decode or fail with ErrNotState, never panic; a header that
// decodes encodes back to the same bytes; payloads decode or fail cleanly.
//
// The fuzzer gets the pieces of the 4 KiB image (the static header and the
// two slots, each padded with zeros) and a flag byte that asks for correct
// checksums, so that its mutations reach the code behind the checks. Small
// inputs also keep the fuzzer fast: minimizing an interesting 4 KiB input
// took it longer than a whole short fuzz run.
func FuzzDecodeState(f *testing.F) {
	good, err := encodeHeader(stateHeader{kind: kindShip, ring: ID{7}, created: time.Unix(0, 42), stream: "S", name: "a.b"})
	if err != nil {
		f.Fatal(err)
	}
	static := bytes.TrimRight(good[:staticLen], "\x00")
	sp := shipPayload{next: 5, lost: 1, url: "nats://x", key: [16]byte{1, 2}, hasKey: true}
	pp := pullPayload{hasIntent: true, intentAt: 3, committed: pullMark{sseq: 9, hasID: true, seq: 2},
		runs: []run{{id: ID{3}, lo: 1, hi: 2, at: 0}, {id: ID{4}, lo: 7, hi: 7, at: 2}}, created: 5, suspect: 1, intentSuspect: true}
	shipSlot, pullSlot := appendSlot(nil, 1, sp.encode()), appendSlot(nil, 2, pp.encode())
	f.Add(static, []byte(nil), []byte(nil), byte(0))
	f.Add(static, shipSlot, pullSlot, byte(0))
	f.Add(static, shipSlot, pullSlot, byte(7))
	f.Add([]byte("MMKNATS\x00"), []byte(nil), []byte(nil), byte(1))
	f.Add([]byte(nil), []byte(nil), []byte(nil), byte(0))
	f.Fuzz(func(t *testing.T, static, a, b []byte, fix byte) {
		img := make([]byte, stateSize)
		copy(img[:staticLen], static)
		if fix&1 != 0 {
			binary.LittleEndian.PutUint32(img[staticLen:], crc32.ChecksumIEEE(img[:staticLen]))
		}
		for i, s := range [][]byte{a, b} {
			slot := img[slotA+i*slotSize : slotA+(i+1)*slotSize]
			copy(slot, s)
			if n := int(binary.LittleEndian.Uint32(slot[12:])); fix&(2<<i) != 0 && n <= maxPayload {
				binary.LittleEndian.PutUint32(slot[8:], crc32.ChecksumIEEE(slot[slotHdr:slotHdr+n]))
			}
		}
		checkDecodeState(t, img)
		if len(static) == stateSize { // a whole image, as it came
			checkDecodeState(t, static)
		}
	})
}

func checkDecodeState(t *testing.T, b []byte) {
	h, gen, payload, err := decodeState(b)
	if err != nil {
		if !errors.Is(err, ErrNotState) {
			t.Fatalf("%v does not match ErrNotState", err)
		}
		return
	}
	again, err := encodeHeader(h)
	if err != nil {
		t.Fatalf("decoded header does not encode: %v", err)
	}
	if h2, _, _, err := decodeState(append(again[:slotA:slotA], b[slotA:]...)); err != nil || h2 != h {
		t.Fatalf("header does not survive a round trip: %+v / %+v, %v", h, h2, err)
	}
	if payload == nil && gen != 0 {
		t.Fatalf("generation %d without a payload", gen)
	}
	var s shipPayload
	if s.decode(payload) == nil && !bytes.Equal(s.encode(), payload) {
		t.Fatalf("ship payload %x re-encodes as %x", payload, s.encode())
	}
	var p, p2 pullPayload
	if p.decode(payload) == nil {
		if err := p2.decode(p.encode()); err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("pull payload %x decodes as %+v, which re-encodes and decodes as %+v (%v)", payload, p, p2, err)
		}
	}
}

// FuzzDecodeRuns: a puller's runs file is hostile until validated. Decoding
// never panics, refuses with ErrNotState or ErrStateMismatch, and what it
// accepts encodes back to the same bytes and rebuilds a table within its
// bounds.
func FuzzDecodeRuns(f *testing.F) {
	local := ID{1}
	f.Add(encodeRuns(local, nil))
	f.Add(encodeRuns(local, []run{{id: ID{3}, lo: 1, hi: 2, at: 0}, {id: ID{4}, lo: 7, hi: 7, at: 2}}))
	f.Add(encodeRuns(ID{2}, []run{{id: ID{3}, lo: 1, hi: 2}}))
	f.Add([]byte("MMKRUNS\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		runs, err := decodeRuns(b, local)
		if err != nil {
			if !errors.Is(err, ErrNotState) && !errors.Is(err, ErrStateMismatch) {
				t.Fatalf("%v matches neither ErrNotState nor ErrStateMismatch", err)
			}
			return
		}
		if !bytes.Equal(encodeRuns(local, runs), b) {
			t.Fatalf("runs %x re-encode as %x", b, encodeRuns(local, runs))
		}
		tab := newRunTable()
		for _, r := range runs {
			tab.put(r)
		}
		if len(tab.rings) > maxRings {
			t.Fatalf("%d rings in the table", len(tab.rings))
		}
		for _, rr := range tab.rings {
			if len(rr.runs) > runsPerRing {
				t.Fatalf("%d runs of one ring", len(rr.runs))
			}
		}
	})
}
