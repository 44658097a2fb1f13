package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// detScript draws random numbers and walks tables, and writes what it saw:
// every node runs it inside apply, so every node must write the same.
const detScript = `
local out = {}
for i = 1, 50 do
  local t = {}
  for j = 1, 20 do t['m' .. math.random(1000)] = math.random() end
  for k, v in pairs(t) do out[#out + 1] = k .. '=' .. v end
end
redis.call('SET', KEYS[1], table.concat(out, ','))
for i = 1, 20 do redis.call('SADD', KEYS[2], 'e' .. i) end
redis.call('SPOP', KEYS[2])
redis.call('SET', KEYS[3], tostring({}) .. tostring(math.random(1e9)) .. redis.call('SRANDMEMBER', KEYS[2]))
return {math.random(1e9), redis.call('SCARD', KEYS[2])}
`

// TestScriptsAreDeterministicAcrossCluster: a script using math.random,
// table iteration, SPOP and tostring, sent through every node of a 3-node
// cluster, leaves the same state on every node (DEBUG DIGEST and the
// values it wrote); a runaway script sent through every node is aborted
// within the budget on every node with no effect, while the nodes go on
// answering other clients.
func TestScriptsAreDeterministicAcrossCluster(t *testing.T) {
	nodes := startCluster(t, 3, "--script-budget", "2000000")
	ctx := context.Background()
	for _, n := range nodes {
		c := nodeClient(n)
		v, err := c.Eval(ctx, detScript, []string{"det:" + n.id, "set:" + n.id, "str:" + n.id}).Result()
		c.Close()
		if err != nil {
			t.Fatalf("via %s: %v", n.id, err)
		}
		t.Logf("via %s: %v", n.id, v)
	}

	// A runaway script through each node, while another client on each
	// node is answered during and after it.
	var answered atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		clients := make([]*redis.Client, len(nodes))
		for i, n := range nodes {
			clients[i] = nodeClient(n)
			defer clients[i].Close()
		}
		tick := time.NewTicker(5 * time.Millisecond) // paces the PINGs (load, not synchronisation)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range clients {
				if c.Ping(ctx).Err() == nil {
					answered.Add(1)
				}
			}
		}
	}()
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, ReadTimeout: time.Minute})
		before := answered.Load()
		start := time.Now()
		err := c.Eval(ctx, "redis.call('SET', KEYS[1], 'x') redis.call('INCR', 'runaway:count') while true do end", []string{"runaway:" + n.id}).Err()
		elapsed := time.Since(start)
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "budget") {
			t.Fatalf("runaway script via %s: %v", n.id, err)
		}
		during := answered.Load() - before
		t.Logf("runaway script via %s aborted after %v; %d PINGs answered meanwhile: %v", n.id, elapsed, during, err)
		if during == 0 {
			t.Errorf("no client was answered while the script ran via %s", n.id)
		}
	}
	close(stop)
	<-done

	leader := leaderOf(t, nodes, nodes[0])
	waitConverged(t, nodes, leader)
	var digest string
	values := map[string]string{}
	for _, n := range nodes {
		c := nodeClient(n)
		conn := c.Conn()
		if err := conn.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		d, err := conn.Do(ctx, "DEBUG", "DIGEST").Text()
		if err != nil {
			t.Fatal(err)
		}
		if digest == "" {
			digest = d
		} else if d != digest {
			t.Errorf("%s: digest %s, another node has %s", n.id, d, digest)
		}
		for _, m := range nodes {
			for _, k := range []string{"det:" + m.id, "str:" + m.id} {
				v, err := conn.Get(ctx, k).Result()
				if err != nil {
					t.Fatalf("%s: GET %s: %v", n.id, k, err)
				}
				if prev, ok := values[k]; ok && prev != v {
					t.Errorf("%s: %s differs between nodes", n.id, k)
				}
				values[k] = v
			}
			if n, err := conn.Exists(ctx, "runaway:"+m.id, "runaway:count").Result(); err != nil || n != 0 {
				t.Errorf("the aborted script's writes are there (%d, %v)", n, err)
			}
		}
		conn.Close()
		c.Close()
	}
	t.Logf("every node: digest %s", digest)
}

// TestScriptCacheSurvivesFailover: SCRIPT LOAD through a follower is
// replicated, so EVALSHA works on every node, and still after the leader
// is killed.
func TestScriptCacheSurvivesFailover(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, nodes, nodes[0])
	f := nodeClient(aFollower(nodes, leader))
	sha, err := f.ScriptLoad(ctx, "return redis.call('incr', KEYS[1])").Result()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		c := nodeClient(n)
		if err := c.EvalSha(ctx, sha, []string{"n"}).Err(); err != nil {
			t.Fatalf("EVALSHA via %s: %v", n.id, err)
		}
		c.Close()
	}
	// A read-only script through a follower that sent READONLY is served
	// from the follower's own state.
	waitConverged(t, nodes, leader)
	fc := nodeClient(aFollower(nodes, leader))
	conn := fc.Conn()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := conn.EvalRO(ctx, "return redis.call('get', KEYS[1])", []string{"n"}).Text(); err != nil || v != "3" {
		t.Fatalf("EVAL_RO on a READONLY follower: %q %v", v, err)
	}
	if err := conn.EvalRO(ctx, "return redis.call('incr', KEYS[1])", []string{"n"}).Err(); err == nil || !strings.Contains(err.Error(), "Write commands are not allowed from read-only scripts") {
		t.Fatalf("a write from EVAL_RO: %v", err)
	}
	conn.Close()
	fc.Close()
	leader.p.kill()
	var rest []*clusterNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	leaderOf(t, rest, rest[0])
	c := nodeClient(rest[1])
	defer c.Close()
	var v int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err = c.EvalSha(ctx, sha, []string{"n"}).Int64()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the new leader is another process's state: poll it
	}
	if err != nil || v != 4 {
		t.Fatalf("EVALSHA after the failover: %d, %v", v, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.EvalSha(ctx, sha, []string{"n"}).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
		t.Fatalf("EVALSHA after SCRIPT FLUSH: %v", err)
	}
}
