package ringnats

import (
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/mmapkit/mmapkit/ring"
)

// ID identifies one ring: the 128-bit identity the ring chose at random
// when it was created and keeps in its header (ring.ID). The same file
// keeps its ID for life, and a ring deleted and created again at the same
// path gets another one. Message ids in the stream are derived from it, so
// records of different rings never collide in JetStream's duplicate window.
type ID = ring.ID

// RingID returns the identity of the ring at path.
func RingID(path string) (ID, error) {
	info, err := ring.Stat(path)
	if err != nil {
		return ID{}, err
	}
	return info.ID, nil
}

// MsgID returns the JetStream message id of the record with sequence number
// seq of the ring id: "<32 hex digits>-<seq in decimal>".
func MsgID(id ID, seq uint64) string {
	return string(appendMsgID(make([]byte, 0, 53), id, seq))
}

func appendMsgID(b []byte, id ID, seq uint64) []byte {
	b = hex.AppendEncode(b, id[:])
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}

// ParseMsgID splits a message id made by MsgID into the ring's id and the
// record's sequence number. Anything else (another publisher's ids) is an
// error matching ErrForeignID.
func ParseMsgID(s string) (ID, uint64, error) {
	var id ID
	if len(s) < 34 || s[32] != '-' {
		return id, 0, fmt.Errorf("message id %q: %w", s, ErrForeignID)
	}
	if _, err := hex.Decode(id[:], []byte(s[:32])); err != nil {
		return ID{}, 0, fmt.Errorf("message id %q: %w", s, ErrForeignID)
	}
	digits := s[33:]
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || MsgID(id, seq) != s { // upper-case hex, signs, leading zeros
		return ID{}, 0, fmt.Errorf("message id %q: %w", s, ErrForeignID)
	}
	return id, seq, nil
}
