package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestWatchCounterAcrossLeaderKills: clients on every node of a 3-node
// cluster increment one counter optimistically (WATCH, GET, MULTI, SET,
// SADD of the attempt's id, EXEC) while the leader is SIGKILLed and
// restarted twice. The EXEC's check is decided in apply, so no two
// increments can both apply from the same read: at the end the counter
// equals the number of EXECs that applied (the ids in the set), and every
// EXEC a client saw succeed is among them. An EXEC whose outcome the
// client did not learn (the node it went through died) may have applied
// or not; it is counted by its id.
func TestWatchCounterAcrossLeaderKills(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		unknown atomic.Int64
		aborted atomic.Int64
		wg      sync.WaitGroup
	)
	for i, n := range nodes {
		for w := range 2 {
			wg.Add(1)
			go func(n *clusterNode, id string) {
				defer wg.Done()
				c := nodeClient(n)
				defer c.Close()
				for k := 0; ctx.Err() == nil; k++ {
					attempt := fmt.Sprintf("%s-%d", id, k)
					err := c.Watch(ctx, func(tx *redis.Tx) error {
						v, err := tx.Get(ctx, "counter").Int()
						if err != nil && err != redis.Nil {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "counter", v+1, 0)
							p.SAdd(ctx, "applied", attempt)
							return nil
						})
						return err
					}, "counter")
					switch {
					case err == nil:
						mu.Lock()
						acked[attempt] = true
						mu.Unlock()
					case errors.Is(err, redis.TxFailedErr):
						aborted.Add(1)
					default:
						unknown.Add(1)
						time.Sleep(20 * time.Millisecond) // a node is down: back off before retrying
					}
				}
			}(n, fmt.Sprintf("c%d.%d", i, w))
		}
	}
	// The writers add to acked meanwhile: read its size under mu.
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for range 2 {
		waitAcked(t, &mu, acked, ackedNow()+30)
		leader := leaderOf(t, nodes, nodes[0])
		leader.p.kill()
		var rest []*clusterNode
		for _, n := range nodes {
			if n != leader {
				rest = append(rest, n)
			}
		}
		leaderOf(t, rest, rest[0])
		waitAcked(t, &mu, acked, ackedNow()+30)
		leader.restart(t)
	}
	waitAcked(t, &mu, acked, ackedNow()+30)
	cancel()
	wg.Wait()
	leader := leaderOf(t, nodes, nodes[0])
	waitConverged(t, nodes, leader)
	for _, n := range nodes {
		c := nodeClient(n)
		c.Do(context.Background(), "READONLY")
		counter, err := c.Get(context.Background(), "counter").Int()
		if err != nil {
			t.Fatalf("%s: GET counter: %v", n.id, err)
		}
		applied, err := c.SMembers(context.Background(), "applied").Result()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		in := map[string]bool{}
		for _, a := range applied {
			in[a] = true
		}
		if counter != len(applied) {
			t.Errorf("%s: counter %d, but %d EXECs applied: two increments applied from one read", n.id, counter, len(applied))
		}
		for a := range acked {
			if !in[a] {
				t.Errorf("%s: acknowledged EXEC %s did not apply", n.id, a)
			}
		}
	}
	t.Logf("EXECs acknowledged %d, aborted by WATCH %d, outcome unknown %d", len(acked), aborted.Load(), unknown.Load())
}

// waitAcked waits until at least n EXECs were acknowledged.
func waitAcked(t *testing.T, mu *sync.Mutex, acked map[string]bool, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d EXECs acknowledged within a minute", got, n)
		}
		time.Sleep(10 * time.Millisecond) // other goroutines' progress: poll it
	}
}
