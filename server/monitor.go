package server

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MONITOR, as Redis 7.0: after +OK the connection receives, as status
// replies, every command any client of this node runs, in the format
//
//	+1700000000.123456 [0 127.0.0.1:5555] "SET" "k" "v"
//
// (time, the client's database after the command, its address, the
// arguments quoted as Redis's sdscatrepr does). As in Redis: a command is
// shown after it ran, so SELECT shows its new database (a script, EVAL
// and the like, before it runs: the commands it runs are to be shown
// after it, from "lua", through feedMonitors); a command refused
// before it runs (unknown, wrong arity, NOAUTH, NOPERM) is not shown, nor
// is an administrative one (CONFIG, CLIENT KILL|LIST|PAUSE|..., MONITOR,
// SHUTDOWN, DEBUG, RAFT); the commands of a MULTI are shown when EXEC runs
// them, before EXEC; AUTH's arguments, and HELLO's AUTH username and
// password, show as "(redacted)". Unlike Redis, a command is shown once
// dispatched: a write of a pipeline may still be on its way through Raft,
// and the commands of an EXEC that WATCH aborted are shown too. Commands
// that reach this node from a follower are shown by the follower's
// monitors, not here.
//
// The monitor connection stays a client: it may still run commands that
// do not touch the keyspace (PING, CLIENT ..., RESET ends monitoring); the
// others get Redis's "Replica can't interact with the keyspace". Lines go
// straight to the network connection from the monitor's writer goroutine,
// one Write per batch, so they never split the connection's own replies.
// A monitor that lets monitorBufferLimit bytes of lines pile up is
// disconnected, as Redis disconnects a replica past its output buffer
// limit.

// monitorBufferLimit bounds the bytes of lines waiting for one monitor.
const monitorBufferLimit = 32 << 20

// monitorSet is the node's monitors.
type monitorSet struct {
	n  atomic.Int32 // attached monitors: the quick check of every command
	mu sync.Mutex
	m  map[*monitor]struct{}
}

// monitor is one MONITOR connection's feed.
type monitor struct {
	st    *connState
	nc    net.Conn
	muted atomic.Bool // CLIENT REPLY OFF: lines are dropped, as its replies
	// writing is held by the writer from taking a batch until it is on the
	// network; mu guards buf only, so feeding never waits for the network.
	writing sync.Mutex
	mu      sync.Mutex
	buf     []byte // lines not yet written
	wake    chan struct{}
	done    chan struct{} // closed when the monitor is removed
	once    sync.Once
}

func monitorCommands() []*command {
	return []*command{
		{name: "monitor", arity: 1, flags: flagAdmin, group: "server", summary: "Listens for all requests received by the server in real-time.", since: "1.0.0", local: cmdMonitor},
	}
}

