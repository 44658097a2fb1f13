package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sessionFate is what the writers know of one session key.
type sessionFate struct {
	created bool // HSET+PEXPIRE acknowledged (false: outcome unknown)
	deleted int  // DEL's reply: 1 deleted it, 0 it had already expired, -1 not sent or unknown
}

// eventCounts counts one subscriber's events per key.
type eventCounts struct {
	mu      sync.Mutex
	expired map[string]int
	del     map[string]int
	marker  chan struct{}
}

// TestKeyspaceEventsAcrossLeaderKill is the Spring Session shape: sessions
// are hashes with a TTL (HSET and PEXPIRE in one MULTI), some are deleted
// (logout), and one subscriber on each node of a 3-node cluster has
// PSUBSCRIBEd to __keyevent@*__:expired and :del after CONFIG SET
// notify-keyspace-events Egx. The leader is SIGKILLed mid-run. Events are
// derived in apply, so every surviving subscriber must get exactly one
// expired event per session that expired and one del per session a DEL
// removed, whichever node the writes and the expiry went through.
func TestKeyspaceEventsAcrossLeaderKill(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	c0 := nodeClient(nodes[0])
	defer c0.Close()
	if err := c0.ConfigSet(ctx, "notify-keyspace-events", "Egx").Err(); err != nil {
		t.Fatal(err)
	}
	counts := make([]*eventCounts, len(nodes))
	subs := make([]*redis.PubSub, len(nodes))
	for i, n := range nodes {
		c := nodeClient(n)
		defer c.Close()
		for deadline := time.Now().Add(10 * time.Second); ; {
			v := c.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]
			if v == "gxE" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: notify-keyspace-events %q, want gxE (replicated)", n.id, v)
			}
			time.Sleep(20 * time.Millisecond) // replication to this node: poll it
		}
		ps := c.PSubscribe(ctx, "__keyevent@*__:expired", "__keyevent@*__:del", "marker")
		for range 3 {
			if _, err := ps.Receive(ctx); err != nil { // the subscription confirmations
				t.Fatal(err)
			}
		}
		subs[i] = ps
		ec := &eventCounts{expired: map[string]int{}, del: map[string]int{}, marker: make(chan struct{}, 1)}
		counts[i] = ec
		go func() {
			for m := range ps.Channel(redis.WithChannelSize(1 << 16)) {
				ec.mu.Lock()
				switch {
				case m.Channel == "marker":
					ec.marker <- struct{}{}
				case strings.HasSuffix(m.Channel, ":expired"):
					ec.expired[m.Payload]++
				case strings.HasSuffix(m.Channel, ":del"):
					ec.del[m.Payload]++
				}
				ec.mu.Unlock()
			}
		}()
	}

	var mu sync.Mutex
	fates := map[string]*sessionFate{}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := nodeClient(n)
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for k := 0; wctx.Err() == nil; k++ {
				key := fmt.Sprintf("spring:session:sessions:%d-%d", i, k)
				ttl := time.Duration(300+rng.IntN(1200)) * time.Millisecond
				_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.HSet(ctx, key, "creationTime", "1700000000000", "sessionAttr:user", "u")
					p.PExpire(ctx, key, ttl)
					return nil
				})
				f := &sessionFate{created: err == nil, deleted: -1}
				mu.Lock()
				fates[key] = f
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the node is down: back off
					continue
				}
				if rng.IntN(3) == 0 {
					n, err := c.Del(ctx, key).Result()
					if err == nil {
						mu.Lock()
						f.deleted = int(n)
						mu.Unlock()
					} else {
						mu.Lock()
						f.deleted = -2 // unknown
						mu.Unlock()
					}
				}
			}
		}()
	}
	created := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(fates)
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for created() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d sessions written within a minute", created())
			}
			time.Sleep(10 * time.Millisecond) // the writers' progress: poll it
		}
	}
	waitFor(300) // sessions pile up, and some expire, before the fault
	leader := leaderOf(t, nodes, nodes[0])
	leader.p.kill()
	var alive []int
	for i, n := range nodes {
		if n != leader {
			alive = append(alive, i)
		}
	}
	leaderOf(t, []*clusterNode{nodes[alive[0]], nodes[alive[1]]}, nodes[alive[0]])
	waitFor(created() + 300) // and more through the new leader
	stop()
	wg.Wait()

	// Every session expires within 1.5s of its creation; wait until each
	// survivor has applied every delete, then send a marker through the
	// log: a subscriber that has it has every event applied before it.
	for _, i := range alive {
		c := nodeClient(nodes[i])
		deadline := time.Now().Add(60 * time.Second)
		for {
			c.Do(ctx, "READONLY")
			n, err := c.DBSize(ctx).Result()
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d keys left a minute after the last session's deadline", nodes[i].id, n)
			}
			time.Sleep(50 * time.Millisecond) // another process's expiry: poll it
		}
		c.Close()
	}
	c := nodeClient(nodes[alive[0]])
	defer c.Close()
	if err := c.Publish(ctx, "marker", "end").Err(); err != nil {
		t.Fatal(err)
	}
	for _, i := range alive {
		select {
		case <-counts[i].marker:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the marker never arrived", nodes[i].id)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, i := range alive {
		ec := counts[i]
		ec.mu.Lock()
		var wantExpired, wantDel, gotExpired, gotDel, dup, missing, unexpected int
		for key, f := range fates {
			e, d := ec.expired[key], ec.del[key]
			gotExpired += e
			gotDel += d
			if e+d > 1 {
				dup += e + d - 1
			}
			switch {
			case !f.created || f.deleted == -2:
				if e+d > 1 {
					t.Errorf("%s: %s (outcome unknown) got %d expired and %d del events", nodes[i].id, key, e, d)
				}
				continue
			case f.deleted == 1:
				wantDel++
				if d != 1 || e != 0 {
					missing++
					t.Errorf("%s: deleted %s got %d del and %d expired events, want 1 del", nodes[i].id, key, d, e)
				}
			default:
				wantExpired++
				if e != 1 || d != 0 {
					missing++
					t.Errorf("%s: expired %s got %d expired and %d del events, want 1 expired", nodes[i].id, key, e, d)
				}
			}
		}
		for key := range ec.expired {
			if fates[key] == nil {
				unexpected++
			}
		}
		for key := range ec.del {
			if fates[key] == nil {
				unexpected++
			}
		}
		if unexpected > 0 {
			t.Errorf("%s: %d events for keys nobody wrote", nodes[i].id, unexpected)
		}
		t.Logf("subscriber on %s: expired events expected %d, received %d; del expected %d, received %d; duplicates %d, wrong %d",
			nodes[i].id, wantExpired, gotExpired, wantDel, gotDel, dup, missing)
		ec.mu.Unlock()
	}
	for _, ps := range subs {
		ps.Close()
	}
}
