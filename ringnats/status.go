package ringnats

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mmapkit/mmapkit/ring"
)

// ShipStatus is what a shipper's state file and the ring say about its
// progress, read without disturbing a running shipper.
type ShipStatus struct {
	Ring      string
	RingID    ID
	Stream    string
	Subject   string
	StateFile string
	// Running is true while a shipper holds the state file; PID is the
	// pid of the last shipper that saved it.
	Running bool
	PID     int
	// Connection is the last connection state the shipper saved:
	// "connected", "disconnected", "closed" or "" (never saved). Server is
	// the server it was connected to.
	Connection string
	Server     string
	// Next is the shipper's position: every record before it is in the
	// stream or was lost.
	Next uint64
	// RingNext is the sequence number the ring's next record will get.
	RingNext uint64
	// LagRecords and LagBytes are the records (and their payload bytes)
	// still in the ring and not yet shipped.
	LagRecords, LagBytes uint64
	// Lost counts records overwritten before they could be shipped;
	// Overwritten those overwritten since the position was saved (the
	// shipper adds them to Lost when it resumes).
	Lost, Overwritten uint64
	Shipped           uint64 // records acknowledged by JetStream
	ShippedBytes      uint64
	Reordered         uint64
	StreamSeq         uint64 // stream sequence of the newest acknowledged record
	Updated           time.Time
	// Fresh is true when no shipper has saved a position for this ring
	// yet (the state file does not exist or belonged to another ring).
	Fresh bool
}

// ReadShipStatus reports on the shipper of the ring at ringPath to stream
// (opts gives the Subject and, if not the default, the StatePath, as for
// NewShipper). It walks the unshipped records to count their bytes.
func ReadShipStatus(ringPath, stream string, opts *ShipOptions) (ShipStatus, error) {
	var o ShipOptions
	if opts != nil {
		o = *opts
	}
	st := ShipStatus{Ring: ringPath, Stream: stream, Subject: o.Subject}
	if err := checkStream(stream); err != nil {
		return st, &fs.PathError{Op: "ringnats: status", Path: ringPath, Err: err}
	}
	if err := checkSubject(o.Subject); err != nil {
		return st, &fs.PathError{Op: "ringnats: status", Path: ringPath, Err: err}
	}
	if o.StatePath == "" {
		o.StatePath = defaultStatePath(ringPath, stream, o.Subject, "ship")
	}
	st.StateFile = o.StatePath
	info, err := ring.Stat(ringPath)
	if err != nil {
		return st, err
	}
	st.RingID = info.ID
	st.RingNext = info.Next
	h, payload, running, err := readState(o.StatePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.Fresh = true
	case err != nil:
		return st, err
	case h.kind != kindShip || h.stream != stream || h.name != o.Subject:
		return st, &fs.PathError{Op: "ringnats: read state", Path: o.StatePath, Err: fmt.Errorf("it is the state of another destination (stream %q, %q): %w", h.stream, h.name, ErrStateMismatch)}
	case h.ring != st.RingID:
		st.Fresh = true
		st.Running = running
	default:
		st.Running = running
		if payload == nil {
			st.Fresh = true
			break
		}
		var sp shipPayload
		if err := sp.decode(payload); err != nil {
			return st, &fs.PathError{Op: "ringnats: read state", Path: o.StatePath, Err: err}
		}
		st.PID = int(sp.pid)
		st.Connection = [...]string{"", "connected", "disconnected", "closed"}[min(sp.conn, 3)]
		st.Server = sp.url
		st.Next, st.Lost, st.Shipped, st.ShippedBytes, st.Reordered, st.StreamSeq = sp.next, sp.lost, sp.shipped, sp.shippedBytes, sp.reordered, sp.streamSeq
		st.Updated = time.Unix(0, sp.updated)
	}
	r, err := ring.OpenReader(ringPath, &ring.ReaderOptions{Observe: true})
	if err != nil {
		return st, err
	}
	defer r.Close()
	from := st.Next
	// As in Shipper.seek: a "not found" can be a walk that raced the
	// writer; the ring's bounds decide.
	for try := 1; ; try++ {
		err := r.SeekSeq(from)
		if err == nil {
			break
		}
		if !errors.Is(err, ring.ErrNotFound) {
			return st, err
		}
		if err := r.SeekOldest(); err != nil {
			return st, err
		}
		if r.Seq() > from {
			st.Overwritten = r.Seq() - from
			break
		}
		if err := r.SeekEnd(); err != nil {
			return st, err
		}
		if from > r.Seq() || try == 100 {
			// Ahead of the ring (or a writer too fast to find the
			// position in): nothing to count.
			return st, nil
		}
	}
	for rec, err := range r.Records() {
		var le *ring.LappedError
		if errors.As(err, &le) {
			st.Overwritten += le.Missed
			continue
		}
		if err != nil {
			return st, err
		}
		st.LagRecords++
		st.LagBytes += uint64(len(rec.Data))
	}
	return st, nil
}
