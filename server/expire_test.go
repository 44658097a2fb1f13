package server

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

// waitFor polls cond until it holds or the timeout passes. Used only to
// observe background expiry, which raises no event a client can await.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeysVanishOnTimeAndNeverReadAfterDeadline(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	deadline := time.Now().Add(300 * time.Millisecond).UnixMilli()
	const n = 50
	for i := range n {
		if err := c.Do(ctx, "SET", fmt.Sprintf("s%d", i), "v", "PXAT", deadline).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Read continuously across the deadline: a read that starts after the
	// deadline must never see the key.
	for {
		start := time.Now().UnixMilli()
		vals, err := c.MGet(ctx, "s0", fmt.Sprintf("s%d", n-1)).Result()
		if err != nil {
			t.Fatal(err)
		}
		present := vals[0] != nil || vals[1] != nil
		if present && start > deadline {
			t.Fatalf("read started %d ms after the deadline returned a value", start-deadline)
		}
		if !present {
			if start < deadline-5 {
				t.Fatalf("keys vanished %d ms before their deadline", deadline-start)
			}
			break
		}
	}
	// And the expiry driver deletes them physically soon after.
	waitFor(t, 5*time.Second, "physical deletion", func() bool { return s.DB().KeyCount(0) == 0 })
	// The driver counts a deletion once its proposal returns, just after
	// the apply that removed the key.
	waitFor(t, 5*time.Second, "expired_keys to count all", func() bool { return s.stats.expired.Load() >= n })
	if got := s.stats.expired.Load(); got != n {
		t.Fatalf("expired_keys = %d, want %d", got, n)
	}
}

func TestRefreshedSessionSurvivesOldDeadline(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	c.Set(ctx, "session:r", "v1", 200*time.Millisecond)
	c.Set(ctx, "doomed", "x", 200*time.Millisecond)
	c.Set(ctx, "session:r", "v2", time.Hour) // refreshed before expiry
	waitFor(t, 5*time.Second, "the other key's expiry", func() bool { return s.DB().KeyCount(0) == 1 })
	if v, err := c.Get(ctx, "session:r").Result(); err != nil || v != "v2" {
		t.Fatalf("refreshed session = %q, %v", v, err)
	}
	if ttl := c.TTL(ctx, "session:r").Val(); ttl < 59*time.Minute {
		t.Fatalf("refreshed TTL = %v", ttl)
	}
}

func TestFarDeadlinesStayOnDisk(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ExpiryHorizon = 10 * time.Second })
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	pipe := c.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("far%d", i), "v", 7*24*time.Hour)
	}
	pipe.Set(ctx, "near", "v", 100*time.Millisecond)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "near key expiry", func() bool { return s.DB().KeyCount(0) == 2000 })
	s.exp.mu.Lock()
	held := s.exp.wheel.Len()
	s.exp.mu.Unlock()
	if held != 0 {
		t.Fatalf("wheel holds %d far-future deadlines; they belong on disk", held)
	}
}

// The checkpoint backlog bound is small here and checkpoints happen only
// when somebody waits for one, as if each took forever: the expiry driver
// must pace itself on the backlog instead of pushing it past the bound,
// where client writes would wait for a checkpoint.
func TestMassExpiryDoesNotStallWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("100k keys; run without -short")
	}
	s := startServer(t, func(c *Config) {
		c.Storage.MaxPending = 8 << 20
		c.Storage.CheckpointInterval = time.Hour
	})
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	const n = 100_000
	load := func(args func(key string) []any) time.Duration {
		start := time.Now()
		for i := 0; i < n; i += 1000 {
			pipe := c.Pipeline()
			for j := i; j < i+1000; j++ {
				pipe.Do(ctx, args(fmt.Sprintf("bulk:%d", j))...)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	far := time.Now().Add(time.Hour).UnixMilli()
	took := load(func(k string) []any { return []any{"SET", k, "v", "PXAT", far} })
	// Now give all 100k one shared deadline, far enough ahead that the
	// second pass completes before it.
	deadline := time.Now().Add(2*took + time.Second).UnixMilli()
	load(func(k string) []any { return []any{"PEXPIREAT", k, deadline} })
	if got := s.DB().KeyCount(0); got != n {
		t.Fatalf("loaded %d keys, want %d", got, n)
	}
	if got := s.DB().ExpiresCount(0); got != n {
		t.Fatalf("%d keys have deadlines, want %d", got, n)
	}
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	waitsBefore := s.DB().BacklogWaits()
	// Writers keep going while the 100k keys expire.
	var wrote atomic.Int64
	var maxLatency atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if err := c.Set(ctx, fmt.Sprintf("live:%d:%d", w, i), "v", 0).Err(); err != nil {
					writeErr.Store(err)
					return
				}
				if d := time.Since(start).Microseconds(); d > maxLatency.Load() {
					maxLatency.Store(d)
				}
				wrote.Add(1)
			}
		}()
	}
	waitFor(t, 60*time.Second, "100k keys to expire", func() bool {
		return s.stats.expired.Load() == n
	})
	drained := time.Since(time.UnixMilli(deadline))
	before := wrote.Load()
	waitFor(t, 10*time.Second, "writes after the drain", func() bool { return wrote.Load() > before+10 })
	close(stop)
	wg.Wait()
	if err, _ := writeErr.Load().(error); err != nil && !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("write failed during mass expiry: %v", err)
	}
	if w := s.DB().BacklogWaits() - waitsBefore; w != 0 {
		t.Fatalf("applies waited %d times for a checkpoint during the mass expiry", w)
	}
	if s.stats.expirePaced.Load() == 0 {
		t.Fatal("13 MB of deletes against a 4 MiB pacing threshold and no paced checkpoints, but the expiry driver never waited")
	}
	t.Logf("100k keys physically expired %v after their deadline; %d writes meanwhile, max write latency %v; expiry waited for %d checkpoints",
		drained, wrote.Load(), time.Duration(maxLatency.Load())*time.Microsecond, s.stats.expirePaced.Load())
}
