package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// keepkvBinary builds the real binary once per test run.
func keepkvBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keepkv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "keepkv")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback port that is free now (see the ports block).
func freePort(t *testing.T) int {
	t.Helper()
	portsOnce.Do(func() {
		low := 32768 // Linux's default start of the ephemeral range
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
			fmt.Sscan(string(b), &low)
		}
		// A node's Raft port is its client port + 10000: both stay below
		// the ephemeral range, where the tests' own outgoing connections
		// (thousands, under redis-benchmark) would hold them now and then,
		// and the node could not bind its Raft port.
		portsEnd = min(low, 65535) - 10000
		portsNext = 1024 + rand.IntN(portsEnd-1024)
	})
	portsMu.Lock()
	defer portsMu.Unlock()
	free := func(p int) bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	for range portsEnd - 1024 {
		p := portsNext
		portsNext++
		if portsNext >= portsEnd {
			portsNext = 1024
		}
		if free(p) && free(p+10000) {
			return p
		}
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// Ports handed out by freePort: below the kernel's ephemeral range, so a
// restarting node never finds its port taken as the source port of some
// outgoing connection (nodes here dial from their own addresses), and
// never the same port twice in one test binary. Each port p leaves room
// for keepkv's default Raft port p+10000.
var (
	portsOnce           sync.Once
	portsMu             sync.Mutex
	portsNext, portsEnd int
)

// proc is a keepkv process started by this test.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startProc starts keepkv on dir and waits until it reports leadership.
func startProc(t *testing.T, dir string, port int, extra ...string) *proc {
	t.Helper()
	return startProcUntil(t, "leadership changed: leader=true", dir, port, extra...)
}

// startProcUntil starts keepkv on dir and waits for a log line containing
// readyLine: the process's own report that it reached a state.
func startProcUntil(t *testing.T, readyLine, dir string, port int, extra ...string) *proc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"--dir", dir, "--addr", addr, "--heartbeat-timeout", "100ms", "--election-timeout", "100ms"}, extra...)
	cmd := exec.Command(keepkvBinary(t), args...)
	logf, err := os.OpenFile(filepath.Join(dir+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, done: make(chan struct{})}
	ready, logged := make(chan struct{}), make(chan struct{})
	var raced atomic.Bool
	go func() {
		defer close(logged)
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !signalled && strings.Contains(sc.Text(), readyLine) {
				signalled = true
				close(ready)
			}
			if strings.Contains(sc.Text(), "WARNING: DATA RACE") {
				raced.Store(true)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	// The binary is built with -race: a race it reports fails the test
	// (checked after the kill below, once its output is read to the end).
	t.Cleanup(func() {
		select {
		case <-logged:
		case <-time.After(10 * time.Second):
		}
		if raced.Load() {
			t.Errorf("keepkv reported a data race; see %s.log", dir)
		}
	})
	t.Cleanup(func() { p.kill() })
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("keepkv exited before becoming ready; see %s.log", dir)
	case <-time.After(30 * time.Second):
		t.Fatalf("keepkv not ready after 30s; see %s.log", dir)
	}
	return p
}

// kill sends SIGKILL to this test's own child and waits for it to die.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

type acked struct {
	value    string
	deadline int64 // PEXPIRETIME: -1 for none
}

// uniqueSet builds the i-th SET of a writer: a random value under key, and
// every third one an absolute deadline an hour ahead (-1 for none).
func uniqueSet(key string, i int) (args []any, val string, deadline int64) {
	val = fmt.Sprintf("%x", rand.Uint64())
	deadline = -1
	args = []any{"SET", key, val}
	if i%3 == 0 {
		deadline = time.Now().Add(time.Hour).UnixMilli() + int64(i)
		args = append(args, "PXAT", deadline)
	}
	return args, val, deadline
}

// writer writes unique keys until it fails, recording every acknowledged
// one. Every third key carries an absolute deadline; every fifth write is
// a pipelined batch.
func writer(ctx context.Context, c *redis.Client, w, round int, mu *sync.Mutex, ok map[string]acked, incr *incrCount) {
	for i := 0; ; i++ {
		key := fmt.Sprintf("r%d:w%d:%d", round, w, i)
		args, val, deadline := uniqueSet(key, i)
		var err error
		if i%5 == 0 {
			pipe := c.Pipeline()
			pipe.Do(ctx, args...)
			incr.attempt()
			pipe.Incr(ctx, "counter")
			var cmds []redis.Cmder
			cmds, err = pipe.Exec(ctx)
			if err == nil {
				incr.acked()
			} else if len(cmds) > 0 && cmds[0].Err() == nil {
				err = nil // the SET was acknowledged even if the INCR was not
			}
		} else {
			err = c.Do(ctx, args...).Err()
		}
		if err != nil {
			return
		}
		mu.Lock()
		ok[key] = acked{val, deadline}
		mu.Unlock()
	}
}

type incrCount struct {
	mu             sync.Mutex
	attempts, acks int64
}

func (c *incrCount) attempt() { c.mu.Lock(); c.attempts++; c.mu.Unlock() }
func (c *incrCount) acked()   { c.mu.Lock(); c.acks++; c.mu.Unlock() }

// Every acknowledged write survives SIGKILLs mid-stream, on the default
// Raft log (raft-boltdb) and on the experimental raft-wal one.
func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	for _, kind := range []string{"bolt", "wal"} {
		t.Run("raft-log="+kind, func(t *testing.T) {
			dir := testCrashSafety(t, "--raft-log", kind)
			log := map[string]string{"bolt": "raft.db", "wal": "raft-wal"}[kind]
			if _, err := os.Stat(filepath.Join(dir, "raft", log)); err != nil {
				t.Fatalf("the node did not run on the %s log store: %v", kind, err)
			}
		})
	}
}

