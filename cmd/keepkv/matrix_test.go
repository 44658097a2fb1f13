package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The adversarial command matrix (issue 13, promises 5 and 6 of DESIGN.md):
// every command of keepkv's own table, each argument position filled in
// turn from an edge corpus, sent through a real client to the real binary
// and to Debian's redis-server side by side. keepkv must answer every one
// (no stall, no death), answer with the same class of reply as Redis
// (error or not), still answer PING, and after SIGKILL restart over its
// log to the same DEBUG DIGEST.

const (
	matrixTimeout   = 10 * time.Second // per command; a keepkv timeout is a stall
	matrixPingEvery = 200
	matrixMaxLosses = 3 // after this many deaths or stalls (each costs a restart) give up
)

// bigKey exists on both servers so that glob bombs bite.
var bigKey = strings.Repeat("a", 40)

type corpusValue struct{ label, val string }

// matrixCorpus is the edge corpus: numbers at every integer and float
// boundary, malformed numbers, huge lengths, binary, a 1 MiB string, glob
// bombs, and existing keys.
var matrixCorpus = func() []corpusValue {
	var c []corpusValue
	for _, v := range []string{
		"0", "-1", "1", "2147483647", "2147483648", "-2147483648", "-2147483649",
		"4294967296", "9007199254740992", "9223372036854775807", "-9223372036854775807",
		"-9223372036854775808", "18446744073709551616", "536870912", "99999999999999999999",
		"", "nan", "inf", "-inf", "+inf", "1e400", "0x10", " 1", "1 ",
		"\x00\xff\r\n",
		"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "[", "\\", "[^", "*[a-",
		"kstr", "kttl",
	} {
		c = append(c, corpusValue{strconv.Quote(v), v})
	}
	c = append(c,
		corpusValue{`"a"×40 (existing key)`, bigKey},
		corpusValue{`"x"×1MiB`, strings.Repeat("x", 1<<20)})
	return c
}()

// Neutral values: a key position gets "mk" (seeded as the integer string
// "7", so INCRBY/SETRANGE/GETRANGE meet a real value), any other position "1".
const neutralKey, neutralArg = "mk", "1"

// matrixSeed is the fixture, set identically on both servers at the start
// and again after every command that may have written (so each command
// meets the same keys): an integer string, a string, a key with a TTL and
// the 40-byte key.
var matrixSeed = [][]any{
	{"SELECT", "0"},
	{"FLUSHALL"}, // nothing one command did outlives the reseed after it
	{"MSET", neutralKey, "7", "kstr", "hello world", bigKey, "1"},
	{"SET", "kttl", "v", "EX", "100000"},
}

// matrixExcluded are never sent: they end or take over the connection
// (QUIT, SHUTDOWN, MONITOR, replication handshakes, subscribe mode, MULTI's
// queueing) or block by design (blocking pops, WAIT). Subcommands that
// would end connections or membership (CLIENT KILL/PAUSE/REPLY, RAFT
// JOIN/REMOVE/TRANSFER, every DEBUG but DIGEST) are simply not listed in
// matrixSubcommands, and no corpus value spells one of them.
var matrixExcluded = map[string]bool{
	"quit": true, "shutdown": true, "monitor": true, "sync": true, "psync": true,
	"replicaof": true, "slaveof": true, "failover": true, "multi": true,
	"subscribe": true, "psubscribe": true, "ssubscribe": true,
	// One reply per channel argument: a request/response client pairs the
	// second with the next command (which command follows shifts as forms
	// are added, so this bit only sometimes).
	"unsubscribe": true, "punsubscribe": true, "sunsubscribe": true,
	"blpop": true, "brpop": true, "brpoplpush": true, "blmove": true, "blmpop": true,
	"bzpopmin": true, "bzpopmax": true, "bzmpop": true, "wait": true, "waitaof": true,
}

// matrixSubcommands lists the real subcommands of container commands; each
// is sent alone and with one or two further arguments from the corpus.
var matrixSubcommands = map[string][]string{
	"client":  {"id", "getname", "setname", "setinfo", "info", "list", "no-evict", "no-touch", "help", "tracking", "caching", "getredir", "trackinginfo"},
	"script":  {"load", "exists", "flush", "kill", "help"},
	"pubsub":  {"channels", "numsub", "numpat", "help"},
	"config":  {"get", "set", "resetstat", "help"},
	"command": {"count", "list", "info", "docs", "getkeys", "help"},
	"acl":     {"whoami", "list", "users", "setuser", "deluser", "getuser", "cat", "dryrun", "log", "help"},
	"raft":    {"info", "members", "leader", "snapshot", "help"},
	"debug":   {"digest"},
}

// matrixACLRuleKinds prefix a corpus value to make an ACL SETUSER rule:
// key, read-key and channel patterns (glob bombs among them), passwords
// and their hashes, commands, categories, first arguments, selectors.
var matrixACLRuleKinds = []string{"~", "%R~", "%W~", "%", "&", ">", "<", "#", "!", "+", "-", "+@", "-@", "+client|", "("}

// matrixOptions are option forms whose argument is the interesting part
// (expiry arithmetic, SCAN's MATCH/COUNT/TYPE): each prefix gets every
// corpus value appended.
var matrixOptions = map[string][][]string{
	"set":   {{neutralKey, neutralArg, "EX"}, {neutralKey, neutralArg, "PX"}, {neutralKey, neutralArg, "EXAT"}, {neutralKey, neutralArg, "PXAT"}},
	"getex": {{neutralKey, "EX"}, {neutralKey, "PX"}, {neutralKey, "EXAT"}, {neutralKey, "PXAT"}},
	"scan":  {{"0", "MATCH"}, {"0", "COUNT"}, {"0", "TYPE"}},
}

// matrixAllow lists the known, justified class divergences from
// redis-server (command, and subcommand or "" for any form). Every
// mismatch is logged; only those not listed here fail the test.
var matrixAllow = []struct{ cmd, sub, why string }{
	{"raft", "", "keepkv-only command: redis-server answers 'unknown command'"},
	{"client", "no-touch", "Redis 7.2 command; Debian's redis-server is 7.0 and does not know it"},
	{"swapdb", "", "keepkv refuses SWAPDB of two different databases: it cannot swap them in one bounded log entry (documented)"},
	{"*", "", "keepkv's --max-value-size (16 MiB by default; documented) is below Redis's 512 MB proto-max-bulk-len"},
	{"*", "", "keepkv refuses to store a key, field or member over 32704 bytes, bbolt's key limit (documented); Redis takes up to 512 MB"},
}

// valueTooLarge is the start of the error for a value over --max-value-size.
const valueTooLarge = "ERR string exceeds maximum allowed size"

// keyTooLong is the start of keepkv's error for an over-long key.
const keyTooLong = "ERR key, field or member too long"

// matrixAllowed returns the index in matrixAllow that covers args, or -1.
func matrixAllowed(args []string, keepkvReply string) int {
	if strings.Contains(keepkvReply, keyTooLong) {
		return len(matrixAllow) - 1
	}
	if strings.Contains(keepkvReply, valueTooLarge) {
		return len(matrixAllow) - 2
	}
	sub := ""
	if len(args) > 1 {
		sub = strings.ToLower(args[1])
	}
	for i, a := range matrixAllow {
		if a.cmd != "*" && a.cmd == strings.ToLower(args[0]) && (a.sub == "" || a.sub == sub) {
			return i
		}
	}
	return -1
}

type matrixForm struct {
	args  []string
	edge  int // index into matrixCorpus, or -1
	pos   int // args[pos] is the corpus value (0 if edge is -1)
	write bool
}

// shape is the form with its corpus value shown as <v>, to group results.
func (f matrixForm) shape() string {
	a := append([]string(nil), f.args...)
	if f.edge >= 0 {
		a[f.pos] = "\x00"
	}
	return strings.Replace(matrixShow(a), `"\x00"`, "<v>", 1)
}

// matrixForms builds every argument list to send, in a fixed order.
func matrixForms(table map[string]*redis.CommandInfo) []matrixForm {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, strings.ToLower(n))
	}
	sort.Strings(names)
	var forms []matrixForm
	for _, name := range names {
		if matrixExcluded[name] {
			continue
		}
		info := table[name]
		write := name == "select" // SELECT 0 is part of the reseed
		for _, f := range info.Flags {
			write = write || f == "write"
		}
		isKey := func(pos, n int) bool { // pos in 1..n, n arguments after the name
			first, last, step := int(info.FirstKeyPos), int(info.LastKeyPos), int(info.StepCount)
			if first <= 0 || pos < first {
				return false
			}
			if last < 0 {
				last = n + 1 + last
			}
			if step <= 0 {
				step = 1
			}
			return pos <= last && (pos-first)%step == 0
		}
		add := func(prefix []string, n, pos int) { // n args after prefix; pos 1-based over all args
			for e := range matrixCorpus {
				args := append([]string{name}, prefix...)
				for i := len(prefix) + 1; i <= n; i++ {
					switch {
					case i == pos:
						args = append(args, matrixCorpus[e].val)
					case isKey(i, n):
						args = append(args, neutralKey)
					default:
						args = append(args, neutralArg)
					}
				}
				forms = append(forms, matrixForm{args, e, pos, write})
			}
		}
		arity := int(info.Arity)
		n := max(matrixAbs(arity)-1, 1)
		for pos := 1; pos <= min(n, 4); pos++ {
			add(nil, n, pos)
		}
		if arity < 0 && n < 4 {
			add(nil, n+1, n+1)
		}
		for _, sub := range matrixSubcommands[name] {
			forms = append(forms, matrixForm{[]string{name, sub}, -1, 0, write})
			for k := 1; k <= 2; k++ {
				for pos := 2; pos <= k+1; pos++ {
					add([]string{sub}, k+1, pos)
				}
			}
		}
		for _, prefix := range matrixOptions[name] {
			add(prefix, len(prefix)+1, len(prefix)+1)
		}
		if name == "acl" { // hostile ACL SETUSER rules: each kind of rule with every corpus value
			for e, v := range matrixCorpus {
				for _, kind := range matrixACLRuleKinds {
					forms = append(forms, matrixForm{[]string{"acl", "setuser", "hostile", kind + v.val}, e, 3, true})
				}
			}
		}
	}
	return forms
}

func matrixAbs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// matrixReply is the class of one reply: "value", "error" (with the error's
// first word), "timeout" or "conn" (the connection failed).
type matrixReply struct{ class, prefix, text string }

func (r matrixReply) String() string {
	if r.class == "value" {
		return "value " + r.text
	}
	return r.class + " " + r.text
}

func matrixDo(c *redis.Client, args []string) matrixReply {
	ctx, cancel := context.WithTimeout(context.Background(), matrixTimeout)
	defer cancel()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := c.Do(ctx, a...).Result()
	var re redis.Error
	var ne net.Error
	switch {
	case err == nil || err == redis.Nil:
		return matrixReply{class: "value", text: matrixShort(fmt.Sprint(v), 60)}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return matrixReply{class: "timeout", text: err.Error()}
	case errors.As(err, &re):
		prefix, _, _ := strings.Cut(err.Error(), " ")
		return matrixReply{class: "error", prefix: prefix, text: matrixShort(err.Error(), 100)}
	default:
		return matrixReply{class: "conn", text: err.Error()}
	}
}

func matrixShort(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%q…(%d bytes)", s[:n], len(s))
	}
	return strconv.Quote(s)
}

