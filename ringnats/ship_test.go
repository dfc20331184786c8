package ringnats

import (
	"path/filepath"
	"testing"

	"github.com/mmapkit/mmapkit/ring"
)

func TestShipExactlyOnceAcrossRuns(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name   string
		policy ring.Policy
		shared bool
		window int
	}{
		{"overwrite", ring.Overwrite, false, 0},
		{"block", ring.Block, false, 0},
		{"block-shared", ring.Block, true, 0},
		{"window-1", ring.Overwrite, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events")
			createRing(t, path, 1<<20, tc.policy)
			stream := "S_" + tc.name[:1] + tc.name[len(tc.name)-1:]
			subject := "ev." + tc.name
			opts := &ShipOptions{Subject: subject, CreateStream: true, SharedStream: tc.shared, Window: tc.window, Logger: quietLog()}
			var id ID
			for run, n := range []uint64{1000, 1, 0, 2500} {
				appendRecords(t, path, n)
				s, err := NewShipper(nc, path, stream, opts)
				if err != nil {
					t.Fatal(err)
				}
				id = s.ID()
				info, err := ring.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				shipUntil(t, s, info.Next)
				st := s.Stats()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if st.Lost != 0 || st.Shipped != info.Next {
					t.Fatalf("run %d: %s", run, fmtStats(st))
				}
			}
			checkExactlyOnce(t, readStream(t, nc, stream, subject), id, 0, 3501)
		})
	}
}
