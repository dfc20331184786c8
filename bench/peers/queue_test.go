package peers

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mmapkit/mmapkit/shm"
)

// Messages between two processes: an shm Queue (a Block ring in /dev/shm)
// against a Unix stream socket. The sender is a child process (this test
// binary again); the benchmark process receives b.N messages and checks
// each one's index. The socket's sender writes each message with one write
// (a message sent is a message on its way, as with Send); the receiver
// reads through a bufio.Reader, so it takes whatever is there in one read.
// The time runs from "go" until the last message was received.
//
// queue sends with Send (one copy of the message into the queue, as a
// socket's write copies it into the kernel); queue-inplace with SendFunc,
// which hands the sender the message's bytes in the queue to build it in
// place (here: its index), what a producer that encodes straight into the
// queue pays: no copy at all.
//
//	bash run.sh  (or: go test -run XXX -bench Queue -count 6 > queue.txt;
//	              benchstat -col /impl queue.txt)
func BenchmarkQueue(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		for _, impl := range []string{"queue", "queue-inplace", "unix"} {
			b.Run(fmt.Sprintf("size=%d/impl=%s", size, impl), func(b *testing.B) {
				b.SetBytes(int64(size))
				if impl == "unix" {
					benchUnix(b, size)
				} else {
					benchQueue(b, impl, size)
				}
			})
		}
	}
}

const envChild = "PEERS_CHILD"

// TestMain runs the child's part when the benchmark starts this binary as a
// sender.
func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child sends N messages of SIZE bytes to ADDR (a queue name or a socket
// path) after it has said "ready" and read "go".
func child(role string) error {
	n, _ := strconv.Atoi(os.Getenv("PEERS_N"))
	size, _ := strconv.Atoi(os.Getenv("PEERS_SIZE"))
	addr := os.Getenv("PEERS_ADDR")
	msg := make([]byte, size)
	in := bufio.NewScanner(os.Stdin)
	switch role {
	case "queue", "queue-inplace":
		q, err := shm.OpenSender(addr, nil)
		if err != nil {
			return err
		}
		defer q.Close()
		fmt.Println("ready")
		in.Scan()
		ctx := context.Background()
		var i uint64
		fill := func(m []byte) error {
			binary.LittleEndian.PutUint64(m, i)
			return nil
		}
		for ; i < uint64(n); i++ {
			if role == "queue-inplace" {
				err = q.SendFunc(ctx, size, fill)
			} else {
				binary.LittleEndian.PutUint64(msg, i)
				err = q.Send(ctx, msg)
			}
			if err != nil {
				return err
			}
		}
	case "unix":
		c, err := net.Dial("unix", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("ready")
		in.Scan()
		for i := range n {
			binary.LittleEndian.PutUint64(msg, uint64(i))
			if _, err := c.Write(msg); err != nil {
				return err
			}
		}
	}
	in.Scan() // wait until the receiver has everything
	return nil
}

func startChild(b *testing.B, role, addr string, size int) (*exec.Cmd, io.WriteCloser) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+role, "PEERS_ADDR="+addr,
		"PEERS_N="+strconv.Itoa(b.N), "PEERS_SIZE="+strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		b.Fatalf("sender: %q", lines.Text())
	}
	return cmd, stdin
}

func benchQueue(b *testing.B, role string, size int) {
	name := fmt.Sprintf("peers-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	rx, err := shm.CreateQueue(name, nil) // the default 1 MiB
	if err != nil {
		b.Fatal(err)
	}
	defer shm.Unlink(name)
	defer rx.Close()
	cmd, stdin := startChild(b, role, name, size)
	defer cmd.Wait()
	defer stdin.Close()
	ctx := context.Background()
	b.ResetTimer()
	fmt.Fprintln(stdin, "go")
	for i := range b.N {
		m, err := rx.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(m); got != uint64(i) || len(m) != size {
			b.Fatalf("message %d: index %d, %d bytes", i, got, len(m))
		}
	}
	b.StopTimer()
}

func benchUnix(b *testing.B, size int) {
	sock := filepath.Join(b.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cmd, stdin := startChild(b, "unix", sock, size)
	defer cmd.Wait()
	defer stdin.Close()
	c, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, max(64<<10, size))
	m := make([]byte, size)
	b.ResetTimer()
	fmt.Fprintln(stdin, "go")
	for i := range b.N {
		if _, err := io.ReadFull(r, m); err != nil {
			b.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(m); got != uint64(i) {
			b.Fatalf("message %d: index %d", i, got)
		}
	}
	b.StopTimer()
}
