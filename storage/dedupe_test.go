package storage

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// reqEntry encodes an entry whose commands carry request ids (""= none).
func reqEntry(now int64, reqs []string, cmds ...Cmd) []byte {
	e := Entry{Now: now, Cmds: cmds, Origin: []byte("n2"), Reqs: make([][]byte, len(reqs))}
	for i, r := range reqs {
		e.Reqs[i] = []byte(r)
	}
	return e.Encode()
}

// TestRetriedRequestAppliesOnce: a forwarded INCR sent twice with one
// request id (the follower retried after the leader died) applies once;
// the retry gets the first result back, errors included.
func TestRetriedRequestAppliesOnce(t *testing.T) {
	db := mustOpen(t)
	out := mustApply(t, db,
		LogEntry{Index: 1, Data: reqEntry(1000, []string{"n2/a/1", ""}, incr("n", 5), incr("n", 1))},
		LogEntry{Index: 2, Data: reqEntry(1001, []string{"n2/a/1"}, incr("n", 5))},
		LogEntry{Index: 3, Data: reqEntry(1002, []string{"n2/a/2"}, incr("n", 5))},
		LogEntry{Index: 4, Data: reqEntry(1003, []string{"n2/a/3", "n2/a/3"}, set("s", "x", 0), incr("s", 1))},
		LogEntry{Index: 5, Data: reqEntry(1004, []string{"n2/a/4"}, incr("s", 1))},
		LogEntry{Index: 6, Data: reqEntry(1005, []string{"n2/a/4"}, incr("s", 1))},
	)
	if got := out.Results[1][0]; got.Kind != ResultInt || got.Int != 5 {
		t.Fatalf("the retry answered %+v, want the first reply 5", got)
	}
	if got := out.Results[2][0].Int; got != 11 {
		t.Fatalf("a new request after the retry gave %d, want 11 (the retry must not apply)", got)
	}
	if v, _ := get(t, db, "n", 2000); v != "11" {
		t.Fatalf("n = %s, want 11", v)
	}
	// The same id twice in one entry: the second is the first's result.
	if got := out.Results[3][1]; got.Kind != ResultOK {
		t.Fatalf("second command with the same id: %+v, want the first's OK", got)
	}
	first, again := out.Results[4][0], out.Results[5][0]
	if first.Kind != ResultErr || again.Kind != ResultErr || first.Err.Error() != again.Err.Error() || !errors.Is(again.Err, ErrNotInteger) {
		t.Fatalf("a retried error: first %v, again %v", first.Err, again.Err)
	}
}

// TestRequestTableSurvivesCheckpointAndSnapshot: the table is state like
// any other: after a checkpoint and reopen, and on a node restored from a
// snapshot, a retry is still recognised, and both nodes' digests agree.
func TestRequestTableSurvivesCheckpointAndSnapshot(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: reqEntry(1000, []string{"n2/a/1"}, incr("n", 1))})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	buf := snapshotOf(t, db)
	other := mustOpen(t)
	if err := other.Restore(buf); err != nil {
		t.Fatal(err)
	}
	retry := LogEntry{Index: 2, Data: reqEntry(1001, []string{"n2/a/1"}, incr("n", 1))}
	for _, d := range []*DB{db, other} {
		out := mustApply(t, d, retry)
		if got := out.Results[0][0].Int; got != 1 {
			t.Fatalf("retry after snapshot answered %d, want the stored 1", got)
		}
		if v, _ := get(t, d, "n", 2000); v != "1" {
			t.Fatalf("n = %s after the retry", v)
		}
	}
	if a, b := digestOf(t, db), digestOf(t, other); a != b {
		t.Fatalf("digests differ: %s vs %s", a, b)
	}
}

