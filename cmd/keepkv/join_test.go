package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRestartBeforeJoinCompletedStillJoins: a node started with --join
// that is killed before the join went through, then started again without
// --join (as any member is restarted), must go on joining, not bootstrap a
// one-node cluster of its own beside the real one (the robustness suite
// met this: the split-off cluster's members had lost every acknowledged
// write of the real one).
func TestRestartBeforeJoinCompletedStillJoins(t *testing.T) {
	base := t.TempDir()
	n1 := &clusterNode{id: "n1", dir: filepath.Join(base, "n1"), port: freePort(t)}
	n2 := &clusterNode{id: "n2", dir: filepath.Join(base, "n2"), port: freePort(t)}
	// n1 is not running yet: n2's join cannot complete.
	n2.p = startProcUntil(t, "keepkv started", n2.dir, n2.port, append([]string{"--node-id", "n2", "--join", n1.raftAddr()}, clusterFlags...)...)
	waitLogCount(t, n2.dir+".log", "join failed, retrying", 1)
	n2.p.kill()
	if _, err := os.Stat(filepath.Join(n2.dir, "join-pending")); err != nil {
		t.Fatalf("no join note after a join that did not complete: %v", err)
	}

	n1.p = startProcUntil(t, "leadership changed: leader=true", n1.dir, n1.port, append([]string{"--node-id", "n1"}, clusterFlags...)...)
	t.Cleanup(n1.p.kill)
	// Started again with no --join: it must join n1, not lead a cluster of
	// its own.
	n2.p = startProcUntil(t, "joined the cluster", n2.dir, n2.port, append([]string{"--node-id", "n2"}, clusterFlags...)...)
	t.Cleanup(n2.p.kill)
	if log, _ := os.ReadFile(n2.dir + ".log"); strings.Contains(string(log), "bootstrapped a one-node cluster") {
		t.Fatal("the restarted node bootstrapped a cluster of its own")
	}
	ctx := context.Background()
	c1, c2 := nodeClient(n1), nodeClient(n2)
	defer c1.Close()
	defer c2.Close()
	members, err := c1.Do(ctx, "RAFT", "MEMBERS").Slice()
	if err != nil || !strings.Contains(fmt.Sprint(members), "n2") {
		t.Fatalf("n1's members %v (%v): n2 is not one", members, err)
	}
	// A write through n2 is the one cluster's.
	if err := c2.Set(ctx, "session:joined", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c1.Get(ctx, "session:joined").Result(); err != nil || v != "yes" {
		t.Fatalf("n1 reads %q, %v: n2 wrote elsewhere", v, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(n2.dir, "join-pending")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the join note outlived the join")
		}
		time.Sleep(20 * time.Millisecond) // the joiner removes it after its join returns
	}
}

// TestJoinerVotesOnlyOnceCaughtUp: a joining node is a non-voter until it
// has applied what the leader had committed when it joined, and only then
// a voter. A node added as a voter with an empty log could become part of
// every quorum before it holds the log: with another voter removed and all
// nodes restarted, hashicorp/raft on it refuses votes from the members its
// old configuration lacks, and no leader is elected (the robustness suite
// met this). Here a "node" that never answers stays a non-voter, so
// removing the other voters leaves a cluster that still commits; and a real
// joiner is a voter once, and only once, it has caught up.
func TestJoinerVotesOnlyOnceCaughtUp(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, nodes, nodes[0])
	lc := nodeClient(leader)
	defer lc.Close()

	ghost := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
	err := lc.Do(ctx, "RAFT", "JOIN", "ghost", ghost).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN ghost is a non-voter (member since index ") ||
		!strings.Contains(err.Error(), "catching up") {
		t.Fatalf("RAFT JOIN of a node that never catches up answered %v", err)
	}
	var since uint64
	if _, err := fmt.Sscanf(err.Error(), "TRYAGAIN ghost is a non-voter (member since index %d)", &since); err != nil || since == 0 {
		t.Fatalf("no member-since index in %q (%v)", err, err)
	}
	if s := suffrage(t, lc, "ghost"); s != "nonvoter" {
		t.Fatalf("ghost is a %q, want nonvoter", s)
	}
	for _, n := range nodes {
		if n == leader {
			continue
		}
		if err := lc.Do(ctx, "RAFT", "REMOVE", n.id).Err(); err != nil {
			t.Fatalf("RAFT REMOVE %s with ghost a member: %v (does ghost count towards the quorum?)", n.id, err)
		}
	}
	if err := lc.Set(ctx, "session:after-removals", "1", 0).Err(); err != nil {
		t.Fatalf("a write after removing every voter but the leader: %v", err)
	}

	// Enough state that catching up takes a snapshot and some time.
	pipe := lc.Pipeline()
	for i := range 20000 {
		pipe.Set(ctx, fmt.Sprintf("session:%d", i), strings.Repeat("x", 200), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lc.Do(ctx, "RAFT", "SNAPSHOT").Err(); err != nil {
		t.Fatal(err)
	}
	committed := infoField(t, lc, "raft_commit_index")
	n4 := &clusterNode{id: "n4", dir: filepath.Join(t.TempDir(), "n4"), port: freePort(t)}
	n4.p = startProcUntil(t, "joined the cluster", n4.dir, n4.port,
		append([]string{"--node-id", n4.id, "--join", leader.raftAddr()}, clusterFlags...)...)
	c4 := nodeClient(n4)
	defer c4.Close()
	if applied := infoField(t, c4, "raft_applied_index"); applied < committed {
		t.Fatalf("n4 became a voter at applied index %d, before catching up to %d", applied, committed)
	}
	if s := suffrage(t, lc, "n4"); s != "voter" {
		t.Fatalf("n4 is a %q after its join completed, want voter", s)
	}
	// The quorum is now the leader and n4 (ghost still does not count).
	if err := lc.Set(ctx, "session:with-n4", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := lc.Do(ctx, "RAFT", "REMOVE", "ghost").Err(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0", "-1", "x", "18446744073709551616"} {
		err := lc.Do(ctx, "RAFT", "JOIN", "ghost", ghost, bad).Err()
		if err == nil || err.Error() != "ERR the member-since index must be a positive integer" {
			t.Fatalf("RAFT JOIN with member-since index %q answered %v", bad, err)
		}
	}
	// A joining node asks again with its member-since index (joinLoop):
	// once removed, it is not added back by its own next request.
	err = lc.Do(ctx, "RAFT", "JOIN", "ghost", ghost, since).Err()
	if err == nil || !strings.Contains(err.Error(), "ghost was removed from the cluster after it joined") {
		t.Fatalf("RAFT JOIN of a removed node with its member-since index answered %v", err)
	}
	if s := suffrage(t, lc, "ghost"); s != "" {
		t.Fatalf("the removed ghost is back, a %s", s)
	}
}

// suffrage returns id's suffrage in RAFT MEMBERS ("" if not a member).
func suffrage(t *testing.T, c *redis.Client, id string) string {
	t.Helper()
	members, err := c.Do(context.Background(), "RAFT", "MEMBERS").Slice()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if f, ok := m.([]any); ok && len(f) == 4 && f[0] == id {
			return fmt.Sprint(f[2])
		}
	}
	return ""
}
