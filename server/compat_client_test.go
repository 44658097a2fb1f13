package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Compatibility of the connection and admin commands clients and tools
// send around transactions and Pub/Sub: INFO, CONFIG, CLIENT REPLY, KILL,
// LIST, INFO, PAUSE, MONITOR and RESET, against redis-server 7.0.

func init() { compatScripts = append(compatScripts, adminScripts...) }

// adminScripts leave every setting as they found it: the scripts that
// follow run on the same servers.
var adminScripts = [][][]any{
	// CONFIG SET's checks, in Redis's order.
	{{"CONFIG", "SET"}, {"CONFIG", "SET", "foo"}, {"CONFIG", "SET", "foo", "bar"}, {"CONFIG", "SET", "timeout"}, {"CONFIG", "SET", "timeout", "1", "maxclients"},
		{"CONFIG", "SET", "timeout", "abc"}, {"CONFIG", "SET", "timeout", "-1"}, {"CONFIG", "SET", "timeout", "01"}, {"CONFIG", "SET", "timeout", "+1"},
		{"CONFIG", "SET", "timeout", "0", "timeout", "1"}, {"CONFIG", "SET", "timeout", "0", "TIMEOUT", "1"},
		{"CONFIG", "SET", "timeout", "0", "foo", "1"}, {"CONFIG", "SET", "foo", "1", "timeout", "0"},
		{"CONFIG", "SET", "timeout", "10", "maxmemory-policy", "bogus"}, {"CONFIG", "SET", "databases", "4"},
		{"CONFIG", "SET", "timeout", "0", "databases", "4", "foo", "1"}, {"CONFIG", "SET", "timeout", "0", "foo", "1", "databases", "4"},
		{"CONFIG", "SET", "dir", "/tmp", "timeout", "x"}, {"CONFIG", "SET", "daemonize", "no"}, {"CONFIG", "SET", "cluster-enabled", "yes"},
		{"CONFIG", "SET", "maxclients", "0"}, {"CONFIG", "SET", "port", "99999"}, {"CONFIG", "SET", "port", "abc"},
		{"CONFIG", "SET", "proto-max-bulk-len", "1"}, {"CONFIG", "SET", "maxmemory", "abc"}, {"CONFIG", "SET", "maxmemory", "-1"},
		{"CONFIG", "SET", "appendonly", "maybe"}, {"CONFIG", "SET", "appendfsync", "sometimes"},
		{"CONFIG", "SET", "save", "900"}, {"CONFIG", "SET", "save", "abc 1"}, {"CONFIG", "SET", "save", "0 1"}, {"CONFIG", "SET", "save", "1 -1"},
		{"CONFIG", "SET", "notify-keyspace-events", "Q"}},
	// Values both servers have: accepted, and CONFIG GET shows them.
	{{"CONFIG", "SET", "timeout", "0"}, {"CONFIG", "SET", "save", ""}, {"CONFIG", "SET", "maxmemory", "0"}, {"CONFIG", "SET", "maxmemory-policy", "NOEVICTION"},
		{"CONFIG", "SET", "timeout", "0", "maxmemory-policy", "noeviction", "save", ""}, {"CONFIG", "GET", "maxmemory-policy"}, {"CONFIG", "GET", "save"},
		{"CONFIG", "GET", "TIMEOUT"}, {"CONFIG", "GET", "timeout", "TIMEOUT"}, {"CONFIG", "GET", "timeo*", "timeout"}, {"CONFIG", "GET", "nosuch"}, {"CONFIG", "GET", "a", "b"},
		{"CONFIG", "GET"}, {"CONFIG", "GET", "databases"}, {"CONFIG", "GET", "maxmemory"}},
	// Stored parameters.
	{{"CONFIG", "SET", "slowlog-log-slower-than", "-2"}, {"CONFIG", "SET", "slowlog-log-slower-than", "abc"}, {"CONFIG", "SET", "slowlog-max-len", "-1"},
		{"CONFIG", "SET", "slowlog-max-len", "99999999999999999999"}, {"CONFIG", "GET", "slowlog-max-len"}, {"CONFIG", "GET", "slowlog-log-slower-than"},
		{"CONFIG", "SET", "slowlog-max-len", "64", "slowlog-log-slower-than", "-1"}, {"CONFIG", "GET", "slowlog-max-len"}, {"CONFIG", "GET", "slowlog-log-slower-than"},
		{"CONFIG", "SET", "slowlog-max-len", "16", "slowlog-log-slower-than", "x"}, {"CONFIG", "GET", "slowlog-max-len"},
		{"CONFIG", "SET", "slowlog-max-len", "128", "slowlog-log-slower-than", "10000"}, {"CONFIG", "GET", "slowlog-max-len"},
		{"CONFIG", "SET", "client-output-buffer-limit", "normal 0 0"}, {"CONFIG", "SET", "client-output-buffer-limit", "bogus 0 0 0"},
		{"CONFIG", "SET", "client-output-buffer-limit", "master 0 0 0"}, {"CONFIG", "SET", "client-output-buffer-limit", "normal x 0 0"},
		{"CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 -1"}, {"CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 2MB 60"},
		{"CONFIG", "GET", "client-output-buffer-limit"}, {"CONFIG", "SET", "client-output-buffer-limit", "PUBSUB 1k 1kb 1 replica 1g 1gb 2"},
		{"CONFIG", "GET", "client-output-buffer-limit"}, {"CONFIG", "SET", "client-output-buffer-limit", ""},
		{"CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
		{"CONFIG", "GET", "client-output-buffer-limit"}},
	// The replicated one, through CONFIG SET's checks.
	{{"CONFIG", "SET", "notify-keyspace-events", "KEA"}, {"CONFIG", "GET", "notify-keyspace-events"}, {"CONFIG", "SET", "notify-keyspace-events", "KEA", "timeout", "x"},
		{"CONFIG", "SET", "notify-keyspace-events", ""}, {"CONFIG", "GET", "notify-keyspace-events"}},
	{{"CONFIG", "RESETSTAT", "x"}, {"CONFIG", "RESETSTAT"}, {"CONFIG", "REWRITE"}, {"CONFIG", "REWRITE", "x"}, {"CONFIG", "HELP"}, {"CONFIG", "HELP", "x"}, {"CONFIG", "NOSUCH"}},
	// CLIENT's errors, and KILL and LIST filters that match no one.
	{{"CLIENT", "KILL"}, {"CLIENT", "KILL", "1.2.3.4:5"}, {"CLIENT", "KILL", "nocolon"}, {"CLIENT", "KILL", "ID"}, {"CLIENT", "KILL", "ID", "abc"},
		{"CLIENT", "KILL", "ID", "0"}, {"CLIENT", "KILL", "ID", "-1"}, {"CLIENT", "KILL", "ID", "99999"}, {"CLIENT", "KILL", "ADDR", "1.2.3.4:5"},
		{"CLIENT", "KILL", "LADDR", "1.2.3.4:5"}, {"CLIENT", "KILL", "USER", "nobody"}, {"CLIENT", "KILL", "USER", "default", "ID", "99999"},
		{"CLIENT", "KILL", "TYPE", "bogus"}, {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "maybe"}, {"CLIENT", "KILL", "TYPE", "master"},
		{"CLIENT", "KILL", "TYPE", "pubsub"}, {"CLIENT", "KILL", "TYPE", "replica"}, {"CLIENT", "KILL", "TYPE", "slave"}, {"CLIENT", "KILL", "FOO", "bar"},
		{"CLIENT", "KILL", "MAXAGE", "10"}, {"CLIENT", "KILL", "ID", "99998", "ID", "99999"}, {"CLIENT", "KILL", "ID", "1", "SKIPME"},
		{"CLIENT", "KILL", "SKIPME", "no", "ID", "99999"}, {"CLIENT", "KILL", "id", "99999", "skipme", "YES"}, {"CLIENT", "KILL", "ADDR", "1.2.3.4"},
		{"CLIENT", "KILL", "127.0.0.1:1"}},
	{{"CLIENT", "LIST", "TYPE", "bogus"}, {"CLIENT", "LIST", "TYPE", "pubsub"}, {"CLIENT", "LIST", "TYPE", "master"}, {"CLIENT", "LIST", "TYPE", "replica"},
		{"CLIENT", "LIST", "TYPE", "normal", "ID", "1"}, {"CLIENT", "LIST", "ID", "1", "TYPE", "normal"}, {"CLIENT", "LIST", "ID", "0"},
		{"CLIENT", "LIST", "ID", "-5", "99999"}, {"CLIENT", "LIST", "ID", "1", "abc"}, {"CLIENT", "LIST", "ID"}, {"CLIENT", "LIST", "x"},
		{"CLIENT", "INFO", "x"}, {"CLIENT", "NO-EVICT"}, {"CLIENT", "NO-EVICT", "maybe"}, {"CLIENT", "NO-EVICT", "off"},
		{"CLIENT", "PAUSE"}, {"CLIENT", "PAUSE", "abc"}, {"CLIENT", "PAUSE", "-1"}, {"CLIENT", "PAUSE", "abc", "FOO"}, {"CLIENT", "PAUSE", "1.5"},
		{"CLIENT", "PAUSE", "100", "write", "extra"}, {"CLIENT", "PAUSE", "0"}, {"CLIENT", "PAUSE", "0", "WRITE"}, {"CLIENT", "PAUSE", "9223372036854775807", "write"},
		{"SET", "p", "1"}, {"CLIENT", "UNPAUSE", "x"}, {"CLIENT", "UNPAUSE"}, {"CLIENT", "REPLY"}, {"CLIENT", "REPLY", "foo"}, {"CLIENT", "REPLY", "on"},
		{"RESET", "x"}, {"MONITOR", "x"}},
}

// TestInfoSectionsMatchRedis compares the sections INFO returns for each
// selection. keepkv leaves out Errorstats and Latencystats: it counts
// neither error replies nor latencies.
func TestInfoSectionsMatchRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	selections := [][]any{{}, {"default"}, {"all"}, {"everything"}, {"server", "clients"}, {"SERVER"}, {"nosuch"}, {"server", "nosuch"},
		{"commandstats"}, {"errorstats"}, {"latencystats"}, {"modules"}, {"cluster"}, {"keyspace"}, {"server", "server"},
		{"all", "commandstats"}, {"default", "commandstats"}, {"everything", "server"}, {"cpu", "memory"}, {"Replication", "persistence", "stats"}}
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		rc, kc := client(t, redisAddr, proto), client(t, kk.Addr().String(), proto)
		for _, sel := range selections {
			headers := func(c *redis.Client) []string {
				v, err := c.Do(ctx, append([]any{"INFO"}, sel...)...).Text()
				if err != nil {
					t.Fatalf("INFO %v: %v", sel, err)
				}
				var h []string
				for _, l := range strings.Split(v, "\r\n") {
					if strings.HasPrefix(l, "# ") {
						h = append(h, l)
					}
				}
				return h
			}
			want := slices.DeleteFunc(headers(rc), func(h string) bool { return h == "# Errorstats" || h == "# Latencystats" })
			if got := headers(kc); !slices.Equal(got, want) {
				t.Errorf("RESP%d INFO %v:\n redis:  %q\n keepkv: %q", proto, sel, want, got)
			}
		}
	}
}

