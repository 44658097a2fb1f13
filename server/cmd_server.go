package server

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepkv/keepkv/storage"
)

func serverCommands() []*command {
	return []*command{
		{name: "info", arity: -1, flags: 0, group: "server", summary: "Returns information and statistics about the server.", since: "1.0.0", local: cmdInfo},
		{name: "command", arity: -1, flags: 0, group: "server", summary: "Returns detailed information about all commands.", since: "2.8.13", local: cmdCommand},
		{name: "config", arity: -2, flags: flagAdmin, group: "server", summary: "A container for server configuration commands.", since: "2.0.0", local: cmdConfig},
		{name: "time", arity: 1, flags: flagFast, group: "server", summary: "Returns the server time.", since: "2.6.0", local: cmdTime},
		{name: "shutdown", arity: -1, flags: flagAdmin, group: "server", summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.", since: "1.0.0", local: cmdShutdown},
	}
}

// cmdShutdown stops this node as SIGTERM does (the state is always
// durable, so SAVE and NOSAVE change nothing). As Redis, a shutdown that
// goes ahead sends no reply: the connection closes. ABORT has nothing to
// abort, since a requested shutdown starts at once.
func cmdShutdown(x *execCtx, args [][]byte) {
	var save, nosave, abort, other bool
	for _, a := range args[1:] {
		switch {
		case eq(a, "save"):
			save = true
		case eq(a, "nosave"):
			nosave = true
		case eq(a, "now"), eq(a, "force"):
			other = true
		case eq(a, "abort"):
			abort = true
		default:
			x.w.Error(errSyntax)
			return
		}
	}
	if (save && nosave) || (abort && (save || nosave || other)) {
		x.w.Error(errSyntax)
		return
	}
	if abort {
		x.w.Error("ERR No shutdown in progress.")
		return
	}
	x.s.logger.Warn("SHUTDOWN requested", "client", x.st.addr, "user", x.st.user)
	x.s.shutdownOnce.Do(func() { close(x.s.shutdownReq) })
	x.st.quit = true
}

func cmdTime(x *execCtx, _ [][]byte) {
	now := time.Now()
	x.w.Array(2)
	x.w.BulkString(strconv.FormatInt(now.Unix(), 10))
	x.w.BulkString(strconv.FormatInt(int64(now.Nanosecond()/1000), 10))
}

func sortClients(c []*connState) { sort.Slice(c, func(i, j int) bool { return c[i].id < c[j].id }) }

// INFO, as Redis 7.0: no argument or "default" gives the default
// sections, "all" every section, "everything" all and the modules' (keepkv
// has none); several names give their union, in Redis's order; an unknown
// name is ignored (so INFO nosuch is an empty string). keepkv fills only
// fields it knows: a Redis field whose value keepkv does not track is
// left out rather than made up, and keepkv adds its own (keepkv_*, raft_*).
// Errorstats and Latencystats are left out whole: keepkv counts neither
// error replies nor command latencies.

// infoSections are INFO's sections in Redis's order, with their headers
// and whether INFO (default) includes them.
var infoSections = []struct {
	name, header string
	dflt         bool
}{
	{"server", "Server", true}, {"clients", "Clients", true}, {"memory", "Memory", true},
	{"persistence", "Persistence", true}, {"stats", "Stats", true}, {"replication", "Replication", true},
	{"cpu", "CPU", true}, {"modules", "Modules", true}, {"commandstats", "Commandstats", false},
	{"cluster", "Cluster", true}, {"keyspace", "Keyspace", true},
}

func cmdInfo(x *execCtx, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	dflt := len(args) == 1 || want["default"]
	all := want["all"] || want["everything"]
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec.name] && !(dflt && sec.dflt) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sec.header + "\r\n")
		for _, kv := range x.s.infoSection(sec.name) {
			b.WriteString(kv[0] + ":" + kv[1] + "\r\n")
		}
	}
	x.w.Verbatim(b.String())
}

