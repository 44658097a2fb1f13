package server

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/keepkv/keepkv/storage"
)

// MULTI/EXEC (DESIGN.md, "Transactions, scripts, events"). MULTI queues
// commands on the connection; EXEC sends them, with the marks of the keys
// WATCHed before, as one OpExec log entry. Apply checks the marks and runs
// the queued commands through the command table (Server.applyExec), every
// node alike: reads see the state the entry's earlier commands left, writes
// apply at once, and the replies are captured for the client that asked.
// A follower sends the entry's parts to the leader as KVEXEC.

// multiState is a connection's open transaction.
type multiState struct {
	cmds    [][]byte // queued commands, encoded (encodeArgs)
	aborted bool     // a command was refused while queueing: EXECABORT
	db      uint8    // the database after the queued SELECTs
}

const (
	errExecAbort     = "EXECABORT Transaction discarded because of previous errors."
	errNotInMulti    = "ERR Command not allowed inside a transaction"
	errNestedMulti   = "ERR MULTI calls can not be nested"
	errExecNoMulti   = "ERR EXEC without MULTI"
	errDiscardNoMult = "ERR DISCARD without MULTI"
	errWatchInMulti  = "ERR WATCH inside MULTI is not allowed"
)

func multiCommands() []*command {
	return []*command{
		{name: "multi", arity: 1, flags: flagFast | flagNoMulti, group: "transactions", summary: "Starts a transaction.", since: "1.2.0", local: cmdMulti},
		{name: "exec", arity: 1, flags: flagNoMulti, group: "transactions", summary: "Executes all commands in a transaction.", since: "1.2.0", local: cmdExec},
		{name: "discard", arity: 1, flags: flagFast | flagNoMulti, group: "transactions", summary: "Discards a transaction.", since: "2.0.0", local: cmdDiscard},
		{name: "watch", arity: -2, flags: flagFast | flagNoMulti, firstKey: 1, lastKey: -1, step: 1, group: "transactions", summary: "Monitors changes to keys to determine the execution of a transaction.", since: "2.2.0", local: cmdWatch},
		{name: "unwatch", arity: 1, flags: flagFast | flagInMulti, group: "transactions", summary: "Forgets about watched keys of a transaction.", since: "2.2.0", local: cmdUnwatch},
		// KVEXEC <marks> <nkeys> <key>... <command>...: EXEC forwarded by a
		// follower; peers only.
		{name: "kvexec", arity: -3, flags: flagWrite | flagInternal, group: "transactions", summary: "Runs a transaction forwarded by a follower (peers only).", since: "keepkv", write: cmdKVExec},
	}
}

// controlsMulti reports whether cmd runs at once inside MULTI rather than
// being queued, as in Redis.
func controlsMulti(cmd *command) bool {
	if cmd == nil {
		return false
	}
	switch cmd.name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return true
	}
	return false
}

// queue handles a command sent inside MULTI: refused (and the transaction
// marked for EXECABORT) as Redis refuses it before queueing, or queued.
func (p *pipeline) queue(cmd *command, args [][]byte) {
	st := p.st
	m := st.multi
	p.flushWrites()
	p.flushForward()
	p.flushReads()
	fail := func(reply string) {
		m.aborted = true
		st.w.Error(reply)
	}
	switch {
	case cmd == nil || (cmd.flags&flagInternal != 0 && !st.internal):
		fail(errUnknownCommand(args))
	case !cmd.arityOK(len(args)):
		fail(errArity(cmd.name))
	case cmd.flags&flagDenyOOM != 0 && cmd.keyTooLong(args):
		fail(errKeyTooLong)
	case !st.authed:
		fail("NOAUTH Authentication required.")
	case p.permitFail(cmd, args, fail):
	case !runsInTxn(cmd, args):
		fail(errNotInMulti)
	case cmd.flags&flagDenyOOM != 0 && p.s.cfg.MaxDiskBytes > 0 && p.s.db.UsedBytes() > p.s.cfg.MaxDiskBytes:
		fail("OOM command not allowed when used memory > 'maxmemory'.")
	default:
		if cmd.name == "select" {
			if v, ok := parseInt(args[1]); ok && v >= 0 && v < storage.NumDBs {
				m.db = uint8(v)
			}
		}
		m.cmds = append(m.cmds, encodeArgs(args))
		st.w.Status("QUEUED")
	}
}

// execACLMarker names the pseudo-command an EXEC entry starts with when
// its user's ACL limits the scripts it runs; no client can queue it (it
// is no command).
const execACLMarker = "\x00acl"

