package ringnats

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// TestStatePlanted: whatever sits at a state file's name — a link, a FIFO,
// a directory, a cut or damaged file — opening it for a shipper and reading
// it for a status report fail at once naming the problem, and nothing is
// created or written through a link.
func TestStatePlanted(t *testing.T) {
	dir := t.TempDir()
	hdr := stateHeader{kind: kindShip, ring: ID{1}, stream: "S", name: "a"}
	good := filepath.Join(dir, "good")
	st, _, _, err := openState(good, hdr)
	if err != nil {
		t.Fatal(err)
	}
	st.close()
	img, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) func(string) error {
		return func(p string) error { return os.WriteFile(p, b, 0o644) }
	}
	damaged := append([]byte(nil), img...)
	damaged[50] ^= 1
	stray := make([]byte, stateSize)
	stray[4000] = 1
	cases := []struct {
		name  string
		plant func(p string) error
		want  error
	}{
		{"link to nowhere", func(p string) error { return os.Symlink(filepath.Join(dir, "created"), p) }, sys.ErrNotRegular},
		{"link to a state file", func(p string) error { return os.Symlink(good, p) }, sys.ErrNotRegular},
		{"FIFO", func(p string) error { return sys.Mkfifo(p, 0o644) }, sys.ErrNotRegular},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, sys.ErrNotRegular},
		{"cut short", write(img[:100]), ErrNotState},
		{"damaged header", write(damaged), ErrNotState},
		{"zeros and a stray byte", write(stray), ErrNotState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "FIFO" && runtime.GOOS == "windows" {
				t.Skip("no FIFOs")
			}
			p := filepath.Join(dir, c.name)
			if err := c.plant(p); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(c.name, "link") {
				if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					// Wine 8's CreateSymbolicLink is a stub: it reports
					// success and makes nothing.
					t.Skipf("os.Symlink reported success but made no link (%v): this system cannot create symbolic links", err)
				}
			}
			if _, _, _, err := readState(p); !errors.Is(err, c.want) {
				t.Errorf("readState: %v, want %v", err, c.want)
			}
			if st, _, _, err := openState(p, hdr); !errors.Is(err, c.want) {
				if err == nil {
					st.close()
				}
				t.Errorf("openState: %v, want %v", err, c.want)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "created")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was created through a planted link: %v", err)
	}
	if b, _ := os.ReadFile(good); string(b) != string(img) {
		t.Error("the state file a link pointed to was modified")
	}
}

// TestStateStatusNeverFailsOpen: a status report looks at a state file while
// shippers start and stop. Looking took a shared lock for a moment, and a
// shipper starting in that moment failed with "another process ships with
// this state file" (7 of 3000 starts). A shipper that holds the file still
// makes a second one fail at once.
func TestStateStatusNeverFailsOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.ship")
	hdr := stateHeader{kind: kindShip, ring: ID{1}, stream: "S", name: "a"}
	st, _, _, err := openState(p, hdr)
	if err != nil {
		t.Fatal(err)
	}
	sp := shipPayload{next: 1}
	if err := st.write(sp.encode()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := openState(p, hdr); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second opener while the first holds the file: %v", err)
	}
	st.close()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, _, err := readState(p); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	fails, n := 0, 5000
	var last error
	for range n {
		st, _, _, err := openState(p, hdr)
		if err != nil {
			fails++
			last = err
			continue
		}
		st.close()
	}
	close(stop)
	<-done
	if fails > 0 {
		t.Fatalf("%d of %d starts failed while a status report looked: %v", fails, n, last)
	}
}
