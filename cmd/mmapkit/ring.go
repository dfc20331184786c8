package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmapkit/mmapkit/ring"
	"github.com/spf13/cobra"
)

func init() {
	ringCmd := &cobra.Command{
		Use:   "ring",
		Short: "Create, append to, follow and inspect a ring log (package ring)",
	}
	ringCmd.AddCommand(ringCreateCmd(), ringAppendCmd(), ringTailCmd(), ringStatCmd())
	rootCmd.AddCommand(ringCmd)
}

// ringParseSize reads sizes like 4096, 64KiB, 1MiB, 2GiB (also K, M, G, KB...
// all binary).
func ringParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (examples: 4096, 64KiB, 16MiB)", s)
	}
	return n * mult, nil
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
	var capacity, maxRecord, policy string
	cmd := &cobra.Command{
		Use:   "create FILE",
		Short: "Create a ring file (fails if FILE exists)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := ringParseSize(capacity)
			if err != nil {
				return err
			}
			m, err := ringParseSize(maxRecord)
			if err != nil {
				return err
			}
			p, err := ringParsePolicy(policy)
			if err != nil {
				return err
			}
			w, err := ring.Create(args[0], &ring.Options{Capacity: int(c), MaxRecord: int(m), Policy: p})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %s policy, capacity %d bytes, max record %d bytes\n", args[0], p, c, w.MaxRecord())
			return w.Close()
		},
	}
	cmd.Flags().StringVar(&capacity, "capacity", "1MiB", "data area size, a power of two (e.g. 64KiB, 16MiB)")
	cmd.Flags().StringVar(&maxRecord, "max-record", "0", "largest record (0: the largest that fits, up to 1 MiB)")
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
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			var w *ring.Writer
			var err error
			if wait {
				w, err = ring.OpenWriterWait(ctx, args[0], opts)
			} else {
				w, err = ring.OpenWriter(args[0], opts)
			}
			if err != nil {
				return err
			}
			n := 0
			appendOne := func(p []byte) error {
				if _, err := w.AppendContext(ctx, p); err != nil {
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
			fmt.Fprintf(cmd.ErrOrStderr(), "appended %d records\n", n)
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
	var follow, seqs bool
	cmd := &cobra.Command{
		Use:   "tail FILE",
		Short: "Print the last records; with -f, keep following the writer (in any process)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ring.OpenReader(args[0], &ring.ReaderOptions{Observe: true})
			if err != nil {
				return err
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
			print := func(rec ring.Record) {
				if seqs {
					fmt.Fprintf(out, "%d\t", rec.Seq)
				}
				if utf8.Valid(rec.Data) {
					out.Write(rec.Data)
				} else {
					fmt.Fprintf(out, "%q", rec.Data)
				}
				out.WriteByte('\n')
			}
			report := func(err error) error {
				var le *ring.LappedError
				if errors.As(err, &le) {
					out.Flush()
					fmt.Fprintf(cmd.ErrOrStderr(), "mmapkit: %d records overwritten before they could be read\n", le.Missed)
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
				print(rec)
			}
			if !follow {
				return nil
			}
			out.Flush()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			for {
				rec, err := r.TryNext()
				if errors.Is(err, ring.ErrEmpty) {
					out.Flush() // flush only when caught up: one write per burst
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
				print(rec)
			}
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "how many of the newest records to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing records as they are appended")
	cmd.Flags().BoolVar(&seqs, "seq", false, "prefix each record with its sequence number")
	return cmd
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
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					ring.Info
					Policy  string
					Created string
				}{info, info.Policy.String(), info.Created.UTC().Format(time.RFC3339Nano)})
			}
			fmt.Fprintf(out, "file:        %s\n", info.Path)
			fmt.Fprintf(out, "policy:      %s\n", info.Policy)
			fmt.Fprintf(out, "capacity:    %d bytes (max record %d bytes)\n", info.Capacity, info.MaxRecord)
			fmt.Fprintf(out, "used:        %d bytes (%.1f%%)\n", info.Used, 100*float64(info.Used)/float64(info.Capacity))
			fmt.Fprintf(out, "records:     %d (sequence %d .. %d)\n", info.Records, info.Oldest, int64(info.Next)-1)
			fmt.Fprintf(out, "next:        %d\n", info.Next)
			fmt.Fprintf(out, "created:     %s\n", info.Created.UTC().Format(time.RFC3339))
			switch {
			case info.WriterPID > 0:
				fmt.Fprintf(out, "writer:      pid %d (locked)\n", info.WriterPID)
			case info.WriterPID < 0:
				fmt.Fprintf(out, "writer:      locked (pid unknown)\n")
			default:
				fmt.Fprintf(out, "writer:      none\n")
			}
			for _, rd := range info.Readers {
				fmt.Fprintf(out, "reader:      slot %d, pid %d, next sequence %d\n", rd.Slot, rd.PID, rd.Next)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