func (s *Server) infoSection(sec string) [][2]string {
	switch sec {
	case "server":
		return s.infoServer()
	case "clients":
		s.clientsMu.Lock()
		n := len(s.clients)
		s.clientsMu.Unlock()
		// blocked_clients: clients in BLPOP & co., and clients held by
		// CLIENT PAUSE, as Redis counts them.
		return [][2]string{{"connected_clients", itoa(n)}, {"maxclients", itoa(s.cfg.MaxClients)}, {"blocked_clients", i64s(s.blockedClients())}}
	case "memory":
		return s.infoMemory()
	case "persistence":
		return append([][2]string{
			{"loading", "0"}, {"async_loading", "0"},
			// Every acknowledged write is durable: nothing waits for a save.
			{"rdb_changes_since_last_save", "0"},
			{"rdb_bgsave_in_progress", "0"}, {"rdb_last_bgsave_status", "ok"},
			// The Raft log is keepkv's append-only file, fsynced before
			// every acknowledgement (CONFIG GET appendonly says yes).
			{"aof_enabled", "1"}, {"aof_rewrite_in_progress", "0"},
			{"keepkv_durability", "raft-fsync"}, {"keepkv_state_file_bytes", strconv.FormatInt(s.db.Size(), 10)},
			{"keepkv_state_used_bytes", strconv.FormatInt(s.db.UsedBytes(), 10)},
			{"keepkv_applied_index", u64s(s.db.AppliedIndex())},
			{"keepkv_checkpoint_pending_bytes", i64s(s.db.PendingBytes())},
			{"keepkv_checkpoint_backlog_waits", i64s(s.db.BacklogWaits())},
			{"keepkv_replay_prefetched_keys", i64s(s.db.PrefetchedKeys())},
			{"keepkv_expiry_paced_waits", i64s(s.stats.expirePaced.Load())},
			{"keepkv_gc_pending_collections", i64s(s.db.GarbageCount())},
		}, s.metrics.writePath().info()...)
	case "stats":
		st := &s.stats
		total := st.commands.Load()
		applied, resent, unknown := s.metrics.settled()
		return [][2]string{
			{"total_connections_received", i64s(st.connections.Load())},
			{"total_commands_processed", i64s(total)},
			{"instantaneous_ops_per_sec", i64s(s.admin.ops.rate(time.Now(), total, s.start))},
			{"rejected_connections", i64s(st.rejected.Load())},
			{"expired_keys", i64s(st.expired.Load())},
			{"evicted_keys", "0"}, // keepkv never evicts
			{"keyspace_hits", i64s(st.hits.Load())},
			{"keyspace_misses", i64s(st.misses.Load())},
			{"keepkv_apply_panics", i64s(s.db.ApplyPanics())},
			{"keepkv_iterations_cancelled", i64s(st.iterationsCancelled.Load())},
			{"keepkv_settled_applied", u64s(applied)},
			{"keepkv_settled_resent", u64s(resent)},
			{"keepkv_settled_unknown", u64s(unknown)},
		}
	case "replication":
		return s.infoReplication()
	case "cpu":
		return infoCPU()
	case "modules":
		return nil // keepkv loads no modules
	case "commandstats":
		return s.admin.stats.lines()
	case "cluster":
		return [][2]string{{"cluster_enabled", "0"}} // Raft replication, not Redis Cluster
	case "keyspace":
		var out [][2]string
		for i := range storage.NumDBs {
			if n := s.db.KeyCount(uint8(i)); n > 0 {
				out = append(out, [2]string{"db" + itoa(i), fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", n, s.db.ExpiresCount(uint8(i)))})
			}
		}
		return out
	}
	return nil
}

func (s *Server) infoServer() [][2]string {
	exe, _ := os.Executable()
	now := time.Now()
	up := now.Sub(s.start)
	port := "0"
	if i := strings.LastIndexByte(s.Addr().String(), ':'); i >= 0 {
		port = s.Addr().String()[i+1:]
	}
	return [][2]string{
		{"redis_version", Version}, {"keepkv_version", KeepkvVersion},
		{"redis_mode", "standalone"}, {"os", runtime.GOOS + " " + runtime.GOARCH},
		{"arch_bits", strconv.Itoa(strconv.IntSize)}, {"process_id", itoa(os.Getpid())},
		{"run_id", s.admin.runIDValue()},
		{"tcp_port", port}, {"server_time_usec", i64s(now.UnixMicro())},
		{"uptime_in_seconds", i64s(int64(up.Seconds()))},
		{"uptime_in_days", i64s(int64(up.Hours() / 24))}, {"executable", exe},
	}
}

// infoMemory reports the Go runtime's memory, the closest keepkv has to
// Redis's: used_memory is the live Go heap (the in-memory layers, caches
// and connection buffers; the data itself lives in the bbolt file, mapped
// by the kernel, see keepkv_state_file_bytes), used_memory_rss the
// process's resident set (Linux; left out elsewhere). Approximate, as
// Redis's are.
func (s *Server) infoMemory() [][2]string {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	used := m.HeapAlloc - min(m.HeapAlloc, s.cfg.HeapFloor) // the collector's floor is not data
	out := [][2]string{{"used_memory", u64s(used)}, {"used_memory_human", human(used)}}
	if rss, ok := residentBytes(); ok {
		out = append(out, [2]string{"used_memory_rss", u64s(rss)}, [2]string{"used_memory_rss_human", human(rss)})
	}
	// maxmemory is keepkv's disk limit (--max-disk-bytes): past it, writes
	// that add data are refused with Redis's OOM error, as noeviction.
	limit := uint64(max(s.cfg.MaxDiskBytes, 0))
	return append(out, [2]string{"maxmemory", u64s(limit)}, [2]string{"maxmemory_human", human(limit)},
		[2]string{"maxmemory_policy", "noeviction"}, [2]string{"mem_allocator", "go-" + runtime.Version()})
}

// residentBytes reads the process's resident set size from /proc.
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

// infoReplication maps Raft onto Redis's fields: the ready leader is the
// master, every other node a replica; the leader's connected_slaves are
// the other members of the Raft configuration (whether they are reachable
// right now is not tracked). A replica's master_link_status is up while
// it knows a leader.
func (s *Server) infoReplication() [][2]string {
	st := s.node.Status()
	var out [][2]string
	if st.Ready {
		out = [][2]string{{"role", "master"}, {"connected_slaves", itoa(max(len(st.Members)-1, 0))}}
	} else {
		link := "down"
		if st.Leader != "" {
			link = "up"
		}
		out = [][2]string{{"role", "slave"}, {"master_link_status", link}, {"connected_slaves", "0"}}
	}
	out = append(out, [][2]string{
		{"raft_node_id", st.ID}, {"raft_state", st.State}, {"raft_term", u64s(st.Term)},
		{"raft_leader_id", st.LeaderID}, {"raft_leader_addr", st.Leader},
		{"raft_commit_index", u64s(st.CommitIndex)}, {"raft_applied_index", u64s(st.AppliedIndex)},
		{"raft_last_index", u64s(st.LastIndex)}, {"raft_first_index", u64s(st.FirstIndex)},
		{"raft_trailing_logs", u64s(st.TrailingLogs)}, {"raft_members", itoa(len(st.Members))},
	}...)
	if !st.LastContact.IsZero() {
		out = append(out, [2]string{"raft_last_contact_ms", i64s(time.Since(st.LastContact).Milliseconds())})
	}
	return out
}

func itoa(n int) string    { return strconv.Itoa(n) }
func i64s(n int64) string  { return strconv.FormatInt(n, 10) }
func u64s(n uint64) string { return strconv.FormatUint(n, 10) }
func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// CONFIG GET, SET, RESETSTAT, as Redis 7.0, over the parameters clients
// and tools commonly read or set. Each parameter is one of:
//   - stored: accepted, validated as Redis does, kept for CONFIG GET on
//     this node; keepkv's behaviour does not depend on it (the slowlog
//     settings: keepkv has no SLOWLOG; client-output-buffer-limit: keepkv
//     bounds slow readers with --client-write-timeout and its own Pub/Sub
//     and MONITOR buffers),
//   - fixed: keepkv sets it at startup (or by design); CONFIG SET validates
//     the value as Redis does, accepts it if it is the one in force (so
//     "CONFIG SET save ''" or "appendonly yes" succeed) and refuses any
//     other with Redis's CONFIG SET failure and keepkv's reason,
//   - immutable or protected in Redis too: refused as Redis refuses them,
//   - replicated (notify-keyspace-events): set through the Raft log, so
//     every node has it (notify.go).
// Any other name is unknown, with Redis's error. Several pairs are set all
// or nothing, with Redis's order of checks.

type configKind uint8

const (
	cfgStored configKind = iota
	cfgFixed
	cfgImmutable
	cfgProtected
	cfgReplicated
)

type configParam struct {
	kind configKind
	// get returns the value in force.
	get func(s *Server) string
	// parse validates a value and returns it as CONFIG GET would show it,
	// or Redis's reason for refusing it.
	parse func(s *Server, v string) (string, string)
	// why a fixed parameter refuses another value.
	why string
}

var configTable map[string]*configParam

func init() {
	portOf := func(s *Server) string {
		a := s.Addr().String()
		return a[strings.LastIndexByte(a, ':')+1:]
	}
	configTable = map[string]*configParam{
		"save": {kind: cfgFixed, get: constConfig(""), parse: parseSaveConfig,
			why: "keepkv takes no RDB snapshots: every acknowledged write is already durable in the Raft log"},
		"appendonly": {kind: cfgFixed, get: constConfig("yes"), parse: parseBoolConfig,
			why: "keepkv always logs every write (the Raft log)"},
		"appendfsync": {kind: cfgFixed, get: constConfig("always"), parse: enumConfig("everysec", "always", "no"),
			why: "keepkv fsyncs every write before acknowledging it"},
		"databases":       {kind: cfgImmutable, get: constConfig(itoa(storage.NumDBs))},
		"cluster-enabled": {kind: cfgImmutable, get: constConfig("no")},
		"daemonize":       {kind: cfgImmutable, get: constConfig("no")},
		"dir":             {kind: cfgProtected, get: func(s *Server) string { return s.cfg.Dir }},
		"maxmemory": {kind: cfgFixed, get: func(s *Server) string { return i64s(max(s.cfg.MaxDiskBytes, 0)) }, parse: memoryConfig(0),
			why: "keepkv's limit is on disk, set with --max-disk-bytes at startup"},
		"maxmemory-policy": {kind: cfgFixed, get: constConfig("noeviction"),
			parse: enumConfig("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
			why:   "keepkv never evicts keys: only noeviction is supported"},
		"maxclients": {kind: cfgFixed, get: func(s *Server) string { return itoa(s.cfg.MaxClients) }, parse: intConfig(1, 4294967295),
			why: "set with --max-clients at startup"},
		"timeout": {kind: cfgFixed, get: func(s *Server) string { return i64s(int64(s.cfg.IdleTimeout / time.Second)) }, parse: intConfig(0, math.MaxInt32),
			why: "set with --idle-timeout at startup"},
		"port": {kind: cfgFixed, get: portOf, parse: intConfig(0, 65535), why: "set with --addr at startup"},
		"proto-max-bulk-len": {kind: cfgFixed, get: func(s *Server) string { return i64s(s.cfg.Limits.MaxBulkLen) }, parse: memoryConfig(1 << 20),
			why: "set with --max-bulk-len at startup"},
		// The password is not shown, and never accepted: nothing confirms a guess.
		"requirepass": {kind: cfgFixed, get: constConfig(""), parse: func(_ *Server, v string) (string, string) { return "\x00" + v, "" },
			why: "set with --requirepass at startup"},
		"notify-keyspace-events":     {kind: cfgReplicated, get: func(s *Server) string { return s.replicatedConfigValue(storage.ConfigNotify) }, parse: parseNotifyConfig},
		"slowlog-log-slower-than":    {kind: cfgStored, parse: intConfig(-1, math.MaxInt64)},
		"slowlog-max-len":            {kind: cfgStored, parse: intConfig(0, math.MaxInt64)},
		"client-output-buffer-limit": {kind: cfgStored, parse: parseOutputLimitConfig},
	}
	for name, p := range configTable {
		if p.kind == cfgStored {
			p.get = func(s *Server) string { return s.admin.conf.get(name) }
		}
	}
}

// storedConfig holds the stored parameters' values (Server.admin.conf).
type storedConfig struct {
	mu sync.Mutex
	v  map[string]string
}

// Redis's defaults for the stored parameters.
var storedDefaults = map[string]string{
	"slowlog-log-slower-than":    "10000",
	"slowlog-max-len":            "128",
	"client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
}

func (c *storedConfig) get(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.v[name]; ok {
		return v
	}
	return storedDefaults[name]
}

func (c *storedConfig) set(vals map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		c.v = map[string]string{}
	}
	for k, v := range vals {
		c.v[k] = v
	}
}

func constConfig(v string) func(*Server) string { return func(*Server) string { return v } }

// intConfig parses an integer parameter as Redis's numeric configs do.
func intConfig(lo, hi int64) func(*Server, string) (string, string) {
	return func(_ *Server, v string) (string, string) {
		n, ok := parseInt([]byte(v))
		if !ok {
			return "", "argument couldn't be parsed into an integer"
		}
		if n < lo || n > hi {
			return "", fmt.Sprintf("argument must be between %d and %d inclusive", lo, hi)
		}
		return i64s(n), ""
	}
}

// memoryConfig parses a memory parameter ("100mb"), at least lo bytes.
func memoryConfig(lo int64) func(*Server, string) (string, string) {
	return func(_ *Server, v string) (string, string) {
		n, ok := parseMemory(v)
		if !ok {
			return "", "argument must be a memory value"
		}
		if n < uint64(lo) || n > math.MaxInt64 {
			return "", fmt.Sprintf("argument must be between %d and %d inclusive", lo, int64(math.MaxInt64))
		}
		return u64s(n), ""
	}
}

// parseMemory reads a size as Redis's memtoull: digits, then nothing or
// one of the units b, k, kb, m, mb, g, gb (any case; k is 1000, kb 1024).
// As there, no digits at all read as 0.
func parseMemory(v string) (uint64, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	mul := map[string]uint64{"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 * 1000, "mb": 1024 * 1024, "g": 1000 * 1000 * 1000, "gb": 1024 * 1024 * 1024}[strings.ToLower(v[i:])]
	if mul == 0 {
		return 0, false
	}
	var n uint64
	if i > 0 {
		var err error
		if n, err = strconv.ParseUint(v[:i], 10, 64); err != nil {
			return 0, false
		}
	}
	if n > math.MaxUint64/mul {
		return 0, false
	}
	return n * mul, true
}

func parseBoolConfig(_ *Server, v string) (string, string) {
	switch strings.ToLower(v) {
	case "yes":
		return "yes", ""
	case "no":
		return "no", ""
	}
	return "", "argument must be 'yes' or 'no'"
}

func enumConfig(names ...string) func(*Server, string) (string, string) {
	return func(_ *Server, v string) (string, string) {
		for _, n := range names {
			if strings.EqualFold(n, v) {
				return n, ""
			}
		}
		return "", "argument(s) must be one of the following: " + strings.Join(names, ", ")
	}
}

// parseSaveConfig checks save's "<seconds> <changes> ..." pairs as Redis.
func parseSaveConfig(_ *Server, v string) (string, string) {
	if v == "" {
		return "", ""
	}
	f := strings.Split(v, " ")
	if len(f)%2 == 1 {
		return "", "Invalid save parameters"
	}
	for j, a := range f {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || (j%2 == 0 && n < 1) || (j%2 == 1 && n < 0) {
			return "", "Invalid save parameters"
		}
	}
	return v, ""
}

func parseNotifyConfig(_ *Server, v string) (string, string) {
	if _, ok := storage.ParseNotifyFlags(v); !ok {
		return "", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
	}
	return v, ""
}

// parseOutputLimitConfig checks "<class> <hard> <soft> <seconds> ..." as
// Redis does and merges it into the value in force (classes not named
// keep their limits).
func parseOutputLimitConfig(s *Server, v string) (string, string) {
	var f []string
	if v != "" {
		f = strings.Split(v, " ")
	}
	if len(f)%4 != 0 {
		return "", "Wrong number of arguments in buffer limit configuration."
	}
	classes := []string{"normal", "slave", "pubsub"}
	cur := strings.Fields(s.admin.conf.get("client-output-buffer-limit"))
	limits := map[string][]string{}
	for i := 0; i+3 < len(cur); i += 4 {
		limits[cur[i]] = cur[i+1 : i+4]
	}
	for j := 0; j < len(f); j += 4 {
		class := strings.ToLower(f[j])
		if class == "replica" {
			class = "slave"
		}
		if !slices.Contains(classes, class) {
			return "", "Invalid client class specified in buffer limit configuration."
		}
		hard, ok1 := parseMemory(f[j+1])
		soft, ok2 := parseMemory(f[j+2])
		secs, err := strconv.ParseInt(f[j+3], 10, 64)
		if !ok1 || !ok2 || err != nil || secs < 0 {
			return "", "Error in hard, soft or soft_seconds setting in buffer limit configuration."
		}
		limits[class] = []string{u64s(hard), u64s(soft), i64s(secs)}
	}
	var out []string
	for _, c := range classes {
		out = append(out, c)
		out = append(out, limits[c]...)
	}
	return strings.Join(out, " "), ""
}

// configSubArity gives CONFIG's subcommands and their arities.
var configSubArity = map[string]int{"get": -3, "set": -4, "resetstat": 2, "rewrite": 2, "help": 2}

func cmdConfig(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	arity, known := configSubArity[sub]
	if !known {
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try CONFIG HELP.", args[1]))
		return
	}
	x.st.touch("config|" + sub)
	if (arity >= 0 && len(args) != arity) || (arity < 0 && len(args) < -arity) {
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'config|%s' command", sub))
		return
	}
	switch sub {
	case "get":
		configGet(x, args[2:])
	case "set":
		configSet(x, args)
	case "resetstat":
		x.s.resetStats()
		x.w.OK()
	case "rewrite":
		x.w.Error("ERR The server is running without a config file")
	case "help":
		writeHelp(x.w, "CONFIG", "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"SET <directive> <value>", "    Set the configuration <directive> to <value>.",
			"RESETSTAT", "    Reset statistics reported by the INFO command.",
			"REWRITE", "    Rewrite the configuration file.")
	}
}

// configGet answers CONFIG GET <pattern>...: a name without glob
// characters is answered under the name as given, a pattern under the
// parameters' names, each parameter once.
func configGet(x *execCtx, pats [][]byte) {
	names := make([]string, 0, len(configTable))
	for n := range configTable {
		names = append(names, n)
	}
	sort.Strings(names)
	type hit struct{ shown, name string }
	var hits []hit
	seen := map[string]bool{}
	for _, p := range pats {
		lp := strings.ToLower(string(p))
		if !strings.ContainsAny(lp, "[*?") {
			if configTable[lp] != nil && !seen[lp] {
				seen[lp] = true
				hits = append(hits, hit{string(p), lp})
			}
			continue
		}
		for _, n := range names {
			if !seen[n] && globMatch([]byte(lp), []byte(n)) {
				seen[n] = true
				hits = append(hits, hit{n, n})
			}
		}
	}
	x.w.Map(len(hits))
	for _, h := range hits {
		x.w.BulkString(h.shown)
		x.w.BulkString(configTable[h.name].get(x.s))
	}
}

// configSet answers CONFIG SET <name> <value> [<name> <value> ...].
func configSet(x *execCtx, args [][]byte) {
	if len(args)%2 == 1 {
		x.w.Error(errSyntax)
		return
	}
	type pair struct {
		name, value string
		p           *configParam
	}
	var pairs []pair
	unknown, errArg, errStr, invalid := "", "", "", false
	fail := func(arg, why string) {
		errArg, errStr, invalid = arg, why, true
	}
	// First every name, as Redis: the first unknown one is reported,
	// unless an immutable or repeated one came before it.
	for i := 2; i < len(args); i += 2 {
		name := strings.ToLower(string(args[i]))
		p := configTable[name]
		switch {
		case p == nil:
			if !invalid {
				unknown, invalid = string(args[i]), true
			}
		case invalid:
		case p.kind == cfgImmutable:
			fail(string(args[i]), "can't set immutable config")
		case p.kind == cfgProtected:
			fail(string(args[i]), "can't set protected config")
		case slices.ContainsFunc(pairs, func(q pair) bool { return q.name == name }):
			fail(string(args[i]), "duplicate parameter")
		default:
			pairs = append(pairs, pair{name, string(args[i+1]), p})
		}
	}
	// Then every value, as Redis checks them; then keepkv's own refusals,
	// so that a bad value anywhere gets Redis's error.
	for i := 0; i < len(pairs) && !invalid; i++ {
		q := &pairs[i]
		v, why := q.p.parse(x.s, q.value)
		if why != "" {
			fail(q.name, why)
		}
		q.value = v
	}
	for i := 0; i < len(pairs) && !invalid; i++ {
		if q := &pairs[i]; q.p.kind == cfgFixed && q.value != q.p.get(x.s) {
			fail(q.name, q.p.why)
		}
	}
	switch {
	case unknown != "":
		x.w.Error(fmt.Sprintf("ERR Unknown option or number of arguments for CONFIG SET - '%s'", unknown))
		return
	case invalid:
		x.w.Error(fmt.Sprintf("ERR CONFIG SET failed (possibly related to argument '%s') - %s", errArg, errStr))
		return
	}
	// Replicated parameters first: their proposal may fail, and then
	// nothing has changed.
	stored := map[string]string{}
	for _, q := range pairs {
		switch q.p.kind {
		case cfgReplicated:
			one := [][]byte{[]byte("CONFIG"), []byte("SET"), []byte(q.name), []byte(q.value)}
			if e := x.setReplicatedConfig(one, q.name, q.value); e != "" {
				x.w.Error(e)
				return
			}
		case cfgStored:
			stored[q.name] = q.value
		}
	}
	x.s.admin.conf.set(stored)
	x.w.OK()
}

// resetStats is CONFIG RESETSTAT: the counters INFO stats and
// commandstats report start again from zero.
func (s *Server) resetStats() {
	st := &s.stats
	for _, c := range []*atomic.Int64{&st.connections, &st.commands, &st.rejected, &st.expired, &st.expirePaced, &st.hits, &st.misses, &st.iterationsCancelled} {
		c.Store(0)
	}
	s.admin.stats.reset()
	s.admin.ops.reset()
}

func cmdCommand(x *execCtx, args [][]byte) {
	t := x.s.table
	if len(args) == 1 {
		names := t.names()
		x.w.Array(len(names))
		for _, n := range names {
			writeCommandInfo(x.w, t[n])
		}
		return
	}
	switch sub := strings.ToLower(string(args[1])); sub {
	case "count":
		if len(args) != 2 {
			x.w.Error(errArity("command|count"))
			return
		}
		x.w.Int(int64(len(t)))
	case "list":
		keep := func(*command) bool { return true }
		switch {
		case len(args) == 2:
		case len(args) == 5 && eq(args[2], "filterby") && eq(args[3], "pattern"):
			keep = func(c *command) bool { return globMatch(args[4], []byte(c.name)) }
		case len(args) == 5 && eq(args[2], "filterby") && eq(args[3], "aclcat"):
			keep = func(c *command) bool { return eq(args[4], c.group) }
		case len(args) == 5 && eq(args[2], "filterby") && eq(args[3], "module"):
			keep = func(*command) bool { return false }
		default:
			x.w.Error(errSyntax)
			return
		}
		var names []string
		for _, n := range t.names() {
			if keep(t[n]) {
				names = append(names, n)
			}
		}
		x.w.Array(len(names))
		for _, n := range names {
			x.w.BulkString(n)
		}
	case "getkeys":
		commandGetKeys(x, args[2:])
	case "help":
		if len(args) != 2 {
			x.w.Error(errArity("command|help"))
			return
		}
		writeHelp(x.w, "COMMAND", "(no subcommand)", "    Return details about all commands.", "COUNT", "    Return the total number of commands.",
			"LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]", "    Return a list of all commands.",
			"INFO [<command-name> ...]", "    Return details about the given commands, or all of them.", "DOCS [<command-name> ...]", "    Return documentation about the given commands, or all of them.")
	case "info":
		names := args[2:]
		if len(names) == 0 {
			for _, n := range t.names() {
				names = append(names, []byte(n))
			}
		}
		x.w.Array(len(names))
		for _, n := range names {
			if c := t.lookup(n); c != nil {
				writeCommandInfo(x.w, c)
			} else {
				x.w.NullArray()
			}
		}
	case "docs":
		var cmds []*command
		if len(args) == 2 {
			for _, n := range t.names() {
				cmds = append(cmds, t[n])
			}
		}
		for _, n := range args[2:] {
			if c := t.lookup(n); c != nil {
				cmds = append(cmds, c)
			}
		}
		x.w.Map(len(cmds))
		for _, c := range cmds {
			x.w.BulkString(c.name)
			x.w.Map(3)
			x.w.BulkString("summary")
			x.w.BulkString(c.summary)
			x.w.BulkString("since")
			x.w.BulkString(c.since)
			x.w.BulkString("group")
			x.w.BulkString(c.group)
		}
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try COMMAND HELP.", args[1]))
	}
}

func (t commandTable) names() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeCommandInfo(w *replyWriter, c *command) {
	var flags []string
	if c.flags&flagWrite != 0 {
		flags = append(flags, "write")
	}
	if c.flags&flagRead != 0 {
		flags = append(flags, "readonly")
	}
	if c.flags&flagAdmin != 0 {
		flags = append(flags, "admin")
	}
	if c.flags&flagNoAuth != 0 {
		flags = append(flags, "no_auth")
	}
	if c.flags&flagFast != 0 {
		flags = append(flags, "fast")
	}
	w.Array(10)
	w.BulkString(c.name)
	w.Int(int64(c.arity))
	w.Set(len(flags))
	for _, f := range flags {
		w.Status(f)
	}
	w.Int(int64(c.firstKey))
	w.Int(int64(c.lastKey))
	w.Int(int64(c.step))
	cats := c.aclCategories()
	w.Set(len(cats))
	for _, cat := range cats {
		w.Status("@" + cat)
	}
	w.Array(0)
	w.Array(0)
	w.Array(0)
}

// aclCategories are the command's ACL categories, as Redis names them,
// derived from its flags and group.
func (c *command) aclCategories() []string {
	var cats []string
	if g, ok := groupCategory[c.group]; ok {
		cats = append(cats, g)
	}
	if c.flags&flagWrite != 0 {
		cats = append(cats, "write")
	}
	if c.flags&flagRead != 0 {
		cats = append(cats, "read")
	}
	if c.flags&flagFast != 0 {
		cats = append(cats, "fast")
	} else {
		cats = append(cats, "slow")
	}
	if c.flags&flagAdmin != 0 {
		cats = append(cats, "admin", "dangerous")
	}
	return cats
}

// groupCategory maps a command group to its ACL category.
var groupCategory = map[string]string{
	"generic": "keyspace", "string": "string", "hash": "hash", "set": "set",
	"sorted_set": "sortedset", "sorted-set": "sortedset", "list": "list", "bitmap": "bitmap",
	"connection": "connection", "pubsub": "pubsub", "scripting": "scripting",
	"transactions": "transaction",
}

// commandGetKeys answers COMMAND GETKEYS <command> <args...> from the
// table's key positions.
func commandGetKeys(x *execCtx, args [][]byte) {
	if len(args) < 2 {
		x.w.Error(errArity("command|getkeys"))
		return
	}
	c := x.s.table.lookup(args[0])
	switch {
	case c == nil:
		x.w.Error("ERR Invalid command specified")
		return
	case !c.arityOK(len(args)):
		x.w.Error("ERR Invalid number of arguments specified for command")
		return
	case c.firstKey <= 0:
		x.w.Error("ERR The command has no key arguments")
		return
	}
	last := c.lastKey
	if last < 0 {
		last += len(args)
	}
	var keys [][]byte
	for i := c.firstKey; i <= last && i < len(args); i += max(c.step, 1) {
		keys = append(keys, args[i])
	}
	x.w.Array(len(keys))
	for _, k := range keys {
		x.w.Bulk(k)
	}
}