// permitFail checks a command queued in MULTI against the ACL (Redis does
// at queue time) and fails the transaction if it is denied.
func (p *pipeline) permitFail(cmd *command, args [][]byte, fail func(string)) bool {
	if msg := p.s.permit(p.st, cmd, args, "multi"); msg != "" {
		fail(msg)
		return true
	}
	return false
}

// runsInTxn reports whether cmd can run inside apply: writes, reads that
// need no iteration of the whole keyspace, and the local commands marked
// for it (PING, ECHO, SELECT, the blocking pops, which do not block there).
func runsInTxn(cmd *command, args [][]byte) bool {
	switch {
	case cmd.flags&(flagInternal|flagNoMulti|flagScan) != 0:
		return false
	case cmd.writes(args):
		return cmd.write != nil
	case cmd.read != nil:
		return true
	}
	return cmd.local != nil && cmd.flags&flagInMulti != 0
}

func cmdMulti(x *execCtx, _ [][]byte) {
	if x.st.multi != nil {
		x.w.Error(errNestedMulti)
		return
	}
	x.st.multi = &multiState{db: x.st.db}
	x.w.OK()
}

func cmdDiscard(x *execCtx, _ [][]byte) {
	if x.st.multi == nil {
		x.w.Error(errDiscardNoMult)
		return
	}
	x.st.multi = nil
	x.st.watches = nil
	x.w.OK()
}

// cmdWatch remembers each key's mark as of this node's applied state; the
// read needs no barrier: a mark older than the leader's state only makes
// an abort likelier, never a missed change.
func cmdWatch(x *execCtx, args [][]byte) {
	if x.st.multi != nil {
		x.w.Error(errWatchInMulti)
		return
	}
	now := time.Now().UnixMilli()
	err := x.s.db.View(func(r *storage.Reader) error {
		for _, k := range args[1:] {
			x.st.watches = append(x.st.watches, r.Watch(x.st.db, k, now))
		}
		return nil
	})
	if err != nil {
		x.w.Error(clusterError(err))
		return
	}
	x.w.OK()
}

func cmdUnwatch(x *execCtx, _ [][]byte) {
	x.st.watches = nil
	x.w.OK()
}

func cmdExec(x *execCtx, _ [][]byte) {
	st := x.st
	m := st.multi
	if m == nil {
		x.w.Error(errExecNoMulti)
		return
	}
	watches := st.watches
	st.multi, st.watches = nil, nil
	if m.aborted {
		x.w.Error(errExecAbort)
		return
	}
	if x.p == nil {
		x.w.Error("ERR EXEC is not supported here")
		return
	}
	keys, marks := storage.EncodeWatchMarks(watches)
	lc := storage.Cmd{Op: storage.OpExec, DB: st.db, Int: int64(st.resp), Keys: keys, Vals: append([][]byte{marks}, m.cmds...)}
	if limited, rules := scriptRules(x); limited {
		// The user's ACL rides in the entry for the scripts it runs
		// (the other commands were checked when queued).
		lc.Vals = slices.Insert(lc.Vals, 1, encodeArgs([][]byte{[]byte(execACLMarker), []byte(rules)}))
	}
	if x.p.execute(lc) {
		st.setDB(m.db)
	}
}

// execute proposes an OpExec, or has the leader propose it, writes its
// reply, and reports whether the transaction ran (it was not aborted by a
// WATCH, nor failed).
func (p *pipeline) execute(lc storage.Cmd) bool {
	if !p.noForward && !p.s.node.IsLeader() {
		args := [][]byte{[]byte("kvexec"), lc.Vals[0], strconv.AppendInt(nil, int64(len(lc.Keys)), 10)}
		args = append(args, lc.Keys...)
		args = append(args, lc.Vals[1:]...)
		raw, e := p.s.forwardOne(context.Background(), p.st, args)
		if e != "" {
			p.st.w.Error(e)
			return false
		}
		p.st.enc.raw(raw)
		return !isNullReply(raw) && len(raw) > 0 && raw[0] != '-'
	}
	ran := false
	p.writes = append(p.writes, pendingWrite{cmd: kvexecCommand, lc: lc, after: func(r storage.Result) { ran = r.Kind == storage.ResultValue }})
	p.flushWrites()
	return ran
}

var kvexecCommand = &command{name: "kvexec"}

