package array

import (
	"math"
	"strconv"
)

// Float16 is an IEEE 754 half-precision number (NumPy's float16, descr '<f2'),
// stored as its 16 raw bits. Go has no arithmetic on it: convert with Float32
// and Float16From.
type Float16 uint16

// Float16From converts f to the nearest Float16, rounding ties to even as
// NumPy does. Values too large become ±Inf, values too small ±0; NaN stays NaN.
func Float16From(f float32) Float16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant == 0 {
			return Float16(sign | 0x7c00)
		}
		// Keep the top payload bits and make it a quiet NaN, so a NaN never
		// turns into Inf.
		return Float16(sign | 0x7e00 | uint16(mant>>13))
	case exp == 0: // zero or a float32 subnormal: far below float16's range
		return Float16(sign)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return Float16(sign | 0x7c00)
	}
	if e <= 0 {
		// A float16 subnormal: count units of 2^-24.
		m := mant | 0x800000
		shift := uint(14 - e)
		if shift >= 25 {
			return Float16(sign)
		}
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++ // may carry into the smallest normal, which is the right encoding
		}
		return Float16(sign | uint16(h))
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is right, up to and including Inf
	}
	return Float16(sign | uint16(h))
}

// Float32 returns h as a float32; every Float16 value is exact in float32.
func (h Float16) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// String formats h like a float32 with the fewest digits that identify it.
func (h Float16) String() string {
	return strconv.FormatFloat(float64(h.Float32()), 'g', -1, 32)
}
