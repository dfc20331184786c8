package mmap

import (
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/mmapkit/mmapkit/internal/sys"
)

// How calls stay safe against Close and Resize.
//
// The copying calls (ReadAt, WriteAt, Read, Write, ReadByte, WriteByte,
// ReadLine, Find, FindLast) take no lock and write no shared memory: they
// load the current view and copy. That keeps a small read as cheap as a bare
// copy out of a mapping, and lets many goroutines read at once without
// sharing a cache line. What makes it safe is that mmapkit never gives back
// an address range while the Region can still be in use:
//
//   - Close publishes a closed view, then replaces the pages with an
//     inaccessible reservation in one step (sys.Retire: mmap MAP_FIXED of
//     PROT_NONE). A reader that loaded the old view before either touches the
//     old pages or faults on the reservation; the fault handler (catch) sees
//     the closed view and returns ErrClosed.
//   - Resize publishes the new view before it retires any old page (a shrunk
//     tail, or the whole old mapping after a move). A reader that faults on
//     retired pages retries with the current view.
//   - The reservations are released only when the Region is unreachable
//     (runtime.AddCleanup): a call running a method keeps its Region
//     reachable, so no other mapping can appear under it.
//
// A fault is one of ours if its address lies in a range the Region holds
// (state.held). Inside the bytes of the view the call used, while that view
// is still the current one, it is a real fault (the file was truncated, or a
// disk error): *FaultError. If Resize published another view meanwhile, the
// call retries: the pages may have been retired and mapped again at the same
// addresses.
//
// The scoped calls (Do, WriteTo, ReadFrom, Move and the paging calls) hand
// the memory to code that cannot be retried, or to the kernel, or use the
// file descriptor, so they register in gate: Close and Resize wait for them
// to leave. Where sys.CanRetire is false (Windows, until placeholders are
// wired up) every call registers, as the copying calls then must.

// Reservations cost no memory, but address space and one kernel mapping
// each, and they are released only after a garbage collection finds their
// Region unreachable. A program that maps and closes large files in a loop
// while allocating little could run out of either before the collector
// runs, so retiring pages past a budget asks for a collection.
var (
	reservedBytes atomic.Int64 // address space in reservations not yet released, all Regions
	reservedCount atomic.Int64 // reservations not yet released

	// floorBytes and floorCount are what the last collection could not
	// free: the reservations when it was asked for, lowered as cleanups
	// release them. The budget counts from there, so that Regions that stay
	// reachable with many reservations (a Region resized thousands of
	// times) do not make every later Close and Resize collect.
	floorBytes atomic.Int64
	floorCount atomic.Int64
)

const (
	reserveBudgetBytes = 1 << 40 // of the 128 TiB a 64-bit process has
	reserveBudgetCount = 4096    // of vm.max_map_count's 65530 mappings
)

// retire turns b into a reservation (sys.Retire) and accounts for it in st.
// Region.mu must be held.
func (st *state) retire(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := sys.Retire(b); err != nil {
		return err
	}
	n := int64(pageUp(len(b)))
	st.reserved += n
	st.reservations++
	reservedBytes.Add(n)
	reservedCount.Add(1)
	return nil
}

// collectIfOverBudget runs a garbage collection when the reservations of
// all Regions pass the budget, so that the cleanups of unreachable Regions
// release theirs.
func collectIfOverBudget() {
	b, c := reservedBytes.Load(), reservedCount.Load()
	if b-floorBytes.Load() > reserveBudgetBytes || c-floorCount.Load() > reserveBudgetCount {
		floorBytes.Store(b)
		floorCount.Store(c)
		runtime.GC()
	}
}

// released accounts for reservations a cleanup gave back.
func released(bytes, count int64) {
	lower(&floorBytes, reservedBytes.Add(-bytes))
	lower(&floorCount, reservedCount.Add(-count))
}

// lower sets floor to v if v is below it.
func lower(floor *atomic.Int64, v int64) {
	for {
		f := floor.Load()
		if v >= f || floor.CompareAndSwap(f, v) {
			return
		}
	}
}

// lockFree says whether the copying calls may skip the gate.
const lockFree = sys.CanRetire

// gate holds the number of scoped calls inside the Region in its low bits and
// three flags in its high bits:
//
//   - closedBit: Close has begun. New calls fail with ErrClosed.
//   - drainBit: Close or Resize waits for the calls inside to leave; the
//     last one out sends a token on drained. New calls still enter (one may
//     be nested inside a Do that is being waited for: blocking it would
//     deadlock).
//   - mutatingBit: Resize saw no call inside and is changing the mapping.
//     New calls wait for it (none can be nested: none was inside).
const (
	closedBit   = int64(1) << 62
	drainBit    = int64(1) << 61
	mutatingBit = int64(1) << 60
	countMask   = mutatingBit - 1
)

// enter registers a scoped call. Every successful enter is paired with exit.
// It returns ErrClosed, unwrapped: the caller adds the operation and path.
func (r *Region) enter() error {
	if r.gate.Add(1)&(closedBit|mutatingBit) == 0 {
		return nil
	}
	return r.enterSlow()
}

func (r *Region) enterSlow() error {
	for {
		v := r.exit()
		if v&closedBit != 0 {
			return ErrClosed
		}
		// A Resize holds mu while it changes the mapping: wait for it.
		r.mu.Lock()
		//lint:ignore SA2001 the empty critical section is the wait
		r.mu.Unlock()
		if r.gate.Add(1)&(closedBit|mutatingBit) == 0 {
			return nil
		}
	}
}

