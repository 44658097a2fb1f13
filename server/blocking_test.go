package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// blockedClients reads INFO clients' blocked_clients.
func blockedClients(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("blocked_clients:%q", v)
			}
			return n
		}
	}
	t.Fatalf("INFO clients has no blocked_clients: %q", info)
	return 0
}

// waitBlocked polls INFO until exactly n clients are blocked.
func waitBlocked(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for blockedClients(t, c) != n {
		if time.Now().After(deadline) {
			t.Fatalf("blocked_clients never reached %d (now %d)", n, blockedClients(t, c))
		}
		time.Sleep(5 * time.Millisecond) // polling the server's state, not standing in for it
	}
}

type popResult struct {
	v   []string
	err error
}

// bg runs a blocking command on its own client and delivers its reply.
func bg(c *redis.Client, args ...any) <-chan popResult {
	out := make(chan popResult, 1)
	go func() {
		v, err := c.Do(context.Background(), args...).StringSlice()
		out <- popResult{v, err}
	}()
	return out
}

func recv(t *testing.T, ch <-chan popResult) popResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked client was never served")
		return popResult{}
	}
}

func TestBLPopServedByLaterPush(t *testing.T) {
	s := startServer(t, nil)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			ctx := context.Background()
			waiter, pusher := client(t, s.Addr().String(), proto), client(t, s.Addr().String(), proto)
			ch := bg(waiter, "BLPOP", "none", "q", "0")
			waitBlocked(t, pusher, 1)
			select {
			case r := <-ch:
				t.Fatalf("BLPOP on empty keys returned at once: %v %v", r.v, r.err)
			default:
			}
			if err := pusher.RPush(ctx, "q", "job1", "job2").Err(); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, ch); r.err != nil || fmt.Sprint(r.v) != "[q job1]" {
				t.Fatalf("BLPOP = %v, %v; want [q job1]", r.v, r.err)
			}
			waitBlocked(t, pusher, 0)
			if v := pusher.LRange(ctx, "q", 0, -1).Val(); fmt.Sprint(v) != "[job2]" {
				t.Fatalf("q = %v after one pop", v)
			}
			// BRPOP is served from the tail, from the first key with data.
			if v := waiter.BRPop(ctx, 0, "none", "q").Val(); fmt.Sprint(v) != "[q job2]" {
				t.Fatalf("BRPOP with data = %v", v)
			}
			if pusher.Exists(ctx, "q").Val() != 0 {
				t.Fatal("the emptied list still exists")
			}
		})
	}
}

// Waiters on one key are served in the order they blocked, each by one
// push.
func TestBlockedWaitersServedInArrivalOrder(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	pusher := client(t, s.Addr().String(), 2)
	for round := range 3 {
		var chans []<-chan popResult
		for i := range 3 {
			chans = append(chans, bg(client(t, s.Addr().String(), 2), "BLPOP", "fifo", "0"))
			waitBlocked(t, pusher, i+1)
		}
		for i, ch := range chans {
			v := fmt.Sprintf("r%d-e%d", round, i)
			if err := pusher.RPush(ctx, "fifo", v).Err(); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, ch); r.err != nil || fmt.Sprint(r.v) != "[fifo "+v+"]" {
				t.Fatalf("round %d: waiter %d got %v, %v; want %s", round, i, r.v, r.err, v)
			}
		}
		waitBlocked(t, pusher, 0)
	}
	// One push of several elements serves several waiters, in order.
	a := bg(client(t, s.Addr().String(), 2), "BRPOP", "multi", "0")
	waitBlocked(t, pusher, 1)
	b := bg(client(t, s.Addr().String(), 2), "BRPOP", "other", "multi", "0")
	waitBlocked(t, pusher, 2)
	pusher.RPush(ctx, "multi", "x", "y")
	if ra, rb := recv(t, a), recv(t, b); fmt.Sprint(ra.v, rb.v) != "[multi y] [multi x]" {
		t.Fatalf("BRPOP waiters got %v and %v", ra.v, rb.v)
	}
}

func TestBlockingTimeoutReturnsNull(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	start := time.Now()
	err := c.Do(ctx, "BLPOP", "none", "0.2").Err() // go-redis's BLPop rounds up to 1s
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("BLPOP timeout: %v, want nil", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("BLPOP 0.2 returned after %v", d)
	}
	// The exact null: *-1 in RESP2, _ in RESP3, for every blocking command.
	cmds := "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$4\r\n0.05\r\n" +
		"*6\r\n$6\r\nBLMOVE\r\n$1\r\nq\r\n$1\r\nd\r\n$4\r\nLEFT\r\n$4\r\nLEFT\r\n$4\r\n0.05\r\n" +
		"*4\r\n$10\r\nBRPOPLPUSH\r\n$1\r\nq\r\n$1\r\nd\r\n$4\r\n0.05\r\n" +
		"*3\r\n$8\r\nBZPOPMAX\r\n$1\r\nq\r\n$4\r\n0.05\r\n"
	if got, _ := rawReply(t, s.Addr().String(), cmds); got != strings.Repeat("*-1\r\n", 4) {
		t.Fatalf("RESP2 timeouts: %q", got)
	}
	hello := "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
	got, _ := rawReply(t, s.Addr().String(), hello+cmds)
	if !strings.HasSuffix(got, strings.Repeat("_\r\n", 4)) {
		t.Fatalf("RESP3 timeouts: %q", got)
	}
	if blockedClients(t, c) != 0 {
		t.Fatal("timed-out clients still count as blocked")
	}
}

