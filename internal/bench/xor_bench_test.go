package bench

import "testing"

func BenchmarkBlockXor4K(b *testing.B) {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(4096)
	var s uint64
	for b.Loop() {
		s += blockXor(buf)
	}
	_ = s
}

func BenchmarkCopy4K(b *testing.B) {
	src := make([]byte, 4096)
	dst := make([]byte, 4096)
	b.SetBytes(4096)
	for b.Loop() {
		copy(dst, src)
	}
}