// exit ends a scoped call and returns the new gate value. The last call out
// while someone waits hands it a token.
func (r *Region) exit() int64 {
	v := r.gate.Add(-1)
	if v&countMask == 0 && v&drainBit != 0 {
		select {
		case r.drained <- struct{}{}:
		default:
		}
	}
	return v
}

// waitDrained blocks until no scoped call is inside. drainBit must be set
// and mu held.
func (r *Region) waitDrained() {
	for r.gate.Load()&countMask != 0 {
		<-r.drained
	}
}

// beginMutate waits until no scoped call is inside and sets mutatingBit in
// the same step, so that calls entering afterwards wait. mu must be held.
func (r *Region) beginMutate() {
	r.gate.Or(drainBit)
	for {
		v := r.gate.Load()
		if v&countMask == 0 && r.gate.CompareAndSwap(v, v&^drainBit|mutatingBit) {
			return
		}
		if v&countMask != 0 {
			<-r.drained
		}
	}
}

// endMutate lets waiting calls in again.
func (r *Region) endMutate() {
	r.gate.And(^mutatingBit)
	// A token left by a caller would wake a later waiter spuriously; the
	// waiters re-check, but draining it keeps the channel tidy.
	select {
	case <-r.drained:
	default:
	}
}

// closed reports whether Close has begun.
func (r *Region) closed() bool { return r.gate.Load()&closedBit != 0 }

// errRetry is what the fault handler returns when a copying call faulted on
// pages that Resize retired under it: the call starts again with the current
// view. It never leaves the package.
var errRetry = errors.New("retry with the current view")

// retry is called between attempts of a copying call.
func retry(attempt int) {
	if attempt > 2 {
		// An anonymous Region is being moved (or a very busy Resize): let
		// the resizer run.
		runtime.Gosched()
	}
}

// catch ends a call that touched mapped memory: it restores the goroutine's
// fault setting and turns a fault in this Region's memory into an error (or
// errRetry); every other panic continues. It must be deferred directly so
// that recover works:
//
//	defer r.catch(op, v, &err, debug.SetPanicOnFault(true))
//
// v is the view whose bytes the call touched.
func (r *Region) catch(op string, v *view, err *error, oldFault bool) {
	debug.SetPanicOnFault(oldFault)
	if p := recover(); p != nil {
		*err = r.fault(op, v, p)
	}
}

// fault classifies a recovered panic of a call that touched the bytes of
// view used; it panics again with p if p is not a memory fault in a range
// this Region holds.
func (r *Region) fault(op string, used *view, p any) error {
	ae, ok := p.(interface{ Addr() uintptr })
	if _, isRuntime := p.(runtime.Error); !ok || !isRuntime {
		panic(p)
	}
	addr := ae.Addr()
	if !r.holds(addr) {
		panic(p)
	}
	v := r.v.Load()
	switch {
	case v.closed:
		return r.errorf(op, ErrClosed)
	case v.moving:
		return errRetry
	case lockFree && v != used:
		// Resize published another view while the call ran: the page it
		// faulted on may have been retired and mapped again since (a
		// shrink, then a grow over the shrink's own reservation, puts the
		// Region back at the same addresses), so a fault inside the
		// current bytes says nothing yet. Try again with the current view;
		// a real fault repeats under it. Every retirement follows the
		// publication of a new view, so an unchanged view means that no
		// page of it was retired during the call.
		return errRetry
	}
	if base := uintptr(unsafe.Pointer(unsafe.SliceData(v.data))); addr >= base && addr-base < uintptr(len(v.data)) {
		return r.errorf(op, &FaultError{Offset: int64(addr - base), Addr: addr})
	}
	if !lockFree {
		// Calls are registered, so the view cannot have changed under
		// this one: a fault outside the bytes is still a fault.
		return r.errorf(op, &FaultError{Offset: -1, Addr: addr})
	}
	// Pages Resize has retired (or a tail it cut off) under a call that
	// loaded the view before: try again with the current one.
	return errRetry
}

// holds reports whether addr lies in memory this Region holds: its mapping,
// or a reservation it left in place of old pages.
func (r *Region) holds(addr uintptr) bool {
	held := r.st.held.Load()
	if held == nil {
		return false
	}
	for _, b := range *held {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if addr >= base && addr-base < uintptr(len(b)) {
			return true
		}
	}
	return false
}

// disjoint returns the union of ranges as disjoint, page-rounded ranges, so
// that each address is released exactly once.
func disjoint(ranges [][]byte) [][]byte {
	ps := uintptr(sys.PageSize())
	base := func(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
	end := func(b []byte) uintptr { return (base(b) + uintptr(len(b)) + ps - 1) &^ (ps - 1) }
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b []byte) int {
		switch {
		case base(a) < base(b):
			return -1
		case base(a) > base(b):
			return 1
		}
		return 0
	})
	var out [][]byte
	for i := 0; i < len(sorted); {
		first, hi := sorted[i], end(sorted[i])
		j := i + 1
		for j < len(sorted) && base(sorted[j]) <= hi {
			hi = max(hi, end(sorted[j]))
			j++
		}
		out = append(out, unsafe.Slice(unsafe.SliceData(first), hi-base(first)))
		i = j
	}
	return out
}
