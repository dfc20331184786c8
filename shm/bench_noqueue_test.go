//go:build linux

package shm_test

import (
	"os"
	"strings"
	"testing"
)

// Until the Queue exists, the queue transports are not available.
func transportAvailable(kind string) bool { return !strings.HasPrefix(kind, "queue") }

func parentQueueEndpoint(*testing.B, string) (endpoint, []*os.File, []string) {
	return nil, nil, nil
}

func childQueueEndpoint(kind string, _ []string) (endpoint, error) {
	return nil, os.ErrInvalid
}
