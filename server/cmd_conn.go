package server

import (
	"fmt"
	"strings"

	"github.com/keepkv/keepkv/storage"
)

func connectionCommands() []*command {
	return append([]*command{
		{name: "ping", arity: -1, flags: flagFast | flagInMulti, group: "connection", summary: "Returns the server's liveliness response.", since: "1.0.0", local: cmdPing},
		{name: "echo", arity: 2, flags: flagFast | flagInMulti, group: "connection", summary: "Returns the given string.", since: "1.0.0", local: cmdEcho},
		{name: "quit", arity: -1, flags: flagNoAuth | flagFast, group: "connection", summary: "Closes the connection.", since: "1.0.0", local: cmdQuit},
		{name: "auth", arity: -2, flags: flagNoAuth | flagFast, group: "connection", summary: "Authenticates the connection.", since: "1.0.0", local: cmdAuth},
		{name: "hello", arity: -1, flags: flagNoAuth | flagFast, group: "connection", summary: "Handshakes with the Redis server.", since: "6.0.0", local: cmdHello},
		{name: "select", arity: 2, flags: flagFast | flagInMulti, group: "connection", summary: "Changes the selected database.", since: "1.0.0", local: cmdSelect},
		{name: "acl", arity: -2, flags: 0, group: "server", summary: "A container for Access List Control commands.", since: "6.0.0",
			local: cmdACL, write: cmdACLWrite, txn: cmdACLTxn, readForm: aclLocalForm, leaderOnly: aclWriteForm, reply: aclUnwrap},
		{name: "client", arity: -2, flags: 0, adminIf: clientAdmin, group: "connection", summary: "A container for client connection commands.", since: "2.4.0", local: cmdClient},
		{name: "readonly", arity: 1, flags: flagFast, group: "cluster", summary: "Enables read-only queries for a connection to a Redis Cluster replica node.", since: "3.0.0", local: cmdReadonly(true)},
		{name: "readwrite", arity: 1, flags: flagFast, group: "cluster", summary: "Enables read-write queries for a connection to a Redis Cluster replica node.", since: "3.0.0", local: cmdReadonly(false)},
	}, append(monitorCommands(), resetCommands()...)...) // monitor.go, reset.go
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
func (x *execCtx) login(cmd string, user, pass []byte) bool {
	u, ok := x.s.authenticate(x.st, cmd, user, pass)
	if !ok {
		return false
	}
	if x.st.internal {
		x.st.authed = true
		return true
	}
	x.s.setConnUser(x.st, u)
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
	} else if d := x.s.acl.get("default"); !x.st.internal && d != nil && d.nopass || x.st.internal && x.s.cfg.Password == "" {
		x.w.Error(errNoAuthConfig)
		return
	}
	if !x.login("auth", user, pass) {
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
	authed := x.st.authed
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case eq(args[i], "auth") && more >= 2:
			if !x.login("hello", args[i+1], args[i+2]) {
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

// clientSubArity gives CLIENT's subcommands and their arities (Redis's
// convention: exact, or negative for "at least").
var clientSubArity = map[string]int{
	"id": 2, "getname": 2, "setname": 3, "setinfo": 4, "info": 2, "list": -2, "kill": -3,
	"pause": -3, "unpause": 2, "reply": 3, "no-evict": 3, "no-touch": 3, "help": 2,
	"tracking": -3, "caching": 3, "getredir": 2, "trackinginfo": 2,
}

func cmdClient(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	n := len(args)
	arity, known := clientSubArity[sub]
	if !known {
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try CLIENT HELP.", args[1]))
		return
	}
	x.st.touch("client|" + sub) // CLIENT LIST's cmd, as Redis names it
	if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'client|%s' command", sub))
		return
	}
	switch sub {
	case "id":
		x.w.Int(int64(x.st.id))
	case "getname":
		x.st.mu.Lock()
		name := x.st.name
		x.st.mu.Unlock()
		if name == "" {
			x.w.Null()
			return
		}
		x.w.BulkString(name)
	case "setname":
		if !validName(args[2]) {
			x.w.Error(errClientName)
			return
		}
		x.st.mu.Lock()
		x.st.name = string(args[2])
		x.st.mu.Unlock()
		x.w.OK()
	case "setinfo":
		clientSetInfo(x, args[2], args[3])
	case "info", "list":
		// argv-mem: the arguments of the command running now.
		mem := 0
		for _, a := range args {
			mem += len(a)
		}
		x.st.mu.Lock()
		x.st.adm.argvMem = mem
		x.st.mu.Unlock()
		if sub == "info" {
			x.w.Verbatim(x.s.clientLine(x.st) + "\n")
		} else {
			clientListCmd(x, args[2:])
		}
		x.st.mu.Lock()
		x.st.adm.argvMem = 0
		x.st.mu.Unlock()
	case "kill":
		clientKill(x, args)
	case "pause":
		if clientPauseArgs(x, args) {
			clientPause(x, args)
		}
	case "unpause":
		x.s.admin.pause.lift()
		x.w.OK()
	case "reply":
		clientReply(x, args)
	case "no-evict", "no-touch":
		on := eq(args[2], "on")
		if !on && !eq(args[2], "off") {
			x.w.Error(errSyntax)
			return
		}
		// Stored and shown in CLIENT LIST (e, T); keepkv evicts nothing,
		// and no command of keepkv's changes a key's access time.
		x.st.mu.Lock()
		if sub == "no-evict" {
			x.st.adm.noEvict = on
		} else {
			x.st.adm.noTouch = on
		}
		x.st.mu.Unlock()
		x.w.OK()
	case "tracking": // tracking.go
		cmdClientTracking(x, args)
	case "caching":
		cmdClientCaching(x, args)
	case "getredir":
		cmdClientGetRedir(x, args)
	case "trackinginfo":
		cmdClientTrackingInfo(x, args)
	case "help":
		writeHelp(x.w, "CLIENT",
			"CACHING (YES|NO)", "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
			"GETREDIR", "    Return the client ID we are redirecting to when tracking is enabled.",
			"GETNAME", "    Return the name of the current connection.",
			"ID", "    Return the ID of the current connection.",
			"INFO", "    Return information about the current client connection.",
			"KILL <ip:port>", "    Kill connection made from <ip:port>.",
			"KILL <option> <value> [<option> <value> [...]]", "    Kill connections. Options are:",
			"    * ADDR (<ip:port>|<unixsocket>:0)", "      Kill connections made from the specified address",
			"    * LADDR (<ip:port>|<unixsocket>:0)", "      Kill connections made to specified local address",
			"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Kill connections by type.",
			"    * USER <username>", "      Kill connections authenticated by <username>.",
			"    * SKIPME (YES|NO)", "      Skip killing current connection (default: yes).",
			"LIST [options ...]", "    Return information about client connections. Options:",
			"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
			"UNPAUSE", "    Stop the current client pause, resuming traffic.",
			"PAUSE <timeout> [WRITE|ALL]", "    Suspend all, or just write, clients for <timeout> milliseconds.",
			"REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.",
			"SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
			"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]", "         [OPTIN] [OPTOUT] [NOLOOP]",
			"    Control server assisted client side caching.",
			"TRACKINGINFO", "    Report tracking status for the current connection.",
			"NO-EVICT (ON|OFF)", "    Protect current client connection from eviction (keepkv evicts nothing).",
			"NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on.")
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

// The subcommands Redis flags admin (CLIENT LIST shows every connection,
// KILL and PAUSE act on them); the handshake ones are for all.
func clientAdmin(args [][]byte) bool {
	switch strings.ToLower(string(args[1])) {
	case "list", "kill", "pause", "unpause", "no-evict", "unblock":
		return true
	}
	return false
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
	w.Status("    Prints this help.")
}