// TestInfoFields: INFO's fields are there, the ones it had before
// included, and the CPU times are the process's own.
func TestInfoFields(t *testing.T) {
	kk := startServer(t, nil)
	c := client(t, kk.Addr().String(), 2)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil { // the node leads
		t.Fatal(err)
	}
	c.Info(ctx)
	info := c.Info(ctx, "everything").Val()
	for _, f := range []string{"redis_version:", "keepkv_version:", "tcp_port:", "run_id:", "connected_clients:", "blocked_clients:",
		"used_memory:", "maxmemory_policy:noeviction", "aof_enabled:1", "keepkv_applied_index:", "total_commands_processed:",
		"instantaneous_ops_per_sec:", "keyspace_hits:", "role:master", "raft_state:Leader", "used_cpu_user:", "cmdstat_info:calls=",
		"cluster_enabled:0"} {
		if !strings.Contains(info, "\r\n"+f) {
			t.Errorf("INFO everything lacks %q", f)
		}
	}
	if strings.Contains(info, "used_cpu_user:0.000000\r\n") && strings.Contains(info, "used_cpu_sys:0.000000\r\n") {
		t.Error("CPU times are zero: not the process's")
	}
}

// TestCommandStatsMatchRedis compares INFO commandstats's calls and
// rejected_calls after the same commands (Redis's timings and failed
// calls are not compared: keepkv leaves them out).
func TestCommandStatsMatchRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	ctx := context.Background()
	stats := func(addr string) map[string]string {
		c := client(t, addr, 2).Conn()
		defer c.Close()
		for _, cmd := range [][]any{{"CONFIG", "RESETSTAT"}, {"SET", "a", "1"}, {"SET", "a"}, {"GET", "a"}, {"GET", "b"}, {"CLIENT", "ID"},
			{"CLIENT", "KILL", "ID", "99999"}, {"CLIENT", "FOO"}, {"CLIENT", "SETNAME", "a", "b"}, {"MULTI"}, {"SET", "b", "1"}, {"INCR", "b"},
			{"GET"}, {"EXEC"}, {"MULTI"}, {"SET", "c", "1"}, {"INCR", "c"}, {"EXEC"}, {"NOSUCH"}, {"PING"}, {"ECHO", "x"}, {"SELECT", "0"}} {
			c.Do(ctx, cmd...)
		}
		v, err := c.Do(ctx, "INFO", "commandstats").Text()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		re := regexp.MustCompile(`^cmdstat_([^:]+):calls=(\d+),.*rejected_calls=(\d+)`)
		for _, l := range strings.Split(v, "\r\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				out[m[1]] = "calls=" + m[2] + " rejected=" + m[3]
			}
		}
		return out
	}
	want, got := stats(redisAddr), stats(kk.Addr().String())
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("commandstats:\n redis:  %v\n keepkv: %v", want, got)
	}
}

