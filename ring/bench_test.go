package ring

import (
	"path/filepath"
	"testing"
)

func benchAppend(b *testing.B, size int) {
	path := filepath.Join(b.TempDir(), "bench.ring")
	w, err := Create(path, Config{Capacity: 64 << 20}, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrec/s")
}

func BenchmarkAppend64(b *testing.B)  { benchAppend(b, 64) }
func BenchmarkAppend256(b *testing.B) { benchAppend(b, 256) }
