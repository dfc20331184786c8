//go:build !linux

package shm_test

import "errors"

// The IPC benchmarks run on Linux only.
func benchChild(string, string, int, int, []string) error {
	return errors.New("IPC benchmarks need Linux")
}
