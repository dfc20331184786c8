package ringnats

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions are the usual ways to reach and authenticate to a NATS
// server. The zero value connects without credentials.
type ConnectOptions struct {
	// Name is the client name the server shows (default "mmapkit").
	Name string
	// CredsFile is a user credentials file (JWT and NKey seed).
	CredsFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// TLSCA is a PEM file of the certificate authorities to trust.
	TLSCA string
	// TLSCert and TLSKey are a client certificate and its key (PEM files),
	// for servers that verify clients.
	TLSCert, TLSKey string
	// Timeout bounds each attempt to dial a server (default 2 s).
	Timeout time.Duration
	// MaxBackoff is the longest wait between two reconnect attempts
	// (default 2 s). Waits start at 50 ms and double, with jitter.
	MaxBackoff time.Duration
	// Logger receives disconnect and reconnect events (default
	// slog.Default()).
	Logger *slog.Logger
}

// Connect connects to the first reachable server of servers (URLs such as
// nats://127.0.0.1:4222; each element may hold several, comma-separated)
// with the options a shipper or puller wants:
//
//   - reconnects forever, waiting between attempts with exponential backoff
//     and jitter;
//   - fails publishes at once while disconnected (no reconnect buffer), so
//     that a shipper restarts from its position after a reconnect instead
//     of sending records that follow a gap;
//   - fails at once if no server can be reached at first (a wrong address
//     is reported, not retried forever).
func Connect(servers []string, opts *ConnectOptions) (*nats.Conn, error) {
	var o ConnectOptions
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "mmapkit"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	var urls []string
	for _, s := range servers {
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
	}
	if len(urls) == 0 {
		urls = []string{nats.DefaultURL}
	}
	maxBackoff := o.MaxBackoff
	nopts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(o.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectBufSize(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			d := 50 * time.Millisecond << min(attempts, 10)
			d = min(d, maxBackoff)
			return d/2 + rand.N(d/2+1)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("ringnats: disconnected from NATS", "server", nc.ConnectedUrlRedacted(), "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("ringnats: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("ringnats: error reported by the server", "server", nc.ConnectedUrlRedacted(), "err", err)
		}),
	}
	if o.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" || o.Password != "" {
		nopts = append(nopts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		nopts = append(nopts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		nopts = append(nopts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		nopts = append(nopts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nopts...)
	var dial *net.OpError
	if errors.As(err, &dial) && dial.Op == "dial" && !errors.Is(err, nats.ErrNoServers) {
		// nats.go reports a refused connection as ErrNoServers by matching
		// the text "connection refused", which Windows words otherwise:
		// there the dial error came through instead. Same meaning, same
		// sentinel, on every OS.
		err = fmt.Errorf("%w (%w)", nats.ErrNoServers, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ringnats: connect to %s: %w", redact(urls), err)
	}
	return nc, nil
}

// redact drops passwords from URLs before they go into an error message.
func redact(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				u = u[:s+3] + "***@" + u[at+1:]
			}
		}
		out[i] = u
	}
	return strings.Join(out, ",")
}
