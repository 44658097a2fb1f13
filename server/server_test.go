package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCommandReplies pins replies that do not need redis-server to check,
// through go-redis in both protocol versions.
func TestCommandReplies(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		c := client(t, s.Addr().String(), proto)
		c.FlushAll(ctx)
		cases := []struct {
			args []any
			want string
		}{
			{[]any{"SET", "session:1", `{"u":1}`, "EX", "604800"}, "OK"},
			{[]any{"GET", "session:1"}, `{"u":1}`},
			{[]any{"TTL", "session:1"}, "604800"},
			{[]any{"GET", "missing"}, "nil"},
			{[]any{"INCR", "n"}, "1"},
			{[]any{"INCRBYFLOAT", "n", "0.5"}, "1.5"},
			{[]any{"INCR", "n"}, "ERR value is not an integer or out of range"},
			{[]any{"SET", "k"}, "ERR wrong number of arguments for 'set' command"},
			{[]any{"SET", "k", "v", "XX", "NX"}, "ERR syntax error"},
			{[]any{"EXPIRE", "k", "1", "NX", "XX"}, errNXandXX},
			{[]any{"FOO", "bar"}, "ERR unknown command 'FOO', with args beginning with: 'bar' "},
			{[]any{"SELECT", "99"}, "ERR DB index is out of range"},
			{[]any{"RENAME", "nope", "x"}, "ERR no such key"},
			{[]any{"EXISTS", "session:1", "session:1", "nope"}, "2"},
			{[]any{"DBSIZE"}, "2"},
			{[]any{"TYPE", "session:1"}, "string"},
			{[]any{"PING"}, "PONG"},
		}
		for _, tc := range cases {
			v, err := c.Do(ctx, tc.args...).Result()
			got := fmt.Sprint(v)
			if errors.Is(err, redis.Nil) {
				got = "nil"
			} else if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("RESP%d %v = %q, want %q", proto, tc.args, got, tc.want)
			}
		}
	}
}

func TestRESP3Replies(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 3)
	hello, err := c.Do(ctx, "HELLO", "3").Result()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := hello.(map[any]any)
	if !ok || m["proto"] != int64(3) || m["server"] != "redis" {
		t.Fatalf("HELLO 3 = %#v, want a RESP3 map with proto 3", hello)
	}
	cfg, err := c.Do(ctx, "CONFIG", "GET", "save").Result()
	if cm, ok := cfg.(map[any]any); err != nil || !ok || cm["save"] != "" {
		t.Fatalf("CONFIG GET save = %#v, %v; want a map", cfg, err)
	}
	// A RESP3 null, not RESP2's $-1: go-redis maps both to redis.Nil, so
	// read the raw reply.
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	fmt.Fprint(conn, "HELLO 3\r\n")
	if line, _ := r.ReadString('\n'); line != "%7\r\n" {
		t.Fatalf("HELLO 3 header = %q", line)
	}
	for range 14 { // 7 pairs, modules is an empty array
		line, _ := r.ReadString('\n')
		if line[0] == '$' {
			r.ReadString('\n')
		}
	}
	fmt.Fprint(conn, "GET nothing\r\n")
	if line, _ := r.ReadString('\n'); line != "_\r\n" {
		t.Fatalf("RESP3 null = %q", line)
	}
}

func TestPipelineIsProposedTogether(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := s.Node().Status().LastIndex
	pipe := c.Pipeline()
	var incrs []*redis.IntCmd
	for i := range 1000 {
		incrs = append(incrs, pipe.Incr(ctx, "n"))
		if i == 500 {
			pipe.Get(ctx, "n") // a read in the middle sees the writes before it
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range incrs {
		if cmd.Val() != int64(i+1) {
			t.Fatalf("INCR %d = %d: replies out of order", i, cmd.Val())
		}
	}
	if got := cmds[501].(*redis.StringCmd).Val(); got != "501" {
		t.Fatalf("GET in the middle of the pipeline = %s, want 501", got)
	}
	// 1000 writes must not cost 1000 log entries.
	if used := s.Node().Status().LastIndex - before; used > 50 {
		t.Fatalf("1000 pipelined writes used %d log entries", used)
	}
}

func TestValueSizeLimit(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxValueSize = 1024 })
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	big := strings.Repeat("x", 1025)
	for _, args := range [][]any{{"SET", "k", big}, {"MSET", "a", "1", "k", big}, {"APPEND", "k", big}, {"SETRANGE", "k", "1000", "x" + big[:100]}} {
		err := c.Do(ctx, args...).Err()
		if err == nil || err.Error() != errTooLarge {
			t.Fatalf("%v: err = %v, want %q", args[0], err, errTooLarge)
		}
	}
	if n := c.Exists(ctx, "k", "a").Val(); n != 0 {
		t.Fatalf("rejected writes left %d keys", n)
	}
	if err := c.Set(ctx, "k", big[:1024], 0).Err(); err != nil {
		t.Fatalf("value at the limit refused: %v", err)
	}
	if err := c.Append(ctx, "k", "y").Err(); err == nil || err.Error() != errTooLarge {
		t.Fatalf("APPEND past the limit: %v", err)
	}
}

