package ringnats

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mmapkit/mmapkit/ring"
)

func TestEscapeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"events.host1", "events.host1"},
		{"$KV.a-b_c", "$KV.a-b_c"},
		{"événements.hôte", "événements.hôte"},
		{"a/b", "a%2Fb"},
		{"a\\b", "a%5Cb"},
		{"c:x*y?z", "c%3Ax%2Ay%3Fz"},
		{`"<>|`, "%22%3C%3E%7C"},
		{"50%", "50%25"},
		{"50%25", "50%2525"},
		{"a\x01b\x7f", "a%01b%7F"},
		{"bad\xffutf8", "bad%FFutf8"},
		{"", ""},
	} {
		if got := escapeName(tc.in); got != tc.want {
			t.Errorf("escapeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDefaultStatePathBesideRing: the default state file is the one name
// beside the ring whatever the subject holds. A subject with '/' used to put
// it into another directory (or fail when there was none).
func TestDefaultStatePathBesideRing(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	for _, tc := range []struct {
		name, subject, file string
	}{
		{"plain", "ev.a", "events.SP_plain.ev.a.ship"},
		{"slash", "ev/x.y", "events.SP_slash.ev%2Fx.y.ship"},
		{"leading-slash", "/ev/a", "events.SP_leading-slash.%2Fev%2Fa.ship"},
		{"colon-percent", "ev:1.50%", "events.SP_colon-percent.ev%3A1.50%25.ship"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "events")
			createRing(t, path, 1<<16, ring.Overwrite)
			appendRecords(t, path, 3)
			stream := "SP_" + tc.name
			// The directory the raw name would lead into.
			if err := os.MkdirAll(filepath.Dir(path+"."+stream+"."+tc.subject+".ship"), 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := NewShipper(nc, path, stream, &ShipOptions{Subject: tc.subject, CreateStream: true, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, tc.file)
			if s.StatePath() != want {
				t.Errorf("state file %s, want %s", s.StatePath(), want)
			}
			shipUntil(t, s, 3)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(want); err != nil {
				t.Fatal(err)
			}
			st, err := ReadShipStatus(path, stream, &ShipOptions{Subject: tc.subject})
			if err != nil || st.StateFile != want || st.Next != 3 {
				t.Fatalf("status %+v, %v", st, err)
			}
			// The puller's name goes through the same escaping.
			p, err := NewPuller(nc, stream, filepath.Join(dir, "copy"), &PullOptions{Consumer: "c:" + tc.name, Create: &ring.Options{Capacity: 1 << 16}, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			if p.opts.StatePath != filepath.Join(dir, "copy."+stream+".c%3A"+tc.name+".pull") {
				t.Errorf("puller state %s", p.opts.StatePath)
			}
			pullAll(t, p, 3)
			p.Close()
		})
	}
}
