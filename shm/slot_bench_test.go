package shm_test

import (
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// In-process cost of one Store and one Load, no contention.
func BenchmarkSlot(b *testing.B) {
	for _, size := range []int{24, 256, 4096} {
		r, err := mmap.Anonymous(shm.SlotSize(size))
		if err != nil {
			b.Fatal(err)
		}
		s, err := shm.NewSlot(r, 0, size)
		if err != nil {
			b.Fatal(err)
		}
		v := make([]byte, size)
		b.Run("Store/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				if err := s.Store(v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Load/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				if _, _, err := s.Load(v); err != nil {
					b.Fatal(err)
				}
			}
		})
		r.Close()
	}
}
