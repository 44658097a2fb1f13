package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type clusterNode struct {
	id       string
	dir      string
	port     int
	password string
	p        *proc
}

func (n *clusterNode) raftAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.port+10000) }
func (n *clusterNode) addr() string     { return fmt.Sprintf("127.0.0.1:%d", n.port) }

var clusterFlags = []string{"--heartbeat-timeout", "200ms", "--election-timeout", "200ms", "--leader-wait", "3s"}

// startCluster starts n1 as a bootstrapped node and the rest joining it.
func startCluster(t *testing.T, size int, extra ...string) []*clusterNode {
	t.Helper()
	base := t.TempDir()
	var nodes []*clusterNode
	for i := range size {
		n := &clusterNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(base, fmt.Sprintf("n%d", i+1)), port: freePort(t)}
		for j, a := range extra {
			if a == "--requirepass" && j+1 < len(extra) {
				n.password = extra[j+1]
			}
		}
		args := append([]string{"--node-id", n.id}, append(clusterFlags, extra...)...)
		ready := "leadership changed: leader=true"
		if i > 0 {
			args = append(args, "--join", nodes[0].raftAddr())
			ready = "joined the cluster"
		}
		n.p = startProcUntil(t, ready, n.dir, n.port, args...)
		nodes = append(nodes, n)
	}
	return nodes
}

// restart starts a node again on its data dir; it has state, so it needs
// neither --join nor bootstrap.
func (n *clusterNode) restart(t *testing.T) {
	t.Helper()
	args := append([]string{"--node-id", n.id, "--join", ""}, clusterFlags...)
	n.p = startProcUntil(t, "keepkv started", n.dir, n.port, args...)
}

func nodeClient(n *clusterNode) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.addr(), Password: n.password, MaxRetries: -1, PoolSize: 8, DialTimeout: time.Second, ReadTimeout: 10 * time.Second})
}

// leaderOf asks a node who leads and maps the answer to a node.
func leaderOf(t *testing.T, nodes []*clusterNode, via *clusterNode) *clusterNode {
	t.Helper()
	c := nodeClient(via)
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		v, err := c.Do(context.Background(), "RAFT", "LEADER").StringSlice()
		if err == nil && len(v) == 2 {
			for _, n := range nodes {
				if n.raftAddr() == v[1] {
					return n
				}
			}
		}
		time.Sleep(50 * time.Millisecond) // leadership is another process's state: poll it
	}
	t.Fatal("no leader known")
	return nil
}

// aFollower returns some node of nodes that is not leader.
func aFollower(nodes []*clusterNode, leader *clusterNode) *clusterNode {
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	return nil
}

func infoField(t *testing.T, c *redis.Client, field string) uint64 {
	t.Helper()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

// waitConverged waits until every node has applied what the leader has
// committed.
func waitConverged(t *testing.T, nodes []*clusterNode, leader *clusterNode) {
	t.Helper()
	lc := nodeClient(leader)
	defer lc.Close()
	if err := lc.Set(context.Background(), "converge:marker", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	target := infoField(t, lc, "raft_commit_index")
	for _, n := range nodes {
		c := nodeClient(n)
		deadline := time.Now().Add(30 * time.Second)
		for infoField(t, c, "raft_applied_index") < target {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not apply up to %d", n.id, target)
			}
			time.Sleep(20 * time.Millisecond) // another process's progress: poll it
		}
		c.Close()
	}
}

// clusterWriter writes unique keys through one node until ctx ends,
// recording acknowledged ones; failures (no leader, node killed) are
// retried with new keys.
func clusterWriter(ctx context.Context, c *redis.Client, prefix string, mu *sync.Mutex, ok map[string]acked) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("%s:%d", prefix, i)
		args, val, deadline := uniqueSet(key, i)
		if err := c.Do(ctx, args...).Err(); err != nil {
			time.Sleep(10 * time.Millisecond) // back off a failing node
			continue
		}
		mu.Lock()
		ok[key] = acked{val, deadline}
		mu.Unlock()
	}
}

