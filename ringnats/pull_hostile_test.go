package ringnats

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/ring"
)

// TestPullForgedIDThenOverwrite: a forged message carrying the id of
// a record not shipped yet is appended (the puller does not refuse it) and
// starts a run for that record. Once the copy, a ring, has overwritten the
// forgery (as every ring does in time; the attacker can hurry it along with
// any messages), the genuine record's message finds the run, cannot compare
// bytes, takes "overwritten" for "appended before" and is skipped: the
// genuine record never reaches the copy, silently (counted as Skipped, like
// a redelivery). Now such a message is appended and counted as suspect.
func TestPullForgedIDThenOverwrite(t *testing.T) {
	srv := startServer(t, "")
	nc := connect(t, srv.url())
	js := jsNew(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, streamConfig("PFO", "pfo")); err != nil {
		t.Fatal(err)
	}
	src := ID{9}
	n := uint64(0)
	for seq := range uint64(5) {
		pubRecord(t, js, "pfo", MsgID(src, seq), payload(seq))
		n++
	}
	// Forgeries of records 5..9: appended, consecutive, one run.
	for seq := uint64(5); seq < 10; seq++ {
		pubRecord(t, js, "pfo", MsgID(src, seq), []byte("forged"))
		n++
	}
	// Anything without a ring's id, enough to wrap the 4 KiB copy.
	for i := range 200 {
		pubRecord(t, js, "pfo", "", []byte(fmt.Sprintf("filler %03d %s", i, strings.Repeat("x", 40))))
		n++
	}
	// The genuine records 5..9 (a shipper's tagged ids).
	for seq := uint64(5); seq < 10; seq++ {
		pubRecord(t, js, "pfo", string(appendTaggedMsgID(nil, src, seq, seq*31)), payload(seq))
		n++
	}
	dst := filepath.Join(t.TempDir(), "dst")
	p, err := NewPuller(nc, "PFO", dst, &PullOptions{Consumer: "c", Create: &ring.Options{Capacity: 1 << 12, Policy: ring.Overwrite}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	st := pullAll(t, p, n)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got := ringRecords(t, dst)
	var tail []string
	for _, r := range got[max(0, len(got)-5):] {
		tail = append(tail, fmt.Sprintf("%.12q", r))
	}
	var want []string
	for seq := uint64(5); seq < 10; seq++ {
		want = append(want, fmt.Sprintf("%.12q", payload(seq)))
	}
	if fmt.Sprint(tail) != fmt.Sprint(want) {
		t.Errorf("the copy ends with %v, want the genuine records 5..9 %v (stats %+v)", tail, want, st)
	}
	if st.Skipped != 0 {
		t.Errorf("%d messages skipped, none was in the copy: %+v", st.Skipped, st)
	}
	if st.Suspect != 5 || st.Pulled != n {
		t.Errorf("want all %d messages pulled and the genuine records 5..9 counted as suspect (their run was a forgery's, overwritten since): %+v", n, st)
	}
}
