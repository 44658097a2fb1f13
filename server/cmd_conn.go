package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/keepkv/keepkv/storage"
)

func connectionCommands() []*command {
	return []*command{
		{name: "ping", arity: -1, flags: flagFast | flagInMulti, group: "connection", summary: "Returns the server's liveliness response.", since: "1.0.0", local: cmdPing},
		{name: "echo", arity: 2, flags: flagFast | flagInMulti, group: "connection", summary: "Returns the given string.", since: "1.0.0", local: cmdEcho},
		{name: "quit", arity: -1, flags: flagNoAuth | flagFast, group: "connection", summary: "Closes the connection.", since: "1.0.0", local: cmdQuit},
		{name: "auth", arity: -2, flags: flagNoAuth | flagFast, group: "connection", summary: "Authenticates the connection.", since: "1.0.0", local: cmdAuth},
		{name: "hello", arity: -1, flags: flagNoAuth | flagFast, group: "connection", summary: "Handshakes with the Redis server.", since: "6.0.0", local: cmdHello},
		{name: "select", arity: 2, flags: flagFast | flagInMulti, group: "connection", summary: "Changes the selected database.", since: "1.0.0", local: cmdSelect},
		{name: "acl", arity: -2, flags: 0, group: "server", summary: "A container for Access List Control commands.", since: "6.0.0", local: cmdACL, adminIf: aclAdmin},
		{name: "client", arity: -2, flags: 0, adminIf: clientAdmin, group: "connection", summary: "A container for client connection commands.", since: "2.4.0", local: cmdClient},
		{name: "readonly", arity: 1, flags: flagFast, group: "cluster", summary: "Enables read-only queries for a connection to a Redis Cluster replica node.", since: "3.0.0", local: cmdReadonly(true)},
		{name: "readwrite", arity: 1, flags: flagFast, group: "cluster", summary: "Enables read-write queries for a connection to a Redis Cluster replica node.", since: "3.0.0", local: cmdReadonly(false)},
	}
}

func cmdPing(x *execCtx, args [][]byte) {
	if x.st.resp != 3 && x.st.subscribed() && len(args) <= 2 {
		// Subscribed mode in RESP2: a pong message.
		x.w.Array(2)
		x.w.BulkString("pong")
		if len(args) == 2 {
			x.w.Bulk(args[1])
		} else {
			x.w.BulkString("")
		}
		return
	}
	switch len(args) {
	case 1:
		x.w.Status("PONG")
	case 2:
		x.w.Bulk(args[1])
	default:
		x.w.Error(errArity("ping"))
	}
}

func cmdEcho(x *execCtx, args [][]byte) { x.w.Bulk(args[1]) }

func cmdQuit(x *execCtx, _ [][]byte) {
	x.w.OK()
	x.st.quit = true
}

func cmdReadonly(on bool) localFunc {
	return func(x *execCtx, _ [][]byte) {
		x.st.readonly = on
		x.w.OK()
	}
}

const errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."

// login authenticates the connection as user, or reports failure.
func (x *execCtx) login(user, pass []byte) bool {
	perm, ok := x.s.authenticate(user, pass)
	if !ok {
		return false
	}
	x.st.authed, x.st.perm = true, perm
	x.st.mu.Lock()
	x.st.user = string(user)
	x.st.mu.Unlock()
	return true
}

func cmdAuth(x *execCtx, args [][]byte) {
	if len(args) > 3 {
		x.w.Error(errSyntax)
		return
	}
	user, pass := []byte("default"), args[len(args)-1]
	if len(args) == 3 {
		user = args[1]
	} else if x.s.cfg.Password == "" {
		x.w.Error(errNoAuthConfig)
		return
	}
	if !x.login(user, pass) {
		x.w.Error(errWrongPass)
		return
	}
	x.w.OK()
}

func cmdHello(x *execCtx, args [][]byte) {
	proto := x.st.resp
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			x.w.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			x.w.Error(errNoProto)
			return
		}
		proto = int(v)
	}
	var name []byte
	authed := x.st.authed || !x.s.authRequired()
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case eq(args[i], "auth") && more >= 2:
			if !x.login(args[i+1], args[i+2]) {
				x.w.Error(errWrongPass)
				return
			}
			authed = true
			i += 2
		case eq(args[i], "setname") && more >= 1:
			if !validName(args[i+1]) {
				x.w.Error(errClientName)
				return
			}
			name = args[i+1]
			i++
		default:
			x.w.Error(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", args[i]))
			return
		}
	}
	if !authed {
		x.w.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if name != nil {
		x.st.mu.Lock()
		x.st.name = string(name)
		x.st.mu.Unlock()
	}
	x.st.setResp(proto)
	role := "master"
	if !x.s.node.IsReadyLeader() {
		role = "replica"
	}
	x.w.Map(7)
	x.w.BulkString("server")
	x.w.BulkString("redis")
	x.w.BulkString("version")
	x.w.BulkString(Version)
	x.w.BulkString("proto")
	x.w.Int(int64(proto))
	x.w.BulkString("id")
	x.w.Int(int64(x.st.id))
	x.w.BulkString("mode")
	x.w.BulkString("standalone")
	x.w.BulkString("role")
	x.w.BulkString(role)
	x.w.BulkString("modules")
	x.w.Array(0)
}

func cmdSelect(x *execCtx, args [][]byte) {
	v, ok := parseInt(args[1])
	if !ok {
		x.w.Error(errNotInteger)
		return
	}
	if v < 0 || v >= storage.NumDBs {
		x.w.Error(errDBIndex)
		return
	}
	x.st.setDB(uint8(v))
	x.w.OK()
}

const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