// TestRequestTableEvictsByPosition: the table holds the last ReqTableSize
// requests, a ring: the oldest id is forgotten when the ring comes round,
// the same way on every node (same entries, same digest), whatever the
// clocks.
func TestRequestTableEvictsByPosition(t *testing.T) {
	if testing.Short() {
		t.Skip("applies ReqTableSize requests")
	}
	dbs := []*DB{mustOpen(t), mustOpen(t)}
	const perEntry = 4096
	idx := uint64(0)
	for _, db := range dbs {
		idx = 0
		for n := 0; n <= ReqTableSize; {
			var reqs []string
			var cmds []Cmd
			for i := 0; i < perEntry && n <= ReqTableSize; i, n = i+1, n+1 {
				reqs = append(reqs, fmt.Sprintf("n2/a/%d", n))
				cmds = append(cmds, incr("n", 1))
			}
			idx++
			mustApply(t, db, LogEntry{Index: idx, Data: reqEntry(int64(idx), reqs, cmds...)})
		}
	}
	for _, db := range dbs {
		// Request 0 was evicted by request ReqTableSize: a retry applies
		// again (and, recorded anew, takes request 1's slot).
		out := mustApply(t, db,
			LogEntry{Index: idx + 1, Data: reqEntry(0, []string{"n2/a/0", "n2/a/2"}, incr("n", 1), incr("n", 1))})
		if got := out.Results[0][0].Int; got != ReqTableSize+2 {
			t.Fatalf("the evicted request answered %d, want it applied again (%d)", got, ReqTableSize+2)
		}
		if got := out.Results[0][1].Int; got != 3 {
			t.Fatalf("request 2, still in the table, answered %d, want its stored 3", got)
		}
	}
	if a, b := digestOf(t, dbs[0]), digestOf(t, dbs[1]); a != b {
		t.Fatalf("digests differ: %s vs %s", a, b)
	}
}

// TestStoredResultsRoundTrip covers every result kind the table stores.
func TestStoredResultsRoundTrip(t *testing.T) {
	for _, r := range []Result{
		okResult(), intResult(-7), bulkResult([]byte("v\x00")), nilResult(), nullArrayResult(), doubleResult(1.5),
		arrayResult([]Result{intResult(1), bulkResult(nil), arrayResult(nil)}),
		errResult(CmdError("ERR custom")), errResult(fmt.Errorf("%w: x", ErrWrongType)), errResult(errors.New("plain")),
		{Kind: ResultValue, Value: RawValue("opaque")},
	} {
		got, ok := decodeResult(encodeResult(nil, r))
		if !ok {
			t.Fatalf("%+v did not decode", r)
		}
		if got.Kind != r.Kind || got.Int != r.Int || !bytes.Equal(got.Bytes, r.Bytes) || got.Null != r.Null || len(got.Elems) != len(r.Elems) || got.Float != r.Float {
			t.Fatalf("round trip: %+v became %+v", r, got)
		}
		if r.Err != nil && (got.Err.Error() != r.Err.Error() || (errors.Is(r.Err, ErrWrongType) != errors.Is(got.Err, ErrWrongType))) {
			t.Fatalf("error round trip: %v became %v", r.Err, got.Err)
		}
	}
}

// TestResultsWireForm: an entry's results survive EncodeResults and
// DecodeResults in order; a value without a wire form comes back as the
// "reply not kept" error, and truncated or padded input is refused.
func TestResultsWireForm(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*maxStoredResult) // the table would not keep it; the wire does
	in := []Result{okResult(), intResult(42), bulkResult(big), errResult(ErrNotInteger), {Kind: ResultValue, Value: struct{}{}}}
	b := EncodeResults(in)
	got, err := DecodeResults(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) || got[0].Kind != ResultOK || got[1].Int != 42 || !bytes.Equal(got[2].Bytes, big) || !errors.Is(got[3].Err, ErrNotInteger) {
		t.Fatalf("round trip: %+v", got[:4])
	}
	if got[4].Kind != ResultErr || got[4].Err != errReplyTooLarge {
		t.Fatalf("a value without a wire form became %+v", got[4])
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(b, 0), {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := DecodeResults(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
}
