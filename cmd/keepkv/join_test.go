package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
