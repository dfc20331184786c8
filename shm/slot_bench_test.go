package shm_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// In-process cost of one Store and one Load, no contention.
func BenchmarkSlot(b *testing.B) {
	for _, size := range []int{24, 256, 4096} {
		r, err := mmap.Anonymous(shm.SlotSize(size), nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := shm.NewSlot(r, 0, size, nil)
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
				if _, _, err := s.Load(b.Context(), v); err != nil {
					b.Fatal(err)
				}
			}
		})
		r.Close()
	}
}

// In-process cost of a message through a Queue: batches of 64 sends, then
// 64 receives, in one goroutine (no cross-core traffic, no waiting): the CPU
// cost per message that bounds the cross-process stream.
func BenchmarkQueueInProcess(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 4 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			name := fmt.Sprintf("mmapkit-bench-%d-%d", os.Getpid(), nameSeq.Add(1))
			defer shm.Unlink(name)
			rx, err := shm.CreateQueue(name, &shm.QueueOptions{Capacity: 8 << 20, MaxMessage: 64 << 10})
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			tx, err := shm.OpenSender(name, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			ctx := context.Background()
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				k := min(64, b.N-i)
				for range k {
					if err := tx.Send(ctx, msg); err != nil {
						b.Fatal(err)
					}
				}
				for range k {
					if _, err := rx.Receive(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
