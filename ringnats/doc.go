// Package ringnats ships the records of a ring (package ring) to a NATS
// JetStream stream, exactly once and in order, and pulls them back into a
// local ring.
//
// It lives outside the core packages so that only its users link nats.go.
//
//	nc, err := ringnats.Connect([]string{"nats://127.0.0.1:4222"}, nil)
//	s, err := ringnats.NewShipper(nc, "/dev/shm/events", "EVENTS",
//		&ringnats.ShipOptions{Subject: "events.host1"})
//	err = s.Run(ctx) // until ctx ends or a fatal error
//
//	p, err := ringnats.NewPuller(nc, "EVENTS", "/var/lib/events.ring",
//		&ringnats.PullOptions{Consumer: "host1-copy"})
//	err = p.Run(ctx)
//
// The options come last, as pointers (*ConnectOptions, *ShipOptions,
// *PullOptions): nil and every zero field mean the documented default, except
// the required ShipOptions.Subject and PullOptions.Consumer. Errors about a
// ring or a state file are *fs.PathError values whose Op names the package and
// the operation ("ringnats: ship") and whose Path is the file; they match the
// package's sentinels, and those of package ring, with errors.Is.
//
// # Exactly once, in order
//
// Each record is published with the message id "<ring id>-<sequence>"
// (Nats-Msg-Id; the ring id is the 128-bit ring.ID the ring chose when it
// was created), so JetStream's duplicate window drops a record published
// twice, as a restarted shipper does with the records it had in flight. The
// shipper's position (the first record not known to be in the stream) is
// advanced only by JetStream's acknowledgements and kept in a small state
// file beside the ring; a shipper killed at any moment resumes from it.
//
// The stream, not the state file, is the source of truth for what was
// stored: at start and after every failed publish the shipper looks up the
// last message of its subject and, if it carries this ring's id, resumes
// after it. The state file is a lower bound that is never ahead of the
// stream; it matters when the stream cannot answer (its last message aged
// out or was purged, or the account may not read it) and so that records
// the stream deliberately dropped are not shipped again. Between the two,
// the duplicate window (two minutes by default) absorbs what was in flight.
//
// Many publishes are in flight at once. When one fails (a lost connection,
// a timeout, a server that dropped a message under load or during a leader
// change), the shipper waits for every publish in flight to resolve, then
// publishes again from the first record not acknowledged. So that a record
// can never land after its successors, every publish but the first after
// such a restart carries the previous record's id as
// Nats-Expected-Last-Msg-Id: the server refuses a record whose predecessor
// is missing. That check is per stream, so it needs a stream that only this
// shipper publishes to; ShipOptions.SharedStream turns it off for a stream
// shared with other publishers (order then rests on the connection's FIFO
// order, and a record the server dropped while it stored later ones is
// counted in Stats.Reordered).
//
// # Lost records
//
// A Block ring holds its writer back while the shipper is behind: the
// shipper reads ahead through a registered reader with manual release
// (ring.ReaderOptions.ManualRelease) and releases records only once
// JetStream acknowledged them. An Overwrite ring does not wait; when it laps the shipper
// the records overwritten before they could be shipped are counted in
// Stats.Lost (and persisted with the position) and logged, and shipping
// continues with the oldest record left. A Block ring's writer also
// reclaims the reader slot of a shipper that died; while no shipper runs it
// then waits only for the ring's other registered readers, if any, and can
// overwrite records not shipped yet (counted the same way when the next
// shipper starts). ShipOptions.ReaderName keeps the shipper's slot while
// no shipper runs, so the writer waits for the shipper's return; the slot
// stays until ForgetReader removes it.
//
// # Pulling
//
// A Puller reads a stream through a durable JetStream consumer and appends
// each message to a local ring, acknowledging it only after the append. It
// notes in its own state file which message it is about to append, and at
// which sequence number of the local ring, before it appends, so after a
// crash it knows whether the append happened: a redelivered message, or a
// record the source shipped twice, is acknowledged without being appended
// again.
package ringnats
