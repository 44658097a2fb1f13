package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// needsLeader reports whether cmd must run on the leader: writes, reads in
// the default linearizable mode, and leader-only admin subcommands.
func (p *pipeline) needsLeader(cmd *command, args [][]byte) bool {
	switch {
	case cmd.leaderOnly != nil:
		return cmd.leaderOnly(args)
	case cmd.local != nil:
		return false
	case cmd.writes(args):
		return true
	}
	return !p.staleAllowed()
}

// staleAllowed: this connection sent READONLY, or the server serves stale
// reads by configuration.
func (p *pipeline) staleAllowed() bool { return p.st.readonly || p.s.cfg.StaleReads || brokenReads }

func (p *pipeline) shouldForward(cmd *command, args [][]byte) bool {
	return !p.noForward && !p.s.node.IsLeader() && p.needsLeader(cmd, args)
}

// staleOK reports whether a read may be served from local state without
// confirming leadership: READONLY on a node that is not the leader.
func (p *pipeline) staleOK() bool { return p.staleAllowed() && !p.s.node.IsLeader() }

// readStale serves a read from this node's state as it is, once the node
// has caught up with what was committed when it (re)started.
func (p *pipeline) readStale(x *execCtx, cmd *command, args [][]byte) {
	p.readAfter(p.s.node.CatchUp, x, cmd, args)
}

// flushReads serves queued reads, in order, from one consistent view.
func (p *pipeline) flushReads() {
	if len(p.reads) == 0 {
		return
	}
	reads := p.reads
	p.reads = nil
	x := execCtx{s: p.s, st: p.st, w: &p.st.w, now: time.Now().UnixMilli()}
	err := p.s.db.View(func(r *storage.Reader) error {
		for i, rd := range reads {
			errs := x.w.errs
			rd.cmd.read(&x, r, rd.args)
			reads[i].t.failed = x.w.errs != errs
		}
		return nil
	})
	if err != nil {
		for i := range reads {
			x.w.Error(clusterError(err))
			reads[i].t.failed = true
		}
	}
	done := p.now()
	for _, rd := range reads {
		rd.t.done(done, rd.t.failed)
	}
	clear(reads) // the commands' arguments
	p.st.readBuf = reads[:0]
}

func (p *pipeline) readLocal(x *execCtx, cmd *command, args [][]byte) {
	x.now = time.Now().UnixMilli()
	if cmd.flags&flagScan != 0 {
		// An iteration may run long: it ends when the client goes away or
		// the server shuts down, and holds up nobody else meanwhile.
		ctx, cancel := context.WithCancel(p.s.ctx)
		defer cancel()
		if pc, ok := p.st.conn.NetConn().(*protoConn); ok {
			defer pc.watch(cancel)()
		}
		x.ctx = ctx
		cmd.read(x, nil, args)
		return
	}
	err := p.s.db.View(func(r *storage.Reader) error {
		cmd.read(x, r, args)
		return nil
	})
	if err != nil {
		x.w.Error(clusterError(err))
	}
}

// runForwarded runs FWD <db> <proto> <origin> <request id> <command...>
// from a follower: the command in the client's database, answered in the
// client's protocol, a write applied at most once per request id.
func (p *pipeline) runForwarded(args [][]byte) {
	if len(args) < 7 {
		p.immediate("ERR malformed FWD")
		return
	}
	db, ok1 := parseInt(args[1])
	proto, ok2 := parseInt(args[2])
	if !ok1 || !ok2 || db < 0 || db >= storage.NumDBs || (proto != 2 && proto != 3) {
		p.immediate("ERR malformed FWD")
		return
	}
	p.noForward = true
	if uint8(db) != p.st.db || int(proto) != p.st.resp || !bytes.Equal(args[3], p.fwdOrigin) {
		p.flushWrites()
		p.st.setDB(uint8(db))
		p.st.setResp(int(proto))
		p.fwdOrigin = append(p.fwdOrigin[:0:0], args[3]...)
	}
	p.req, p.fwdUser = args[4], string(args[5])
	p.run(args[6:])
	p.req, p.fwdUser = nil, ""
}

// origin names the client whose writes the pipeline proposes (a storage
// Entry's Origin): this node and the connection, or for forwarded
// commands the follower's client.
func (p *pipeline) origin() []byte {
	if p.fwdOrigin != nil {
		return p.fwdOrigin
	}
	return clientOrigin(p.s, p.st)
}