// rawReply sends raw bytes on a new connection and returns everything the
// server writes back before closing it (or until a short read deadline).
func rawReply(t *testing.T, addr string, payload string) (string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go conn.Write([]byte(payload))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(conn)
	var ne net.Error
	closed := !(errors.As(err, &ne) && ne.Timeout()) // EOF or reset: the server closed it
	return string(b), closed
}

func TestHostileProtocolInput(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Limits = Limits{MaxBulkLen: 1 << 20, MaxMultibulk: 1000, MaxInline: 1024}
		c.MaxValueSize = 1 << 20
	})
	ctx := context.Background()
	bystander := client(t, s.Addr().String(), 2)
	if err := bystander.Set(ctx, "acked", "safe", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, payload, want string
		closes              bool
	}{
		{"huge bulk length", "*2\r\n$3\r\nGET\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n", true},
		{"negative bulk length", "*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n", true},
		{"huge multibulk", "*1000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n", true},
		{"garbage multibulk", "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n", true},
		{"no dollar", "*1\r\n:12\r\n", "-ERR Protocol error: expected '$', got ':'\r\n", true},
		{"endless header", "*1\r\n$" + strings.Repeat("9", 100), "-ERR Protocol error: invalid bulk length\r\n", true},
		{"long inline", strings.Repeat("a", 5000), "-ERR Protocol error: too big inline request\r\n", true},
		{"valid then bad", "PING\r\n*1\r\n$-5\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n", true},
		{"binary inline", "\x00\xff\xfe\r\n", "-ERR unknown command '\x00\xff\xfe', with args beginning with: \r\n", false},
		{"unbalanced quotes", "SET \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n", true},
	}
	for _, tc := range cases {
		got, closed := rawReply(t, s.Addr().String(), tc.payload)
		if got != tc.want || closed != tc.closes {
			t.Errorf("%s: got %q (closed %v), want %q (closed %v)", tc.name, got, closed, tc.want, tc.closes)
		}
	}
	// Other clients are unaffected and nothing acknowledged changed.
	if v, err := bystander.Get(ctx, "acked").Result(); err != nil || v != "safe" {
		t.Fatalf("bystander after hostile input: %q, %v", v, err)
	}
}

func TestAuthRequired(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Password = "s3cret" })
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	if err := c.Get(ctx, "k").Err(); err == nil || err.Error() != "NOAUTH Authentication required." {
		t.Fatalf("unauthenticated GET: %v", err)
	}
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "AUTH", "wrong").Err(); err == nil || err.Error() != errWrongPass {
		t.Fatalf("wrong password: %v", err)
	}
	if err := conn.Do(ctx, "AUTH", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatal(err)
	}
	c3 := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Protocol: 3, Password: "s3cret", DisableIdentity: true})
	defer c3.Close()
	if v, err := c3.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("HELLO 3 AUTH client: %q, %v", v, err)
	}
}

func TestRestartKeepsDataAndDeadlines(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	at := time.Now().Add(time.Hour).UnixMilli()
	if err := c.Do(ctx, "SET", "session:a", "x", "PXAT", at).Err(); err != nil {
		t.Fatal(err)
	}
	c.Incr(ctx, "counter")
	c.Incr(ctx, "counter")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = startServerIn(t, dir, nil)
	c = client(t, s.Addr().String(), 2)
	if v, err := c.Do(ctx, "PEXPIRETIME", "session:a").Int64(); err != nil || v != at {
		t.Fatalf("deadline after restart = %d, %v; want %d", v, err, at)
	}
	if v := c.Incr(ctx, "counter").Val(); v != 3 {
		t.Fatalf("counter after restart = %d, want 3 (replayed or lost)", v)
	}
}

func TestClientThatNeverReadsIsDisconnectedAlone(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ClientWriteTimeout = 500 * time.Millisecond })
	ctx := context.Background()
	good := client(t, s.Addr().String(), 2)
	big := strings.Repeat("x", 1<<20)
	if err := good.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A client that asks for 2 GiB of replies and never reads them.
	base := len(s.clientList())
	hog, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	req := []byte(strings.Repeat("GET big\r\n", 2048))
	hog.Write(req)
	waitFor(t, 10*time.Second, "the hog to be connected", func() bool { return len(s.clientList()) == base+1 })
	// Others are served meanwhile, promptly.
	for i := range 20 {
		if err := good.Set(ctx, fmt.Sprint("k", i), "v", 0).Err(); err != nil {
			t.Fatalf("bystander write while a client does not read: %v", err)
		}
	}
	// The hog is cut off once a write to it times out: the server drops
	// the connection while we still do not read (however slowly a loaded
	// machine produces the replies), and draining its socket then ends
	// with EOF or reset well before 2 GiB.
	waitFor(t, 60*time.Second, "the server to drop the client that never reads", func() bool { return len(s.clientList()) == base })
	hog.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, hog)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection of a client that never read is still open after %d bytes", n)
	}
	if n >= int64(2048)<<20 {
		t.Fatalf("server sent all %d bytes instead of disconnecting", n)
	}
	if v, err := good.Get(ctx, "big").Result(); err != nil || len(v) != len(big) {
		t.Fatalf("data after the hog: %d bytes, %v", len(v), err)
	}
}