// TestClientReplyMatchesRedis compares CLIENT REPLY OFF, ON and SKIP byte
// for byte, in pipelines where the suppressed replies are deferred ones
// (writes proposed together, a transaction) and errors.
func TestClientReplyMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	compareRaw(t, redisAddr, kk.Addr().String(), [][]string{
		{"FLUSHALL"},
		{"CLIENT", "REPLY", "OFF"}, {"PING"}, {"SET", "a", "1"}, {"GET", "a"}, {"NOSUCH"}, {"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "ON"},
		{"PING"}, {"CLIENT", "REPLY", "SKIP"}, {"GET", "a"}, {"PING"},
		{"CLIENT", "REPLY", "SKIP"}, {"SET", "b", "2"}, {"SET", "c", "3"}, {"GET", "b"},
		{"CLIENT", "REPLY", "SKIP"}, {"MULTI"}, {"SET", "d", "4"}, {"EXEC"}, {"GET", "d"},
		{"CLIENT", "REPLY", "SKIP"}, {"CLIENT", "REPLY", "SKIP"}, {"PING"}, {"PING"},
		{"CLIENT", "REPLY", "SKIP"}, {"GET"}, {"PING"},
		{"CLIENT", "REPLY", "OFF"}, {"INCR", "n"}, {"INCR", "n"}, {"CLIENT", "REPLY", "SKIP"}, {"INCR", "n"}, {"CLIENT", "REPLY", "ON"}, {"GET", "n"},
		{"CLIENT", "REPLY"}, {"CLIENT", "REPLY", "foo"},
		{"CLIENT", "REPLY", "OFF"}, {"RESET"}, {"PING"},
		{"CLIENT", "REPLY", "OFF"}, {"QUIT"},
	})
}

