package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/ringnats"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
)

// ring ship and ring pull (package ringnats) are subcommands of ring (ring.go).

// natsFlags are the connection flags ship and pull share.
type natsFlags struct {
	servers                  []string
	creds, user, password    string
	token, tlsCA             string
	tlsCert, tlsKey          string
	connectTimeout, backoffs time.Duration
}

func (f *natsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.servers, "server", "s", nil, "NATS server URL(s); repeat or separate with commas (default "+nats.DefaultURL+")")
	fl.StringVar(&f.creds, "creds", "", "user credentials file (JWT and NKey seed)")
	fl.StringVar(&f.user, "user", "", "user name")
	fl.StringVar(&f.password, "password", "", "password (or set NATS_PASSWORD)")
	fl.StringVar(&f.token, "token", "", "authentication token")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "PEM file of certificate authorities to trust")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "client certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "client certificate key (PEM)")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 2*time.Second, "timeout of one connection attempt")
	fl.DurationVar(&f.backoffs, "max-backoff", 2*time.Second, "longest wait between reconnect attempts")
}

func (f *natsFlags) connect(log *slog.Logger) (*nats.Conn, error) {
	pw := f.password
	if pw == "" {
		pw = os.Getenv("NATS_PASSWORD")
	}
	return ringnats.Connect(f.servers, &ringnats.ConnectOptions{
		CredsFile: f.creds, User: f.user, Password: pw, Token: f.token,
		TLSCA: f.tlsCA, TLSCert: f.tlsCert, TLSKey: f.tlsKey,
		Timeout: f.connectTimeout, MaxBackoff: f.backoffs, Logger: log,
	})
}

// natsExit gives errors about the input (what was asked for cannot work:
// the server, the credentials, the stream, the subject, the files) exit
// status 2, and other failures 1. A damaged file (a state file or ring that
// fails its checks) is a failure, 1: the arguments were right.
func natsExit(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ringnats.ErrNotState) || errors.Is(err, ring.ErrCorrupt) {
		return &exitError{code: 1, err: err}
	}
	for _, bad := range []error{
		nats.ErrNoServers, nats.ErrAuthorization, nats.ErrPermissionViolation, nats.ErrAuthExpired,
		ringnats.ErrNoStream, ringnats.ErrSubject, ringnats.ErrStateMismatch, ringnats.ErrConsumer, ringnats.ErrBadName,
		ringnats.ErrLocked, ring.ErrNotRing, ring.ErrVersion, fs.ErrNotExist, fs.ErrPermission,
	} {
		if errors.Is(err, bad) {
			return &exitError{code: 2, err: err}
		}
	}
	return &exitError{code: 1, err: err}
}

func natsLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, sys.StopSignals...)
}

