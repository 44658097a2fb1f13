package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMHandsLeadershipOver: a leader stopped with SIGTERM first hands
// leadership to another voter (Raft's leadership transfer), then exits in
// order; the cluster has a new leader and takes writes through the node
// that stayed.
func TestSIGTERMHandsLeadershipOver(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := leaderOf(t, nodes, nodes[0])
	follower := aFollower(nodes, leader)
	if err := leader.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader did not exit within 30s of SIGTERM")
	}
	if code := leader.p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	log, err := os.ReadFile(leader.dir + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "handed leadership over before stopping") {
		t.Fatalf("the leader stopped without handing leadership over; log tail:\n%s", tail(string(log), 3000))
	}
	var rest []*clusterNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	if next := leaderOf(t, rest, follower); next == leader {
		t.Fatal("the stopped node is still reported as leader")
	}
	c := nodeClient(follower)
	defer c.Close()
	if err := c.Set(context.Background(), "after:handoff", "1", 0).Err(); err != nil {
		t.Fatalf("SET through a remaining node: %v", err)
	}
}
