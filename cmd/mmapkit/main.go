// Command mmapkit measures, inspects and steers memory-mapped files.
//
//	mmapkit bench                  the classic mmap-vs-read benchmark on this machine
//	mmapkit residency FILE...      which pages of a file are in the page cache
//	mmapkit prefetch|evict FILE... load files into, or drop them from, the page cache
//	mmapkit npy info|head FILE     inspect a .npy file
//	mmapkit ring ...               create, append to, follow and inspect a ring log
//	mmapkit shm ls|rm|cat          named shared-memory segments
//
// Each subcommand lives in its own file and adds itself to the root command in
// an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "mmapkit",
	Short:         "Measure, inspect and steer memory-mapped files",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mmapkit:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (for example "some files failed").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}