// TestResetMatchesRedis compares RESET byte for byte: it leaves MULTI,
// forgets WATCH, the name and the database, turns replies back on and
// goes back to RESP2 (the RESP3 run's later replies are RESP2's).
func TestResetMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	compareRaw(t, redisAddr, kk.Addr().String(), [][]string{
		{"FLUSHALL"},
		{"CLIENT", "SETNAME", "nm"}, {"CLIENT", "NO-EVICT", "on"}, {"SELECT", "3"}, {"SET", "k", "v"}, {"MULTI"}, {"SET", "a", "1"},
		{"RESET"}, {"CLIENT", "GETNAME"}, {"EXEC"}, {"GET", "k"}, {"GET", "a"}, {"SELECT", "3"}, {"GET", "k"},
		{"WATCH", "k"}, {"RESET"}, {"MULTI"}, {"EXEC"},
		{"CLIENT", "REPLY", "OFF"}, {"RESET"}, {"PING"}, {"RESET"}, {"RESET", "x"},
		{"QUIT"},
	})
}

// TestResetLogsOut: after RESET the connection is the default user's
// again, unauthenticated when the default user has a password.
func TestResetLogsOut(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, func(c *Config) { c.Password = "pw" })
	ctx := context.Background()
	admin := client(t, redisAddr, 2)
	if err := admin.ConfigSet(ctx, "requirepass", "pw").Err(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c := redis.NewClient(&redis.Options{Addr: redisAddr, Password: "pw"})
		defer c.Close()
		c.ConfigSet(ctx, "requirepass", "")
	}()
	cmds := [][]string{{"AUTH", "pw"}, {"PING"}, {"RESET"}, {"PING"}, {"CLIENT", "SETNAME", "x"}, {"AUTH", "pw"}, {"PING"}, {"RESET"}, {"RESET"}, {"AUTH", "default", "pw"}, {"QUIT"}}
	want, _ := rawReply(t, redisAddr, respPayload(cmds))
	got, _ := rawReply(t, kk.Addr().String(), respPayload(cmds))
	if got != want {
		t.Errorf("\n redis:  %q\n keepkv: %q", want, got)
	}
}

