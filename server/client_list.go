package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CLIENT LIST, CLIENT INFO and CLIENT KILL, as Redis 7.0.
//
// A line has Redis 7.0's fields in its order, then lib-name and lib-ver
// (CLIENT SETINFO, Redis 7.2). Values keepkv does not account per
// connection print 0: qbuf, qbuf-free, multi-mem, rbs, rbp, obl, oll,
// omem, tot-mem (redcon owns the buffers); argv-mem is the size of the
// arguments of the command the connection is running, as in Redis.
// Flags: O monitor, P subscribed, x in MULTI, b held by CLIENT PAUSE,
// t tracking, B tracking in BCAST mode, e no-evict, T no-touch, else N.
// (A client blocked in BLPOP & co. does not show b.) Other connections'
// MULTI, Pub/Sub and tracking state is what they had after their last
// command that could change it (connSnap).

// clientLine formats one connection for CLIENT LIST or INFO.
func (s *Server) clientLine(st *connState) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	sn := st.snapshotLocked()
	cmd := st.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	var b strings.Builder
	b.Grow(320)
	field := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	num := func(k string, n int64) { field(k, strconv.FormatInt(n, 10)) }
	num("id", int64(st.id))
	field("addr", st.addr)
	field("laddr", st.laddr)
	num("fd", int64(st.fdLocked()))
	field("name", st.name)
	num("age", int64(now.Sub(st.created)/time.Second))
	num("idle", int64(now.Sub(st.lastAt)/time.Second))
	field("flags", st.flagsLocked(sn))
	num("db", int64(st.db))
	num("sub", int64(sn.sub))
	num("psub", int64(sn.psub))
	num("ssub", int64(sn.ssub))
	num("multi", int64(sn.multi))
	for _, k := range []string{"qbuf", "qbuf-free"} {
		field(k, "0")
	}
	num("argv-mem", int64(st.adm.argvMem))
	for _, k := range []string{"multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem"} {
		field(k, "0")
	}
	field("events", "r")
	field("cmd", cmd)
	field("user", st.user)
	num("redir", sn.redir)
	num("resp", int64(st.resp))
	field("lib-name", st.libName)
	field("lib-ver", st.libVer)
	return b.String()
}

// flagsLocked returns CLIENT LIST's flags; st.mu is held.
func (st *connState) flagsLocked(sn connSnap) string {
	var f []byte
	if st.adm.monitor != nil {
		f = append(f, 'O')
	}
	if sn.sub+sn.psub+sn.ssub > 0 {
		f = append(f, 'P')
	}
	if sn.multi >= 0 {
		f = append(f, 'x')
	}
	if st.adm.paused {
		f = append(f, 'b')
	}
	if sn.tracking {
		f = append(f, 't')
	}
	if sn.bcast {
		f = append(f, 'B')
	}
	if st.adm.noEvict {
		f = append(f, 'e')
	}
	if st.adm.noTouch {
		f = append(f, 'T')
	}
	if len(f) == 0 {
		return "N"
	}
	return string(f)
}

// clientType is Redis's client type: every keepkv client is normal (a
// MONITOR included, as in Redis) or, while subscribed, pubsub.
func (st *connState) clientType() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sn := st.snapshotLocked(); sn.sub+sn.psub+sn.ssub > 0 {
		return "pubsub"
	}
	return "normal"
}

// parseClientType reads a TYPE argument: normal, master, replica (or
// slave) or pubsub.
func parseClientType(b []byte) (string, bool) {
	switch t := strings.ToLower(string(b)); t {
	case "normal", "master", "pubsub":
		return t, true
	case "replica", "slave":
		return "replica", true
	}
	return "", false
}