// verifyOn checks every acknowledged key on one node, reading its local
// state (READONLY) or through the leader.
func verifyOn(t *testing.T, n *clusterNode, ok map[string]acked, local bool) {
	t.Helper()
	c := nodeClient(n)
	defer c.Close()
	ctx := context.Background()
	conn := c.Conn()
	defer conn.Close()
	if local {
		if err := conn.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	checkAcked(t, conn.Pipeline, ok, fmt.Sprintf("%s (local=%v)", n.id, local))
}

func TestClusterLeaderKillLosesNoAcknowledgedWrite(t *testing.T) {
	nodes := startCluster(t, 3)
	ok := map[string]acked{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range nodes {
		c := nodeClient(n)
		defer c.Close()
		for w := range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); clusterWriter(ctx, c, fmt.Sprintf("%s:w%d", n.id, w), &mu, ok) }()
		}
	}
	time.Sleep(time.Second) // let writes flow through every node
	leader := leaderOf(t, nodes, nodes[0])
	var survivors []*clusterNode
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	killed := time.Now()
	leader.p.kill()
	probe := nodeClient(survivors[0])
	for probe.Set(context.Background(), "probe", "1", 0).Err() != nil {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no write succeeded within 30s of killing the leader")
		}
	}
	t.Logf("failover: leader %s killed, first successful write after %v", leader.id, time.Since(killed))
	probe.Close()
	time.Sleep(time.Second) // keep writing through the new leader
	cancel()
	wg.Wait()
	mu.Lock()
	t.Logf("%d acknowledged writes", len(ok))
	if len(ok) < 100 {
		t.Fatalf("only %d acknowledged writes: workload did not run", len(ok))
	}

	newLeader := leaderOf(t, survivors, survivors[0])
	waitConverged(t, survivors, newLeader)
	for _, n := range survivors {
		verifyOn(t, n, ok, false)
		verifyOn(t, n, ok, true)
	}
	// The killed node comes back, catches up and holds everything.
	leader.restart(t)
	waitConverged(t, nodes, newLeader)
	verifyOn(t, leader, ok, true)

	// Kill every node at once, restart them all: nothing is lost.
	for _, n := range nodes {
		n.p.kill()
	}
	for _, n := range nodes {
		n.restart(t)
	}
	l := leaderOf(t, nodes, nodes[1])
	waitConverged(t, nodes, l)
	for _, n := range nodes {
		verifyOn(t, n, ok, true)
	}
	verifyOn(t, nodes[2], ok, false)
}

func TestReplacedNodeReceivesStateBySnapshot(t *testing.T) {
	nodes := startCluster(t, 3, "--snapshot-threshold", "64", "--trailing-logs", "16", "--snapshot-interval", "200ms")
	leader := leaderOf(t, nodes, nodes[0])
	c := nodeClient(leader)
	defer c.Close()
	ctx := context.Background()
	ok := map[string]acked{}
	for i := range 2000 {
		k, v := fmt.Sprintf("snap:%d", i), fmt.Sprint(i)
		if err := c.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		ok[k] = acked{v, -1}
	}
	if err := c.Do(ctx, "RAFT", "SNAPSHOT").Err(); err != nil {
		t.Fatal(err)
	}
	victim := aFollower(nodes, leader)
	if err := c.Do(ctx, "RAFT", "REMOVE", victim.id).Err(); err != nil {
		t.Fatal(err)
	}
	victim.p.kill()
	var out strings.Builder
	if err := runAdmin([]string{"--addr", leader.addr(), "members"}, &out); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 2 || strings.Contains(out.String(), victim.id+"\t") {
		t.Fatalf("keepkv raft members after RAFT REMOVE %s:\n%s", victim.id, out.String())
	}
	// A fresh node with an empty data dir joins and must get the state by
	// snapshot: the log before it has been compacted away.
	fresh := &clusterNode{id: "n4", dir: filepath.Join(t.TempDir(), "n4"), port: freePort(t)}
	fresh.p = startProcUntil(t, "joined the cluster", fresh.dir, fresh.port,
		append([]string{"--node-id", fresh.id, "--join", leader.addr()}, clusterFlags...)...)
	all := []*clusterNode{fresh}
	for _, n := range nodes {
		if n != victim {
			all = append(all, n)
		}
	}
	waitConverged(t, all, leader)
	verifyOn(t, fresh, ok, true)
	log, _ := os.ReadFile(fresh.dir + ".log")
	if !strings.Contains(string(log), "restored snapshot") {
		t.Fatal("the fresh node caught up without installing a snapshot; the test did not exercise it")
	}
}
