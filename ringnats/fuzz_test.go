package ringnats

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzParseMsgID: any string either parses into an id and sequence that
// MsgID turns back into the same string, or fails with ErrForeignID.
func FuzzParseMsgID(f *testing.F) {
	f.Add(MsgID(ID{1, 2, 3}, 0))
	f.Add(MsgID(ID{0xff}, 1<<64-1))
	f.Add("0123456789abcdef0123456789ABCDEF-1")
	f.Add("0123456789abcdef0123456789abcdef-01")
	f.Add("0123456789abcdef0123456789abcdef-+1")
	f.Add("0123456789abcdef0123456789abcdef-18446744073709551616")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		id, seq, err := ParseMsgID(s)
		if err != nil {
			if !errors.Is(err, ErrForeignID) {
				t.Fatalf("%q: %v does not match ErrForeignID", s, err)
			}
			return
		}
		if got := MsgID(id, seq); got != s {
			t.Fatalf("%q parsed to %s, %d, which prints as %q", s, id, seq, got)
		}
	})
}

// FuzzDecodeState: the bytes of a state file (hostile: anything may have
// written it) decode or fail with ErrNotState, never panic; a header that
// decodes encodes back to the same bytes; payloads decode or fail cleanly.
func FuzzDecodeState(f *testing.F) {
	good, err := encodeHeader(stateHeader{kind: kindShip, ring: ID{7}, created: time.Unix(0, 42), stream: "S", name: "a.b"})
	if err != nil {
		f.Fatal(err)
	}
	withSlots := append([]byte(nil), good...)
	sp := shipPayload{next: 5, lost: 1, url: "nats://x"}
	copy(withSlots[slotA:], appendSlot(nil, 1, sp.encode()))
	pp := pullPayload{hasIntent: true, intentAt: 3, committed: pullMark{sseq: 9, hasID: true, seq: 2}}
	copy(withSlots[slotA+slotSize:], appendSlot(nil, 2, pp.encode()))
	f.Add(good)
	f.Add(withSlots)
	f.Add(make([]byte, stateSize))
	f.Add([]byte("MMKNATS\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
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
		var p pullPayload
		if p.decode(payload) == nil && len(payload) != pullPayloadLen {
			t.Fatalf("pull payload of %d bytes accepted", len(payload))
		}
	})
}
