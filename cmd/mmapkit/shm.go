package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mmapkit/mmapkit/mmap"
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

func shmLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List segments with size, permissions and what they hold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := shm.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tMODE\tKIND\tMODIFIED")
			for _, in := range list {
				kind := in.Kind
				if kind == "" {
					kind = "-"
				}
				fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%s\n", in.Name, in.Size, in.Mode, kind, in.ModTime.Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
}

func shmRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove segments (processes that have them mapped keep their memory until they close it)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var failed []error
			for _, name := range args {
				if err := shm.Unlink(name); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "mmapkit:", err)
					failed = append(failed, err)
				}
			}
			if len(failed) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("shm rm: %d of %d segments not removed: %w", len(failed), len(args), errors.Join(failed...))}
			}
			return nil
		},
	}
}

func shmCatCmd() *cobra.Command {
	var (
		asHex, raw, follow bool
		slotOff            int
	)
	c := &cobra.Command{
		Use:   "cat NAME",
		Short: "Print a segment: the current value of a slot, or the raw bytes",
		Long: "cat attaches read-only. If the segment holds a slot (at --offset, 0 by default), it\n" +
			"prints the slot's current value; --follow prints every new value as it is stored.\n" +
			"Anything else is copied to standard output as it is (--hex for a hex dump).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := shm.Open(args[0], mmap.ReadOnly)
			if err != nil {
				return err
			}
			defer r.Close()
			out := cmd.OutOrStdout()
			if !raw {
				s, err := shm.OpenSlot(r, slotOff)
				if err == nil {
					return shmCatSlot(cmd.Context(), out, s, asHex, follow)
				}
				if cmd.Flags().Changed("offset") || follow {
					return err
				}
			}
			if follow {
				return errors.New("shm cat: --follow needs a slot")
			}
			if asHex {
				d := hex.Dumper(out)
				if _, err := r.WriteTo(d); err != nil {
					return err
				}
				return d.Close()
			}
			_, err = r.WriteTo(out)
			return err
		},
	}
	c.Flags().BoolVar(&asHex, "hex", false, "print hex instead of raw bytes (a slot value: sequence and hex on one line)")
	c.Flags().BoolVar(&raw, "raw", false, "copy the segment's bytes even if it holds a slot")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing each new slot value (Ctrl-C to stop)")
	c.Flags().IntVar(&slotOff, "offset", 0, "offset of the slot header in the segment")
	return c
}

func shmCatSlot(ctx context.Context, out io.Writer, s *shm.Slot, asHex, follow bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	buf := make([]byte, s.Capacity())
	for {
		seq, n, err := s.Load(buf)
		if err != nil {
			return err
		}
		if asHex || follow {
			_, err = fmt.Fprintf(out, "%d %x\n", seq, buf[:n])
		} else {
			_, err = out.Write(buf[:n])
		}
		if err != nil || !follow {
			return err
		}
		if _, err := s.Wait(ctx, seq); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	}
}
