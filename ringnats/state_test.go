package ringnats

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReadStateTornOrDamaged: a status read that catches a state file in an
// inconsistent moment (a header being written, both slots torn) reads it
// again instead of calling it damaged; a file that stays damaged is an
// error matching ErrNotState. `ring ship --status` used to fail with "not a
// ringnats state file" when it read the file while the shipper wrote it.
func TestReadStateTornOrDamaged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte)
		repairs bool // the writer finishes after the first read
	}{
		{"header-being-written", func(b []byte) { copy(b, make([]byte, 8)) }, true},
		{"slots-being-written", func(b []byte) { b[slotA+slotHdr] ^= 0xff; b[slotA+slotSize+slotHdr] ^= 0xff }, true},
		{"header-damaged", func(b []byte) { b[100] ^= 0xff }, false},
		{"slots-damaged", func(b []byte) { b[slotA+slotHdr] ^= 0xff; b[slotA+slotSize+slotHdr] ^= 0xff }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.ship")
			st, _, _, err := openState(path, stateHeader{kind: kindShip, stream: "S", name: "s.a"})
			if err != nil {
				t.Fatal(err)
			}
			for next := range uint64(3) { // both slots written
				if err := st.write((&shipPayload{next: next}).encode()); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.close(); err != nil {
				t.Fatal(err)
			}
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte(nil), good...)
			tc.damage(bad)
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			attempts := 0
			stateReadHook = func(attempt int) {
				attempts = attempt
				if tc.repairs && attempt == 1 {
					if err := os.WriteFile(path, good, 0o644); err != nil {
						t.Error(err)
					}
				}
			}
			defer func() { stateReadHook = nil }()
			_, payload, _, err := readState(path)
			if !tc.repairs {
				if !errors.Is(err, ErrNotState) || attempts != stateReadTries-1 {
					t.Fatalf("readState of a damaged file: %v after %d attempts, want ErrNotState after %d", err, attempts+1, stateReadTries)
				}
				return
			}
			var sp shipPayload
			if err != nil || sp.decode(payload) != nil || sp.next != 2 {
				t.Fatalf("readState: %v, position %d, want 2", err, sp.next)
			}
		})
	}
}
