package server

import (
	"errors"
	"testing"

	"github.com/keepkv/keepkv/replication"
)

// The joining node reads the member-since index back from the TRYAGAIN
// answer the leader sent it (through clusterError, as RESP carries it).
func TestMemberSinceRoundTrip(t *testing.T) {
	for _, e := range []*errCatchingUp{
		{id: "n4", since: 4512, applied: 17, target: 4600, reached: true},
		{id: "n4", since: 4512, target: 4600},
	} {
		reply := clusterError(e)
		if got := memberSince(reply); got != 4512 {
			t.Fatalf("memberSince(%q) = %d, want 4512", reply, got)
		}
	}
	for _, reply := range []string{
		clusterError(&errCatchingUp{id: "n4", target: 4600}),
		clusterError(errors.New("something else")),
		"TRYAGAIN n4 is a non-voter (member since index x)",
	} {
		if got := memberSince(reply); got != 0 {
			t.Fatalf("memberSince(%q) = %d, want 0", reply, got)
		}
	}
}

// A joiner becomes a voter only once it has applied the leader's whole
// log: a leader that has just restarted reports commit index 0 until an
// entry of its term commits, and that must not be the target.
func TestCatchUpTargetIsTheLeadersLog(t *testing.T) {
	for _, c := range []struct {
		st   replication.Status
		want uint64
	}{
		{replication.Status{CommitIndex: 0, LastIndex: 1071}, 1071}, // restarted, nothing of its term committed
		{replication.Status{CommitIndex: 1071, LastIndex: 1073}, 1073},
		{replication.Status{CommitIndex: 1073, LastIndex: 1073}, 1073},
	} {
		if got := catchUpTarget(c.st); got != c.want {
			t.Errorf("catchUpTarget(commit %d, last %d) = %d, want %d", c.st.CommitIndex, c.st.LastIndex, got, c.want)
		}
	}
}