// cmdMonitor turns the connection into a monitor. A connection that
// already is one gets no reply, as in Redis.
func cmdMonitor(x *execCtx, _ [][]byte) {
	st := x.st
	if st.adm.monitor != nil {
		return
	}
	// Registered before +OK goes out: a command another client sends
	// once it has seen the +OK is fed to this monitor. Lines queue until
	// the writer starts, after the +OK.
	m := &monitor{st: st, nc: st.conn.NetConn(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.muted.Store(st.adm.replyOff)
	st.mu.Lock()
	st.adm.monitor = m
	st.mu.Unlock()
	ms := &x.s.admin.monitors
	ms.mu.Lock()
	if ms.m == nil {
		ms.m = map[*monitor]struct{}{}
	}
	ms.m[m] = struct{}{}
	ms.n.Add(1)
	ms.mu.Unlock()
	x.w.OK()
	// +OK, and the replies before it, go out before the first line.
	if err := flushConn(st, x.s.cfg.ClientWriteTimeout); err != nil {
		st.quit = true
		return
	}
	go m.writer(x.s)
}

// stopMonitor ends st's monitoring (RESET, disconnect); st's goroutine.
func (s *Server) stopMonitor(st *connState) {
	m := st.adm.monitor
	if m == nil {
		return
	}
	st.mu.Lock()
	st.adm.monitor = nil
	st.mu.Unlock()
	s.admin.monitors.remove(m)
	// A batch already taken reaches the network before RESET's reply.
	m.writing.Lock()
	m.mu.Lock()
	m.buf = nil
	m.mu.Unlock()
	m.writing.Unlock()
}

func (ms *monitorSet) remove(m *monitor) {
	ms.mu.Lock()
	if _, ok := ms.m[m]; ok {
		delete(ms.m, m)
		ms.n.Add(-1)
	}
	ms.mu.Unlock()
	m.once.Do(func() { close(m.done) })
}

// setMonitorMuted follows CLIENT REPLY on a monitor; st's goroutine.
func (st *connState) setMonitorMuted(muted bool) {
	if m := st.adm.monitor; m != nil {
		m.muted.Store(muted)
	}
}

// writer sends the monitor its lines until it is removed, its client goes
// away or the server closes.
func (m *monitor) writer(s *Server) {
	for {
		select {
		case <-m.wake:
		case <-m.done:
			return
		case <-s.stop:
			return
		}
		m.writing.Lock()
		m.mu.Lock()
		buf := m.buf
		m.buf = nil
		m.mu.Unlock()
		var err error
		if len(buf) > 0 {
			m.nc.SetWriteDeadline(time.Now().Add(s.cfg.ClientWriteTimeout))
			_, err = m.nc.Write(buf)
		}
		m.writing.Unlock()
		if err != nil {
			s.admin.monitors.remove(m)
			m.nc.Close()
			return
		}
	}
}

// push queues a line, or cuts off a monitor that cannot keep up.
func (m *monitor) push(line []byte, ms *monitorSet) {
	if m.muted.Load() {
		return
	}
	m.mu.Lock()
	over := len(m.buf)+len(line) > monitorBufferLimit
	if !over {
		m.buf = append(m.buf, line...)
	}
	m.mu.Unlock()
	if over {
		ms.removeLocked(m)
		m.nc.Close()
		return
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// removeLocked is remove with ms.mu held.
func (ms *monitorSet) removeLocked(m *monitor) {
	if _, ok := ms.m[m]; ok {
		delete(ms.m, m)
		ms.n.Add(-1)
	}
	m.once.Do(func() { close(m.done) })
}

// feedMonitors shows a command that ran to every monitor: from is the
// client's address ("lua" for a script's calls), db its database after
// the command.
func (s *Server) feedMonitors(from string, db uint8, cmd *command, args [][]byte) {
	ms := &s.admin.monitors
	if ms.n.Load() == 0 || cmd == nil || cmd.flags&flagAdmin != 0 || (cmd.adminIf != nil && cmd.adminIf(args)) {
		return
	}
	line := monitorLine(time.Now(), from, db, args)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for m := range ms.m {
		m.push(line, ms)
	}
}

// monitorLine formats one line, as Redis's replicationFeedMonitors.
func monitorLine(now time.Time, from string, db uint8, args [][]byte) []byte {
	n := 48 + len(from)
	for _, a := range args {
		n += len(a) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '+')
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	us := now.Nanosecond() / 1000
	for d := 100000; d > 1 && us < d; d /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(us), 10)
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, ' ')
	b = append(b, from...)
	b = append(b, "] "...)
	redact := redactedArgs(args)
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		if redact[i] {
			a = []byte("(redacted)")
		}
		b = appendRepr(b, a)
	}
	return append(b, '\r', '\n')
}

// redactedArgs marks the arguments Redis hides from monitors: AUTH's,
// and the username and password of HELLO's AUTH option (only when Redis
// gets that far parsing HELLO: a bad protocol version or an unknown
// option before AUTH stops it first).
func redactedArgs(args [][]byte) []bool {
	r := make([]bool, len(args))
	switch {
	case eq(args[0], "auth"):
		for i := 1; i < len(args); i++ {
			r[i] = true
		}
	case eq(args[0], "hello"):
		j := 1
		if len(args) >= 2 {
			v, ok := parseInt(args[1])
			if !ok || v < 2 || v > 3 {
				return r
			}
			j = 2
		}
		for ; j < len(args); j++ {
			more := len(args) - 1 - j
			switch {
			case eq(args[j], "auth") && more >= 2:
				r[j+1], r[j+2] = true, true
				j += 2
			case eq(args[j], "setname") && more >= 1:
				j++
			default:
				return r
			}
		}
	}
	return r
}

// appendRepr quotes s as Redis's sdscatrepr does.
func appendRepr(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\a':
			b = append(b, '\\', 'a')
		case '\b':
			b = append(b, '\\', 'b')
		default:
			if c >= ' ' && c <= '~' {
				b = append(b, c)
			} else {
				b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			}
		}
	}
	return append(b, '"')
}
