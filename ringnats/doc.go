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
// Each record is published with a message id naming the ring and the
// record (Nats-Msg-Id; see "Message ids"), so JetStream's duplicate window
// drops a record published twice, as a restarted shipper does with the
// records it had in flight. The shipper's position (the first record not
// known to be in the stream) is advanced only by JetStream's
// acknowledgements and kept in a small state file beside the ring; a
// shipper killed at any moment resumes from it.
//
// The state file is the authority on the position. It lags the
// acknowledgements by up to ShipOptions.StateInterval, so at start (and
// after every failed publish) the shipper also looks up the last message of
// its subject: if that message is proven to be its own record, past the
// saved position, it resumes after it (so that records stored beyond the
// duplicate window are not stored twice). Proven means the message's id
// carries the tag only this shipper can compute. Only while the shipper's
// key is new (the state file and its key were lost, or an older shipper
// published plain ids) and no publish under it has been acknowledged, a
// message without the tag is proven when the ring still holds that record
// and the message holds exactly its bytes and the headers the shipper
// sets; once the key is proven, bytes prove nothing (the ring's other
// readers and any subscriber to the subject can copy them). Any other message is ignored for
// positioning, with a warning naming its stream sequence and id: anyone who
// may publish to the subject can put this ring's id on a message, and a
// forged one believed would make the shipper skip records it never
// shipped. A claimed record the ring has overwritten since, without the
// tag, cannot be checked: the records from the saved position to the
// ring's oldest are then counted in Stats.Lost (not known to be stored),
// which is no more loss than the overwrite caused.
//
// Most records are published without asking for JetStream's
// acknowledgement (the server stores them and answers nothing): one
// acknowledgement vouches for up to 64 records, because of the order
// check described next, so the server encodes and the client decodes a
// 64th of the acknowledgements a publish loop handles. An acknowledgement
// is also asked for when the ring has nothing more for now, when the
// window is full, and for the first record after a restart. With
// SharedStream, where there is no order check, every record asks for one.
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
// # Message ids
//
// A shipper publishes record seq of a ring as "<ring>.<seq>.<tag>": the
// ring's ID in unpadded base64url (22 characters), seq in decimal, and a
// tag, 8 bytes in unpadded base64url (11 characters): a pseudo-random
// function of seq (AES-128) under a secret key that the shipper keeps in
// its state file. Nobody without the
// key can compute the tag of a record not yet published, even knowing the
// tags of all the others, so a message put on the subject ahead of time
// with a future record's id cannot make the duplicate window drop that
// record (it did when ids were predictable: the record's publish was
// acknowledged as a duplicate of the forgery, and its bytes never reached
// the stream). ParseMsgID reads both this form and the plain
// "<32 hex digits>-<seq>" of MsgID (which older shippers published); a
// puller cannot check tags and does not need to (see "Pulling").
//
// The key is made with the state file and saved before anything is
// published with it. A state file that is deleted takes the key with it:
// the next shipper publishes under a new key, so a record it publishes
// again that the stream already holds under the old key is not recognised
// by the duplicate window; the puller's own check still recognises it.
//
// # Lost records
//
// A Block ring holds its writer back while the shipper is behind: the
// shipper reads ahead through a registered reader with manual release
// (ring.ReaderOptions.ManualRelease) and releases records only once
// JetStream acknowledged them. An Overwrite ring does not wait; when it laps the shipper
// the records overwritten before they could be shipped are counted in
// Stats.Lost (and persisted with the position) and logged, and shipping
// continues with the oldest record left, whose message carries their number
// in the LostHeader header. A Block ring's writer also
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
// crash it knows whether the append happened: a redelivered message (its
// stream sequence number is at most the last one appended) is acknowledged
// without being appended again. It also keeps the stream's creation time:
// a stream deleted and created anew under the same name numbers its
// messages from 1 again, and the puller then starts from its first message
// rather than skip what the new stream holds below the old number.
//
// A record shipped twice (a restarted shipper beyond the duplicate window)
// arrives as a new message with the id of a record appended before. The
// puller skips it only when the local ring holds exactly its bytes for that
// record: it remembers where it appended each ring's records (for each of
// up to 4096 source rings, the 4 runs of consecutive records it extended
// last, in a file beside its state file, "<state file>.runs") and compares.
// An id is no proof (anyone who may publish to the stream can put any id on
// a message), the bytes are: a skip then loses nothing, whoever sent the
// message. Any other message is appended, so a forged id can add a record
// to the copy, as any foreign message can, but never make the puller skip a
// genuine one. A record whose earlier append the local ring has
// overwritten since cannot be compared: it is appended (a record shipped
// twice is then in the copy twice, counted, rather than a genuine record
// lost to a forgery of its id that came first). Appended messages whose id
// does not fit their ring's order (an id appended before with other bytes
// or overwritten since, or a sequence number that jumps without the
// shipper's LostHeader explaining the gap) are counted in
// PullStats.Suspect and logged. The puller does not refuse them: genuine
// records jump too (records lost to overwrite before the header existed, a
// stream limit removing messages the consumer had not reached, a shared
// stream storing a record after its successors), and no rule on ids alone
// tells them from forgeries.
//
// # A ring replaced at its path
//
// A shipper reads, and a puller appends to, the file that was at the ring's
// path when it started. When another file takes the path (a producer
// creates the ring anew with ring.Options.Replace), reading or appending
// on would ship nothing of the new ring, or append to a file nobody can
// open; Run ends instead with an error matching ErrReplaced, logged. A
// shipper looks about once a second while the ring has no new record (it
// ships what the old file holds first); a puller looks before each
// message, and also stops when the ring was removed. Started again, either
// starts over on the new ring (its state file belongs to the old one).
//
// An existing consumer is used only if it is a pull consumer that waits
// for explicit acknowledgements, delivers whole messages (not headers
// only) and has exactly the filter PullOptions.FilterSubject asks for (none
// when it is empty); anything else ends Run with an error matching
// ErrConsumer. A running puller checks the consumer's configuration again
// about once a second, and before it appends a message that shows a sign
// of a change (the headers-only size header, a subject outside the filter,
// or, without a filter, a jump in stream sequence numbers).
package ringnats
