package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

func init() { register(newShmCmd) }

func newShmCmd() *cobra.Command {
	shmCmd := &cobra.Command{
		Use:   "shm",
		Short: "List, remove and read named shared-memory segments",
		Long: "Named shared-memory segments live in " + shm.Dir() + " (on Linux the same objects\n" +
			"shm_open(3) and Python's multiprocessing.shared_memory use). They stay until removed.",
	}
	shmCmd.AddCommand(shmLsCmd(), shmRmCmd(), shmCatCmd())
	return shmCmd
}

// shmSegmentJSON is one segment in shm ls --json (docs/cli.md).
type shmSegmentJSON struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Mode     string `json:"mode"`
	Kind     string `json:"kind"`
	Modified string `json:"modified"`
}

func shmLsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls [PATTERN...]",
		Short: "List segments with size, permissions and what they hold",
		Long: `ls lists the named segments in ` + shm.Dir() + `, or only those whose name matches
one of the glob PATTERNs (quote them: mmapkit shm ls 'prices*').`,
		RunE: func(cmd *cobra.Command, patterns []string) error {
			for _, p := range patterns {
				if _, err := pathMatch(p); err != nil {
					return usagef("bad pattern %q: %v", p, err)
				}
			}
			all, err := shm.List()
			if err != nil {
				return err
			}
			infos := all[:0:0]
			for _, in := range all {
				ok := len(patterns) == 0
				for _, p := range patterns {
					if m, _ := filepath.Match(p, in.Name); m {
						ok = true
					}
				}
				if ok {
					infos = append(infos, in)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				var segs []shmSegmentJSON
				for _, in := range infos {
					segs = append(segs, shmSegmentJSON{Name: in.Name, Size: in.Size, Mode: in.Mode.String(), Kind: in.Kind, Modified: timeJSON(in.ModTime)})
				}
				return writeJSON(out, struct {
					Dir      string           `json:"dir"`
					Segments []shmSegmentJSON `json:"segments"`
				}{shm.Dir(), list(segs)})
			}
			t := newTable("NAME", "SIZE", "MODE", "KIND", "MODIFIED").alignLeft(0).alignLeft(3).alignLeft(4)
			var total int64
			for _, in := range infos {
				kind := in.Kind
				if kind == "" {
					kind = "-"
				}
				t.row(in.Name, bytesText(in.Size), in.Mode, kind, in.ModTime.Format("2006-01-02 15:04:05"))
				total += in.Size
			}
			if err := t.write(out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s, %s in %s\n", plural(len(infos), "segment"), bytesText(total), shm.Dir())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (shape in docs/cli.md)")
	return cmd
}

func shmRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove segments (processes that have them mapped keep their memory until they close it)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b := newBatch(cmd.ErrOrStderr(), "segment")
			for _, name := range args {
				if err := shm.Unlink(name); err != nil {
					b.fail(err)
				} else {
					b.done()
				}
			}
			return b.err()
		},
	}
}

func shmCatCmd() *cobra.Command {
	var (
		asHex, raw, whole, follow, seqs, asJSON bool
		slotOff                                 int
	)
	format := formatText
	c := &cobra.Command{
		Use:   "cat NAME",
		Short: "Print a segment: the current value of a slot, or the segment's bytes",
		Long: `cat attaches read-only. If the segment holds a slot (at --offset, 0 by default),
it prints the slot's current value as one record; --follow prints every new
value as it is stored, until Ctrl-C. Any other segment, or any segment with
--whole, is printed whole.

--format says how a value is printed:
  text  (default) as text, with every byte that is not printable UTF-8
        escaped (\n, \t, \r, \\, \xNN): one value is always one line
  hex   the bytes in hex on one line (a whole segment: a hex dump with
        offsets and characters)
  json  one JSON object per line: {"seq": N, "len": N, "text": "..."} for
        UTF-8 values, "base64" instead of "text" for other bytes
  raw   the bytes as they are (a slot value is followed by a newline; a
        whole segment is copied with nothing added)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				if cmd.Flags().Changed("format") && format != formatJSON {
					return usagef("--json and --format %s: choose one", format)
				}
				format = formatJSON
			}
			if asHex {
				format = formatHex
				fmt.Fprintln(cmd.ErrOrStderr(), "mmapkit: --hex is deprecated, use --format hex")
			}
			if raw {
				whole, format = true, formatRaw
				fmt.Fprintln(cmd.ErrOrStderr(), "mmapkit: --raw is deprecated, use --whole --format raw")
			}
			if whole && (follow || cmd.Flags().Changed("offset")) {
				return usagef("--whole prints the segment's bytes: it cannot be used with --follow or --offset")
			}
			r, err := shm.Open(args[0], mmap.ReadOnly, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			out := cmd.OutOrStdout()
			if !whole {
				s, err := shm.OpenSlot(r, int64(slotOff), nil)
				if err == nil {
					return shmCatSlot(cmd.Context(), out, s, format, seqs, follow)
				}
				if cmd.Flags().Changed("offset") || follow {
					return err
				}
				head := make([]byte, 8)
				if n, _ := r.ReadAt(head, 0); ring.IsRing(head[:n]) {
					fmt.Fprintf(cmd.ErrOrStderr(), "mmapkit: %s holds a ring; mmapkit ring tail %s prints its records\n", args[0], filepath.Join(shm.Dir(), args[0]))
				}
			}
			switch format {
			case formatRaw:
				_, err = r.WriteTo(out)
				return err
			case formatHex:
				d := hex.Dumper(out)
				if _, err := r.WriteTo(d); err != nil {
					return err
				}
				return d.Close()
			}
			data, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.Len())))
			if err != nil {
				return err
			}
			return writeRecord(out, format, 0, false, false, data)
		},
	}
	fl := c.Flags()
	fl.Var(&format, "format", "how to print: text, hex, json or raw")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(recordFormats, cobra.ShellCompDirectiveNoFileComp))
	fl.BoolVar(&asJSON, "json", false, "same as --format json")
	fl.BoolVar(&whole, "whole", false, "print the whole segment even if it holds a slot")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing each new slot value (Ctrl-C to stop)")
	fl.BoolVar(&seqs, "seq", false, "prefix each slot value with its sequence number and a tab (text and hex)")
	fl.IntVar(&slotOff, "offset", 0, "offset of the slot header in the segment")
	fl.BoolVar(&asHex, "hex", false, "same as --format hex")
	fl.BoolVar(&raw, "raw", false, "same as --whole --format raw")
	// Hidden, and warned about in RunE: cobra would print its deprecation
	// notice on stdout, into the data.
	_ = fl.MarkHidden("hex")
	_ = fl.MarkHidden("raw")
	return c
}

func shmCatSlot(ctx context.Context, out io.Writer, s *shm.Slot, format recordFormat, seqs, follow bool) error {
	if follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, sys.StopSignals...)
		defer stop()
	}
	buf := make([]byte, s.Capacity())
	for {
		seq, n, err := s.Load(ctx, buf)
		if err != nil {
			return err
		}
		if err := writeRecord(out, format, seq, true, seqs, buf[:n]); err != nil || !follow {
			return err
		}
		if _, err := s.Wait(ctx, seq); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
