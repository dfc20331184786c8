package shm_test

import (
	"fmt"
	"hash/crc32"
	"runtime"
	"time"

	"github.com/mmapkit/mmapkit/shm"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// copyPlain copies byte by byte with no atomics and no ordering: what a
// reader without the seqlock does.
//
//go:noinline
func copyPlain(dst, src []byte) {
	//lint:ignore S1001 a byte loop on purpose: copy may use wide moves
	for i := range src {
		dst[i] = src[i]
	}
	runtime.KeepAlive(src)
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// healthyWriter is for readers of a writer that works: on a loaded machine
// (and under -race) a writer process can be descheduled mid-store for more
// than the default stuck timeout of a second, which these tests are not
// about.
var healthyWriter = &shm.SlotOptions{StuckTimeout: time.Minute}