func TestBLMoveAndBRPopLPushServedByPush(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	pusher := client(t, s.Addr().String(), 3)
	waiter := client(t, s.Addr().String(), 3)
	out := make(chan string, 1)
	go func() { out <- fmt.Sprintln(waiter.BLMove(ctx, "src", "dst", "RIGHT", "LEFT", 0).Result()) }()
	waitBlocked(t, pusher, 1)
	pusher.RPush(ctx, "src", "a", "b")
	if got := <-out; got != "b <nil>\n" {
		t.Fatalf("BLMOVE = %s", got)
	}
	go func() { out <- fmt.Sprintln(waiter.BRPopLPush(ctx, "empty", "dst", 0).Result()) }()
	waitBlocked(t, pusher, 1)
	pusher.LPush(ctx, "empty", "c")
	if got := <-out; got != "c <nil>\n" {
		t.Fatalf("BRPOPLPUSH = %s", got)
	}
	if v := pusher.LRange(ctx, "dst", 0, -1).Val(); fmt.Sprint(v) != "[c b]" {
		t.Fatalf("dst = %v", v)
	}
	// A BLMOVE that waits is woken by an element moved onto its source.
	go func() { out <- fmt.Sprintln(waiter.BLMove(ctx, "chain", "end", "LEFT", "LEFT", 0).Result()) }()
	waitBlocked(t, pusher, 1)
	if v := pusher.LMove(ctx, "src", "chain", "LEFT", "LEFT").Val(); v != "a" {
		t.Fatalf("LMOVE = %q", v)
	}
	if got := <-out; got != "a <nil>\n" {
		t.Fatalf("BLMOVE woken by LMOVE = %s", got)
	}
	if pusher.Exists(ctx, "src", "chain").Val() != 0 || pusher.LRange(ctx, "end", 0, -1).Val()[0] != "a" {
		t.Fatal("elements not where they belong")
	}
}

func TestBZPopServedByZAdd(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	pusher := client(t, s.Addr().String(), 2)
	waiter := client(t, s.Addr().String(), 3)
	out := make(chan string, 1)
	go func() {
		v, err := waiter.BZPopMin(ctx, 0, "none", "z").Result()
		out <- fmt.Sprintln(v.Key, v.Member, v.Score, err)
	}()
	waitBlocked(t, pusher, 1)
	pusher.ZAdd(ctx, "z", redis.Z{Score: 2.5, Member: "b"}, redis.Z{Score: 1, Member: "a"})
	if got := <-out; got != "z a 1 <nil>\n" {
		t.Fatalf("BZPOPMIN = %s", got)
	}
	if v, err := waiter.BZPopMax(ctx, 0, "z").Result(); err != nil || v.Member != "b" || v.Score != 2.5 {
		t.Fatalf("BZPOPMAX with data = %+v %v", v, err)
	}
}

// A blocking command in a pipeline: the replies before it go out while it
// waits, the commands after it run once it is served.
func TestBlockingInPipelineFlushesEarlierReplies(t *testing.T) {
	s := startServer(t, nil)
	pusher := client(t, s.Addr().String(), 2)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	conn.Write([]byte("PING\r\nBLPOP q 0\r\nLLEN q\r\n"))
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("the reply before BLPOP: %q %v", line, err)
	}
	waitBlocked(t, pusher, 1)
	pusher.RPush(context.Background(), "q", "x", "y")
	want := "*2\r\n$1\r\nq\r\n$1\r\nx\r\n:1\r\n"
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
		t.Fatalf("after the push: %q %v", buf, err)
	}
}

// A client that disconnects while blocked stops waiting: it no longer
// counts as blocked, and a later push is left for others.
func TestBlockedClientDisconnectFreesIt(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"))
	waitBlocked(t, c, 1)
	conn.Close()
	waitBlocked(t, c, 0)
	if err := c.RPush(ctx, "q", "kept").Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.LRange(ctx, "q", 0, -1).Val(); fmt.Sprint(v) != "[kept]" {
		t.Fatalf("q = %v: a disconnected client took the element", v)
	}
	// The connection count drops too: nothing holds the connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		info := c.Info(ctx, "clients").Val()
		if strings.Contains(info, "connected_clients:1\r\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the disconnected client is still connected: %q", info)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's state
	}
}

// Close returns promptly while a client is blocked forever.
func TestCloseWithBlockedClientIsPrompt(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	blocked := client(t, s.Addr().String(), 2)
	ch := bg(blocked, "BLPOP", "q", "0")
	waitBlocked(t, c, 1)
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs while a client is blocked")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if r := recv(t, ch); r.err == nil {
		t.Fatalf("the blocked client got %v from a closed server", r.v)
	}
}

