package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// awaitPaused waits until n commands are held by CLIENT PAUSE.
func awaitPaused(t *testing.T, s *Server, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		got, changed := s.admin.pause.waitingNow()
		if got == n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d commands held by CLIENT PAUSE, want %d", got, n)
		}
	}
}

type doResult struct {
	v   any
	err error
}

// doAsync sends a command on its own connection and delivers the reply.
func doAsync(c *redis.Client, args ...any) <-chan doResult {
	out := make(chan doResult, 1)
	go func() {
		v, err := c.Do(context.Background(), args...).Result()
		out <- doResult{v, err}
	}()
	return out
}

func await(t *testing.T, ch <-chan doResult) doResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the command never returned")
		return doResult{}
	}
}

func notYet(t *testing.T, ch <-chan doResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned during the pause: %v %v", what, r.v, r.err)
	default:
	}
}

// TestClientPauseWriteHoldsWritesUntilUnpause: under CLIENT PAUSE WRITE a
// write waits (and with it the rest of its client's pipeline) while reads
// go on; UNPAUSE lets it run.
func TestClientPauseWriteHoldsWritesUntilUnpause(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	admin, reader := client(t, s.Addr().String(), 2), client(t, s.Addr().String(), 3)
	if err := admin.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "600000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	write := doAsync(client(t, s.Addr().String(), 2), "SET", "k", "after")
	awaitPaused(t, s, 1)
	notYet(t, write, "SET")
	if v := reader.Get(ctx, "k").Val(); v != "before" {
		t.Fatalf("a read during the pause got %q", v)
	}
	if v := reader.Do(ctx, "INFO", "clients").Val(); !strings.Contains(fmt.Sprint(v), "blocked_clients:1\r\n") {
		t.Fatalf("INFO clients during the pause: %v", v)
	}
	if list := reader.ClientList(ctx).Val(); !strings.Contains(list, " flags=b ") {
		t.Fatalf("no client shows flag b: %s", list)
	}
	if err := admin.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	if r := await(t, write); r.err != nil || r.v != "OK" {
		t.Fatalf("SET after UNPAUSE: %v %v", r.v, r.err)
	}
	awaitPaused(t, s, 0)
	if v := reader.Get(ctx, "k").Val(); v != "after" {
		t.Fatalf("after UNPAUSE: %q", v)
	}
}

// TestClientPauseAllHoldsEverything: under ALL every command waits, a
// read too, until the pause's end; even CLIENT UNPAUSE waits, as in Redis.
func TestClientPauseAllHoldsEverything(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	admin := client(t, s.Addr().String(), 2)
	if err := admin.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The timer ends this one (3 s: the GET must arrive before).
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	read := doAsync(client(t, s.Addr().String(), 3), "GET", "k")
	awaitPaused(t, s, 1)
	notYet(t, read, "GET")
	if r := await(t, read); r.err != nil || r.v != "v" {
		t.Fatalf("GET after the pause: %v %v", r.v, r.err)
	}
	awaitPaused(t, s, 0)
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "600000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	unpause := doAsync(client(t, s.Addr().String(), 2), "CLIENT", "UNPAUSE")
	awaitPaused(t, s, 1)
	notYet(t, unpause, "CLIENT UNPAUSE")
	s.admin.pause.lift() // what the end of the pause would do
	if r := await(t, unpause); r.err != nil {
		t.Fatalf("UNPAUSE after the pause: %v", r.err)
	}
	// A pause of 0 ms, or past the clock's range, holds nothing.
	for _, ms := range []string{"0", "9223372036854775807"} {
		if err := admin.Do(ctx, "CLIENT", "PAUSE", ms).Err(); err != nil {
			t.Fatal(err)
		}
		if v := admin.Get(ctx, "k").Val(); v != "v" {
			t.Fatalf("after CLIENT PAUSE %s: %q", ms, v)
		}
	}
}

// TestClientPauseKilledClientNeverRuns: a client killed while its write
// waits goes away without the write.
func TestClientPauseKilledClientNeverRuns(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	admin := client(t, s.Addr().String(), 2)
	victim := client(t, s.Addr().String(), 2)
	id := victim.ClientID(ctx).Val()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "600000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	write := doAsync(victim, "SET", "never", "1")
	awaitPaused(t, s, 1)
	if n, err := admin.Do(ctx, "CLIENT", "KILL", "ID", fmt.Sprint(id)).Int(); n != 1 || err != nil {
		t.Fatalf("CLIENT KILL: %d %v", n, err)
	}
	if r := await(t, write); r.err == nil {
		t.Fatalf("the killed client got a reply: %v", r.v)
	}
	awaitPaused(t, s, 0)
	admin.Do(ctx, "CLIENT", "UNPAUSE")
	if n := admin.Exists(ctx, "never").Val(); n != 0 {
		t.Fatal("the killed client's write ran")
	}
}

