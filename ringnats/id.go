package ringnats

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
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

// appendTaggedMsgID appends the id a shipper publishes record seq with:
// "<ring id>.<seq>.<tag>", the ring id (22 characters) and the tag (11) in
// unpadded base64url, so that the two headers that carry ids (the record's
// and its predecessor's) stay short: the server scans them for each of the
// headers it looks for, on the one goroutine that stores the stream's
// messages.
func appendTaggedMsgID(b []byte, id ID, seq, tag uint64) []byte {
	b = base64.RawURLEncoding.AppendEncode(b, id[:])
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '.')
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], tag)
	return base64.RawURLEncoding.AppendEncode(b, t[:])
}

const (
	idChars  = 22 // base64url of 16 bytes
	tagChars = 11 // base64url of 8 bytes
)

// ParseMsgID splits a message id made by MsgID, or by a Shipper, into the
// ring's id and the record's sequence number. Anything else (another
// publisher's ids) is an error matching ErrForeignID.
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
	var digits string
	switch {
	case len(s) > idChars+tagChars+2 && s[idChars] == '.' && s[len(s)-tagChars-1] == '.':
		if n, err := base64.RawURLEncoding.Decode(id[:], []byte(s[:idChars])); err != nil || n != len(id) {
			return foreign()
		}
		var t [8]byte
		if n, err := base64.RawURLEncoding.Decode(t[:], []byte(s[len(s)-tagChars:])); err != nil || n != len(t) {
			return foreign()
		}
		digits, tag, tagged = s[idChars+1:len(s)-tagChars-1], binary.BigEndian.Uint64(t[:]), true
	case len(s) >= 34 && s[32] == '-':
		if _, err := hex.Decode(id[:], []byte(s[:32])); err != nil {
			return foreign()
		}
		digits = s[33:]
	default:
		return foreign()
	}
	seq, err = strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return foreign()
	}
	// Upper-case hex, signs, leading zeros, stray base64 bits: one record,
	// one id.
	canon := make([]byte, 0, 70)
	if tagged {
		canon = appendTaggedMsgID(canon, id, seq, tag)
	} else {
		canon = appendMsgID(canon, id, seq)
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
