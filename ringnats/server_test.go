package ringnats

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// testServer is a real nats-server with JetStream, in this process, on
// 127.0.0.1 with a random port and a store in a temporary directory.
type testServer struct {
	t     testing.TB
	dir   string
	extra string
	port  int
	s     *server.Server
}

// authConf is the authorization block of a server that wants a user and
// password, and lets user "limited" publish only to other.> (besides the
// JetStream API and inboxes).
const authConf = `
authorization {
  users = [
    {user: shipper, password: s3cret}
    {user: limited, password: s3cret, permissions: {
      publish: {allow: ["$JS.API.>", "_INBOX.>", "other.>"]}
      subscribe: {allow: ["_INBOX.>"]}
    }}
  ]
}
`

func startServer(t testing.TB, extra string) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), extra: extra, port: -1}
	ts.start()
	ts.port = ts.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	conf := filepath.Join(ts.dir, "server.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {store_dir: %q}\n%s", ts.port, filepath.Join(ts.dir, "js"), ts.extra)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		ts.t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		ts.t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		ts.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		ts.t.Fatal("nats-server did not start")
	}
	ts.s = s
}

// stop shuts the server down and waits until it is gone.
func (ts *testServer) stop() {
	if ts.s != nil {
		ts.s.Shutdown()
		ts.s.WaitForShutdown()
		ts.s = nil
	}
}

func (ts *testServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ts.port) }