// TestClientPauseHoldsNeitherApplyNorPeers: a paused leader still takes
// writes forwarded by a follower (its client is not paused) and still
// applies them.
func TestClientPauseHoldsNeitherApplyNorPeers(t *testing.T) {
	leader := startServer(t, func(c *Config) { c.Raft.NodeID = "n1" })
	ctx := context.Background()
	lc := client(t, leader.Addr().String(), 2)
	if err := lc.Set(ctx, "k", "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	follower := startServer(t, func(c *Config) {
		c.Raft.NodeID = "n2"
		c.Raft.Bootstrap = false
		c.Join = leader.Node().RaftAddr()
	})
	fc := client(t, follower.Addr().String(), 2)
	deadline := time.Now().Add(20 * time.Second)
	for fc.Set(ctx, "joined", "1", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the follower never served a write")
		}
		time.Sleep(20 * time.Millisecond) // the join runs in the background
	}
	if err := lc.Do(ctx, "CLIENT", "PAUSE", "600000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	if err := fc.Set(ctx, "k", "via-follower", 0).Err(); err != nil {
		t.Fatalf("a write forwarded to the paused leader: %v", err)
	}
	if _, err := fc.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, "tx", "1", 0).Err() }); err != nil {
		t.Fatalf("a transaction forwarded to the paused leader: %v", err)
	}
	// The follower applies it too.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := follower.Node().WaitApplied(wctx, leader.Node().Raft().CommitIndex()); err != nil {
		t.Fatal(err)
	}
	ro := client(t, follower.Addr().String(), 2).Conn()
	defer ro.Close()
	ro.Do(ctx, "READONLY")
	if v := ro.Get(ctx, "k").Val(); v != "via-follower" {
		t.Fatalf("follower's state: %q", v)
	}
	held := doAsync(client(t, leader.Addr().String(), 2), "GET", "k")
	awaitPaused(t, leader, 1)
	notYet(t, held, "a GET on the paused leader")
	leader.admin.pause.lift()
	if r := await(t, held); r.v != "via-follower" {
		t.Fatalf("leader after the pause: %v %v", r.v, r.err)
	}
}

var monitorLineRe = regexp.MustCompile(`^\d{10}\.\d{6} \[0 127\.0\.0\.1:\d+\] "set" "k" "v"$`)

// TestMonitorSeesOtherClients: a go-redis MONITOR receives another
// client's SET in Redis's format, AUTH redacted, and not the CONFIG GET
// (an administrative command) sent between them.
func TestMonitorSeesOtherClients(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	other := client(t, s.Addr().String(), 2)
	if err := other.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// A raw connection, not go-redis's Monitor: that one reads the socket
	// from a goroutine of its own while the pool inspects the same buffer
	// (a data race inside go-redis v9.23 that -race reports).
	m, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetReadDeadline(time.Now().Add(time.Minute))
	fmt.Fprint(m, respPayload([][]string{{"MONITOR"}}))
	r := bufio.NewReader(m)
	next := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the monitor: %v", err)
		}
		if !strings.HasPrefix(l, "+") || !strings.HasSuffix(l, "\r\n") {
			t.Fatalf("monitor line is not a simple string: %q", l)
		}
		return strings.TrimSuffix(l[1:], "\r\n")
	}
	if l := next(); l != "OK" {
		t.Fatalf("MONITOR replied %q", l)
	}
	other.Set(ctx, "k", "v", 0)
	other.ConfigGet(ctx, "maxmemory")
	other.Do(ctx, "AUTH", "secret")
	other.Echo(ctx, "marker")
	if l := next(); !monitorLineRe.MatchString(l) {
		t.Fatalf("monitor line %q", l)
	}
	if l := next(); !strings.HasSuffix(l, `"AUTH" "(redacted)"`) {
		t.Fatalf("monitor line after SET: %q", l)
	}
	if l := next(); !strings.HasSuffix(l, `"echo" "marker"`) {
		t.Fatalf("monitor line after AUTH: %q", l)
	}
}

