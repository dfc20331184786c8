package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/spf13/cobra"
)

func init() { register(newRingCmd) }

func newRingCmd() *cobra.Command {
	ringCmd := &cobra.Command{
		Use:   "ring",
		Short: "Create, append to, follow and inspect a ring log (package ring)",
	}
	ringCmd.AddCommand(ringCreateCmd(), ringAppendCmd(), ringTailCmd(), ringStatCmd(), ringShipCmd(), ringPullCmd())
	return ringCmd
}

// ringErr adds to an error about path what the file looks like when it is
// not a ring and the message does not say so already.
func ringErr(path string, err error) error {
	if err == nil || !errors.Is(err, ring.ErrNotRing) {
		return err
	}
	what := looksLike(path)
	if what == "" || strings.Contains(err.Error(), what) || (what == "empty" && strings.Contains(err.Error(), " 0 bytes")) {
		return err
	}
	return fmt.Errorf("%w; it looks like %s", err, what)
}

func ringParsePolicy(s string) (ring.Policy, error) {
	switch strings.ToLower(s) {
	case "overwrite", "log":
		return ring.Overwrite, nil
	case "block", "queue":
		return ring.Block, nil
	}
	return 0, fmt.Errorf("unknown policy %q (overwrite or block)", s)
}

func ringCreateCmd() *cobra.Command {
	var capacity, maxRecord int64
	var policy string
	cmd := &cobra.Command{
		Use:   "create FILE",
		Short: "Create a ring file (fails if FILE exists)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, m := capacity, maxRecord
			p, err := ringParsePolicy(policy)
			if err != nil {
				return usageError(err)
			}
			w, err := ring.Create(args[0], &ring.Options{Capacity: int(c), MaxRecord: int(m), Policy: p})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %s ring, capacity %s, max record %s\n", args[0], p, bytesText(c), exactBytes(int64(w.MaxRecord())))
			return w.Close()
		},
	}
	sizeFlag(cmd.Flags(), &capacity, "capacity", "1MiB", "data area size, a power of two (e.g. 64KiB, 16MiB)")
	sizeFlag(cmd.Flags(), &maxRecord, "max-record", "0", "largest record (0: the largest that fits, up to 1 MiB)")
	cmd.Flags().StringVar(&policy, "policy", "overwrite", "when full: overwrite (a log) or block (a queue)")
	return cmd
}