func ringShipCmd() *cobra.Command {
	var nf natsFlags
	var o ringnats.ShipOptions
	var stream string
	var status, asJSON, forget bool
	cmd := &cobra.Command{
		Use:   "ship FILE --stream S --subject SUBJ",
		Short: "Ship a ring's records to a NATS JetStream stream, exactly once and in order",
		Long: `Ship reads the ring as a registered reader and publishes every record to
the stream's subject with the message id "<ring id>-<sequence>", so JetStream's
duplicate window makes a restarted shipper exactly-once. Its position (advanced
only by JetStream's acknowledgements) is kept in FILE.<stream>.<subject>.ship;
kill it at any moment and start it again. It runs until interrupted.

With --reader-name (a Block ring) the shipper keeps a durable reader slot of
that name: while no shipper runs, the ring's writer waits for it instead of
overwriting records not shipped yet. --forget removes the slot and exits.

With --status it reports that position, the lag in records and bytes, the
records lost to overwrite and the last connection, and exits.

Exit status: 0 after an interrupt, 2 when the input cannot work (server
unreachable, wrong credentials, no such stream, a subject the account may not
publish to, not a ring), 1 on other failures (a damaged state file among them).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if forget {
				if o.ReaderName == "" {
					return usagef("ring ship: --forget needs --reader-name")
				}
				return natsExit(ringnats.ForgetReader(args[0], o.ReaderName))
			}
			if stream == "" || o.Subject == "" {
				return usagef("ring ship: --stream and --subject are required")
			}
			if status {
				st, err := ringnats.ReadShipStatus(args[0], stream, &o)
				if err != nil {
					return natsExit(err)
				}
				return printShipStatus(cmd.OutOrStdout(), st, asJSON)
			}
			log := natsLogger(cmd.ErrOrStderr())
			o.Logger = log
			nc, err := nf.connect(log)
			if err != nil {
				return natsExit(err)
			}
			defer nc.Close()
			s, err := ringnats.NewShipper(nc, args[0], stream, &o)
			if err != nil {
				return natsExit(err)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			log.Info("shipping", "ring", args[0], "id", s.ID().String(), "stream", stream, "subject", o.Subject, "from", s.Stats().Next)
			err = s.Run(ctx)
			st := s.Stats()
			if e := s.Close(); err == nil {
				err = e
			}
			log.Info("stopped", "next", st.Next, "shipped", st.Shipped, "shipped_bytes", st.ShippedBytes, "lost", st.Lost, "duplicates", st.Duplicates, "restarts", st.Restarts)
			return natsExit(err)
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&stream, "stream", "", "JetStream stream (required)")
	fl.StringVar(&o.Subject, "subject", "", "subject to publish to, e.g. events.host1 (required)")
	fl.BoolVar(&o.CreateStream, "create-stream", false, "create the stream (capturing --subject) if it does not exist")
	fl.IntVar(&o.Window, "window", 0, "publishes awaiting acknowledgement at once (default 4096)")
	fl.DurationVar(&o.AckTimeout, "ack-timeout", 0, "how long a publish may await its acknowledgement (default 10s)")
	fl.BoolVar(&o.SharedStream, "shared-stream", false, "other publishers write to the stream too: do not chain message ids")
	fl.StringVar(&o.StatePath, "state", "", "state file (default FILE.<stream>.<subject>.ship)")
	fl.StringVar(&o.ReaderName, "reader-name", "", "Block ring: keep a durable reader slot of this name, so the writer waits while no shipper runs")
	fl.BoolVar(&forget, "forget", false, "with --reader-name: remove the durable reader slot and exit")
	fl.BoolVar(&status, "status", false, "print the shipper's position, lag, losses and connection, and exit")
	fl.BoolVar(&asJSON, "json", false, "with --status: print JSON")
	return cmd
}

func printShipStatus(w io.Writer, st ringnats.ShipStatus, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		var updated string
		if !st.Updated.IsZero() {
			updated = st.Updated.UTC().Format(time.RFC3339Nano)
		}
		return enc.Encode(map[string]any{
			"ring": st.Ring, "ring_id": st.RingID.String(), "stream": st.Stream, "subject": st.Subject,
			"state_file": st.StateFile, "running": st.Running, "pid": st.PID,
			"connection": st.Connection, "server": st.Server,
			"next": st.Next, "ring_next": st.RingNext, "lag_records": st.LagRecords, "lag_bytes": st.LagBytes,
			"lost": st.Lost, "overwritten": st.Overwritten, "shipped": st.Shipped, "shipped_bytes": st.ShippedBytes,
			"reordered": st.Reordered, "stream_seq": st.StreamSeq, "updated": updated, "fresh": st.Fresh,
		})
	}
	fmt.Fprintf(w, "ring:        %s (id %s)\n", st.Ring, st.RingID)
	fmt.Fprintf(w, "destination: stream %s, subject %s\n", st.Stream, st.Subject)
	fmt.Fprintf(w, "state:       %s\n", st.StateFile)
	switch {
	case st.Running:
		fmt.Fprintf(w, "shipper:     running (pid %d)\n", st.PID)
	case st.Fresh:
		fmt.Fprintf(w, "shipper:     never ran for this ring\n")
	default:
		fmt.Fprintf(w, "shipper:     not running (last pid %d)\n", st.PID)
	}
	if st.Connection != "" {
		conn := st.Connection
		if st.Server != "" {
			conn += " to " + st.Server
		}
		fmt.Fprintf(w, "connection:  %s (as of %s)\n", conn, st.Updated.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "position:    %d (the ring's next record: %d)\n", st.Next, st.RingNext)
	fmt.Fprintf(w, "lag:         %d records, %d bytes\n", st.LagRecords, st.LagBytes)
	fmt.Fprintf(w, "lost:        %d records", st.Lost)
	if st.Overwritten > 0 {
		fmt.Fprintf(w, " (+%d overwritten since the position was saved)", st.Overwritten)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "shipped:     %d records, %d bytes (stream sequence %d)\n", st.Shipped, st.ShippedBytes, st.StreamSeq)
	if st.Reordered > 0 {
		fmt.Fprintf(w, "reordered:   %d records\n", st.Reordered)
	}
	return nil
}

func ringPullCmd() *cobra.Command {
	var nf natsFlags
	var o ringnats.PullOptions
	var stream, policy string
	var capacity, maxRecord int64
	var create bool
	cmd := &cobra.Command{
		Use:   "pull FILE --stream S --consumer NAME",
		Short: "Append a JetStream stream's messages to a ring, each once, through a durable consumer",
		Long: `Pull reads the stream through a durable consumer (created if needed) and
appends each message to the ring FILE, acknowledging it only after the append.
A message redelivered after a crash, or a record shipped twice, is
acknowledged without being appended again. It runs until interrupted.

Exit status: 0 after an interrupt, 2 when the input cannot work, 1 on other
failures.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stream == "" || o.Consumer == "" {
				return usagef("ring pull: --stream and --consumer are required")
			}
			if create {
				p, err := ringParsePolicy(policy)
				if err != nil {
					return usageError(err)
				}
				o.Create = &ring.Options{Capacity: int(capacity), MaxRecord: int(maxRecord), Policy: p}
			}
			log := natsLogger(cmd.ErrOrStderr())
			o.Logger = log
			nc, err := nf.connect(log)
			if err != nil {
				return natsExit(err)
			}
			defer nc.Close()
			p, err := ringnats.NewPuller(nc, stream, args[0], &o)
			if err != nil {
				return natsExit(err)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			err = p.Run(ctx)
			st := p.Stats()
			if e := p.Close(); err == nil {
				err = e
			}
			log.Info("stopped", "pulled", st.Pulled, "skipped", st.Skipped, "suspect", st.Suspect, "stream_seq", st.StreamSeq, "ring_next", st.RingNext)
			return natsExit(err)
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&stream, "stream", "", "JetStream stream (required)")
	fl.StringVar(&o.Consumer, "consumer", "", "durable consumer name (required)")
	fl.StringVar(&o.FilterSubject, "filter", "", "the consumer takes only this subject (an existing consumer must filter exactly this, or nothing without --filter)")
	fl.IntVar(&o.Batch, "batch", 0, "messages per fetch (default 256)")
	fl.StringVar(&o.StatePath, "state", "", "state file (default FILE.<stream>.<consumer>.pull)")
	fl.BoolVar(&create, "create", false, "create the ring if it does not exist")
	sizeFlag(fl, &capacity, "capacity", "1MiB", "with --create: data area size, a power of two")
	sizeFlag(fl, &maxRecord, "max-record", "0", "with --create: largest record (0: the largest that fits, up to 1 MiB)")
	fl.StringVar(&policy, "policy", "overwrite", "with --create: overwrite or block")
	return cmd
}
