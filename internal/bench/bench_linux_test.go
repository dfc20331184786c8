package bench

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// Cancelling the context (Ctrl-C in the CLI) kills a running child.
func TestCancelKillsChild(t *testing.T) {
	path := testDataFile(t, MinDataSize)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := testRunner().Run(ctx, Spec{Method: "test-block", File: path, Block: 8})
		done <- err
	}()
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(path + ".pid"); err == nil && len(b) > 0 {
			pid, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	// Run has waited for the child, so it is gone (and reaped).
	if sys.ProcessAlive(pid) {
		t.Fatalf("child %d still exists after cancel", pid)
	}
}
