// Command mmapkit measures, inspects and steers memory-mapped files.
//
//	mmapkit bench                  the classic mmap-vs-read benchmark on this machine
//	mmapkit residency FILE...      which pages of a file are in the page cache
//	mmapkit prefetch|evict FILE... load files into, or drop them from, the page cache
//	mmapkit lock FILE...           keep files in memory until signalled
//	mmapkit npy ...                inspect .npy files
//	mmapkit ring ...               create, append to, follow and inspect a ring log
//	mmapkit shm ls|rm|cat          named shared-memory segments
//
// Each top-level command lives in its own file and registers its constructor
// in an init function (register). newRootCmd builds a fresh command tree, so
// tests run command lines in-process without flag values leaking between runs.
//
// Exit status: 0 success, 1 failure (some or all of the named files, records
// or segments failed), 2 bad usage (unknown command or flag, bad argument),
// 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses, the same for every command (and listed in --help).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const exitStatusHelp = `
Exit status: 0 success; 1 failure (some or all of the files, records or
segments failed; each is reported on stderr); 2 bad usage (unknown command or
flag, bad argument); 130 interrupted.
`

// commands holds the constructors of the top-level commands; each file adds
// its own with register in an init function.
var commands []func() *cobra.Command

// register adds a top-level command to every root built by newRootCmd.
func register(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

// newRootCmd builds the whole command tree, fresh.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mmapkit",
		Short: "Measure, inspect and steer memory-mapped files",
		Long: `mmapkit measures, inspects and steers memory-mapped files: which pages of a
file are cached (residency, prefetch, evict, lock), whether mmap beats read on
this machine (bench), and the files of the mmapkit library (npy, ring, shm).

Every command that reports something has --json (documented in docs/cli.md).
Shell completion: mmapkit completion bash|zsh|fish|powershell --help.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	root.SetUsageTemplate(root.UsageTemplate() + exitStatusHelp)
	// cobra's help command shows the root's help, exit 0, for a topic that
	// does not exist: "mmapkit help nosuch" is bad usage like "mmapkit nosuch".
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("unknown help topic %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, sub.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	strictTree(root)
	return root
}

// strictTree makes every argument error a usage error (exit status 2) and
// makes every command group refuse unknown subcommands: cobra's default for a
// group is to print its help and exit 0, so `mmapkit npy lss` looked like
// success.
func strictTree(c *cobra.Command) {
	c.SilenceUsage, c.SilenceErrors = true, true
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return errors.New(msg + "; its commands: " + strings.Join(names, ", "))
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if a := c.Args; a != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := a(cmd, args); err != nil {
				return usageError(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strictTree(sub)
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit status. The error, if
// any, is printed here, once.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if code == exitUsage && cmd != nil {
		err = fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	}
	printError(stderr, err)
	return code
}