func clientOrigin(s *Server, st *connState) []byte {
	if st.origin == nil { // built once per connection
		st.origin = append(binary.AppendUvarint(nil, st.id), s.node.ID()...)
	}
	return st.origin
}

// flushForward sends queued commands to the leader as one pipeline and
// copies the replies back in order.
func (p *pipeline) flushForward() {
	if len(p.fwd) == 0 {
		return
	}
	cmds, timings := p.fwd, p.fwdT
	p.fwd, p.fwdT = nil, nil
	p.s.metrics.forwardedN(len(cmds))
	if len(timings) != len(cmds) {
		timings = nil
	}
	replies, e := p.s.forward(p.st.db, p.st.resp, p.origin(), p.st.user, cmds)
	if e != "" {
		done := p.now()
		for i := range cmds {
			p.st.w.Error(e)
			if timings != nil {
				timings[i].done(done, true)
			}
		}
		return
	}
	done := p.now()
	for i, r := range replies {
		p.st.enc.raw(r)
		if timings != nil && i < len(timings) {
			timings[i].done(done, len(r) > 0 && (r[0] == '-' || r[0] == '!'))
		}
	}
}

// forward sends cmds to the leader as one pipeline and returns one raw
// reply per command, or an error reply for all of them.
//
// Every command travels with a request id, so that it can be sent again
// (issue 19): when the leader cannot be reached, dies or loses leadership
// while the commands are in flight, they go again, with the same ids, to
// whichever node leads next, until --leader-wait has passed. A write whose
// id was applied before is not applied again: the leader answers with the
// stored reply (storage's request table). Reads simply run again. Only
// when the wait runs out does the client hear CLUSTERDOWN or TRYAGAIN.
func (s *Server) forward(db uint8, proto int, origin []byte, user string, cmds [][][]byte) ([][]byte, string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Raft.LeaderWait+10*time.Second)
	defer cancel()
	rids := make([][]byte, len(cmds))
	for i := range rids {
		rids[i] = s.newRequestID()
	}
	retryUntil := time.Now().Add(s.cfg.Raft.LeaderWait)
	var last string
	sent := false // some attempt reached a leader: the outcome may be unknown
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if time.Now().After(retryUntil) {
				return nil, last
			}
			select {
			case <-ctx.Done():
				return nil, last
			case <-time.After(50 * time.Millisecond): // the next leader's election takes time: pace the retries
			}
		}
		lctx, lcancel := context.WithDeadline(ctx, retryUntil)
		addr, err := s.node.LeaderAddr(lctx)
		lcancel()
		if err != nil {
			if !sent || last == "" {
				// Nothing went out: no leader within the wait.
				if errors.Is(err, context.DeadlineExceeded) {
					err = replication.ErrNoLeader
				}
				last = clusterError(err)
			}
			continue
		}
		sent = true
		replies, err := s.fwd.do(ctx, addr, db, proto, origin, user, rids, cmds)
		switch {
		case errors.Is(err, errUnreachable):
			last = "CLUSTERDOWN " + err.Error()
			continue
		case err != nil:
			// Sent, but no reply: the leader may have died. The same
			// request ids go again; what was applied is not applied twice.
			last = fmt.Sprintf("TRYAGAIN forwarding to the leader failed for %v: %v", s.cfg.Raft.LeaderWait, err)
			s.stats.forwardRetries.Add(1)
			continue
		}
		if !retryable(replies) || time.Now().After(retryUntil) {
			return replies, ""
		}
		s.stats.forwardRetries.Add(1)
	}
}

// retryable reports whether a reply says the leader changed under the
// commands (they may be sent again with the same request ids).
func retryable(replies [][]byte) bool {
	for _, r := range replies {
		if (bytes.HasPrefix(r, []byte("-TRYAGAIN")) && !bytes.HasPrefix(r, []byte("-TRYAGAIN the write was applied"))) || bytes.HasPrefix(r, []byte("-CLUSTERDOWN")) {
			return true
		}
	}
	return false
}

// newRequestID returns an id no request of any node ever had: this node's
// id, a random number drawn when the server started, and a counter.
func (s *Server) newRequestID() []byte {
	b := append([]byte(s.node.ID()), '/')
	b = append(b, s.reqNonce[:]...)
	return binary.AppendUvarint(b, s.reqSeq.Add(1))
}
