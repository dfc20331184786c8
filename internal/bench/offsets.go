package bench

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Offsets returns reads block-aligned offsets spread uniformly over the whole
// blocks of a file of size bytes, from seed. Every method (and the Python
// script, through the offsets file) reads exactly these, in this order.
func Offsets(size, block int64, reads int, seed uint64) []int64 {
	nblocks := uint64(size / block)
	offs := make([]int64, reads)
	for i := range offs {
		x := splitmix64(seed ^ 0x6a09e667f3bcc909 ^ uint64(i)*0x9e3779b97f4a7c15)
		hi, _ := bits.Mul64(x, nblocks) // unbiased enough, and no modulo
		offs[i] = int64(hi) * block
	}
	return offs
}

// WriteOffsets stores offsets as little-endian uint64s, the format the child
// processes (Go and Python) read.
func WriteOffsets(path string, offs []int64) error {
	b := make([]byte, 8*len(offs))
	for i, o := range offs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(o))
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadOffsets reads a file written by WriteOffsets.
func ReadOffsets(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("bench: offsets file %s: length %d is not a multiple of 8", path, len(b))
	}
	offs := make([]int64, len(b)/8)
	for i := range offs {
		offs[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return offs, nil
}

// Checksums of what a method read. Full folds every byte of every block: the
// XOR of the block's 64-bit little-endian words, weighted by the read's index
// (sum of x_i*(2i+1) mod 2^64), so it is independent of the order in which
// concurrent reads complete but not of which block landed where. Spot folds
// one word per block (word i mod words-per-block of block i) the same way; it
// is what the Python methods compute, since a full checksum in pure Python
// would cost more than the reads being measured.
type Checksums struct {
	Full uint64 `json:"full"`
	Spot uint64 `json:"spot"`
}

// add folds block i (its bytes b) into c.
func (c *Checksums) add(i int, b []byte) {
	w := uint64(2*i + 1)
	c.Full += blockXor(b) * w
	c.Spot += spotWord(i, b) * w
}

func spotWord(i int, b []byte) uint64 {
	words := (len(b) + 7) / 8
	if words == 0 {
		return 0
	}
	return wordAt(b, (i%words)*8)
}

// wordAt returns the little-endian word at b[off:], zero-padded past the end.
func wordAt(b []byte, off int) uint64 {
	if off+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[off:])
	}
	var w [8]byte
	copy(w[:], b[off:])
	return binary.LittleEndian.Uint64(w[:])
}

// blockXor returns the XOR of b's 64-bit little-endian words (a last partial
// word is zero-padded). It reads the memory once with eight independent
// accumulators, so in place over a mapping it costs about what copying the
// block out would.
func blockXor(b []byte) uint64 {
	n := len(b) / 8
	var tail uint64
	if len(b)%8 != 0 {
		tail = wordAt(b, 8*n)
	}
	if n == 0 {
		return tail
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if !sys.LittleEndian || uintptr(p)%8 != 0 {
		var x uint64
		for i := 0; i < n; i++ {
			x ^= binary.LittleEndian.Uint64(b[8*i:])
		}
		return x ^ tail
	}
	w := unsafe.Slice((*uint64)(p), n)
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	i := 0
	for ; i+8 <= len(w); i += 8 {
		v := w[i : i+8 : i+8]
		a0 ^= v[0]
		a1 ^= v[1]
		a2 ^= v[2]
		a3 ^= v[3]
		a4 ^= v[4]
		a5 ^= v[5]
		a6 ^= v[6]
		a7 ^= v[7]
	}
	for ; i < len(w); i++ {
		a0 ^= w[i]
	}
	return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7 ^ tail
}