// TestMonitorDroppedWhenItCannotKeepUp: a monitor that does not read is
// disconnected once monitorBufferLimit bytes wait for it; the writes it
// watched are not held up.
func TestMonitorDroppedWhenItCannotKeepUp(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	m, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fmt.Fprint(m, respPayload([][]string{{"MONITOR"}}))
	r := bufio.NewReader(m)
	if l, err := r.ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", l, err)
	}
	// Stop reading: the lines pile up (the socket buffers hold a few MB).
	w := client(t, s.Addr().String(), 2)
	big := strings.Repeat("x", 1<<20)
	for i := 0; s.admin.monitors.n.Load() > 0; i++ {
		if i > 2*monitorBufferLimit>>20+64 {
			t.Fatal("the monitor was never dropped")
		}
		if err := w.Set(ctx, "k", big, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	m.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the dropped monitor's connection stayed open")
	}
}

// TestMonitorEndsWithResetAndDisconnect: RESET turns a monitor back into a
// client, and a monitor that disconnects is forgotten.
func TestMonitorEndsWithResetAndDisconnect(t *testing.T) {
	s := startServer(t, nil)
	got, _ := rawReply(t, s.Addr().String(), respPayload([][]string{{"MONITOR"}, {"RESET"}, {"SET", "k", "v"}, {"QUIT"}}))
	if !strings.HasSuffix(got, "+RESET\r\n+OK\r\n+OK\r\n") || !strings.HasPrefix(got, "+OK\r\n") {
		t.Fatalf("MONITOR, RESET, SET: %q", got)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, respPayload([][]string{{"MONITOR"}}))
	if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", l, err)
	}
	if n := s.admin.monitors.n.Load(); n != 1 {
		t.Fatalf("%d monitors", n)
	}
	c.Close()
	// The connection's goroutine forgets it once it sees the close; a
	// command from anyone then finds no monitor.
	deadline := time.Now().Add(10 * time.Second)
	for s.admin.monitors.n.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a closed monitor is still fed")
		}
		time.Sleep(5 * time.Millisecond) // polling the server's state, not standing in for it
	}
}

// TestClientNoEvictNoTouchShown: the flags are stored and shown.
func TestClientNoEvictNoTouchShown(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2).Conn()
	defer c.Close()
	for _, sub := range []string{"NO-EVICT", "NO-TOUCH"} {
		if err := c.Do(ctx, "CLIENT", sub, "on").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if info := c.Do(ctx, "CLIENT", "INFO").String(); !strings.Contains(info, " flags=eT ") {
		t.Fatalf("CLIENT INFO: %s", info)
	}
	c.Do(ctx, "CLIENT", "NO-TOUCH", "off")
	if info := c.Do(ctx, "CLIENT", "INFO").String(); !strings.Contains(info, " flags=e ") {
		t.Fatalf("CLIENT INFO: %s", info)
	}
}

// TestConfigSetKeepkvRefusals: parameters keepkv fixes at startup accept
// only the value in force, and say why they refuse another.
func TestConfigSetKeepkvRefusals(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := client(t, s.Addr().String(), 2)
	for _, tc := range []struct{ name, value, want string }{
		{"appendonly", "no", "ERR CONFIG SET failed (possibly related to argument 'appendonly') - keepkv always logs every write (the Raft log)"},
		{"maxmemory-policy", "allkeys-lru", "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - keepkv never evicts keys: only noeviction is supported"},
		{"save", "900 1", "ERR CONFIG SET failed (possibly related to argument 'save') - keepkv takes no RDB snapshots: every acknowledged write is already durable in the Raft log"},
		{"timeout", "5", "ERR CONFIG SET failed (possibly related to argument 'timeout') - set with --idle-timeout at startup"},
		{"requirepass", "", "ERR CONFIG SET failed (possibly related to argument 'requirepass') - set with --requirepass at startup"},
		{"appendonly", "YES", ""}, {"appendfsync", "always", ""}, {"timeout", "0", ""},
	} {
		err := c.ConfigSet(ctx, tc.name, tc.value).Err()
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || err.Error() != tc.want)) {
			t.Errorf("CONFIG SET %s %q: %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
	// All or nothing: a refused pair leaves the stored one unchanged.
	if err := c.ConfigSet(ctx, "slowlog-max-len", "7").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "CONFIG", "SET", "slowlog-max-len", "9", "appendonly", "no").Err(); err == nil {
		t.Fatal("CONFIG SET with a refused pair succeeded")
	}
	if v := c.ConfigGet(ctx, "slowlog-max-len").Val(); v["slowlog-max-len"] != "7" {
		t.Fatalf("slowlog-max-len after a refused CONFIG SET: %v", v)
	}
	// RESETSTAT zeroes the counters.
	c.Set(ctx, "a", "1", 0)
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	info := c.Info(ctx, "stats", "commandstats").Val()
	if !strings.Contains(info, "total_commands_processed:1\r\n") || strings.Contains(info, "cmdstat_set") {
		t.Fatalf("INFO after RESETSTAT: %s", info)
	}
}
