package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keepkv/keepkv/storage"
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

// isolatedWrite starts a 3-node cluster, cuts its leader off and has it
// propose INCR key, which fails with ErrUnknownOutcome when the leader
// steps down. It returns the cluster, the old leader and the proposal.
func isolatedWrite(t *testing.T, key string) (*memCluster, int, *Proposal, error) {
	t.Helper()
	c := newMemCluster(t, 3)
	old := c.leader(t)
	if _, err := c.nodes[old].Apply(context.Background(), incrEntry("warm")); err != nil {
		t.Fatal(err)
	}
	c.isolate(old)
	p := c.nodes[old].Propose(context.Background(), incrEntry(key))
	_, werr := p.Wait()
	if !errors.Is(werr, ErrUnknownOutcome) {
		t.Fatalf("the isolated leader's write: %v, want ErrUnknownOutcome", werr)
	}
	return c, old, p, werr
}

// settleWithin settles p on node i within 5 s.
func (c *memCluster) settleWithin(i int, p *Proposal, werr error) ([]storage.Result, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.nodes[i].Settle(ctx, p, werr)
}

// TestSettleOnAnIdleCluster: an isolated leader's write, and then no other
// write anywhere. The next leader's first entry — a no-op the state
// machine never sees — lands at the write's index, and Settle learns from
// it that the write was dropped, without waiting for some later write.
func TestSettleOnAnIdleCluster(t *testing.T) {
	c, old, lost, werr := isolatedWrite(t, "lost")
	// The other two elect a leader (whose no-op takes the write's index)
	// before the old one is back; nothing else is written.
	c.leaderAmong(t, (old+1)%3, (old+2)%3)
	c.heal()
	if _, applied, err := c.settleWithin(old, lost, werr); err != nil || applied {
		t.Fatalf("settled as applied %v, %v; want not applied", applied, err)
	}
	if v := readKey(t, c.dbs[old], "lost"); v != "" {
		t.Fatalf("the dropped write is in the old leader's state: %q", v)
	}
}

// TestSettleVerdictMatchesState: the isolated leader's write, and the node
// back at once. Often it is elected again (its log is the longest) and the
// write commits in its new term with no future left to tell; otherwise
// another node's entry takes the index. Either way Settle's verdict, and
// the result it returns, agree with the state.
func TestSettleVerdictMatchesState(t *testing.T) {
	c, old, p, werr := isolatedWrite(t, "kept")
	c.heal()
	res, applied, err := c.settleWithin(old, p, werr)
	if err != nil {
		t.Fatal(err)
	}
	v := readKey(t, c.dbs[old], "kept")
	switch {
	case applied && (v != "1" || res[0].Int != 1):
		t.Fatalf("settled as applied with %+v, but the key is %q", res, v)
	case !applied && v != "":
		t.Fatalf("settled as dropped, but the key is %q", v)
	}
	t.Logf("settled as applied: %v", applied)
}
