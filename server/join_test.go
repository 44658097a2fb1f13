package server

import (
	"errors"
	"testing"
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
