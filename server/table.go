package server

import (
	"context"
	"math/rand/v2"

	"github.com/keepkv/keepkv/storage"
)

// cmdFlags describe how a command is routed and what it may do.
type cmdFlags uint16

const (
	flagWrite    cmdFlags = 1 << iota // proposed through Raft
	flagRead                          // served from a read transaction after the read barrier
	flagAdmin                         // administrative
	flagNoAuth                        // allowed before AUTH
	flagFast                          // O(1) or O(log n)
	flagScan                          // may run long (KEYS, SCAN, LCS): served outside the shared read view, gets no Reader, and x.ctx ends on disconnect or shutdown
	flagDenyOOM                       // may add data: refused past MaxDiskBytes
	flagInternal                      // sent by peer nodes only (a forwarded EXEC)
	flagNoMulti                       // refused inside MULTI (not run in apply)
	flagInMulti                       // a local command that may be queued in MULTI
)

// execCtx is what a handler sees: the connection and the server.
type execCtx struct {
	s   *Server
	st  *connState
	w   *replyWriter
	now int64 // milliseconds; the leader's clock for writes, local for reads
	// ctx ends when the command's result is no longer wanted: set for the
	// iterating commands (flagScan).
	ctx context.Context
	// p is the pipeline running the command (EXEC proposes through it).
	p *pipeline
	// txn is set when the command runs inside apply (a queued command of
	// an EXEC, a script's call): reads see the entry's state so far, writes
	// apply at once, and rng is seeded from the entry.
	txn *storage.Txn
	rng *rand.Rand
}

// writeFunc validates a write's arguments and builds its log command. A
// non-empty reply is an error to send instead: nothing is proposed.
type writeFunc func(x *execCtx, args [][]byte) (storage.Cmd, string)

// readFunc serves a read from a consistent view.
type readFunc func(x *execCtx, r *storage.Reader, args [][]byte)

// localFunc serves a command that touches no keyspace state.
type localFunc func(x *execCtx, args [][]byte)

// command is one entry of the command table.
type command struct {
	name     string
	arity    int // Redis convention: exact, or negative for "at least -arity"
	flags    cmdFlags
	firstKey int
	lastKey  int
	step     int
	group    string
	summary  string
	since    string

	write writeFunc
	read  readFunc
	local localFunc
	// readForm, for a command with both a write and a read route, says
	// which argument forms are reads (GETEX with no option).
	readForm func(args [][]byte) bool
	// viewless, for a read command, says which argument forms need no read
	// view (SCRIPT KILL must not wait behind the script it kills).
	viewless func(args [][]byte) bool
	// adminIf marks argument forms that need admin permission.
	adminIf func(args [][]byte) bool
	// leaderOnly, for local commands, says whether these arguments must
	// run on the leader (RAFT JOIN, REMOVE, TRANSFER).
	leaderOnly func(args [][]byte) bool
	// txn, for a write, runs it inside apply instead of write, writing its
	// reply (ACL SETUSER decides against the users as applied).
	txn func(x *execCtx, args [][]byte)
	// reply maps an applied result to the client reply; nil writes it as is.
	reply func(w *replyWriter, r storage.Result)
	// replyS, if set, replies instead of reply, with the server at hand
	// (PUBLISH counts this node's subscribers).
	replyS func(s *Server, w *replyWriter, lc *storage.Cmd, r storage.Result)
	// met holds the command's metrics (calls, errors, latency), made when
	// the server is built (metrics_cmd.go).
	met *cmdMetrics
}

// keyTooLong reports whether a key argument is longer than storage accepts.
func (c *command) keyTooLong(args [][]byte) bool {
	if c.firstKey <= 0 {
		return false
	}
	last := c.lastKey
	if last < 0 {
		last += len(args)
	}
	for i := c.firstKey; i <= last && i < len(args); i += max(c.step, 1) {
		if len(args[i]) > storage.MaxKeyLen {
			return true
		}
	}
	return false
}

// writes reports whether this form of the command is a write.
func (c *command) writes(args [][]byte) bool {
	return c.write != nil && (c.readForm == nil || !c.readForm(args))
}

func (c *command) arityOK(n int) bool {
	if c.arity >= 0 {
		return n == c.arity
	}
	return n >= -c.arity
}

// commandTable maps lower-case names to commands.
type commandTable map[string]*command

func (t commandTable) add(cmds ...*command) {
	for _, c := range cmds {
		if _, dup := t[c.name]; dup {
			panic("server: command registered twice: " + c.name)
		}
		routes := 0
		for _, set := range []bool{c.write != nil, c.read != nil, c.local != nil} {
			if set {
				routes++
			}
		}
		if routes != 1 && !(routes == 2 && c.write != nil && (c.read != nil || c.local != nil) && c.readForm != nil) {
			panic("server: command needs exactly one route: " + c.name)
		}
		t[c.name] = c
	}
}

func (t commandTable) lookup(name []byte) *command {
	if c, ok := t[string(name)]; ok {
		return c
	}
	// ASCII case folding, as Redis compares command names; on the stack,
	// so an upper-case GET costs no allocation.
	var buf [32]byte
	if len(name) > len(buf) {
		return nil // no command name is this long
	}
	for i, b := range name {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return t[string(buf[:len(name)])]
}

// newCommandTable builds the table once per server.
func newCommandTable() commandTable {
	t := commandTable{}
	t.add(stringCommands()...)
	t.add(keyCommands()...)
	t.add(expireCommands()...)
	t.add(connectionCommands()...)
	t.add(serverCommands()...)
	t.add(raftCommands()...)
	t.add(debugCommands()...)
	t.add(hashCommands()...)
	t.add(setCommands()...)
	t.add(zsetCommands()...)
	t.add(listCommands()...)
	t.add(bitCommands()...)
	t.add(keyCommands2()...)
	t.add(multiCommands()...)
	t.add(pubsubCommands()...)
	t.add(scriptCommands()...)
	t.add(httpCommands()...)
	return t
}