// clientFields parses a CLIENT LIST or INFO line into its field names, in
// order, and values.
func clientFields(line string) ([]string, map[string]string) {
	var names []string
	vals := map[string]string{}
	for _, kv := range strings.Fields(strings.TrimSpace(line)) {
		k, v, _ := strings.Cut(kv, "=")
		names = append(names, k)
		vals[k] = v
	}
	return names, vals
}

// TestClientListMatchesRedis compares CLIENT INFO's and LIST's fields, in
// order (keepkv adds Redis 7.2's lib-name and lib-ver at the end), and the
// values that describe a connection's state as another connection sees
// it: name, db, flags, multi, cmd, resp; then CLIENT KILL by ID, by
// address (old and new forms), LADDR and SKIPME, and what the killed
// connections see.
func TestClientListMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	want := clientScenario(t, redisAddr)
	got := clientScenario(t, kk.Addr().String())
	if len(got) != len(want) {
		t.Fatalf("scenario lengths differ:\n redis:  %q\n keepkv: %q", want, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d:\n redis:  %s\n keepkv: %s", i, want[i], got[i])
		}
	}
}

func clientScenario(t *testing.T, addr string) []string {
	ctx := context.Background()
	var out []string
	conn := func() (*redis.Conn, string, string) {
		c := client(t, addr, 2).Conn()
		t.Cleanup(func() { c.Close() })
		line, err := c.Do(ctx, "CLIENT", "INFO").Text()
		if err != nil {
			t.Fatal(err)
		}
		_, v := clientFields(line)
		return c, v["id"], v["addr"]
	}
	a, aID, _ := conn()
	b, bID, bAddr := conn()
	names := func(line string) string {
		n, _ := clientFields(line)
		return strings.Join(n, " ")
	}
	state := func(label string) {
		line, err := a.Do(ctx, "CLIENT", "LIST", "ID", bID).Text()
		if err != nil {
			t.Fatal(err)
		}
		_, v := clientFields(line)
		out = append(out, fmt.Sprintf("%s: name=%s db=%s flags=%s multi=%s cmd=%s sub=%s resp=%s user=%s", label, v["name"], v["db"], v["flags"], v["multi"], v["cmd"], v["sub"], v["resp"], v["user"]))
	}
	do := func(c *redis.Conn, args ...any) string {
		v, err := c.Do(ctx, args...).Result()
		if err != nil && err != redis.Nil {
			if _, ok := err.(redis.Error); !ok {
				return "connection error"
			}
			return "error: " + err.Error()
		}
		return fmt.Sprint(v)
	}
	info, _ := a.Do(ctx, "CLIENT", "INFO").Text()
	n := names(info)
	n = strings.TrimSuffix(n, " lib-name lib-ver") // Redis 7.2's, which keepkv has
	out = append(out, "CLIENT INFO fields: "+n)
	list, _ := a.Do(ctx, "CLIENT", "LIST", "ID", aID).Text()
	out = append(out, "CLIENT LIST fields: "+strings.TrimSuffix(names(list), " lib-name lib-ver"))
	state("fresh")
	do(b, "CLIENT", "SETNAME", "bee")
	do(b, "SELECT", "2")
	do(b, "CLIENT", "NO-EVICT", "on")
	do(b, "MULTI")
	do(b, "SET", "k", "v")
	do(b, "GET", "k")
	state("in MULTI")
	do(b, "EXEC")
	state("after EXEC")
	do(b, "HELLO", "3")
	state("RESP3")
	two, _ := a.Do(ctx, "CLIENT", "LIST", "ID", bID, aID, bID).Text()
	ids := []string{}
	for _, l := range strings.Split(strings.TrimSpace(two), "\n") {
		_, v := clientFields(l)
		ids = append(ids, map[string]string{aID: "a", bID: "b"}[v["id"]])
	}
	out = append(out, "LIST ID b a b: "+strings.Join(ids, " "))
	do(b, "RESET")
	state("after RESET")
	b.Process(ctx, redis.NewStatusCmd(ctx, "MONITOR"))
	state("MONITOR")
	out = append(out, "monitor SET: "+do(b, "SET", "k", "v"))
	out = append(out, "kill b by ID: "+do(a, "CLIENT", "KILL", "ID", bID))
	out = append(out, "b after: "+do(b, "PING"))
	out = append(out, "kill b again: "+do(a, "CLIENT", "KILL", "ID", bID))
	c, _, cAddr := conn()
	out = append(out, "kill c by address: "+do(a, "CLIENT", "KILL", cAddr))
	out = append(out, "c after: "+do(c, "PING"))
	out = append(out, "kill c again: "+do(a, "CLIENT", "KILL", cAddr))
	d, dID, dAddr := conn()
	out = append(out, "kill d elsewhere: "+do(a, "CLIENT", "KILL", "ADDR", dAddr, "LADDR", "1.2.3.4:5"))
	out = append(out, "kill d by ADDR, LADDR: "+do(a, "CLIENT", "KILL", "ADDR", dAddr, "LADDR", addr, "TYPE", "normal", "USER", "default"))
	out = append(out, "d after: "+do(d, "PING"))
	out = append(out, "list d: "+do(a, "CLIENT", "LIST", "ID", dID))
	e, eID, _ := conn()
	out = append(out, "subscribe: "+do(e, "SUBSCRIBE", "ch1", "ch2"))
	sub, _ := a.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	_, v := clientFields(sub)
	out = append(out, fmt.Sprintf("pubsub clients: %d, e's: id=%v flags=%s sub=%s psub=%s cmd=%s", strings.Count(sub, "\n"), v["id"] == eID, v["flags"], v["sub"], v["psub"], v["cmd"]))
	out = append(out, "kill TYPE pubsub: "+do(a, "CLIENT", "KILL", "TYPE", "pubsub"))
	out = append(out, "kill self, skipped: "+do(a, "CLIENT", "KILL", "ID", aID))
	out = append(out, "kill self: "+do(a, "CLIENT", "KILL", "ID", aID, "SKIPME", "no"))
	out = append(out, "self after: "+do(a, "PING"))
	_ = bAddr
	return out
}

