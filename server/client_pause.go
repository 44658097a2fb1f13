package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// CLIENT PAUSE <ms> [WRITE|ALL] and CLIENT UNPAUSE, as Redis 7.0: while a
// pause is in force, a client's command waits before it runs if the pause
// is ALL, or if it is WRITE and the command may write (a write command, a
// may-replicate one such as PUBLISH or EVAL, or an EXEC of queued writes;
// a write queued inside MULTI waits too, as in Redis). A pause already in
// force keeps the later end and the stronger mode. Like Redis, a pause
// holds every client of this node, the one that paused included (under
// ALL, even its CLIENT UNPAUSE waits for the end); MONITOR connections,
// which Redis counts as replicas, are not held.
//
// A pause is this node's: it never holds apply, peer links or commands a
// follower forwards here (their clients are held, or not, by the node
// they are connected to). Unlike Redis, keepkv's expiry keeps running
// during a pause: expired keys still read as absent, and the leader keeps
// proposing their deletes.

// pauseState is the node's pause.
type pauseState struct {
	on atomic.Bool // a pause may be in force: intercept's quick check

	mu    sync.Mutex
	all   bool
	end   time.Time
	ended chan struct{} // closed by UNPAUSE
	// waiting counts the commands held now; changed is closed and
	// replaced whenever it changes (tests await it).
	waiting int
	changed chan struct{}
}

// set starts a pause, or extends the one in force.
func (ps *pauseState) set(end time.Time, all bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := time.Now()
	if !ps.activeLocked(now) {
		if !end.After(now) {
			return // already over (CLIENT PAUSE 0, or an end past the clock's range)
		}
		ps.all, ps.end, ps.ended = all, end, make(chan struct{})
		ps.on.Store(true)
		return
	}
	ps.all = ps.all || all
	if end.After(ps.end) {
		ps.end = end
	}
}

// lift ends the pause (CLIENT UNPAUSE).
func (ps *pauseState) lift() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ended != nil {
		close(ps.ended)
		ps.ended = nil
	}
	ps.end = time.Time{}
	ps.on.Store(false)
}

func (ps *pauseState) activeLocked(now time.Time) bool { return ps.ended != nil && now.Before(ps.end) }

// holds reports whether the pause holds a command that may write (or not)
// now, and if so, until when and what ends it early.
func (ps *pauseState) holds(write bool) (bool, time.Time, <-chan struct{}) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.activeLocked(time.Now()) {
		if ps.ended != nil { // over: forget it
			ps.ended = nil
			ps.on.Store(false)
		}
		return false, time.Time{}, nil
	}
	return ps.all || write, ps.end, ps.ended
}

func (ps *pauseState) addWaiting(d int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.waiting += d
	if ps.changed != nil {
		close(ps.changed)
	}
	ps.changed = make(chan struct{})
}

// waitingNow returns how many commands are held, and a channel closed
// when that changes.
func (ps *pauseState) waitingNow() (int, <-chan struct{}) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.changed == nil {
		ps.changed = make(chan struct{})
	}
	return ps.waiting, ps.changed
}

// holdWhilePaused waits while a pause applies to cmd (txn: the commands
// an EXEC runs). It returns false if the client went away or the server
// is closing meanwhile: the command must not run.
func (p *pipeline) holdWhilePaused(cmd *command, txn [][]byte) bool {
	s, st := p.s, p.st
	ps := &s.admin.pause
	if !ps.on.Load() || st.adm.monitor != nil {
		return true
	}
	write := p.mayWrite(cmd, txn)
	if hold, _, _ := ps.holds(write); !hold {
		return true
	}
	// What the pipeline ran before goes out first, as in Redis.
	p.flushPending()
	flushConn(st, s.cfg.ClientWriteTimeout)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	if pc, ok := st.conn.NetConn().(*protoConn); ok {
		defer pc.watch(cancel)()
	}
	st.mu.Lock()
	st.adm.paused = true
	st.mu.Unlock()
	s.blk.blocked.Add(1) // INFO blocked_clients counts paused clients, as Redis
	ps.addWaiting(1)
	defer func() {
		ps.addWaiting(-1)
		s.blk.blocked.Add(-1)
		st.mu.Lock()
		st.adm.paused = false
		st.mu.Unlock()
	}()
	for {
		hold, until, ended := ps.holds(write)
		if !hold {
			return true
		}
		t := time.NewTimer(time.Until(until))
		select {
		case <-ended:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// mayWrite reports whether CLIENT PAUSE WRITE holds cmd.
func (p *pipeline) mayWrite(cmd *command, txn [][]byte) bool {
	if cmd.write != nil || cmd.flags&flagWrite != 0 || mayReplicate[cmd.name] {
		return true
	}
	for _, enc := range txn {
		if args, ok := decodeArgs(enc); ok {
			if c := p.s.table.lookup(args[0]); c != nil && p.mayWrite(c, nil) {
				return true
			}
		}
	}
	return false
}

// flushConn writes a connection's buffered replies to the network now.
func flushConn(st *connState, timeout time.Duration) error {
	if nc := st.conn.NetConn(); nc != nil {
		nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	if dc, ok := st.conn.(redcon.DetachedConn); ok {
		return dc.Flush()
	}
	if w := redcon.BaseWriter(st.conn); w != nil {
		return w.Flush()
	}
	return nil
}

// clientPause answers CLIENT PAUSE <timeout> [WRITE|ALL]; Redis checks
// the mode before the timeout.
func clientPause(x *execCtx, args [][]byte) {
	all := true
	if len(args) == 4 {
		switch {
		case eq(args[3], "write"):
			all = false
		case eq(args[3], "all"):
		default:
			x.w.Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
			return
		}
	}
	ms, ok := parseInt(args[2])
	if !ok {
		x.w.Error("ERR timeout is not an integer or out of range")
		return
	}
	if ms < 0 {
		x.w.Error("ERR timeout is negative")
		return
	}
	// Redis adds the clock in milliseconds to the timeout, wrapping
	// around: a timeout past the clock's range ends before it starts.
	var end time.Time
	if ms > 0 {
		end = time.UnixMilli(time.Now().UnixMilli() + ms)
	}
	x.s.admin.pause.set(end, all)
	x.w.OK()
}

// clientPauseArgs answers the argument counts CLIENT PAUSE refuses.
func clientPauseArgs(x *execCtx, args [][]byte) bool {
	switch n := len(args); {
	case n == 3 || n == 4:
		return true
	case n < 3:
		x.w.Error("ERR wrong number of arguments for 'client|pause' command")
	default:
		x.w.Error("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try CLIENT HELP.")
	}
	return false
}

// clientReply answers CLIENT REPLY ON|OFF|SKIP. OFF and SKIP have no reply;
// ON has, once replies are back on.
func clientReply(x *execCtx, args [][]byte) {
	st := x.st
	switch strings.ToLower(string(args[2])) {
	case "on":
		st.adm.replyOff, st.adm.skipNext = false, false
		st.adm.unmute(st)
		st.setMonitorMuted(false)
		x.w.OK()
	case "off":
		st.adm.replyOff = true
		st.setMonitorMuted(true)
	case "skip":
		if !st.adm.replyOff {
			st.adm.skipNext = true
		}
	default:
		x.w.Error(errSyntax)
	}
}