// clientListCmd answers CLIENT LIST [TYPE <type> | ID <id> ...]. Redis
// lists the IDs in the order given, each as often as given.
func clientListCmd(x *execCtx, opts [][]byte) {
	var sel []*connState
	switch {
	case len(opts) == 0:
		sel = x.s.clientList()
	case len(opts) == 2 && eq(opts[0], "type"):
		t, ok := parseClientType(opts[1])
		if !ok {
			x.w.Error(fmt.Sprintf("ERR Unknown client type '%s'", opts[1]))
			return
		}
		for _, st := range x.s.clientList() {
			if st.clientType() == t {
				sel = append(sel, st)
			}
		}
	case len(opts) >= 2 && eq(opts[0], "id"):
		ids := make([]int64, 0, len(opts)-1)
		for _, a := range opts[1:] {
			id, ok := parseInt(a)
			if !ok {
				x.w.Error("ERR Invalid client ID")
				return
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			if id > 0 {
				if st := x.s.clientByID(uint64(id)); st != nil {
					sel = append(sel, st)
				}
			}
		}
	default:
		x.w.Error(errSyntax)
		return
	}
	var b strings.Builder
	for _, st := range sel {
		b.WriteString(x.s.clientLine(st))
		b.WriteByte('\n')
	}
	x.w.Verbatim(b.String())
}

// clientKill answers CLIENT KILL <ip:port> (the old form: OK, or an error
// when no client matched; it may kill the caller) and CLIENT KILL with
// filters ID, TYPE, ADDR, LADDR, USER and SKIPME (the number of clients
// killed; SKIPME yes by default). A later filter of the same kind replaces
// an earlier one, as in Redis. The caller, if it matches, is closed after
// the reply; any other matching client at once.
func clientKill(x *execCtx, args [][]byte) {
	var (
		id                uint64
		typ, addr, laddr  string
		user              string
		hasAddr, hasLaddr bool
		hasUser           bool
		skipme            = true
	)
	if len(args) == 3 {
		addr, hasAddr, skipme = string(args[2]), true, false
	} else {
		for i := 2; i < len(args); i += 2 {
			if i+1 >= len(args) {
				x.w.Error(errSyntax)
				return
			}
			v := args[i+1]
			switch {
			case eq(args[i], "id"):
				n, ok := parseInt(v)
				if !ok || n < 1 {
					x.w.Error("ERR client-id should be greater than 0")
					return
				}
				id = uint64(n)
			case eq(args[i], "type"):
				t, ok := parseClientType(v)
				if !ok {
					x.w.Error(fmt.Sprintf("ERR Unknown client type '%s'", v))
					return
				}
				typ = t
			case eq(args[i], "addr"):
				addr, hasAddr = string(v), true
			case eq(args[i], "laddr"):
				laddr, hasLaddr = string(v), true
			case eq(args[i], "user"):
				if !x.s.userExists(string(v)) {
					x.w.Error(fmt.Sprintf("ERR No such user '%s'", v))
					return
				}
				user, hasUser = string(v), true
			case eq(args[i], "skipme"):
				switch {
				case eq(v, "yes"):
					skipme = true
				case eq(v, "no"):
					skipme = false
				default:
					x.w.Error(errSyntax)
					return
				}
			default:
				x.w.Error(errSyntax)
				return
			}
		}
	}
	killed, self := 0, false
	for _, st := range x.s.clientList() {
		st.mu.Lock()
		match := (!hasAddr || st.addr == addr) && (!hasLaddr || st.laddr == laddr) &&
			(id == 0 || st.id == id) && (!hasUser || st.user == user)
		st.mu.Unlock()
		if !match || (typ != "" && st.clientType() != typ) || (st == x.st && skipme) {
			continue
		}
		killed++
		if st == x.st {
			self = true
			continue
		}
		x.s.kill(st)
	}
	switch {
	case len(args) != 3:
		x.w.Int(int64(killed))
	case killed == 0:
		x.w.Error("ERR No such client")
	default:
		x.w.OK()
	}
	if self {
		x.st.quit = true
	}
}

// kill closes another connection's network connection: its goroutine
// then fails its read (or its wait: a blocked or paused client is
// watching) and cleans up as on any disconnect. It leaves the client list
// at once, as in Redis.
func (s *Server) kill(st *connState) {
	st.mu.Lock()
	nc := st.netConnLocked()
	st.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	s.clientsMu.Lock()
	delete(s.clients, st.id)
	s.clientsMu.Unlock()
}

// userExists reports whether name is a user CLIENT KILL USER may name.
func (s *Server) userExists(name string) bool { return s.acl.get(name) != nil }