func validName(b []byte) bool {
	for _, c := range b {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

func cmdClient(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	n := len(args)
	switch {
	case sub == "id" && n == 2:
		x.w.Int(int64(x.st.id))
	case sub == "getname" && n == 2:
		x.st.mu.Lock()
		name := x.st.name
		x.st.mu.Unlock()
		if name == "" {
			x.w.Null()
			return
		}
		x.w.BulkString(name)
	case sub == "setname" && n == 3:
		if !validName(args[2]) {
			x.w.Error(errClientName)
			return
		}
		x.st.mu.Lock()
		x.st.name = string(args[2])
		x.st.mu.Unlock()
		x.w.OK()
	case sub == "setinfo" && n == 4:
		clientSetInfo(x, args[2], args[3])
	case sub == "info" && n == 2:
		x.w.Verbatim(x.s.clientLine(x.st) + "\n")
	case sub == "list":
		keep, e := clientFilter(args[2:])
		if e != "" {
			x.w.Error(e)
			return
		}
		var b strings.Builder
		for _, st := range x.s.clientList() {
			if !keep(st) {
				continue
			}
			b.WriteString(x.s.clientLine(st))
			b.WriteByte('\n')
		}
		x.w.Verbatim(b.String())
	case (sub == "no-evict" || sub == "no-touch") && n == 3:
		if !eq(args[2], "on") && !eq(args[2], "off") {
			x.w.Error(errSyntax)
			return
		}
		x.w.OK()
	case sub == "tracking" && n >= 3: // tracking.go
		cmdClientTracking(x, args)
	case sub == "caching" && n == 3:
		cmdClientCaching(x, args)
	case sub == "getredir" && n == 2:
		cmdClientGetRedir(x, args)
	case sub == "trackinginfo" && n == 2:
		cmdClientTrackingInfo(x, args)
	case sub == "tracking" || sub == "caching" || sub == "getredir" || sub == "trackinginfo":
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'client|%s' command", sub))
	case sub == "help" && n == 2:
		writeHelp(x.w, "CLIENT", "ID", "    Return the ID of the current connection.", "GETNAME", "    Return the name of the current connection.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.", "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library info.",
			"INFO", "    Return information about the current client connection.", "LIST [TYPE <type>] [ID <id> [<id> ...]]", "    Return information about client connections.",
			"NO-EVICT (ON|OFF)", "    Accepted; keepkv evicts nothing.", "NO-TOUCH (ON|OFF)", "    Accepted.")
	case sub == "id" || sub == "getname" || sub == "setname" || sub == "setinfo" || sub == "info" || sub == "help" || sub == "no-evict" || sub == "no-touch":
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'client|%s' command", sub))
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try CLIENT HELP.", args[1]))
	}
}

func clientSetInfo(x *execCtx, attr, val []byte) {
	isName := eq(attr, "lib-name")
	if !isName && !eq(attr, "lib-ver") {
		x.w.Error(fmt.Sprintf("ERR Unrecognized option '%s'", attr))
		return
	}
	if !validName(val) {
		x.w.Error(fmt.Sprintf("ERR %s cannot contain spaces, newlines or special characters.", strings.ToLower(string(attr))))
		return
	}
	x.st.mu.Lock()
	if isName {
		x.st.libName = string(val)
	} else {
		x.st.libVer = string(val)
	}
	x.st.mu.Unlock()
	x.w.OK()
}

func (s *Server) clientList() []*connState {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	out := make([]*connState, 0, len(s.clients))
	for _, st := range s.clients {
		out = append(out, st)
	}
	sortClients(out)
	return out
}

func (s *Server) clientLine(st *connState) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=0 name=%s age=%d idle=%d flags=N db=%d sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=%s redir=-1 resp=%d lib-name=%s lib-ver=%s",
		st.id, st.addr, st.laddr, st.name, int(now.Sub(st.created).Seconds()), int(now.Sub(st.lastAt).Seconds()),
		st.db, st.lastCmd, st.user, st.resp, st.libName, st.libVer)
}

// ACL WHOAMI is for everyone; the rest reveals users.
func aclAdmin(args [][]byte) bool { return !eq(args[1], "whoami") }

// CLIENT LIST shows every connection; the handshake subcommands are for all.
func clientAdmin(args [][]byte) bool { return eq(args[1], "list") || eq(args[1], "kill") }

// clientFilter parses CLIENT LIST's options: TYPE <type> or ID <id>...
// Every connection keepkv has is of type normal.
func clientFilter(opts [][]byte) (func(*connState) bool, string) {
	all := func(*connState) bool { return true }
	switch {
	case len(opts) == 0:
		return all, ""
	case len(opts) == 2 && eq(opts[0], "type"):
		switch strings.ToLower(string(opts[1])) {
		case "normal":
			return all, ""
		case "master", "replica", "slave", "pubsub":
			return func(*connState) bool { return false }, ""
		}
		return nil, fmt.Sprintf("ERR Unknown client type '%s'", opts[1])
	case len(opts) >= 2 && eq(opts[0], "id"):
		ids := map[uint64]bool{}
		for _, a := range opts[1:] {
			id, ok := parseInt(a)
			if !ok || id <= 0 {
				return nil, "ERR Invalid client ID"
			}
			ids[uint64(id)] = true
		}
		return func(st *connState) bool { return ids[st.id] }, ""
	}
	return nil, errSyntax
}

// writeHelp writes a HELP reply as Redis does: a header line, then the
// given lines, then HELP's own.
func writeHelp(w *replyWriter, cmd string, lines ...string) {
	w.Array(len(lines) + 3)
	w.Status(cmd + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		w.Status(l)
	}
	w.Status("HELP")
	w.Status("    Print this help.")
}
