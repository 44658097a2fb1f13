package replication

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSettleFindsAppliedWrites: Settle recognises a committed proposal in
// the log, alone or in a group, and returns the results it was applied
// with, as if its leader had stepped down before telling it.
func TestSettleFindsAppliedWrites(t *testing.T) {
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("group-commit=%v", group), func(t *testing.T) {
			d := startDiskNode(t, t.TempDir(), func(c *Config) { c.GroupCommit = group })
			defer d.stop(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			props := make([]*Proposal, 0, 100)
			for range 100 {
				props = append(props, d.node.Propose(ctx, incrEntry("n")))
			}
			for i := len(props) - 1; i >= 0; i-- {
				if _, err := props[i].Wait(); err != nil {
					t.Fatal(err)
				}
			}
			grouped := 0
			for i, p := range props {
				res, applied, err := d.node.Settle(ctx, p, ErrUnknownOutcome)
				if err != nil || !applied {
					t.Fatalf("proposal %d: applied %v, %v", i, applied, err)
				}
				if res[0].Int != int64(i+1) {
					t.Fatalf("proposal %d settled with INCR = %d", i, res[0].Int)
				}
				if p.grouped {
					grouped++
				}
			}
			if group && grouped == 0 {
				t.Fatal("no proposal went in a group: the grouped case was not covered")
			}
			// Refused by Raft before it was appended: free to go again.
			if _, applied, err := d.node.Settle(ctx, props[0], ErrNotLeader); applied || err != nil {
				t.Fatalf("a refused proposal settled as applied %v, %v", applied, err)
			}
		})
	}
}