// cmdKVExec builds the OpExec a follower sent.
func cmdKVExec(x *execCtx, args [][]byte) (storage.Cmd, string) {
	n, ok := parseInt(args[2])
	if !ok || n < 0 || n > int64(len(args)-3) {
		return storage.Cmd{}, "ERR malformed KVEXEC"
	}
	keys := args[3 : 3+n]
	lc := storage.Cmd{Op: storage.OpExec, Int: int64(x.st.resp), Keys: keys, Vals: append([][]byte{args[1]}, args[3+n:]...)}
	if lc.Validate() != nil { // marks that do not match the keys: the log would refuse it
		return storage.Cmd{}, "ERR malformed KVEXEC"
	}
	return lc, ""
}

// applyExec runs an OpExec's queued commands inside apply (storage's Exec
// hook). It must be deterministic: the time is the entry's, randomness is
// seeded from the entry, and reads and writes go through t.
func (s *Server) applyExec(t *storage.Txn, c *storage.Cmd) storage.Result {
	switch c.Op {
	case storage.OpScript:
		return s.applyScript(t, c) // script.go
	case storage.OpExec:
	default:
		return storage.Result{Kind: storage.ResultErr, Err: storage.CmdError("ERR unsupported command in apply")}
	}
	capt := &captureEncoder{v3: c.Int == 3}
	w := replyWriter{enc: capt}
	st := &connState{db: c.DB, resp: int(c.Int), user: "default"}
	st.w = w
	cmds := c.Vals[1:]
	if len(cmds) > 0 {
		if args, ok := decodeArgs(cmds[0]); ok && len(args) == 2 && string(args[0]) == execACLMarker {
			st.execACL, cmds = string(args[1]), cmds[1:]
		}
	}
	w.Array(len(cmds))
	for i, enc := range cmds {
		x := execCtx{s: s, st: st, w: &w, now: t.Now(), txn: t, rng: rand.New(rand.NewPCG(t.Index(), uint64(i)))}
		args, ok := decodeArgs(enc)
		if !ok {
			w.Error("ERR malformed queued command")
			continue
		}
		s.runInTxn(&x, args)
	}
	v := capt.take()
	return storage.Result{Kind: storage.ResultValue, Value: &v}
}

// runInTxn runs one command inside apply and writes its reply to x.w.
func (s *Server) runInTxn(x *execCtx, args [][]byte) {
	cmd := s.table.lookup(args[0])
	switch {
	case cmd == nil:
		x.w.Error(errUnknownCommand(args))
	case !cmd.arityOK(len(args)):
		x.w.Error(errArity(cmd.name))
	case !runsInTxn(cmd, args):
		x.w.Error(errNotInMulti)
	case cmd.txn != nil && cmd.writes(args):
		cmd.txn(x, args)
	case cmd.writes(args):
		lc, e := cmd.write(x, args)
		if e != "" {
			x.w.Error(e)
			return
		}
		lc.DB = x.st.db
		if lc.Op == storage.OpScript { // EVAL queued in MULTI runs in the EXEC's entry
			s.runScriptInTxn(x, &lc)
			return
		}
		r := x.txn.Apply(lc)
		if cmd.replyS != nil && r.Kind != storage.ResultErr {
			cmd.replyS(s, x.w, &lc, r)
			return
		}
		if r.Kind == storage.ResultErr || cmd.reply == nil {
			x.w.Result(r)
			return
		}
		cmd.reply(x.w, r)
	case cmd.read != nil:
		cmd.read(x, x.txn.Reader(), args)
	default:
		cmd.local(x, args)
	}
}

// blockInTxn runs a blocking pop inside a transaction as Redis does: one
// try, never a wait.
func (x *execCtx) blockInTxn(bc blockCall) {
	pop := bc.pop
	pop.DB = x.st.db
	r := x.txn.Apply(pop)
	switch {
	case r.Kind == storage.ResultErr:
		x.w.Result(r)
	case bc.served(r):
		bc.reply(x.w, r)
	case pop.Op == storage.OpLMove:
		x.w.Null()
	default:
		x.w.NullArray()
	}
}

// encodeArgs packs a command's arguments into one value: a count, then
// each argument's length and bytes.
func encodeArgs(args [][]byte) []byte {
	n := binary.MaxVarintLen64
	for _, a := range args {
		n += len(a) + binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(args)))
	for _, a := range args {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	return b
}

func decodeArgs(b []byte) ([][]byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > uint64(len(b)) {
		return nil, false
	}
	b = b[k:]
	args := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, false
		}
		args = append(args, b[k:k+int(l):k+int(l)])
		b = b[k+int(l):]
	}
	return args, len(b) == 0
}