func TestHugeCommandsAndSlowloris(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	// A command with a million arguments is served (or refused) cleanly.
	// With the race detector on a loaded 2-core machine it takes several
	// seconds, so this client waits longer than client()'s 10 s.
	c := redis.NewClient(&redis.Options{Addr: s.Addr().String(), DisableIdentity: true, MaxRetries: -1, ReadTimeout: time.Minute})
	t.Cleanup(func() { c.Close() })
	args := make([]any, 0, 1_000_001)
	args = append(args, "EXISTS")
	for i := range 1_000_000 {
		args = append(args, fmt.Sprint("nokey", i))
	}
	if n, err := c.Do(ctx, args...).Int64(); err != nil || n != 0 {
		t.Fatalf("EXISTS with 1M arguments: %d, %v", n, err)
	}
	// A slowloris that never finishes its command is closed by the idle
	// timeout while everyone else is served.
	s = startServer(t, func(c *Config) { c.IdleTimeout = time.Second })
	c = client(t, s.Addr().String(), 2)
	slow, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc"))
	if err := c.Set(ctx, "other", "fine", 0).Err(); err != nil {
		t.Fatalf("bystander during slowloris: %v", err)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = slow.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("slowloris connection still open after the idle timeout")
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("the incomplete command was applied")
	}
}

func TestDiskGuardRefusesGrowthNotReadsOrDeletes(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxDiskBytes = 2 << 20 })
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	value := strings.Repeat("v", 64<<10)
	acked := 0
	var refused error
	for i := 0; i < 200 && refused == nil; i++ {
		if err := c.Set(ctx, fmt.Sprint("fill", i), value, 0).Err(); err != nil {
			refused = err
			break
		}
		acked++
	}
	want := "OOM command not allowed when used memory > 'maxmemory'."
	if acked < 16 {
		t.Fatalf("the guard tripped after only %d writes of 64 KiB (2 MiB limit)", acked)
	}
	if refused == nil || refused.Error() != want {
		t.Fatalf("after %d writes of 64 KiB past a 2 MiB guard: %v, want %q", acked, refused, want)
	}
	for i := range acked {
		if n, err := c.StrLen(ctx, fmt.Sprint("fill", i)).Result(); err != nil || n != int64(len(value)) {
			t.Fatalf("acknowledged key fill%d after the guard tripped: %d, %v", i, n, err)
		}
	}
	if err := c.Del(ctx, "fill0").Err(); err != nil {
		t.Fatalf("DEL past the guard: %v", err)
	}
	if err := c.Expire(ctx, "fill1", time.Hour).Err(); err != nil {
		t.Fatalf("EXPIRE past the guard: %v", err)
	}
}

func TestDisabledCommandsAreUnknown(t *testing.T) {
	s := startServer(t, func(c *Config) { c.DisabledCommands = []string{"FLUSHALL", "rename"} })
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	c.Set(ctx, "a", "1", 0)
	for _, args := range [][]any{{"FLUSHALL"}, {"RENAME", "a", "b"}} {
		err := c.Do(ctx, args...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "ERR unknown command") {
			t.Fatalf("%v: %v, want unknown command", args[0], err)
		}
	}
	if v, _ := c.Get(ctx, "a").Result(); v != "1" {
		t.Fatal("a disabled command had an effect")
	}
	if _, err := Start(Config{Dir: t.TempDir(), DisabledCommands: []string{"nosuch"}}); err == nil {
		t.Fatal("disabling an unknown command was accepted")
	}
}

func TestMaxClients(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxClients = 2 })
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "PING\r\n")
		if line, _ := bufio.NewReader(c).ReadString('\n'); line != "+PONG\r\n" {
			t.Fatalf("client within the limit: %q", line)
		}
		conns = append(conns, c)
	}
	got, closed := rawReply(t, s.Addr().String(), "PING\r\n")
	if got != "-ERR max number of clients reached\r\n" || !closed {
		t.Fatalf("client over the limit: %q (closed %v)", got, closed)
	}
	conns[0].Close()
	// A freed slot is usable again once the server has seen the close.
	waitFor(t, 5*time.Second, "the slot to free", func() bool {
		s.clientsMu.Lock()
		defer s.clientsMu.Unlock()
		return len(s.clients) < 2
	})
	if got, _ := rawReply(t, s.Addr().String(), "PING\r\nQUIT\r\n"); got != "+PONG\r\n+OK\r\n" {
		t.Fatalf("after a slot freed: %q", got)
	}
}
