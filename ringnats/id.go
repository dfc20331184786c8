package ringnats

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
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

// MsgID returns the plain message id of the record with sequence number seq
// of the ring id: "<32 hex digits>-<seq in decimal>". A Shipper publishes
// the record as MsgID followed by "-<16 hex digits>", a tag that only it can
// compute (see the package documentation, "Message ids"); ParseMsgID reads
// both forms.
func MsgID(id ID, seq uint64) string {
	return string(appendMsgID(make([]byte, 0, 53), id, seq))
}

func appendMsgID(b []byte, id ID, seq uint64) []byte {
	b = hex.AppendEncode(b, id[:])
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}

// appendTaggedMsgID appends the id a shipper publishes record seq with.
func appendTaggedMsgID(b []byte, id ID, seq, tag uint64) []byte {
	b = appendMsgID(b, id, seq)
	b = append(b, '-')
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], tag)
	return hex.AppendEncode(b, t[:])
}

const tagDigits = 16

// ParseMsgID splits a message id made by MsgID, or by a Shipper (MsgID plus
// its tag), into the ring's id and the record's sequence number. Anything
// else (another publisher's ids) is an error matching ErrForeignID.
//
// An id names a record; it does not prove that the message holds it: anyone
// who may publish to a subject can put any id on a message there.
func ParseMsgID(s string) (ID, uint64, error) {
	id, seq, _, _, err := parseMsgID(s)
	return id, seq, err
}

// parseMsgID is ParseMsgID that also returns the tag, if the id has one.
func parseMsgID(s string) (id ID, seq, tag uint64, tagged bool, err error) {
	foreign := func() (ID, uint64, uint64, bool, error) {
		return ID{}, 0, 0, false, fmt.Errorf("message id %q: %w", s, ErrForeignID)
	}
	if len(s) < 34 || s[32] != '-' {
		return foreign()
	}
	if _, err := hex.Decode(id[:], []byte(s[:32])); err != nil {
		return foreign()
	}
	digits := s[33:]
	if n := len(digits) - tagDigits - 1; n > 0 && digits[n] == '-' {
		var t [8]byte
		if _, err := hex.Decode(t[:], []byte(digits[n+1:])); err != nil {
			return foreign()
		}
		digits, tag, tagged = digits[:n], binary.BigEndian.Uint64(t[:]), true
	}
	seq, err = strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return foreign()
	}
	// Upper-case hex, signs, leading zeros: one record, one id.
	canon := appendMsgID(make([]byte, 0, 70), id, seq)
	if tagged {
		canon = appendTaggedMsgID(canon[:0], id, seq, tag)
	}
	if string(canon) != s {
		return foreign()
	}
	return id, seq, tag, tagged, nil
}

// A tagger computes the tags of a shipper's message ids: the first 8 bytes
// of AES-128 under the shipper's secret key of the record's sequence
// number, a pseudo-random function of the sequence number that nobody
// without the key can compute, even knowing the tags of every other record.
type tagger struct{ block cipher.Block }

// newKey returns a fresh secret key for message tags.
func newKey() (k [16]byte) {
	rand.Read(k[:]) // never fails (it would crash the program instead)
	return k
}

func newTagger(key [16]byte) tagger {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return tagger{b}
}

var tagDomain = [8]byte{'m', 'm', 'k', 'n', 't', 'a', 'g', 1}

func (t tagger) tag(seq uint64) uint64 {
	var in, out [16]byte
	binary.LittleEndian.PutUint64(in[:], seq)
	copy(in[8:], tagDomain[:])
	t.block.Encrypt(out[:], in[:])
	return binary.LittleEndian.Uint64(out[:])
}
