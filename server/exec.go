package server

import (
	"context"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// Bounds on one log entry built from a pipeline; a longer pipeline becomes
// several entries, all proposed before any is awaited.
const (
	maxEntryCmds  = 1024
	maxEntryBytes = 4 << 20
)

// handle runs a whole pipeline: the command redcon hands over plus every
// command already buffered behind it.
func (s *Server) handle(c redcon.Conn, first redcon.Command) {
	st := c.Context().(*connState)
	p := pipeline{s: s, st: st}
	p.run(first.Args)
	for _, cmd := range c.ReadPipeline() {
		if st.closing() {
			break
		}
		p.run(cmd.Args)
		// Bound what one pipeline holds: queued reads, queued writes, and
		// replies not yet on the socket.
		if len(p.reads) >= maxQueuedReads {
			p.flushReads()
		}
		if len(p.writes) >= 4*maxEntryCmds {
			p.flushWrites()
		}
		if len(redcon.BaseWriter(c).Buffer()) > outputFlushBytes {
			p.flushOutput(c)
		}
	}
	p.flushWrites()
	p.flushForward()
	p.flushReads()
	// redcon flushes the replies after we return; a client that does not
	// read them fails the write after ClientWriteTimeout and is closed.
	if nc := c.NetConn(); nc != nil {
		nc.SetWriteDeadline(time.Now().Add(s.cfg.ClientWriteTimeout))
	}
	if st.closing() {
		BaseFlush(c)
		c.Close()
		return
	}
	if st.wantDetach && st.sub != nil && !st.detached {
		st.detached = true
		s.detach(c, st)
	}
}

// outputFlushBytes bounds the replies a connection buffers in memory: past
// it, they go to the socket before the pipeline goes on, so a client that
// sends much and reads slowly holds back only itself.
const (
	outputFlushBytes = 1 << 20
	maxQueuedReads   = 64
)

// flushOutput writes buffered replies now. A client that does not read
// them within ClientWriteTimeout is disconnected.
func (p *pipeline) flushOutput(c redcon.Conn) {
	if nc := c.NetConn(); nc != nil {
		nc.SetWriteDeadline(time.Now().Add(p.s.cfg.ClientWriteTimeout))
	}
	if err := redcon.BaseWriter(c).Flush(); err != nil {
		p.st.quit = true
	}
}

// pipeline accumulates consecutive writes so they are proposed together,
// and remembers whether this pipeline already passed the read barrier.
type pipeline struct {
	s         *Server
	st        *connState
	writes    []pendingWrite
	fwd       [][][]byte  // commands queued for the leader
	fwdT      []cmdTiming // their timings, when every one has one (metrics_cmd.go)
	clock     time.Time   // the last clock reading for the metrics (metrics_cmd.go)
	reads     []pendingRead
	noForward bool   // running commands forwarded to us: never forward again
	fwdOrigin []byte // the forwarded commands' client (origin)
	req       []byte // the forwarded command's request id, while it runs
	fwdUser   string // the forwarded command's user (its scripts' ACL), while it runs
	barrier   bool
	err       string // barrier failure, reported to every read of the pipeline
}

type pendingRead struct {
	cmd  *command
	args [][]byte
	t    cmdTiming // ends when the reply is written (metrics_cmd.go)
}

type pendingWrite struct {
	cmd   *command
	lc    storage.Cmd
	reply string               // validation error to send instead
	after func(storage.Result) // told the applied result, after the reply
	t     cmdTiming            // ends when the reply is written (metrics_cmd.go)
	req   []byte               // a forwarded write's request id
}

func (p *pipeline) run(args [][]byte) {
	if p.intercept(args) { // CLIENT PAUSE/REPLY, MONITOR, commandstats (client_hook.go)
		return
	}
	s, st := p.s, p.st
	s.stats.commands.Add(1)
	if st.internal && (eq(args[0], "fwd") || eq(args[0], "fwdentry")) {
		if !st.authed {
			p.immediate("NOAUTH Authentication required.")
			return
		}
		if eq(args[0], "fwd") {
			p.runForwarded(args)
		} else {
			p.runEntry(args)
		}
		return
	}
	cmd := s.table.lookup(args[0])
	if st.multi != nil && !controlsMulti(cmd) {
		p.queue(cmd, args)
		return
	}
	if cmd == nil || (cmd.flags&flagInternal != 0 && !st.internal) {
		p.immediate(errUnknownCommand(args))
		return
	}
	if st.resp != 3 && st.subscribed() && !subscribedAllows(cmd.name) {
		p.immediate("ERR Can't execute '" + cmd.name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
		return
	}
	if p.clock.IsZero() { // not read for this pipeline yet (metrics_cmd.go)
		st.touch(cmd.name)
	} else {
		st.touchAt(cmd.name, p.clock) // the time this command started
	}
	if !cmd.arityOK(len(args)) {
		p.immediate(errArity(cmd.name))
		return
	}
	if cmd.flags&flagDenyOOM != 0 && cmd.keyTooLong(args) {
		p.immediate(errKeyTooLong)
		return
	}
	if !st.authed && cmd.flags&flagNoAuth == 0 {
		p.immediate("NOAUTH Authentication required.")
		return
	}
	if msg := s.permit(st, cmd, args, "toplevel"); msg != "" {
		if cmd.name == "exec" {
			msg = "EXECABORT Transaction discarded because of: " + msg
		}
		p.immediate(msg)
		return
	}
	if cmd.flags&flagDenyOOM != 0 && s.cfg.MaxDiskBytes > 0 && s.db.UsedBytes() > s.cfg.MaxDiskBytes {
		p.immediate("OOM command not allowed when used memory > 'maxmemory'.")
		return
	}
	if p.shouldForward(cmd, args) {
		p.flushWrites()
		p.flushReads()
		p.fwd = append(p.fwd, args)
		return
	}
	p.flushForward()
	x := execCtx{s: s, st: st, w: &st.w, p: p}
	if cmd.writes(args) {
		x.now = replication.Now()
		lc, reply := cmd.write(&x, args)
		p.flushReads()
		lc.DB = st.db
		if p.writes == nil { // reuse the connection's buffer
			p.writes, st.writeBuf = st.writeBuf, nil
		}
		p.writes = append(p.writes, pendingWrite{cmd: cmd, lc: lc, reply: reply, req: p.req})
		return
	}
	p.flushWrites()
	if cmd.local != nil {
		p.flushReads()
		cmd.local(&x, args)
		return
	}
	if cmd.viewless != nil && cmd.viewless(args) {
		p.flushReads()
		cmd.read(&x, nil, args)
		return
	}
	if st.tracking != nil {
		p.trackRead(cmd, args)
	}
	if p.staleOK() {
		p.readStale(&x, cmd, args)
		return
	}
	p.read(&x, cmd, args)
}

// immediate replies with an error in pipeline order.
func (p *pipeline) immediate(reply string) {
	if len(p.writes) > 0 {
		p.writes = append(p.writes, pendingWrite{reply: reply})
		return
	}
	p.flushForward()
	p.flushReads()
	p.st.w.Error(reply)
}

// read serves a linearizable read: once per pipeline, the leader confirms
// it still leads.
func (p *pipeline) read(x *execCtx, cmd *command, args [][]byte) {
	if brokenReads {
		p.readAfter(func(context.Context) error { return nil }, x, cmd, args)
		return
	}
	p.readAfter(p.s.node.ReadBarrier, x, cmd, args)
}

// readAfter passes barrier once per pipeline, then serves the read from
// local state; a barrier failure answers every read of the pipeline.
func (p *pipeline) readAfter(barrier func(context.Context) error, x *execCtx, cmd *command, args [][]byte) {
	if !p.barrier {
		p.barrier = true
		// A single voter's barrier needs no wait (and no context for one).
		if !p.s.node.SoleVoter() {
			ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.Raft.LeaderWait+time.Second)
			if err := barrier(ctx); err != nil {
				p.err = clusterError(err)
			}
			cancel()
		}
	}
	if p.err != "" {
		p.flushReads()
		x.w.Error(p.err)
		return
	}
	if cmd.flags&flagScan != 0 {
		p.flushReads()
		p.readLocal(x, cmd, args)
		return
	}
	if p.reads == nil { // reuse the connection's buffer
		p.reads, p.st.readBuf = p.st.readBuf, nil
	}
	p.reads = append(p.reads, pendingRead{cmd: cmd, args: args})
}

// flushWrites proposes every pending write, split into bounded entries that
// are all in flight before the first is awaited, then replies in order.
func (p *pipeline) flushWrites() {
	if len(p.writes) == 0 {
		return
	}
	writes := p.writes
	p.writes = nil
	type chunk struct {
		prop  *replication.Proposal
		entry []byte // the proposal's entry, for settle
		first int    // index in writes of the chunk's first command
		n     int
	}
	var chunks []chunk
	now := replication.Now()
	proposed := time.Now() // for the metrics
	for i := 0; i < len(writes); {
		e := storage.Entry{Now: now, Origin: p.origin(), Cmds: make([]storage.Cmd, 0, min(len(writes)-i, maxEntryCmds))}
		size, start := 0, i
		for ; i < len(writes) && len(e.Cmds) < maxEntryCmds && size < maxEntryBytes; i++ {
			if writes[i].reply != "" {
				continue
			}
			if writes[i].req != nil && e.Reqs == nil {
				e.Reqs = make([][]byte, len(e.Cmds), len(e.Cmds)+1)
			}
			if e.Reqs != nil {
				e.Reqs = append(e.Reqs, writes[i].req)
			}
			e.Cmds = append(e.Cmds, writes[i].lc)
			size += cmdSize(&writes[i].lc)
		}
		if len(e.Cmds) == 0 {
			continue
		}
		data := e.Encode()
		chunks = append(chunks, chunk{prop: p.s.node.Propose(context.Background(), data), entry: data, first: start, n: i - start})
	}
	next := 0
	for _, ch := range chunks {
		res, err := ch.prop.Wait()
		if err != nil && p.fwdOrigin == nil { // a forwarded write's follower settles it
			res, err = p.s.settle(ch.prop, err, ch.entry)
		}
		done := p.now()
		if err == nil {
			p.s.metrics.proposed(done.Sub(proposed))
		}
		k := 0
		for j := ch.first; j < ch.first+ch.n; j++ {
			w := &writes[j]
			errs := p.st.w.errs
			switch {
			case w.reply != "":
				p.st.w.Error(w.reply)
			case err != nil:
				p.st.w.Error(clusterError(err))
			default:
				if w.cmd.replyS != nil && res[k].Kind != storage.ResultErr {
					w.cmd.replyS(p.s, &p.st.w, &w.lc, res[k])
				} else {
					p.reply(w.cmd, res[k])
				}
				if w.after != nil {
					w.after(res[k])
				}
				k++
			}
			w.t.done(done, p.st.w.errs != errs)
		}
		next = ch.first + ch.n
	}
	if next < len(writes) {
		done := p.now()
		for _, w := range writes[next:] { // trailing validation errors
			p.st.w.Error(w.reply)
			w.t.done(done, true)
		}
	}
	// Writes applied by this pipeline are visible to its later reads; the
	// read barrier already taken still covers them.
	clear(writes)
	p.st.writeBuf = writes[:0]
}

func (p *pipeline) reply(cmd *command, r storage.Result) {
	if r.Kind == storage.ResultErr || cmd.reply == nil {
		p.st.w.Result(r)
		return
	}
	cmd.reply(&p.st.w, r)
}

func cmdSize(c *storage.Cmd) int {
	n := 32
	for _, k := range c.Keys {
		n += len(k)
	}
	for _, v := range c.Vals {
		n += len(v)
	}
	return n
}

func (st *connState) closing() bool { return st.quit }