// A 3-node cluster: clients blocked on a follower are served by pushes
// made through the leader and through another follower, in order; the
// pops go through the leader, so every node ends with the same list.
func TestBlockingOnAFollower(t *testing.T) {
	// Timeouts calm enough that a loaded test machine keeps one leader.
	tweak := func(c *Config) {
		c.Raft.LeaderWait = 2 * time.Second
		c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
	}
	n1 := startServer(t, func(c *Config) { tweak(c); c.Raft.NodeID = "n1" })
	leader := client(t, n1.Addr().String(), 2)
	waitLeader := time.Now().Add(10 * time.Second)
	for !n1.Node().IsLeader() {
		if time.Now().After(waitLeader) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond) // Raft elects on its own schedule
	}
	var followers []*Server
	for _, id := range []string{"n2", "n3"} {
		followers = append(followers, startServer(t, func(c *Config) {
			tweak(c)
			c.Raft.NodeID = id
			c.Raft.Bootstrap = false
			c.Join = n1.Node().RaftAddr()
		}))
	}
	ctx := context.Background()
	f1 := client(t, followers[0].Addr().String(), 2)
	f2 := client(t, followers[1].Addr().String(), 3)
	// Both followers have joined and apply the log once a write through
	// each of them is visible on it.
	for i, f := range []*redis.Client{f1, f2} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := f.Set(ctx, fmt.Sprint("joined", i), "1", 0).Err()
			if err == nil && f.Get(ctx, fmt.Sprint("joined", i)).Val() == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("follower %d never served a write: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond) // the join runs in the background
		}
	}
	if followers[0].Node().IsLeader() || followers[1].Node().IsLeader() {
		t.Fatal("a joiner leads")
	}
	// Data available: the try is forwarded and served at once.
	leader.RPush(ctx, "ready", "r1")
	if v, err := f1.BLPop(ctx, 0, "ready").Result(); err != nil || fmt.Sprint(v) != "[ready r1]" {
		t.Fatalf("BLPOP with data via a follower: %v %v", v, err)
	}
	a := bg(client(t, followers[0].Addr().String(), 2), "BLPOP", "fq", "0")
	waitBlocked(t, f1, 1)
	b := bg(client(t, followers[0].Addr().String(), 3), "BLPOP", "fq", "0")
	waitBlocked(t, f1, 2)
	if err := leader.RPush(ctx, "fq", "via-leader").Err(); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, a); r.err != nil || fmt.Sprint(r.v) != "[fq via-leader]" {
		t.Fatalf("first waiter: %v %v", r.v, r.err)
	}
	if err := f2.RPush(ctx, "fq", "via-follower").Err(); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, b); r.err != nil || fmt.Sprint(r.v) != "[fq via-follower]" {
		t.Fatalf("second waiter: %v %v", r.v, r.err)
	}
	// A BLMOVE blocked on the other follower, and a timeout there.
	out := make(chan string, 1)
	go func() { out <- fmt.Sprintln(f2.BLMove(ctx, "msrc", "mdst", "LEFT", "RIGHT", 0).Result()) }()
	waitBlocked(t, f2, 1)
	leader.RPush(ctx, "msrc", "m")
	if got := <-out; got != "m <nil>\n" {
		t.Fatalf("BLMOVE on a follower: %s", got)
	}
	if err := f1.Do(ctx, "BRPOP", "nothing", "0.1").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("timeout on a follower: %v", err)
	}
	// Every node agrees on what is left.
	leader.RPush(ctx, "marker", "1")
	for i, f := range []*Server{n1, followers[0], followers[1]} {
		deadline := time.Now().Add(10 * time.Second)
		for f.DB().AppliedIndex() < n1.DB().AppliedIndex() {
			if time.Now().After(deadline) {
				t.Fatalf("node %d never caught up", i)
			}
			time.Sleep(10 * time.Millisecond) // replication runs on its own
		}
	}
	for _, fc := range []*redis.Client{f1, f2} {
		f := fc.Conn() // READONLY: this node's own state
		defer f.Close()
		if err := f.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if n := f.Exists(ctx, "fq", "msrc", "ready").Val(); n != 0 {
			t.Fatalf("a follower still has %d of the emptied lists", n)
		}
		if v := f.LRange(ctx, "mdst", 0, -1).Val(); fmt.Sprint(v) != "[m]" {
			t.Fatalf("mdst on a follower = %v", v)
		}
	}
}

// RENAME of a list onto a key a client waits for serves the client.
func TestRenameWakesBlockedClient(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	w := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	got := make(chan []string, 1)
	go func() { got <- w.BLPop(ctx, 0, "dst").Val() }()
	waitFor(t, 10*time.Second, "the client to block", func() bool { return s.blockedClients() == 1 })
	if err := c.RPush(ctx, "src", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "src", "dst").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if len(v) != 2 || v[0] != "dst" || v[1] != "x" {
			t.Fatalf("BLPOP = %v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked client was not served after RENAME")
	}
}
