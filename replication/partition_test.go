package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// isolate cuts node i off from every other node, both ways.
func (c *memCluster) isolate(i int) {
	for j := range c.trans {
		if j != i {
			c.trans[i].Disconnect(c.trans[j].LocalAddr())
			c.trans[j].Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// heal reconnects every pair.
func (c *memCluster) heal() {
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
}

// leaderAmong waits for a ready leader among the given nodes.
func (c *memCluster) leaderAmong(t *testing.T, nodes ...int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, i := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := c.nodes[i].ReadBarrier(ctx)
			cancel()
			if err == nil {
				return i
			}
		}
	}
	t.Fatalf("no leader among %v", nodes)
	return -1
}

func (c *memCluster) converge(t *testing.T, leader int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.nodes[leader].Apply(ctx, incrEntry("sync")); err != nil {
		t.Fatal(err)
	}
	want := c.dbs[leader].AppliedIndex()
	for i, n := range c.nodes {
		if err := n.WaitApplied(ctx, want); err != nil {
			t.Fatalf("node %d did not catch up to %d: %v", i, want, err)
		}
	}
	d := c.digests()
	for i := range d {
		if d[i] != d[0] {
			t.Fatalf("node digests differ after healing: %v", d)
		}
	}
}

func TestIsolatedLeaderLosesWritesMajorityContinues(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) { testIsolatedLeader(t, size) })
	}
}

func testIsolatedLeader(t *testing.T, size int) {
	c := newMemCluster(t, size)
	old := c.leader(t)
	ctx := context.Background()
	for i := range 20 {
		if _, err := c.nodes[old].Apply(ctx, incrEntry(fmt.Sprint("k", i%3))); err != nil {
			t.Fatal(err)
		}
	}
	c.isolate(old)
	// The isolated leader cannot commit: the write fails, and it stops
	// serving linearizable reads.
	lost := c.nodes[old].Propose(ctx, incrEntry("lost"))
	_, err := lost.Wait()
	if err == nil {
		t.Fatal("an isolated leader acknowledged a write")
	}
	if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoLeader) {
		t.Fatalf("isolated write: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if err := c.nodes[old].ReadBarrier(rctx); err == nil {
		t.Fatal("an isolated leader passed the read barrier")
	}
	cancel()
	// The majority elects a new leader and keeps accepting writes.
	var others []int
	for i := range c.nodes {
		if i != old {
			others = append(others, i)
		}
	}
	nl := c.leaderAmong(t, others...)
	for range 10 {
		if _, err := c.nodes[nl].Apply(ctx, incrEntry("after")); err != nil {
			t.Fatal(err)
		}
	}
	c.heal()
	all := append(others, old)
	nl = c.leaderAmong(t, all...)
	c.converge(t, nl)
	if v := readKey(t, c.dbs[old], "lost"); v != "" {
		t.Fatalf("the unacknowledged write from the isolated leader survived: %q", v)
	}
	// Settle, on the old leader, finds that it was not applied: it may go again.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if _, applied, serr := c.nodes[old].Settle(sctx, lost, err); applied || serr != nil {
		t.Fatalf("the dropped write settled as applied %v, %v", applied, serr)
	}
	if v := readKey(t, c.dbs[old], "after"); v != "10" {
		t.Fatalf("old leader after healing: after = %q, want 10", v)
	}
}

func TestMinorityCannotWrite(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader(t)
	f1, f2 := (l+1)%3, (l+2)%3
	// Cut one follower off: the leader keeps a majority, the follower is
	// a minority of one and must not produce a leader of its own.
	c.isolate(f1)
	ctx := context.Background()
	if _, err := c.nodes[l].Apply(ctx, incrEntry("majority")); err != nil {
		t.Fatalf("majority write: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := c.nodes[f1].Apply(rctx, incrEntry("minority")); err == nil {
		t.Fatal("a minority node accepted a write")
	}
	if c.nodes[f1].raft.State() == raft.Leader {
		t.Fatal("a minority node became leader")
	}
	c.heal()
	c.converge(t, c.leaderAmong(t, l, f2, f1))
}