// matrixShow renders a command compactly (1 MiB arguments abbreviated).
func matrixShow(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch {
		case i == 0:
			parts[i] = strings.ToUpper(a)
		case len(a) > 64:
			parts[i] = fmt.Sprintf("<%d×%q>", len(a), a[:1])
		case a != "" && !strings.ContainsAny(a, " \"\\\x00\xff\r\n"):
			parts[i] = a
		default:
			parts[i] = strconv.Quote(a)
		}
	}
	return strings.Join(parts, " ")
}

func matrixClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 3, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
		ContextTimeoutEnabled: true, DialTimeout: 2 * time.Second,
		ReadTimeout: matrixTimeout + 5*time.Second, WriteTimeout: matrixTimeout + 5*time.Second,
	})
}

// startMatrixRedis runs Debian's redis-server on a free port without
// persistence (as server/helpers_test.go startRedis), with DEBUG enabled so
// that DEBUG DIGEST compares. A missing redis-server fails the test.
func startMatrixRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install Debian's redis-server package (the command matrix compares against it)")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--enable-debug-command", "yes", "--dir", t.TempDir())
	cmd.Stderr = os.Stderr // its stdout is the startup banner
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's port; nothing to await
	}
	return addr
}

// matrixLogTail returns the panic in keepkv's log if there is one, else its last lines.
func matrixLogTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "panic:") || strings.HasPrefix(lines[i], "fatal error:") {
			return strings.Join(lines[i:min(i+12, len(lines))], "\n")
		}
	}
	return strings.Join(lines[max(len(lines)-15, 0):], "\n")
}

