package ringnats

import (
	"errors"

	"github.com/mmapkit/mmapkit/mmap"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is.
var (
	// ErrForeignID: a message id that MsgID did not make (another
	// publisher's message).
	ErrForeignID = errors.New("not a ring record's message id")
	// ErrNoStream: the stream does not exist (and was not to be created).
	ErrNoStream = errors.New("stream does not exist")
	// ErrSubject: the stream does not capture the subject the shipper
	// publishes to.
	ErrSubject = errors.New("stream does not capture the subject")
	// ErrNotState: the state file is not one of ours, or is damaged.
	ErrNotState = errors.New("not a ringnats state file")
	// ErrStateMismatch: the state file belongs to another stream, subject
	// or consumer.
	ErrStateMismatch = errors.New("state file belongs to another destination")
	// ErrConsumer: the durable consumer exists (or was changed while the
	// puller ran) with settings under which it would not deliver what the
	// puller asks for: no explicit acknowledgements, another filter,
	// headers only, or push delivery.
	ErrConsumer = errors.New("consumer exists with other settings")
	// ErrBadName: a subject, stream or consumer name that NATS does not
	// allow where it is used (or that is missing, or too long for the
	// state file).
	ErrBadName = errors.New("invalid name")
	// ErrRunning: Run was called while the same Shipper or Puller runs.
	ErrRunning = errors.New("already running")
	// ErrReplaced: another file took the ring's path while a shipper read
	// it or a puller appended to it (a producer created the ring anew,
	// with ring.Options.Replace). Run ends with it rather than ship or
	// append to a file nobody can open any more; a new Shipper or Puller
	// starts over on the new ring.
	ErrReplaced = errors.New("ring replaced at its path")
	// ErrLocked: another shipper or puller runs with the same state file
	// (the same variable as mmap.ErrLocked).
	ErrLocked = mmap.ErrLocked
	// ErrClosed: Run was called after Close (the same variable as
	// mmap.ErrClosed).
	ErrClosed = mmap.ErrClosed
)
