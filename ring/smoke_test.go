package ring

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	for _, pol := range []Policy{Overwrite, Block} {
		path := filepath.Join(t.TempDir(), "r")
		w, err := Create(path, Config{Capacity: 4096, MaxRecord: 100, Policy: pol}, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(path, ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			p := []byte(fmt.Sprintf("record %d", i))
			s, err := w.Append(p)
			if err != nil || s != uint64(i) {
				t.Fatal(s, err)
			}
			rec, err := r.TryNext()
			if err != nil || rec.Seq != uint64(i) || !bytes.Equal(rec.Data, p) {
				t.Fatal(i, rec, err)
			}
		}
		r.Close()
		w.Close()
	}
}
