package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/ringnats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTestServer starts a real nats-server with JetStream in this process,
// on 127.0.0.1 with a random port, a store in a temporary directory and
// the given configuration appended.
func natsTestServer(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:-1\njetstream {store_dir: %q}\n%s", filepath.Join(dir, "js"), extra)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return fmt.Sprintf("nats://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// TestRingShipPullCLI ships a ring with `ring ship` (stopped by a
// cancelled signal context is not possible in-process, so the shipper runs
// as a child process), checks `ring ship --status`, and pulls the stream
// back with `ring pull` into a second ring.
func TestRingShipPullCLI(t *testing.T) {
	url := natsTestServer(t, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ring")
	w, err := ring.Create(src, &ring.Options{Capacity: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	var bytes int
	for i := range 100 {
		rec := fmt.Sprintf("record %d", i)
		bytes += len(rec)
		if _, err := w.Append([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	status := func() map[string]any {
		t.Helper()
		out, err := natsRun(t, "", "ring", "ship", src, "--stream", "EV", "--subject", "ev.a", "--status", "--json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return m
	}
	if m := status(); m["lag_records"] != 100.0 || m["lag_bytes"] != float64(bytes) || m["next"] != 0.0 || m["fresh"] != true {
		t.Fatalf("before shipping: %v", m)
	}
	ship := cliChild(t, "ring", "ship", src, "--server", url, "--stream", "EV", "--subject", "ev.a", "--create-stream")
	deadline := time.Now().Add(30 * time.Second)
	for status()["next"] != 100.0 {
		if time.Now().After(deadline) {
			t.Fatalf("not shipped: %v", status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := status(); m["running"] != true || m["connection"] != "connected" || m["lag_records"] != 0.0 || m["shipped"] != 100.0 || m["lost"] != 0.0 {
		t.Fatalf("while running: %v", m)
	}
	interrupt(t, ship)
	out, err := natsRun(t, "", "ring", "ship", src, "--stream", "EV", "--subject", "ev.a", "--status")
	if err != nil || !strings.Contains(out, "position:    100") || !strings.Contains(out, "lag:         0 records, 0 bytes") || !strings.Contains(out, "not running") {
		t.Fatalf("%v\n%s", err, out)
	}

	dst := filepath.Join(dir, "dst.ring")
	pull := cliChild(t, "ring", "pull", dst, "--server", url, "--stream", "EV", "--consumer", "copy", "--create", "--capacity", "64KiB")
	deadline = time.Now().Add(30 * time.Second)
	for {
		if info, err := ring.Stat(dst); err == nil && info.Next == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not pulled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	interrupt(t, pull)
	out, err = natsRun(t, "", "ring", "tail", "-n", "2", dst)
	if err != nil || out != "record 98\nrecord 99\n" {
		t.Fatalf("%v\n%q", err, out)
	}
}

// TestRingShipBadInput: what cannot work exits with status 2 and a clear
// message, and no position is saved.
func TestRingShipBadInput(t *testing.T) {
	url := natsTestServer(t, `authorization { users = [
  {user: a, password: b}
  {user: limited, password: b, permissions: {publish: {allow: ["$JS.API.>", "_INBOX.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
] }`)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ring")
	w, err := ring.Create(src, &ring.Options{Capacity: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	w.Append([]byte("x"))
	w.Close()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "nats://" + l.Addr().String()
	}()
	// A stream for the permission case, made by the user that may.
	nc, err := ringnats.Connect([]string{url}, &ringnats.ConnectOptions{User: "a", Password: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unreachable", []string{"--server", closed, "--stream", "S", "--subject", "s.a"}, "no servers available"},
		{"wrong-password", []string{"--server", url, "--user", "a", "--password", "wrong", "--stream", "S", "--subject", "s.a"}, "authorization violation"},
		{"no-stream", []string{"--server", url, "--user", "a", "--password", "b", "--stream", "S", "--subject", "s.a"}, "stream does not exist"},
		{"forbidden-subject", []string{"--server", url, "--user", "limited", "--password", "b", "--stream", "OTHER", "--subject", "other.x"}, "permissions violation"},
		{"missing-flags", []string{"--server", url}, "--stream and --subject are required"},
		{"wildcard-subject", []string{"--server", url, "--user", "a", "--password", "b", "--stream", "S", "--subject", "s.*"}, "invalid name"},
		{"not-a-ring", []string{"--server", url, "--user", "a", "--password", "b", "--stream", "S", "--subject", "s.a", "--state", filepath.Join(dir, "s"), os.Args[0]}, "not a ring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"ring", "ship", src, "--state", filepath.Join(dir, tc.name+".ship")}, tc.args...)
			if tc.name == "not-a-ring" {
				args = append([]string{"ring", "ship"}, tc.args...)
			}
			out, err := natsRun(t, "", args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Fatalf("got %v (%T), want exit status 2 and %q\n%s", err, err, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.name+".ship")); err == nil && tc.name != "forbidden-subject" && tc.name != "no-stream" {
				t.Fatalf("a state file was written")
			}
			st, _ := natsRun(t, "", "ring", "ship", src, "--stream", "OTHER", "--subject", "other.x", "--state", filepath.Join(dir, tc.name+".ship"), "--status", "--json")
			var m map[string]any
			if json.Unmarshal([]byte(st), &m) == nil && m["next"] != 0.0 {
				t.Fatalf("position saved past what was stored:\n%s", st)
			}
		})
	}
}

// natsRun runs the CLI in this process and returns its output and an
// error carrying its exit status.
func natsRun(t *testing.T, _ string, args ...string) (string, error) {
	t.Helper()
	r := cli(t, args...)
	if r.code != 0 {
		return r.stdout + r.stderr, &exitError{code: r.code, err: errors.New(r.stderr)}
	}
	return r.stdout, nil
}

// cliChild starts mmapkit with args as a process of its own.
func cliChild(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := cliCommand(t, args...)
	cmd.Stderr = os.Stderr
	sys.Interruptible(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// interrupt stops a child started by cliChild as ^C does, and checks that it
// exits cleanly. Wine cannot deliver the console event that stands for ^C on
// Windows: there the child is killed instead, and its clean exit is not
// checked.
func interrupt(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := sys.Interrupt(cmd.Process); err != nil {
		if !sys.UnderWine() {
			t.Fatalf("interrupt %s: %v", cmd.Args[1:3], err)
		}
		t.Logf("Wine 8 does not deliver console control events (%v): killing %s instead", err, cmd.Args[1:3])
		cmd.Process.Kill()
		cmd.Wait()
		return
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", cmd.Args[1:3], err)
	}
}

// TestRingShipDamagedState: a state file that fails its checks is a
// failure (exit status 1) naming the file and the problem, for --status
// and for shipping; it is not bad usage (it used to exit 2).
func TestRingShipDamagedState(t *testing.T) {
	url := natsTestServer(t, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ring")
	w, err := ring.Create(src, &ring.Options{Capacity: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	w.Append([]byte("x"))
	w.Close()
	state := filepath.Join(dir, "damaged.ship")
	if err := os.WriteFile(state, []byte(strings.Repeat("damaged!", 512)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"status", []string{"--status"}},
		{"status-json", []string{"--status", "--json"}},
		{"ship", []string{"--server", url, "--create-stream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"ring", "ship", src, "--stream", "S", "--subject", "s.a", "--state", state}, tc.args...)
			out, err := natsRun(t, "", args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "not a ringnats state file") || !strings.Contains(err.Error(), state) {
				t.Fatalf("got %v, want exit status 1 naming %s as not a ringnats state file\n%s", err, state, out)
			}
		})
	}
}

// TestRingShipReaderName: with --reader-name the shipper's reader slot in a
// Block ring outlives the shipper (the writer keeps waiting for it), and
// --forget removes it.
func TestRingShipReaderName(t *testing.T) {
	url := natsTestServer(t, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ring")
	w, err := ring.Create(src, &ring.Options{Capacity: 1 << 16, Policy: ring.Block})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := w.Append([]byte(fmt.Sprint("record ", i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if out, err := natsRun(t, "", "ring", "ship", src, "--reader-name", "shipper", "--forget"); err == nil || !strings.Contains(err.Error(), `no reader named "shipper"`) {
		t.Fatalf("forgetting a slot that does not exist: %v\n%s", err, out)
	}
	ship := cliChild(t, "ring", "ship", src, "--server", url, "--stream", "EV", "--subject", "ev.a", "--create-stream", "--reader-name", "shipper")
	slot := func() (ring.ReaderInfo, bool) {
		info, err := ring.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range info.Readers {
			if r.Name == "shipper" {
				return r, true
			}
		}
		return ring.ReaderInfo{}, false
	}
	deadline := time.Now().Add(2 * time.Minute) // a hang guard
	for {
		out, err := natsRun(t, "", "ring", "ship", src, "--stream", "EV", "--subject", "ev.a", "--status", "--json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if m["next"] == 10.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not shipped: %v", m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	interrupt(t, ship)
	if r, ok := slot(); !ok || r.Open || r.Next != 10 {
		t.Fatalf("after the shipper stopped, its slot: %+v (found %v), want it kept at 10", r, ok)
	}
	if out, err := natsRun(t, "", "ring", "ship", src, "--reader-name", "shipper", "--forget"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r, ok := slot(); ok {
		t.Fatalf("the slot is still there: %+v", r)
	}
}
