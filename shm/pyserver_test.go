package shm_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmapkit/mmapkit/mmap"
	"github.com/mmapkit/mmapkit/ring"
	"github.com/mmapkit/mmapkit/shm"
)

// pyServer is the Go side of the Python package's tests (python/tests): a
// helper process that makes segments, slots, rings and queues and plays
// well-behaved or hostile writers on command, so that pytest checks the
// Python readers against bytes a Go process wrote. One command per line on
// stdin; one reply line on stdout: "ok [result]" or "error <message>".
//
//	segment NAME SIZE HEX     a segment of SIZE bytes starting with HEX
//	read NAME OFF N           the segment's bytes [OFF, OFF+N) as hex
//	slot NAME CAP             a segment holding a slot of capacity CAP at 0
//	store NAME HEX            store a value; replies the new sequence
//	storeloop NAME            store (i, i) as 16 bytes, i = 1, 2, ..., until stop
//	hostile NAME              keep the slot's sequence odd, bumping it by 2, until stop
//	halfstore NAME            begin a store and never finish it
//	ring NAME CAP             a ring (Overwrite) in a segment
//	queue NAME CAP            a Queue; this process keeps its first receiver
//	append NAME N             append (or send, on a queue) records 0..N-1 of queueMsg
//	appendloop NAME           append queueMsg(i) for ever, until stop
//	truncate NAME SIZE        truncate the segment's file
//	stop                      end every loop started above
//	unlink NAME
func pyServer() error {
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		regions = map[string]*mmap.Region{}
		slots   = map[string]*shm.Slot{}
		writers = map[string]*ring.Writer{}
		queues  = map[string]*shm.Receiver{}
	)
	ctx := context.Background()
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	loop := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := f(); err != nil {
					fmt.Fprintln(os.Stderr, "pyserver loop:", err)
					return
				}
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<24)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		arg := func(i int) string {
			if i < len(f) {
				return f[i]
			}
			return ""
		}
		num := func(i int) int { n, _ := strconv.Atoi(arg(i)); return n }
		name := arg(1)
		var (
			res string
			err error
		)
		switch f[0] {
		case "segment":
			var r *mmap.Region
			if r, err = shm.Create(name, num(2), nil); err == nil {
				var b []byte
				if b, err = hex.DecodeString(arg(3)); err == nil {
					_, err = r.WriteAt(b, 0)
				}
				regions[name] = r
			}
		case "read":
			var r *mmap.Region
			if r, err = shm.Open(name, mmap.ReadOnly, nil); err == nil {
				b := make([]byte, num(3))
				_, err = r.ReadAt(b, int64(num(2)))
				r.Close()
				res = hex.EncodeToString(b)
			}
		case "slot":
			var r *mmap.Region
			if r, err = shm.Create(name, shm.SlotSize(num(2)), nil); err == nil {
				regions[name] = r
				slots[name], err = shm.NewSlot(r, 0, num(2), nil)
			}
		case "store":
			var b []byte
			if b, err = hex.DecodeString(arg(2)); err == nil {
				if err = slots[name].Store(b); err == nil {
					var seq uint64
					seq, err = slots[name].Seq()
					res = strconv.FormatUint(seq, 10)
				}
			}
		case "storeloop":
			s := slots[name]
			var i uint64
			loop(func() error {
				i++
				var v [16]byte
				binary.LittleEndian.PutUint64(v[:], i)
				binary.LittleEndian.PutUint64(v[8:], i)
				return s.Store(v[:])
			})
		case "hostile":
			// A peer that never lets a reader see an even sequence, yet
			// changes it all the time.
			seq := (*uint64)(unsafe.Pointer(&regions[name].Bytes()[64]))
			if atomic.LoadUint64(seq)%2 == 0 {
				atomic.AddUint64(seq, 1)
			}
			loop(func() error { atomic.AddUint64(seq, 2); runtime.Gosched(); return nil })
		case "halfstore":
			err = slots[name].BeginStoreForTest()
		case "ring":
			writers[name], err = ring.Create(shm.Dir()+"/"+name, &ring.Options{Capacity: num(2)})
		case "queue":
			queues[name], err = shm.CreateQueue(name, &shm.QueueOptions{Capacity: num(2)})
		case "append":
			err = pyAppend(ctx, writers[name], name, num(2))
		case "appendloop":
			w := writers[name]
			i := 0
			loop(func() error { _, err := w.Append(queueMsg(i)); i++; return err })
		case "truncate":
			err = os.Truncate(shm.Dir()+"/"+name, int64(num(2)))
		case "stop":
			stop.Store(true)
			wg.Wait()
			stop.Store(false)
		case "unlink":
			err = shm.Unlink(name)
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			fmt.Printf("error %v\n", err)
		} else {
			fmt.Printf("ok %s\n", res)
		}
	}
	return in.Err()
}

// pyAppend appends records 0..n-1 of queueMsg to the ring w, or sends them on
// the queue name if w is nil.
func pyAppend(ctx context.Context, w *ring.Writer, name string, n int) error {
	send := func(p []byte) error { _, err := w.Append(p); return err }
	if w == nil {
		q, err := shm.OpenSender(name, nil)
		if err != nil {
			return err
		}
		defer q.Close()
		send = func(p []byte) error { return q.Send(ctx, p) }
	}
	for i := range n {
		if err := send(queueMsg(i)); err != nil {
			return err
		}
	}
	return nil
}
