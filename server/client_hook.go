package server

import (
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// The connection-admin hook. CLIENT REPLY, CLIENT PAUSE, MONITOR, INFO
// commandstats and CLIENT LIST's view of other connections all need to see
// every command a client sends; pipeline.run calls intercept first thing.
// It runs the command itself, through run again with adm.inner set. In
// the common case (no monitor attached, no pause in force, replies on, not
// in MULTI) it only counts the call for INFO commandstats (about 70 ns: a
// lookup, the checks, an atomic counter); otherwise it also does what
// applies of:
//
//   - hold the command while CLIENT PAUSE applies to it,
//   - refuse a MONITOR connection's keyspace commands, as Redis does,
//   - drop the command's replies (CLIENT REPLY OFF|SKIP): the pipeline's
//     earlier replies are flushed first, then the encoder writes to a
//     connection that discards everything until the command's replies,
//     deferred ones included, are written. A suppressed reply thus keeps
//     its place in the pipeline order without reaching the client,
//   - feed monitors after the command ran (so SELECT shows its new db),
//   - update the mirrors CLIENT LIST reads from other connections.
//
// Only connections from clients pass through it: peers (st.internal) and
// commands they forward are never paused, monitored or counted here; the
// node the client is connected to does that.

// adminState is the server's side of it (Server.admin); its zero value is
// ready to use.
type adminState struct {
	monitors monitorSet
	pause    pauseState
	stats    commandStats
	conf     storedConfig
	ops      opsRate
	runOnce  sync.Once
	runID    string
}

// connAdmin is a connection's side (connState.adm).
type connAdmin struct {
	// Owned by the connection's goroutine.
	replyOff bool        // CLIENT REPLY OFF
	skipNext bool        // CLIENT REPLY SKIP was the last command
	inner    bool        // intercept is running this command through run
	muted    redcon.Conn // while replies are dropped: the encoder's real connection

	// Guarded by connState.mu: CLIENT LIST and KILL read them from other
	// connections. The owner writes them under mu and may read them
	// without it.
	noEvict, noTouch bool
	paused           bool     // waiting for a CLIENT PAUSE to end (flag b)
	monitor          *monitor // set while the connection is a MONITOR
	nc               net.Conn // the network connection, for CLIENT KILL
	fd               int      // its file descriptor, -1 if it has none; 0 until looked up
	snap             connSnap // what other connections see of the rest
	argvMem          int      // bytes of the arguments of the command running now
}

// connSnap mirrors connection state that only its own goroutine may read
// (MULTI, Pub/Sub, tracking), as of the end of the last command that could
// change it, for CLIENT LIST and KILL on other connections.
type connSnap struct {
	valid           bool
	multi           int // queued commands, -1 outside MULTI
	sub, psub, ssub int
	tracking, bcast bool
	redir           int64
}

// intercept is called by pipeline.run before anything else; it reports
// whether it ran the command itself (always, except for peers and for the
// run it makes itself).
func (p *pipeline) intercept(args [][]byte) bool {
	st := p.st
	if st.adm.inner || st.internal {
		return false
	}
	if st.adm.nc == nil {
		st.rememberConn()
	}
	a := &p.s.admin
	if a.monitors.n.Load() == 0 && !a.pause.on.Load() && !st.adm.replyOff && !st.adm.skipNext &&
		st.multi == nil && !st.adm.snap.inMulti() && !changesSnapshot(args[0]) {
		cmd := lookupNoAlloc(p.s.table, args[0])
		v := p.verdict(cmd, args)
		mark := p.startCmd(cmd) // metrics_cmd.go
		p.runInner(args)
		p.endCmd(mark)
		a.stats.count(cmd, args, v) // after it ran, as Redis: RESETSTAT counts itself
		return true
	}
	if st.multi != nil && !controlsMulti(lookupNoAlloc(p.s.table, args[0])) {
		p.interceptSlow(args) // queued: counted when EXEC runs
		return true
	}
	mark := p.startCmd(lookupNoAlloc(p.s.table, args[0]))
	p.interceptSlow(args)
	p.endCmd(mark)
	return true
}

// lookupNoAlloc is commandTable.lookup without its allocation for a name
// not in lower case (redis-cli and many clients send "SET").
func lookupNoAlloc(t commandTable, name []byte) *command {
	var buf [24]byte
	if len(name) > len(buf) {
		return t.lookup(name)
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t[string(buf[:len(name)])]
}

func (sn *connSnap) inMulti() bool { return sn.valid && sn.multi >= 0 }

// changesSnapshot reports whether a command may change what connSnap
// mirrors, so that intercept takes note after it ran.
func changesSnapshot(name []byte) bool {
	switch len(name) {
	case 5:
		return eq(name, "multi") || eq(name, "reset")
	case 6:
		return eq(name, "client")
	case 9:
		return eq(name, "subscribe")
	case 10:
		return eq(name, "psubscribe") || eq(name, "ssubscribe")
	case 11:
		return eq(name, "unsubscribe")
	case 12:
		return eq(name, "punsubscribe") || eq(name, "sunsubscribe")
	}
	return false
}

// verdict is what pipeline.run will make of a command before running it.
type verdict uint8

const (
	verdictOK       verdict = iota
	verdictUnknown          // no such command: nothing is counted
	verdictRejected         // refused before it runs (arity, NOAUTH, NOPERM)
)

// verdict repeats the checks pipeline.run (and queue, in MULTI) makes
// before a command runs. Refusals for a too long key, the disk limit or
// the Pub/Sub context are not repeated: such commands count as calls.
func (p *pipeline) verdict(cmd *command, args [][]byte) verdict {
	st := p.st
	switch {
	case cmd == nil || (cmd.flags&flagInternal != 0 && !st.internal):
		return verdictUnknown
	case !cmd.arityOK(len(args)),
		!st.authed && cmd.flags&flagNoAuth == 0,
		func() bool { d, _ := p.s.denial(st, cmd, args); return d != aclOK }():
		return verdictRejected
	}
	if subs := subcommandArity[cmd.name]; subs != nil {
		// Redis looks subcommands up as commands of their own.
		arity, ok := subs[strings.ToLower(string(args[1]))]
		switch {
		case !ok:
			return verdictUnknown
		case (arity >= 0 && len(args) != arity) || (arity < 0 && len(args) < -arity):
			return verdictRejected
		}
	}
	return verdictOK
}

// subcommandArity gives the subcommands of the containers whose arities
// keepkv checks per subcommand.
var subcommandArity = map[string]map[string]int{"client": clientSubArity, "config": configSubArity}

const errReplicaKeyspace = "ERR Replica can't interact with the keyspace"

func (p *pipeline) interceptSlow(args [][]byte) {
	s, st := p.s, p.st
	cmd := s.table.lookup(args[0])
	v := p.verdict(cmd, args)
	queued := st.multi != nil && !controlsMulti(cmd)
	quiet := st.adm.replyOff || st.adm.skipNext
	st.adm.skipNext = false
	if quiet {
		// Earlier replies go out as they are; this command's are dropped.
		p.flushPending()
		st.adm.mute(st)
	}
	// The commands an EXEC runs, for monitors and commandstats.
	var txn [][]byte
	db := st.db
	if v == verdictOK && cmd.name == "exec" && st.multi != nil && !st.multi.aborted {
		txn = st.multi.cmds
	}
	ran := false
	switch {
	case v != verdictOK:
		s.admin.stats.count(cmd, args, v)
		p.runInner(args)
	case st.adm.monitor != nil && touchesKeyspace(cmd):
		// A monitor is a replica to Redis: it may not read or write.
		s.admin.stats.count(cmd, args, verdictRejected)
		p.immediate(errReplicaKeyspace)
	case !p.holdWhilePaused(cmd, txn):
		st.quit = true // the client went away, or the server is closing
	default:
		if feedFirst[cmd.name] && !queued {
			// Redis shows a script before the commands it runs ("lua").
			s.feedMonitors(st.addr, st.db, cmd, args)
		}
		p.runInner(args)
		ran = !queued
	}
	if ran {
		for _, enc := range txn {
			if qargs, ok := decodeArgs(enc); ok {
				qcmd := s.table.lookup(qargs[0])
				s.admin.stats.count(qcmd, qargs, verdictOK)
				if qcmd != nil && qcmd.name == "select" {
					if n, ok := parseInt(qargs[1]); ok && n >= 0 && n < storage.NumDBs {
						db = uint8(n)
					}
				}
				s.feedMonitors(st.addr, db, qcmd, qargs)
			}
		}
		s.admin.stats.count(cmd, args, verdictOK)
		if !feedFirst[cmd.name] {
			s.feedMonitors(st.addr, st.db, cmd, args)
		}
	}
	if queued && cmd != nil {
		st.touch(cmd.name) // CLIENT LIST's cmd: Redis looks queued commands up too
	}
	st.takeSnapshot()
	if quiet {
		p.flushPending()
		st.adm.unmute(st)
	}
}

func (p *pipeline) runInner(args [][]byte) {
	p.st.adm.inner = true
	p.run(args)
	p.st.adm.inner = false
}

// flushPending answers everything the pipeline holds, in order.
func (p *pipeline) flushPending() {
	p.flushWrites()
	p.flushForward()
	p.flushReads()
}

// feedFirst are the commands Redis shows to monitors before they run.
var feedFirst = map[string]bool{"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true}

// touchesKeyspace: Redis refuses these to a replica (and so to a monitor).
func touchesKeyspace(cmd *command) bool {
	return cmd.write != nil || cmd.read != nil || cmd.flags&(flagWrite|flagRead) != 0 || mayReplicate[cmd.name]
}

// mayReplicate lists the commands Redis flags may-replicate: not writes,
// yet they may cause some (CLIENT PAUSE WRITE holds them too).
var mayReplicate = map[string]bool{"publish": true, "spublish": true, "eval": true, "evalsha": true, "fcall": true, "pfcount": true, "script": true, "function": true}

// mute makes the encoder drop everything until unmute.
func (a *connAdmin) mute(st *connState) {
	if a.muted != nil {
		return
	}
	a.muted = st.enc.c
	st.enc.c = discardConn{a.muted}
}

func (a *connAdmin) unmute(st *connState) {
	if a.muted == nil {
		return
	}
	st.enc.c = a.muted
	a.muted = nil
}

// discardConn is a connection whose replies go nowhere.
type discardConn struct{ redcon.Conn }

func (discardConn) WriteError(string)             {}
func (discardConn) WriteString(string)            {}
func (discardConn) WriteBulk([]byte)              {}
func (discardConn) WriteBulkString(string)        {}
func (discardConn) WriteInt(int)                  {}
func (discardConn) WriteInt64(int64)              {}
func (discardConn) WriteUint64(uint64)            {}
func (discardConn) WriteArray(int)                {}
func (discardConn) WriteNull()                    {}
func (discardConn) WriteRaw([]byte)               {}
func (discardConn) WriteAny(any)                  {}
func (c discardConn) Detach() redcon.DetachedConn { return c.Conn.Detach() }

// rememberConn records the network connection for CLIENT KILL, before
// anything (a detach) can replace st.conn.
func (st *connState) rememberConn() {
	if st.conn == nil {
		return
	}
	nc := st.conn.NetConn()
	st.mu.Lock()
	st.adm.nc = nc
	st.mu.Unlock()
}

// netConnLocked returns st's network connection; st.mu is held. A
// connection that never ran a command has not been detached, so st.conn
// is still the one accept stored.
func (st *connState) netConnLocked() net.Conn {
	if st.adm.nc == nil && st.conn != nil {
		return st.conn.NetConn()
	}
	return st.adm.nc
}

// fdLocked returns the connection's file descriptor (CLIENT LIST's fd),
// looked up once; st.mu is held.
func (st *connState) fdLocked() int {
	if st.adm.fd != 0 {
		return st.adm.fd
	}
	st.adm.fd = -1
	nc := st.netConnLocked()
	for range 4 { // unwrap protoConn and TLS down to the socket
		switch c := nc.(type) {
		case *protoConn:
			nc = c.Conn
		case interface{ NetConn() net.Conn }: // *tls.Conn
			nc = c.NetConn()
		case syscall.Conn:
			if raw, err := c.SyscallConn(); err == nil {
				raw.Control(func(fd uintptr) { st.adm.fd = int(fd) })
			}
			return st.adm.fd
		default:
			return st.adm.fd
		}
	}
	return st.adm.fd
}

// takeSnapshot refreshes what CLIENT LIST shows of this connection to
// others. It runs on the connection's goroutine.
func (st *connState) takeSnapshot() {
	sn := connSnap{valid: true, multi: -1, redir: -1}
	if st.multi != nil {
		sn.multi = len(st.multi.cmds)
	}
	sn.sub, sn.psub = st.subscriptions()
	if tr := st.tracking; tr != nil {
		sn.tracking, sn.bcast = true, tr.bcast
		if tr.redirect != 0 {
			sn.redir = int64(tr.redirect)
		}
	}
	st.mu.Lock()
	st.adm.snap = sn
	st.mu.Unlock()
}

// snapshotLocked returns the mirror, or the state of a connection that has
// run nothing yet; st.mu is held.
func (st *connState) snapshotLocked() connSnap {
	if !st.adm.snap.valid {
		return connSnap{multi: -1, redir: -1}
	}
	return st.adm.snap
}

// containerSubs are the subcommands Redis counts apart in INFO
// commandstats ("client|kill"), for the container commands keepkv has.
var containerSubs = map[string][]string{
	"client":  {"caching", "getname", "getredir", "help", "id", "info", "kill", "list", "no-evict", "no-touch", "pause", "reply", "setinfo", "setname", "tracking", "trackinginfo", "unblock", "unpause"},
	"config":  {"get", "help", "resetstat", "rewrite", "set"},
	"command": {"count", "docs", "getkeys", "getkeysandflags", "help", "info", "list"},
	"acl":     {"cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log", "save", "setuser", "users", "whoami"},
	"object":  {"encoding", "freq", "help", "idletime", "refcount"},
	"pubsub":  {"channels", "help", "numpat", "numsub", "shardchannels", "shardnumsub"},
	"script":  {"debug", "exists", "flush", "help", "kill", "load"},
	"memory":  {"doctor", "help", "malloc-stats", "purge", "stats", "usage"},
}

// fullName is a command's name as Redis reports it (CLIENT LIST's cmd,
// INFO commandstats): "client|kill" for a known subcommand of a container,
// "" for an unknown one (Redis finds no command then).
func fullName(cmd *command, args [][]byte) string {
	subs, ok := containerSubs[cmd.name]
	if !ok {
		return cmd.name
	}
	if len(args) < 2 {
		return cmd.name
	}
	sub := strings.ToLower(string(args[1]))
	for _, s := range subs {
		if s == sub {
			return cmd.name + "|" + sub
		}
	}
	return ""
}