type matrixStat struct {
	sent, values, other int
	errs                map[string]int
}

type matrixRun struct {
	t       *testing.T
	dir     string
	port    int
	p       *proc
	kv, rd  *redis.Client
	phase   string   // what the test was doing, for a failure's log tail
	recent  []string // the last commands sent, for a death report
	losses  int      // deaths and stalls so far
	reseeds int
}

func (m *matrixRun) start(why string) {
	m.phase = why
	if m.kv != nil {
		m.kv.Close()
	}
	m.p = startProc(m.t, m.dir, m.port)
	m.kv = matrixClient(m.p.addr)
}

// dead reports whether keepkv has exited, waiting up to d for it to go.
func (m *matrixRun) dead(d time.Duration) bool {
	select {
	case <-m.p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// lost handles a keepkv that failed to answer: it reports a death (with
// the panic from its log) or a stall, then restarts keepkv over its log so
// the matrix goes on; a node that cannot restart fails the test there.
func (m *matrixRun) lost(what string, r matrixReply) {
	t := m.t
	m.losses++
	if r.class == "conn" && m.dead(2*time.Second) || m.dead(0) {
		t.Errorf("keepkv died after %s (reply: %s); last commands: %s; log tail:\n%s",
			what, r, strings.Join(m.recent, " | "), matrixLogTail(m.dir+".log"))
		m.giveUp()
		m.start("restarting keepkv over its log after it died on " + what)
		m.phase = "running the matrix after a restart"
		return
	}
	probe := redis.NewClient(&redis.Options{Addr: m.p.addr, MaxRetries: -1, DisableIdentity: true, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	begin := time.Now()
	perr := probe.Set(ctx, "matrix:probe", "1", 0).Err()
	cancel()
	probe.Close()
	other := fmt.Sprintf("another client's SET answered in %v", time.Since(begin).Round(time.Millisecond))
	if perr != nil {
		other = fmt.Sprintf("another client's SET failed too after %v: %v", time.Since(begin).Round(time.Millisecond), perr)
	}
	t.Errorf("keepkv stalled: %s got no reply within %v (%s; %s); SIGKILL and restart to go on", what, matrixTimeout, r, other)
	m.p.kill()
	m.giveUp()
	m.start("restarting keepkv after a stall on " + what)
	m.phase = "running the matrix after a restart"
}

func (m *matrixRun) giveUp() {
	if m.losses >= matrixMaxLosses {
		m.t.Fatalf("keepkv died or stalled %d times: giving up on the matrix", m.losses)
	}
}

// both sends args to keepkv and redis-server concurrently.
func (m *matrixRun) both(args []string) (kv, rd matrixReply) {
	m.recent = append(m.recent, matrixShow(args))
	if len(m.recent) > 5 {
		m.recent = m.recent[1:]
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); rd = matrixDo(m.rd, args) }()
	kv = matrixDo(m.kv, args)
	wg.Wait()
	return kv, rd
}

// reseed restores the fixture on both servers.
func (m *matrixRun) reseed() {
	m.reseeds++
	for _, c := range []*redis.Client{m.kv, m.rd} {
		ctx, cancel := context.WithTimeout(context.Background(), matrixTimeout)
		pipe := c.Pipeline()
		for _, a := range matrixSeed {
			pipe.Do(ctx, a...)
		}
		_, err := pipe.Exec(ctx)
		cancel()
		if err != nil {
			if c == m.kv {
				m.lost("the fixture reseed", matrixReply{class: "conn", text: err.Error()})
				m.reseed()
				return
			}
			m.t.Fatalf("redis-server: reseed: %v", err)
		}
	}
}

func (m *matrixRun) ping(when string) {
	r := matrixDo(m.kv, []string{"ping"})
	if r.class != "value" || r.text != `"PONG"` {
		m.t.Errorf("keepkv does not answer PING %s: %s", when, r)
		m.lost("PING "+when, r)
	}
}

func (m *matrixRun) digest() string {
	ctx, cancel := context.WithTimeout(context.Background(), matrixTimeout)
	defer cancel()
	d, err := m.kv.Do(ctx, "DEBUG", "DIGEST").Text()
	if err != nil {
		m.t.Fatalf("keepkv DEBUG DIGEST: %v", err)
	}
	return d
}

// settle makes the keyspace stop changing on its own before the digest is
// compared across a restart: keys about to expire get PERSIST, keys whose
// deadline has already passed are deleted and collections awaiting
// collection are collected (else the restarted leader's expiry driver
// would change the state after the restart), then the digest must read the
// same twice in a row.
func (m *matrixRun) settle() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.scanAll(ctx, m.kv, func(k string) {
		if ttl, err := m.kv.PTTL(ctx, k).Result(); err == nil && ttl >= 0 && ttl < 10*time.Minute {
			if err := m.kv.Persist(ctx, k).Err(); err != nil {
				m.t.Fatalf("keepkv PERSIST before the digest: %v", err)
			}
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		pending := m.pendingBackground(ctx)
		if pending == "" {
			break
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("keepkv's background work does not finish with no client writing: %s", pending)
		}
		time.Sleep(100 * time.Millisecond) // the expiry driver's progress: poll
	}
	d := m.digest()
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(300 * time.Millisecond) // the expiry driver may still delete keys that expired before PERSIST
		d2 := m.digest()
		if d2 == d {
			return d
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("keepkv's DEBUG DIGEST keeps changing with no client writing: %s then %s", d, d2)
		}
		d = d2
	}
}

// scanAll calls fn for every key SCAN returns through c.
func (m *matrixRun) scanAll(ctx context.Context, c *redis.Client, fn func(key string)) {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			m.t.Fatalf("keepkv SCAN (db %d): %v", c.Options().DB, err)
		}
		for _, k := range keys {
			fn(k)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// pendingBackground says what the leader's background work (expiry, the
// collection of deleted big collections) still has to do, "" if nothing:
// a database whose key count (which, as Redis's DBSIZE, includes keys past
// their deadline not yet deleted) exceeds the keys SCAN finds in it, or
// collections waiting for collection.
func (m *matrixRun) pendingBackground(ctx context.Context) string {
	info, err := m.kv.Info(ctx, "everything").Result()
	if err != nil {
		m.t.Fatalf("keepkv INFO: %v", err)
	}
	var out []string
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "keepkv_gc_pending_collections:"); ok && v != "0" {
			out = append(out, "collections awaiting collection: "+v)
		}
		name, rest, ok := strings.Cut(line, ":keys=")
		if !ok || !strings.HasPrefix(name, "db") {
			continue
		}
		n, _ := strconv.Atoi(name[2:])
		keys, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		c := redis.NewClient(&redis.Options{Addr: m.kv.Options().Addr, DB: n, Password: m.kv.Options().Password})
		var seen int64
		m.scanAll(ctx, c, func(string) { seen++ })
		c.Close()
		if seen != keys {
			out = append(out, fmt.Sprintf("db%d holds %d keys, SCAN sees %d", n, keys, seen))
		}
	}
	return strings.Join(out, "; ")
}

func TestAdversarialCommandMatrix(t *testing.T) {
	begin := time.Now()
	redisAddr := startMatrixRedis(t)
	m := &matrixRun{t: t, dir: filepath.Join(t.TempDir(), "data"), port: freePort(t)}
	defer func() {
		if t.Failed() && m.phase != "" {
			t.Logf("while %s; keepkv log (%s.log) tail:\n%s", m.phase, m.dir, matrixLogTail(m.dir+".log"))
		}
	}()
	m.start("starting keepkv")
	m.rd = matrixClient(redisAddr)
	defer func() { m.kv.Close(); m.rd.Close() }()
	m.phase = "running the matrix"

	ctx, cancel := context.WithTimeout(context.Background(), matrixTimeout)
	table, err := m.kv.Command(ctx).Result()
	cancel()
	if err != nil || len(table) == 0 {
		t.Fatalf("keepkv COMMAND: %d commands, %v", len(table), err)
	}
	forms := matrixForms(table)
	m.reseed()

	stats := make([]matrixStat, len(matrixCorpus))
	// Mismatches not in the allowlist, grouped by form shape and reply
	// classes so that one divergence shows as one line with its values.
	type group struct {
		n       int
		values  []string
		example string
	}
	var order []string
	failing := map[string]*group{}
	nFailing := 0
	allowed := make([]int, len(matrixAllow))
	allowedEx := make([]string, len(matrixAllow))
	prefixDiff := map[string]int{}
	sent := 0
	// The report runs however the test ends, so a death or a stall still
	// shows what the matrix had found until then.
	defer func() {
		t.Logf("%d reply-class mismatches vs redis-server not in the allowlist, in %d groups:", nFailing, len(order))
		for _, k := range order {
			g := failing[k]
			switch {
			case len(g.values) == 0:
				t.Logf("  ×%d %s", g.n, g.example)
			case len(g.values) == len(matrixCorpus):
				t.Logf("  ×%d %s\n        <v> = every corpus value", g.n, g.example)
			default:
				t.Logf("  ×%d %s\n        <v> = %s", g.n, g.example, strings.Join(g.values, " "))
			}
		}
		for i, n := range allowed {
			if n > 0 {
				t.Logf("  allowed ×%d %s %s (%s), e.g. %s", n, strings.ToUpper(matrixAllow[i].cmd), strings.ToUpper(matrixAllow[i].sub), matrixAllow[i].why, allowedEx[i])
			}
		}
		for _, k := range matrixSortedKeys(prefixDiff) {
			t.Logf("  error prefix differs (same class, not a failure) ×%d: %s", prefixDiff[k], k)
		}
		t.Logf("summary: %d of %d commands sent to each server (%d commands in keepkv's table, %d fixture reseeds), keepkv replies per corpus value:",
			sent, len(forms), len(table), m.reseeds)
		for e, s := range stats {
			var errs []string
			for _, k := range matrixSortedKeys(s.errs) {
				errs = append(errs, fmt.Sprintf("%s %d", k, s.errs[k]))
			}
			line := fmt.Sprintf("  %-46s sent %4d  value %4d  error %4d", matrixCorpus[e].label, s.sent, s.values, s.sent-s.values-s.other)
			if len(errs) > 0 {
				line += " (" + strings.Join(errs, ", ") + ")"
			}
			if s.other > 0 {
				line += fmt.Sprintf("  no reply %d", s.other)
			}
			t.Log(line)
		}
		if nFailing > 0 {
			t.Errorf("%d reply-class mismatches vs redis-server not in the allowlist (listed above)", nFailing)
		}
	}()
	for i, f := range forms {
		if i > 0 && i%matrixPingEvery == 0 {
			m.ping(fmt.Sprintf("after %d commands", i))
		}
		kv, rd := m.both(f.args)
		sent++
		what := matrixShow(f.args)
		if f.edge >= 0 {
			s := &stats[f.edge]
			s.sent++
			switch kv.class {
			case "value":
				s.values++
			case "error":
				if s.errs == nil {
					s.errs = map[string]int{}
				}
				s.errs[kv.prefix]++
			default:
				s.other++
			}
		}
		switch {
		case kv.class == "timeout" || kv.class == "conn":
			m.lost(what, kv)
		case rd.class == "timeout" || rd.class == "conn":
			t.Logf("redis-server failed (not compared): %s: %s", what, rd)
		case kv.class != rd.class:
			line := fmt.Sprintf("%s: keepkv %s; redis %s", what, kv, rd)
			if a := matrixAllowed(f.args, kv.String()); a >= 0 {
				if allowed[a]++; allowedEx[a] == "" {
					allowedEx[a] = line
				}
				if strings.Contains(kv.String(), keyTooLong) {
					// redis-server stored what keepkv refused: drop it there
					// too, so that both go on from the same state.
					for _, a := range f.args[1:] {
						if len(a) > 32704 {
							matrixDo(m.rd, []string{"DEL", a})
						}
					}
				}
			} else {
				nFailing++
				k := fmt.Sprintf("%s\x00%s %s\x00%s %s", f.shape(), kv.class, kv.prefix, rd.class, rd.prefix)
				g := failing[k]
				if g == nil {
					g = &group{example: fmt.Sprintf("%s: keepkv %s; redis %s (then TYPE %s: keepkv %s, redis %s; previous: %s)", f.shape(), kv, rd, neutralKey,
						matrixDo(m.kv, []string{"TYPE", neutralKey}), matrixDo(m.rd, []string{"TYPE", neutralKey}), strings.Join(m.recent, " | "))}
					failing[k] = g
					order = append(order, k)
				}
				g.n++
				if f.edge >= 0 {
					g.values = append(g.values, matrixCorpus[f.edge].label)
				}
			}
		case kv.class == "error" && kv.prefix != rd.prefix:
			prefixDiff[fmt.Sprintf("%s: keepkv %s, redis %s", strings.ToUpper(f.args[0]), kv.prefix, rd.prefix)]++
		}
		// Reseed after anything that may have changed state, and after any
		// disagreement, so that no divergence carries over to later forms.
		if f.write && (kv.class == "value" || rd.class == "value") || kv.class != rd.class {
			m.reseed()
		}
	}
	m.ping("at the end of the matrix")

	m.phase = "checking the digest across SIGKILL and restart"
	before := m.settle()
	m.p.kill()
	m.start("restarting keepkv after SIGKILL at the end of the matrix")
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	err = m.kv.Get(ctx, neutralKey).Err() // a linearizable read: waits until the log is replayed
	cancel()
	if err != nil {
		t.Fatalf("keepkv does not serve after SIGKILL and restart: GET: %v", err)
	}
	m.phase = "checking the digest after SIGKILL and restart"
	if after := m.digest(); after != before {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Errorf("DEBUG DIGEST after SIGKILL and restart = %s, want %s (restart must replay the log to the same state); background work pending after the restart: %q",
			after, before, m.pendingBackground(ctx))
		cancel()
		m.phase = "reporting a digest mismatch" // and the log tail with it
		return
	}
	m.ping("after SIGKILL and restart")
	m.phase = "" // keepkv did all it had to: no log tail needed
	t.Logf("matrix done in %v", time.Since(begin).Round(time.Millisecond))
}

func matrixSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
