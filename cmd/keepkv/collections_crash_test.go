package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// collAcks records, per writer, the element numbers whose write was
// acknowledged, per type.
type collAcks struct {
	mu   sync.Mutex
	hash map[string][]int // key → acknowledged field numbers
	set  map[string][]int
	zset map[string][]int
	list map[string][]int // in push order
}

func newCollAcks() *collAcks {
	return &collAcks{hash: map[string][]int{}, set: map[string][]int{}, zset: map[string][]int{}, list: map[string][]int{}}
}

// collWriter sends pipelines of HSET, SADD, ZADD and RPUSH through c until
// ctx ends, each element numbered; an element counts as acknowledged only
// if its own command answered without error.
func collWriter(ctx context.Context, c *redis.Client, w int, acks *collAcks) {
	h, s, z, l := fmt.Sprintf("h:%d", w), fmt.Sprintf("s:%d", w), fmt.Sprintf("z:%d", w), fmt.Sprintf("l:%d", w)
	for i := 0; ctx.Err() == nil; i += 4 {
		pipe := c.Pipeline()
		hs := pipe.HSet(ctx, h, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		sa := pipe.SAdd(ctx, s, "m"+strconv.Itoa(i+1))
		za := pipe.ZAdd(ctx, z, redis.Z{Score: float64(i + 2), Member: "m" + strconv.Itoa(i+2)})
		rp := pipe.RPush(ctx, l, "e"+strconv.Itoa(i+3))
		pipe.Exec(ctx)
		acks.mu.Lock()
		if hs.Err() == nil {
			acks.hash[h] = append(acks.hash[h], i)
		}
		if sa.Err() == nil {
			acks.set[s] = append(acks.set[s], i+1)
		}
		if za.Err() == nil {
			acks.zset[z] = append(acks.zset[z], i+2)
		}
		if rp.Err() == nil {
			acks.list[l] = append(acks.list[l], i+3)
		}
		failed := hs.Err() != nil || sa.Err() != nil || za.Err() != nil || rp.Err() != nil
		acks.mu.Unlock()
		if failed {
			time.Sleep(10 * time.Millisecond) // back off a node that is down
		}
	}
}

// checkCollections reads every acknowledged element back through c.
func checkCollections(t *testing.T, c redis.Cmdable, acks *collAcks, where string) {
	t.Helper()
	ctx := context.Background()
	acks.mu.Lock()
	defer acks.mu.Unlock()
	total := 0
	for h, fields := range acks.hash {
		got, err := c.HGetAll(ctx, h).Result()
		if err != nil {
			t.Fatalf("%s: HGETALL %s: %v", where, h, err)
		}
		for _, i := range fields {
			if got["f"+strconv.Itoa(i)] != "v"+strconv.Itoa(i) {
				t.Fatalf("%s: acknowledged field f%d of %s is %q (lost)", where, i, h, got["f"+strconv.Itoa(i)])
			}
		}
		total += len(fields)
	}
	for s, members := range acks.set {
		got, err := c.SMembers(ctx, s).Result()
		if err != nil {
			t.Fatalf("%s: SMEMBERS %s: %v", where, s, err)
		}
		have := map[string]bool{}
		for _, m := range got {
			have[m] = true
		}
		for _, i := range members {
			if !have["m"+strconv.Itoa(i)] {
				t.Fatalf("%s: acknowledged member m%d of %s is missing", where, i, s)
			}
		}
		total += len(members)
	}
	for z, members := range acks.zset {
		for _, i := range members {
			score, err := c.ZScore(ctx, z, "m"+strconv.Itoa(i)).Result()
			if err != nil || score != float64(i) {
				t.Fatalf("%s: acknowledged member m%d of %s: score %v, %v", where, i, z, score, err)
			}
		}
		total += len(members)
	}
	for l, elems := range acks.list {
		got, err := c.LRange(ctx, l, 0, -1).Result()
		if err != nil {
			t.Fatalf("%s: LRANGE %s: %v", where, l, err)
		}
		// Acknowledged pushes appear in push order (unacknowledged ones
		// may sit between them).
		j := 0
		for _, e := range got {
			if j < len(elems) && e == "e"+strconv.Itoa(elems[j]) {
				j++
			}
		}
		if j != len(elems) {
			t.Fatalf("%s: list %s holds %d of %d acknowledged elements in order; first missing e%d", where, l, j, len(elems), elems[j])
		}
		total += len(elems)
	}
	if total < 100 {
		t.Fatalf("%s: only %d acknowledged elements: the workload did not run", where, total)
	}
}

// TestCollectionsSurviveSIGKILL: clients on every node of a 3-node
// cluster pipeline HSET, SADD, ZADD and RPUSH while the leader is
// SIGKILLed, then all three nodes at once; every acknowledged element is
// present afterwards, on every node, read locally and through the leader.
func TestCollectionsSurviveSIGKILL(t *testing.T) {
	nodes := startCluster(t, 3)
	acks := newCollAcks()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 6 {
		c := nodeClient(nodes[w%3])
		defer c.Close()
		wg.Add(1)
		go func() { defer wg.Done(); collWriter(ctx, c, w, acks) }()
	}
	time.Sleep(time.Duration(500+rand.IntN(500)) * time.Millisecond) // let writes flow
	leader := leaderOf(t, nodes, nodes[0])
	leader.p.kill()
	time.Sleep(time.Duration(500+rand.IntN(500)) * time.Millisecond) // writes go on under the new leader
	leader.restart(t)
	time.Sleep(time.Duration(300+rand.IntN(300)) * time.Millisecond)
	for _, n := range nodes {
		n.p.kill()
	}
	cancel()
	wg.Wait()
	for _, n := range nodes {
		n.restart(t)
	}
	leader = leaderOf(t, nodes, nodes[0])
	waitConverged(t, nodes, leader)
	for _, n := range nodes {
		c := nodeClient(n)
		conn := c.Conn()
		if err := conn.ReadOnly(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		checkCollections(t, conn, acks, n.id+" (local)")
		conn.Close()
		checkCollections(t, c, acks, n.id+" (through the leader)")
		c.Close()
	}
}
