package shm_test

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/shm"
)

// Segments are the objects Python's multiprocessing.shared_memory uses, both
// ways. Python before 3.13 registers an attached segment with its resource
// tracker, which unlinks it when Python exits (cpython#82300): the script
// unregisters it, as Python code attaching to a Go segment must.
func TestPythonSharedMemoryInterop(t *testing.T) {
	const script = `
import sys
from multiprocessing import shared_memory, resource_tracker
def attach(name):
    try:
        return shared_memory.SharedMemory(name=name, track=False)   # 3.13+
    except TypeError:
        sm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(sm._name, "shared_memory")
        return sm
# 1. read a segment Go made
sm = attach(sys.argv[1])
print(bytes(sm.buf[:13]).decode(), sm.size, flush=True)
sm.close()
# 2. make one for Go to read, and remove it when Go says so
mine = shared_memory.SharedMemory(name=sys.argv[2], create=True, size=4096)
mine.buf[:14] = b"hello from py!"
print("ready", flush=True)
sys.stdin.readline()
mine.close()
mine.unlink()
`
	goName, pyName := segName(t), segName(t)
	r, err := shm.Create(goName, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.WriteAt([]byte("hello from go"), 0); err != nil {
		t.Fatal(err)
	}
	cmd := pyCmd(t, script, goName, pyName)
	// Python's resource tracker inherits stderr: with a pipe there, Wait
	// returns only after the tracker has exited, having done its cleanup.
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "hello from go 10000") {
		t.Fatalf("python read %q", sc.Text())
	}
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("python said %q", sc.Text())
	}
	ro, err := shm.Open(pyName, mmap.ReadOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 14)
	_, err = ro.ReadAt(buf, 0)
	ro.Close()
	if err != nil || string(buf) != "hello from py!" {
		t.Errorf("Go read %q, %v from Python's segment", buf, err)
	}
	stdin.Write([]byte("done\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("python stderr: %s", stderr.Bytes())
	}
	// Python's exit left the Go segment alone
	if _, err := os.Stat(shm.Dir() + "/" + goName); err != nil {
		t.Errorf("segment gone after Python exited: %v", err)
	}
}
