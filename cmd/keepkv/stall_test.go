package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var stallKeys = flag.Int("stall-keys", 1_000_000, "keys loaded before TestLongKeysStallsNobody runs its KEYS")

// setProbe runs SETs one after another on its own connection until stop,
// recording the slowest reply. Each SET has a generous deadline: one that
// runs out means writes stalled behind the KEYS.
type setProbe struct {
	mu    sync.Mutex
	n     int
	worst time.Duration
	err   error
}

func (p *setProbe) run(c *redis.Client, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		err := c.Set(ctx, fmt.Sprintf("probe:%d", i), "v", 0).Err()
		took := time.Since(start)
		cancel()
		p.mu.Lock()
		p.n++
		p.worst = max(p.worst, took)
		if err != nil && p.err == nil {
			p.err = fmt.Errorf("SET %d after %v: %w", i, took, err)
		}
		p.mu.Unlock()
	}
}

// load writes n keys k:<i> through MSETs in pipelines on a few connections.
func load(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	const perMSET, perPipe, workers = 500, 20, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	chunk := perMSET * perPipe
	next := make(chan int)
	go func() {
		for i := 0; i < n; i += chunk {
			next <- i
		}
		close(next)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for base := range next {
				pipe := c.Pipeline()
				for m := base; m < min(base+chunk, n); m += perMSET {
					args := make([]any, 0, 2*perMSET)
					for i := m; i < min(m+perMSET, n); i++ {
						args = append(args, fmt.Sprintf("k:%07d", i), "x")
					}
					pipe.MSet(context.Background(), args...)
				}
				if _, err := pipe.Exec(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestLongKeysStallsNobody is issue 13's "no stall" test: over a large
// keyspace, a pathological KEYS pattern and a full KEYS run while another
// client writes; every SET is answered (the worst latency is reported), a
// KEYS whose client disconnects is cancelled, and SIGTERM during a KEYS
// that would run for hours completes in order (exit status 0, within the
// shutdown timeout).
func TestLongKeysStallsNobody(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	p := startProc(t, dir, freePort(t), "--shutdown-timeout", "30s")
	c := redis.NewClient(&redis.Options{Addr: p.addr, ReadTimeout: -1, PoolSize: 8})
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	load(t, c, *stallKeys)
	bomb := strings.Repeat("a", 40)
	if err := c.Set(ctx, bomb, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d keys in %v", *stallKeys, time.Since(start).Round(time.Millisecond))

	probe := &setProbe{}
	stop, probeDone := make(chan struct{}), make(chan struct{})
	go probe.run(redis.NewClient(&redis.Options{Addr: p.addr, PoolSize: 1}), stop, probeDone)

	k := redis.NewClient(&redis.Options{Addr: p.addr, ReadTimeout: -1, PoolSize: 1})
	defer k.Close()
	start = time.Now()
	got, err := k.Keys(ctx, strings.Repeat("a*", 20)+"b").Result()
	if err != nil || len(got) != 0 {
		t.Fatalf("glob bomb: %v %v", got, err)
	}
	bombTook := time.Since(start)
	start = time.Now()
	all, err := k.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < *stallKeys+1 {
		t.Fatalf("KEYS * returned %d keys, want at least %d", len(all), *stallKeys+1)
	}
	fullTook := time.Since(start)
	close(stop)
	<-probeDone
	if probe.err != nil {
		t.Fatalf("a SET failed during KEYS: %v", probe.err)
	}
	t.Logf("glob-bomb KEYS %v, KEYS * (%d keys) %v; %d SETs meanwhile, worst %v",
		bombTook.Round(time.Millisecond), len(all), fullTook.Round(time.Millisecond), probe.n, probe.worst.Round(time.Millisecond))

	// A pattern that costs ~len(pattern) × len(key) per long key: over
	// these keys, KEYS would run for many minutes. It ends when its client
	// disconnects.
	pipe := c.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("%s:%d", strings.Repeat("a", 10_000), i), "x", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	endless := "*" + strings.Repeat("a", 5_000) + "b"
	info := func() string { return c.Info(ctx, "stats").Val() }
	kc := redis.NewClient(&redis.Options{Addr: p.addr, PoolSize: 1, MaxRetries: -1, ReadTimeout: 500 * time.Millisecond})
	if err := kc.Keys(ctx, endless).Err(); err == nil {
		t.Fatal("an endless KEYS answered within its read timeout")
	}
	kc.Close() // go-redis closes a connection whose read timed out; closing the client makes sure
	waitFor(t, 30*time.Second, "the disconnected KEYS to be cancelled", func() bool {
		return strings.Contains(info(), "keepkv_iterations_cancelled:1")
	})
	if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// The same pattern through SCAN with a huge COUNT: SCAN reads pages
	// under the lock applies take but matches outside it, so a SET is
	// answered while the SCAN runs; the SCAN ends when its client
	// disconnects.
	sc := redis.NewClient(&redis.Options{Addr: p.addr, PoolSize: 1, MaxRetries: -1, ReadTimeout: 5 * time.Second})
	scanDone := make(chan error, 1)
	go func() { scanDone <- sc.Scan(ctx, 0, endless, 1<<30).Err() }()
	waitFor(t, 30*time.Second, "the SCAN to start", func() bool {
		list, _ := c.ClientList(ctx).Result()
		return strings.Contains(list, "cmd=scan")
	})
	if err := c.Set(ctx, "during-scan", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-scanDone:
		t.Fatalf("the endless SCAN ended (%v) before a SET sent during it was answered", err)
	default:
	}
	if err := <-scanDone; err == nil {
		t.Fatal("an endless SCAN answered within its read timeout")
	}
	sc.Close()
	waitFor(t, 30*time.Second, "the disconnected SCAN to be cancelled", func() bool {
		return strings.Contains(info(), "keepkv_iterations_cancelled:2")
	})

	// SIGTERM while an endless KEYS runs: an orderly exit, in bounded time.
	kc = redis.NewClient(&redis.Options{Addr: p.addr, PoolSize: 1, MaxRetries: -1, ReadTimeout: -1})
	defer kc.Close()
	keysDone := make(chan error, 1)
	go func() { keysDone <- kc.Keys(ctx, endless).Err() }()
	waitFor(t, 30*time.Second, "the KEYS to start", func() bool {
		list, _ := c.ClientList(ctx).Result()
		return strings.Contains(list, "cmd=keys")
	})
	start = time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("keepkv did not exit within 60s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		log, _ := os.ReadFile(dir + ".log")
		t.Fatalf("exit status %d after SIGTERM (the shutdown timeout cut it short?); log tail:\n%s", code, tail(string(log), 2000))
	}
	t.Logf("SIGTERM during an endless KEYS: orderly exit after %v", time.Since(start).Round(time.Millisecond))
	<-keysDone
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestShutdownCommand: SHUTDOWN stops the node in order, as redis-cli
// shutdown does with Redis; ABORT has nothing to abort; the node restarts with its data.
func TestShutdownCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	port := freePort(t)
	p := startProc(t, dir, port)
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "session:1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{{"SHUTDOWN", "ABORT"}, {"SHUTDOWN", "SAVE", "NOSAVE"}, {"SHUTDOWN", "FOO"}, {"SHUTDOWN", "ABORT", "NOW"}} {
		err := c.Do(ctx, args...).Err()
		want := "ERR syntax error"
		if len(args) == 2 && args[1] == "ABORT" {
			want = "ERR No shutdown in progress."
		}
		if err == nil || err.Error() != want {
			t.Fatalf("%v: %v, want %q", args, err, want)
		}
	}
	if err := c.Do(ctx, "SHUTDOWN", "NOSAVE", "NOW").Err(); err == nil {
		t.Fatal("SHUTDOWN answered; Redis closes the connection instead")
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("keepkv still running 30s after SHUTDOWN")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SHUTDOWN", code)
	}
	p = startProc(t, dir, port)
	if v, err := c.Get(ctx, "session:1").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q %v", v, err)
	}
	p.kill()
}