func ringAppendCmd() *cobra.Command {
	var sync, wait bool
	cmd := &cobra.Command{
		Use:   "append FILE [RECORD...]",
		Short: "Append records: the arguments, or each line of standard input",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &ring.Options{}
			if sync {
				opts.Durability = ring.SyncEveryAppend
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), sys.StopSignals...)
			defer stop()
			var w *ring.Writer
			var err error
			if wait {
				w, err = ring.OpenWriterWait(ctx, args[0], opts)
			} else {
				w, err = ring.OpenWriter(args[0], opts)
			}
			if err != nil {
				if ctx.Err() != nil {
					return interrupted("nothing appended")
				}
				return ringErr(args[0], err)
			}
			n := 0
			appendOne := func(p []byte) error {
				if _, err := w.AppendContext(ctx, p); err != nil {
					if ctx.Err() != nil {
						return interrupted(fmt.Sprintf("%s appended", plural(n, "record")))
					}
					if n > 0 {
						return fmt.Errorf("%s appended, then: %w", plural(n, "record"), err)
					}
					return err
				}
				n++
				return nil
			}
			if len(args) > 1 {
				for _, a := range args[1:] {
					if err := appendOne([]byte(a)); err != nil {
						w.Close()
						return err
					}
				}
			} else {
				in := bufio.NewReader(cmd.InOrStdin())
				for {
					line, err := in.ReadBytes('\n')
					if len(line) > 0 {
						line = line[:len(line)-btoi(line[len(line)-1] == '\n')]
						if e := appendOne(line); e != nil {
							w.Close()
							return e
						}
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						w.Close()
						return err
					}
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "appended %s\n", plural(n, "record"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&sync, "sync", false, "msync before each record counts as appended (survives power loss)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for another writer to finish instead of failing")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ringTailCmd() *cobra.Command {
	var n int
	var follow, seqs, asJSON bool
	format := formatText
	cmd := &cobra.Command{
		Use:   "tail FILE",
		Short: "Print the last records; with -f, keep following the writer (in any process)",
		Long: `Print the last records of a ring, one per line; with -f, keep printing records
as they are appended, by any process, until Ctrl-C.

--format says how a record is printed:
  text  (default) the record as text, with every byte that is not printable
        UTF-8 escaped (\n, \t, \r, \\, \xNN): one record is always one line
  hex   the bytes in hex
  json  one JSON object per line: {"seq": N, "len": N, "text": "..."} for
        UTF-8 records, "base64" instead of "text" for other bytes
  raw   the bytes as they are, each followed by a newline`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return usagef("--lines %d: must be 0 or more", n)
			}
			if asJSON {
				if cmd.Flags().Changed("format") && format != formatJSON {
					return usagef("--json and --format %s: choose one", format)
				}
				format = formatJSON
			}
			r, err := ring.OpenReader(args[0], &ring.ReaderOptions{Observe: true})
			if err != nil {
				return ringErr(args[0], err)
			}
			defer r.Close()
			if err := r.SeekEnd(); err != nil {
				return err
			}
			end := r.Seq()
			start := uint64(0)
			if uint64(n) < end {
				start = end - uint64(n)
			}
			if err := r.SeekSeq(start); errors.Is(err, ring.ErrNotFound) {
				// overwritten meanwhile: start at what is left
				if err := r.SeekOldest(); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			stderr := cmd.ErrOrStderr()
			// A big backlog shows progress on a terminal's stderr while it prints.
			var bar *progress
			if end-r.Seq() >= 100_000 {
				bar = newProgress(stderr, int64(end-r.Seq()), "records", false)
			}
			report := func(err error) error {
				var le *ring.LappedError
				if errors.As(err, &le) {
					out.Flush()
					fmt.Fprintf(stderr, "mmapkit: %s overwritten before they could be read\n", plural(int(le.Missed), "record"))
					return nil
				}
				return err
			}
			for rec, err := range r.Records() {
				if err != nil {
					if err := report(err); err != nil {
						return err
					}
					continue
				}
				if err := writeRecord(out, format, rec.Seq, true, seqs, rec.Data); err != nil {
					return err
				}
				bar.add(1)
			}
			bar.finish()
			if !follow {
				return nil
			}
			out.Flush()
			ctx, stop := signal.NotifyContext(cmd.Context(), sys.StopSignals...)
			defer stop()
			for {
				rec, err := r.TryNext()
				if errors.Is(err, ring.ErrEmpty) {
					// Flush only when caught up: one write per burst.
					if err := out.Flush(); err != nil {
						return err
					}
					rec, err = r.Next(ctx)
				}
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					if err := report(err); err != nil {
						return err
					}
					continue
				}
				if err := writeRecord(out, format, rec.Seq, true, seqs, rec.Data); err != nil {
					return err
				}
			}
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "how many of the newest records to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing records as they are appended")
	cmd.Flags().BoolVar(&seqs, "seq", false, "prefix each record with its sequence number and a tab (text and hex)")
	cmd.Flags().Var(&format, "format", "how to print records: text, hex, json or raw")
	cmd.Flags().BoolVar(&asJSON, "json", false, "same as --format json: one JSON object per record")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(recordFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// ringStatJSON is the --json shape of ring stat (docs/cli.md).
type ringStatJSON struct {
	Path          string           `json:"path"`
	Policy        string           `json:"policy"`
	Capacity      int              `json:"capacity"`
	MaxRecord     int              `json:"max_record"`
	Used          int              `json:"used"`
	Records       uint64           `json:"records"`
	Oldest        uint64           `json:"oldest"`
	Next          uint64           `json:"next"`
	Durable       uint64           `json:"durable"`
	Created       string           `json:"created"`
	WriterPID     int              `json:"writer_pid"`
	WriterRunning bool             `json:"writer_running"`
	Readers       []ringReaderJSON `json:"readers"`
}

type ringReaderJSON struct {
	Slot int    `json:"slot"`
	PID  int    `json:"pid"`
	Next uint64 `json:"next"`
}

func ringStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat FILE",
		Short: "Show a ring's capacity, use, sequence numbers, writer and readers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := ring.Stat(args[0])
			if err != nil {
				return ringErr(args[0], err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				js := ringStatJSON{
					Path: info.Path, Policy: info.Policy.String(), Capacity: info.Capacity, MaxRecord: info.MaxRecord,
					Used: info.Used, Records: info.Records, Oldest: info.Oldest, Next: info.Next, Durable: info.Durable,
					Created: timeJSON(info.Created), WriterPID: max(info.WriterPID, 0), WriterRunning: info.WriterPID != 0,
					Readers: []ringReaderJSON{},
				}
				for _, rd := range info.Readers {
					js.Readers = append(js.Readers, ringReaderJSON{Slot: rd.Slot, PID: rd.PID, Next: rd.Next})
				}
				return writeJSON(out, js)
			}
			var f fields
			f.add("file", "%s", info.Path)
			f.add("policy", "%s", info.Policy)
			f.add("capacity", "%s", bytesText(int64(info.Capacity)))
			f.add("max record", "%s", exactBytes(int64(info.MaxRecord)))
			f.add("used", "%s (%.1f%%)", bytesText(int64(info.Used)), percent(int64(info.Used), int64(info.Capacity)))
			if info.Records == 0 {
				f.add("records", "0 (next sequence %d)", info.Next)
			} else {
				f.add("records", "%d (sequence %d .. %d)", info.Records, info.Oldest, info.Next-1)
			}
			f.add("created", "%s", info.Created.UTC().Format(time.RFC3339))
			switch {
			case info.WriterPID > 0:
				f.add("writer", "pid %d", info.WriterPID)
			case info.WriterPID < 0:
				f.add("writer", "running (pid unknown)")
			default:
				f.add("writer", "none")
			}
			f.add("readers", "%d", len(info.Readers))
			if err := f.write(out); err != nil {
				return err
			}
			if len(info.Readers) > 0 {
				t := newTable("SLOT", "PID", "NEXT")
				for _, rd := range info.Readers {
					t.row(rd.Slot, rd.PID, rd.Next)
				}
				fmt.Fprintln(out)
				return t.write(out)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (shape in docs/cli.md)")
	return cmd
}