// testCrashSafety runs the SIGKILL rounds and returns the data dir.
func testCrashSafety(t *testing.T, extra ...string) string {
	dir := filepath.Join(t.TempDir(), "data")
	port := freePort(t)
	ok := map[string]acked{}
	var mu sync.Mutex
	incr := &incrCount{}
	ctx := context.Background()
	const rounds = 4
	for round := range rounds {
		p := startProc(t, dir, port, extra...)
		c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, PoolSize: 16, DialTimeout: time.Second})
		verify(t, c, ok, incr)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); writer(ctx, c, w, round, &mu, ok, incr) }()
		}
		// Let writes flow, then kill mid-stream at a different point each round.
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		p.kill()
		wg.Wait()
		c.Close()
		t.Logf("round %d: %d acknowledged keys so far", round, len(ok))
	}
	p := startProc(t, dir, port, extra...)
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	verify(t, c, ok, incr)
	if len(ok) < 100 {
		t.Fatalf("only %d writes acknowledged: the workload did not run", len(ok))
	}
	return dir
}

// checkAcked checks that every acknowledged key reads back, through
// newPipe, with its value and deadline. where names the reader in failures.
func checkAcked(t *testing.T, newPipe func() redis.Pipeliner, ok map[string]acked, where string) {
	t.Helper()
	ctx := context.Background()
	keys := make([]string, 0, len(ok))
	for k := range ok {
		keys = append(keys, k)
	}
	for i := 0; i < len(keys); i += 500 {
		batch := keys[i:min(i+500, len(keys))]
		pipe := newPipe()
		gets := make([]*redis.StringCmd, len(batch))
		pxts := make([]*redis.Cmd, len(batch))
		for j, k := range batch {
			gets[j] = pipe.Get(ctx, k)
			pxts[j] = pipe.Do(ctx, "PEXPIRETIME", k)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			t.Fatalf("%s: verify: %v", where, err)
		}
		for j, k := range batch {
			if gets[j].Val() != ok[k].value {
				t.Fatalf("%s: acknowledged key %s = %q, want %q (lost)", where, k, gets[j].Val(), ok[k].value)
			}
			if d, _ := pxts[j].Int64(); d != ok[k].deadline {
				t.Fatalf("%s: acknowledged key %s has deadline %d, want %d", where, k, d, ok[k].deadline)
			}
		}
	}
}

// verify checks every acknowledged key after a SIGKILL and restart, and
// that the counter holds at least every acknowledged INCR and no more than
// were sent (an INCR applied twice would exceed it).
func verify(t *testing.T, c *redis.Client, ok map[string]acked, incr *incrCount) {
	t.Helper()
	checkAcked(t, c.Pipeline, ok, "after restart")
	n, err := c.Get(context.Background(), "counter").Int64()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	incr.mu.Lock()
	defer incr.mu.Unlock()
	if n < incr.acks || n > incr.attempts {
		t.Fatalf("counter = %d, want between %d acknowledged and %d sent INCRs", n, incr.acks, incr.attempts)
	}
}
