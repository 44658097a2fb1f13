package server

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
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

// infoSections are INFO's sections in Redis's order.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace"}

func cmdInfo(x *execCtx, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", strings.ToUpper(sec[:1])+sec[1:])
		for _, kv := range x.s.infoSection(sec) {
			fmt.Fprintf(&b, "%s:%s\r\n", kv[0], kv[1])
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
		return [][2]string{{"connected_clients", itoa(n)}, {"blocked_clients", itoa(int(s.blockedClients()))}, {"maxclients", itoa(s.cfg.MaxClients)}}
	case "memory":
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return [][2]string{
			{"used_memory", u64s(m.HeapAlloc)}, {"used_memory_human", human(m.HeapAlloc)},
			{"used_memory_rss", u64s(m.Sys)}, {"used_memory_rss_human", human(m.Sys)},
			{"maxmemory", "0"}, {"maxmemory_human", "0B"}, {"maxmemory_policy", "noeviction"},
			{"mem_allocator", "go-" + runtime.Version()},
		}
	case "persistence":
		return [][2]string{
			{"loading", "0"}, {"async_loading", "0"}, {"rdb_changes_since_last_save", "0"},
			{"rdb_bgsave_in_progress", "0"}, {"rdb_last_bgsave_status", "ok"},
			{"aof_enabled", "0"}, {"aof_rewrite_in_progress", "0"},
			{"keepkv_durability", "raft-fsync"}, {"keepkv_state_file_bytes", strconv.FormatInt(s.db.Size(), 10)},
			{"keepkv_state_used_bytes", strconv.FormatInt(s.db.UsedBytes(), 10)},
			{"keepkv_applied_index", u64s(s.db.AppliedIndex())},
			{"keepkv_checkpoint_pending_bytes", i64s(s.db.PendingBytes())},
			{"keepkv_checkpoint_backlog_waits", i64s(s.db.BacklogWaits())},
			{"keepkv_expiry_paced_waits", i64s(s.stats.expirePaced.Load())},
			{"keepkv_gc_pending_collections", i64s(s.db.GarbageCount())},
		}
	case "stats":
		st := &s.stats
		return [][2]string{
			{"total_connections_received", i64s(st.connections.Load())},
			{"total_commands_processed", i64s(st.commands.Load())},
			{"instantaneous_ops_per_sec", "0"},
			{"rejected_connections", i64s(st.rejected.Load())},
			{"expired_keys", i64s(st.expired.Load())},
			{"evicted_keys", "0"},
			{"keyspace_hits", i64s(st.hits.Load())},
			{"keyspace_misses", i64s(st.misses.Load())},
			{"keepkv_apply_panics", i64s(s.db.ApplyPanics())},
			{"keepkv_iterations_cancelled", i64s(st.iterationsCancelled.Load())},
		}
	case "replication":
		return s.infoReplication()
	case "cpu":
		return [][2]string{{"used_cpu_sys", "0.000000"}, {"used_cpu_user", "0.000000"}}
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
	up := time.Since(s.start)
	_, port, _ := strings.Cut(s.Addr().String(), "]:")
	if i := strings.LastIndexByte(s.Addr().String(), ':'); i >= 0 {
		port = s.Addr().String()[i+1:]
	}
	return [][2]string{
		{"redis_version", Version}, {"keepkv_version", KeepkvVersion},
		{"redis_mode", "standalone"}, {"os", runtime.GOOS + " " + runtime.GOARCH},
		{"arch_bits", strconv.Itoa(strconv.IntSize)}, {"process_id", itoa(os.Getpid())},
		{"tcp_port", port}, {"uptime_in_seconds", i64s(int64(up.Seconds()))},
		{"uptime_in_days", i64s(int64(up.Hours() / 24))}, {"executable", exe},
	}
}

func (s *Server) infoReplication() [][2]string {
	st := s.node.Status()
	role := "slave"
	if st.Ready {
		role = "master"
	}
	out := [][2]string{
		{"role", role}, {"connected_slaves", itoa(max(len(st.Members)-1, 0))},
		{"raft_node_id", st.ID}, {"raft_state", st.State}, {"raft_term", u64s(st.Term)},
		{"raft_leader_id", st.LeaderID}, {"raft_leader_addr", st.Leader},
		{"raft_commit_index", u64s(st.CommitIndex)}, {"raft_applied_index", u64s(st.AppliedIndex)},
		{"raft_last_index", u64s(st.LastIndex)}, {"raft_members", itoa(len(st.Members))},
	}
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

// configParams answers CONFIG GET with what clients and redis-benchmark ask.
func (s *Server) configParams() map[string]string {
	port := "0"
	if i := strings.LastIndexByte(s.Addr().String(), ':'); i >= 0 {
		port = s.Addr().String()[i+1:]
	}
	return map[string]string{
		"save": "", "appendonly": "yes", "appendfsync": "always", "databases": itoa(storage.NumDBs),
		"maxmemory": "0", "maxmemory-policy": "noeviction", "maxclients": itoa(s.cfg.MaxClients),
		"timeout": i64s(int64(s.cfg.IdleTimeout.Seconds())), "port": port, "dir": s.cfg.Dir,
		"proto-max-bulk-len": i64s(s.cfg.Limits.MaxBulkLen), "requirepass": "",
		"cluster-enabled": "no", "notify-keyspace-events": s.replicatedConfigValue(storage.ConfigNotify),
	}
}

func cmdConfig(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "get" && len(args) >= 3:
		params := x.s.configParams()
		names := make([]string, 0, len(params))
		for name := range params {
			names = append(names, name)
		}
		sort.Strings(names)
		var hits []string
		for _, name := range names {
			for _, p := range args[2:] {
				if globMatch([]byte(strings.ToLower(string(p))), []byte(name)) {
					hits = append(hits, name)
					break
				}
			}
		}
		x.w.Map(len(hits))
		for _, name := range hits {
			x.w.BulkString(name)
			x.w.BulkString(params[name])
		}
	case sub == "help" && len(args) == 2:
		writeHelp(x.w, "CONFIG", "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"SET <directive> <value>", "    keepkv is configured by flags; CONFIG SET changes nothing.", "RESETSTAT", "    Accepted.")
	case sub == "set" && len(args) == 4 && replicatedConfig[strings.ToLower(string(args[2]))]: // notify.go
		if e := x.setReplicatedConfig(args, strings.ToLower(string(args[2])), string(args[3])); e != "" {
			x.w.Error(e)
			return
		}
		x.w.OK()
	case sub == "set" && len(args) >= 4:
		x.w.Error(fmt.Sprintf("ERR Unknown option or number of arguments for CONFIG SET - '%s'", args[2]))
	case sub == "resetstat" && len(args) == 2:
		x.w.OK()
	case sub == "get" || sub == "set" || sub == "resetstat":
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'config|%s' command", sub))
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try CONFIG HELP.", args[1]))
	}
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