// TestMonitorMatchesRedis compares what a monitor sees of another
// client's commands, with the times and client ports taken out: the
// database after each command, the quoting, the redacted AUTH and HELLO
// arguments, the commands of a MULTI shown at EXEC, and what is not shown
// (refused and administrative commands).
func TestMonitorMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	cmds := [][]string{
		{"SET", "k", "v w\n\"x\x01\xff\\"}, {"SELECT", "1"}, {"GET", "k"}, {"AUTH", "foo"}, {"AUTH", "a", "b"},
		{"HELLO", "3", "AUTH", "default", "pw"}, {"HELLO", "2"}, {"HELLO", "4", "AUTH", "default", "pw"}, {"HELLO", "2", "FOO", "AUTH", "default", "pw"},
		{"HELLO", "2", "SETNAME", "n", "AUTH", "default", "pw"},
		{"MULTI"}, {"SET", "a", "1"}, {"SELECT", "2"}, {"INCR", "a"}, {"EXEC"}, {"GET", "a"}, {"SELECT", "1"},
		{"MULTI"}, {"SET", "x", "1"}, {"DISCARD"}, {"CONFIG", "GET", "maxmemory"}, {"CLIENT", "LIST"}, {"CLIENT", "KILL", "ID", "99999"},
		{"CLIENT", "INFO"}, {"CLIENT", "SETNAME", "foo"}, {"NOSUCH"}, {"GET"}, {"ECHO", "123"}, {"SET", "k", "\r\n\t\a\b"},
		{"WATCH", "x"}, {"UNWATCH"}, {"MONITOR"}, {"PING", "marker"},
	}
	want := monitorSees(t, redisAddr, cmds)
	got := monitorSees(t, kk.Addr().String(), cmds)
	if !slices.Equal(got, want) {
		t.Errorf("\n redis:  %q\n keepkv: %q", want, got)
	}
}

var monitorPrefix = regexp.MustCompile(`^\+\d+\.\d{6} \[(\d+) 127\.0\.0\.1:\d+\] `)

// monitorSees runs cmds on one connection while another monitors, and
// returns the monitor's lines up to PING marker, as "[db] args".
func monitorSees(t *testing.T, addr string, cmds [][]string) []string {
	m, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(m, respPayload([][]string{{"MONITOR"}}))
	r := bufio.NewReader(m)
	if l, err := r.ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", l, err)
	}
	rawReply(t, addr, respPayload(append(cmds, []string{"QUIT"})))
	var out []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		p := monitorPrefix.FindStringSubmatch(l)
		if p == nil {
			t.Fatalf("not a monitor line: %q", l)
		}
		line := "[" + p[1] + "] " + strings.TrimSuffix(l[len(p[0]):], "\r\n")
		out = append(out, line)
		if strings.HasSuffix(line, `"PING" "marker"`) {
			return out
		}
	}
}
