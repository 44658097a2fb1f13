package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/keepkv/keepkv/storage"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Lua scripting (DESIGN.md, "Transactions, scripts, events"): EVAL,
// EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, as Redis 7.0 has them.
//
// A script that may write is one log entry (OpScript): the script's body
// (EVAL) or SHA1 (EVALSHA), its keys and arguments, the caller's protocol
// and permissions, and a seed for math.random drawn by the node that
// proposes it. Every node runs it inside apply (Server.applyScript), so its
// writes, its reply and its errors are the same everywhere; its redis.call
// reads see the state the log has built so far, its writes apply at once,
// and TIME answers the entry's time. It runs within a counted instruction
// budget (script_budget.go): over it the script stops with an error, on
// every node at the same instruction, and its writes are rolled back. A
// script that fails otherwise keeps the writes it made, as in Redis.
//
// Loaded scripts are replicated state (sys entries "s" ‖ sha1, written by
// SCRIPT LOAD and by EVAL), so EVALSHA works on every node and after a
// failover; SCRIPT FLUSH is a log entry too.
//
// Read-only scripts (EVAL_RO, EVALSHA_RO, or a body whose shebang says
// "#!lua flags=no-writes") run on the read path, with the consistency of
// a GET, against one read view.

// Script header: Vals[0] of an OpScript.
const (
	scriptHeaderVersion = 2   // 1: a fixed permission in byte 3; 2: ACL rules after the header
	scriptKindEval      = 'e' // Vals[1] is the body
	scriptKindEvalSha   = 's' // Vals[1] is the SHA1 of a loaded script
	scriptKindLoad      = 'l' // SCRIPT LOAD: Vals[1] is the body
	scriptHeaderLen     = 20

	scriptFlagOOM = 1 // the store was over MaxDiskBytes when proposed
)

// scriptHeader is what an OpScript carries besides the script: its
// budget travels in the entry, so that nodes configured with different
// budgets still stop a script at the same instruction.
type scriptHeader struct {
	kind   byte
	flags  byte
	seed   uint64
	budget uint64
	// limited: the caller's ACL rules (aclUser.rules) bound redis.call;
	// otherwise every command, key and channel is allowed.
	limited bool
	rules   string
}

// scriptRules returns what a script run by st carries of its user's ACL.
func scriptRules(x *execCtx) (limited bool, rules string) {
	if x.txn != nil { // inside EXEC: its entry says
		return x.st.execACL != "", x.st.execACL
	}
	u := x.s.connUser(x.st)
	if x.st.internal {
		// Forwarded: the follower checked the command and its KEYS, but
		// the script's redis.call runs here, with the client's ACL (FWD
		// names the user; one deleted meanwhile may run nothing).
		if x.p == nil || x.p.fwdUser == "" {
			return false, ""
		}
		var ok bool
		if u, ok = x.s.userByName(x.p.fwdUser); !ok {
			return true, "-@all"
		}
	}
	if u == nil {
		return true, "-@all"
	}
	if u.allCommands && u.allKeys && u.allChannels {
		return false, ""
	}
	return true, u.rules()
}

func (h scriptHeader) encode() []byte {
	b := []byte{scriptHeaderVersion, h.kind, h.flags, byte(boolInt(h.limited))}
	b = binary.BigEndian.AppendUint64(b, h.seed)
	b = binary.BigEndian.AppendUint64(b, h.budget)
	return append(b, h.rules...)
}

func decodeScriptHeader(b []byte) (scriptHeader, bool) {
	if len(b) < scriptHeaderLen || b[0] < 1 || b[0] > scriptHeaderVersion || b[0] == 1 && len(b) != scriptHeaderLen {
		return scriptHeader{}, false
	}
	h := scriptHeader{kind: b[1], flags: b[2], seed: binary.BigEndian.Uint64(b[4:]), budget: binary.BigEndian.Uint64(b[12:])}
	if b[0] == 1 { // a fixed permission
		if p := Perm(b[3]); p != PermAdmin {
			h.limited, h.rules = true, strings.Join(p.rules(), " ")
		}
	} else {
		h.limited, h.rules = b[3] == 1, string(b[scriptHeaderLen:])
	}
	return h, h.budget > 0 && h.budget <= math.MaxInt64
}

const (
	errNoScript       = "NOSCRIPT No matching script. Please use EVAL."
	errNumKeysTooMany = "ERR Number of keys can't be greater than number of args"
	errNumKeysNeg     = "ERR Number of keys can't be negative"
	errScriptRO       = "ERR Can not execute a script with write flag using *_ro command."
)

func scriptCommands() []*command {
	return []*command{
		{name: "eval", arity: -3, group: "scripting", summary: "Executes a server-side Lua script.", since: "2.6.0",
			write: cmdEvalWrite(false), read: cmdEvalRead(false, false), readForm: evalNoWrites},
		{name: "evalsha", arity: -3, group: "scripting", summary: "Executes a server-side Lua script by SHA1 digest.", since: "2.6.0",
			write: cmdEvalWrite(true)},
		{name: "eval_ro", arity: -3, flags: flagRead, group: "scripting", summary: "Executes a read-only server-side Lua script.", since: "7.0.0",
			read: cmdEvalRead(false, true)},
		{name: "evalsha_ro", arity: -3, flags: flagRead, group: "scripting", summary: "Executes a read-only server-side Lua script by SHA1 digest.", since: "7.0.0",
			read: cmdEvalRead(true, true)},
		{name: "script", arity: -2, group: "scripting", summary: "A container for Lua scripts management commands.", since: "2.6.0",
			write: cmdScriptWrite, read: cmdScriptRead, readForm: scriptReadForm,
			viewless: func(args [][]byte) bool { return len(args) == 2 && eq(args[1], "kill") }},
	}
}

// evalNoWrites: an EVAL whose shebang flags it no-writes runs on the read
// path.
func evalNoWrites(args [][]byte) bool {
	f, err := parseShebang(args[1])
	return err == "" && f.shebang && f.noWrites
}

func scriptReadForm(args [][]byte) bool {
	sub := strings.ToLower(string(args[1]))
	return sub != "load" && sub != "flush"
}

// scriptFlags are a script's shebang flags.
type scriptFlags struct {
	shebang  bool // "#!lua ...": flags apply (otherwise Redis's compatibility mode)
	noWrites bool
	skip     int // bytes of the shebang line
}

// parseShebang reads "#!lua [flags=a,b]" as Redis 7.0 does.
func parseShebang(body []byte) (scriptFlags, string) {
	var f scriptFlags
	if len(body) < 2 || body[0] != '#' || body[1] != '!' {
		return f, ""
	}
	line := string(body)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	f.shebang, f.skip = true, len(line)
	words := strings.Split(line, " ")
	if words[0] != "#!lua" {
		return f, "ERR Unexpected engine in script shebang: " + words[0]
	}
	for _, w := range words[1:] {
		list, ok := strings.CutPrefix(w, "flags=")
		if !ok {
			return f, "ERR Unknown lua shebang option: " + w
		}
		if list == "" {
			continue
		}
		for _, fl := range strings.Split(list, ",") {
			switch fl {
			case "no-writes":
				f.noWrites = true
			case "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys":
			default:
				return f, "ERR Unexpected flag in script shebang: " + fl
			}
		}
	}
	return f, ""
}

// parseNumKeys checks EVAL's numkeys against the arguments.
func parseNumKeys(args [][]byte) (int, string) {
	n, ok := parseInt(args[2])
	switch {
	case !ok:
		return 0, errNotInteger
	case n > int64(len(args)-3):
		return 0, errNumKeysTooMany
	case n < 0:
		return 0, errNumKeysNeg
	}
	return int(n), ""
}

// scriptEngine is a node's scripting machinery: compiled scripts (a
// cache; the loaded scripts themselves are replicated state) and the
// interpreters.
type scriptEngine struct {
	logger hclog.Logger
	table  commandTable
	budget int64

	mu     sync.Mutex
	protos map[string]*compiledScript // by SHA1
	vms    []*scriptVM                // idle interpreters
	// running are the read-path scripts in progress (SCRIPT KILL).
	running map[*scriptRun]struct{}
	// reads bounds the read-path scripts running at once.
	reads chan struct{}
	// inApply counts scripts running inside apply now (tests watch it).
	inApply atomic.Int64
}

type compiledScript struct {
	proto *lua.FunctionProto
	flags scriptFlags
}

// maxCompiledScripts bounds the cache of compiled scripts.
const maxCompiledScripts = 4096

func newScriptEngine(logger hclog.Logger, table commandTable, budget int64, readers int) *scriptEngine {
	if budget <= 0 {
		budget = DefaultScriptBudget
	}
	return &scriptEngine{logger: logger.Named("script"), table: table, budget: budget,
		protos: map[string]*compiledScript{}, running: map[*scriptRun]struct{}{}, reads: make(chan struct{}, max(readers, 1))}
}

// compileLua compiles a chunk.
func compileLua(src, name string) (*lua.FunctionProto, error) {
	if line := syntaxTooDeep(src); line > 0 {
		return nil, fmt.Errorf("%s:%d: chunk has too many syntax levels", name, line)
	}
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			line, near := pe.Pos.Line, pe.Token
			if line == parse.EOF {
				line, near = strings.Count(src, "\n")+1, "<eof>"
			}
			return nil, fmt.Errorf("%s:%d: %s near '%s'", name, line, pe.Message, near)
		}
		return nil, err
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s:%d: %s", name, ce.Line, ce.Message)
		}
		return nil, err
	}
	return proto, nil
}

// compile returns the compiled script with this SHA1 and body, or the
// error reply for a body that does not compile.
func (e *scriptEngine) compile(sha string, body []byte) (*compiledScript, string) {
	e.mu.Lock()
	cs := e.protos[sha]
	e.mu.Unlock()
	if cs != nil {
		return cs, ""
	}
	flags, msg := parseShebang(body)
	if msg != "" {
		return nil, msg
	}
	if len(body) > maxScriptBytes {
		return nil, fmt.Sprintf("ERR Error compiling script (new function): script of %d bytes is larger than %d", len(body), maxScriptBytes)
	}
	src := string(body[flags.skip:])
	proto, err := compileLua(src, "user_script")
	if err != nil {
		return nil, "ERR Error compiling script (new function): " + oneLine(err.Error())
	}
	cs = &compiledScript{proto: proto, flags: flags}
	e.mu.Lock()
	if len(e.protos) >= maxCompiledScripts {
		for k := range e.protos { // forget one at random
			delete(e.protos, k)
			break
		}
	}
	e.protos[sha] = cs
	e.mu.Unlock()
	return cs, ""
}

// compiled reports whether the script sha is in the cache of compiled
// scripts.
func (e *scriptEngine) compiled(sha string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.protos[sha] != nil
}

// vm takes an idle interpreter, or makes one.
func (e *scriptEngine) vm() *scriptVM {
	e.mu.Lock()
	if n := len(e.vms); n > 0 {
		vm := e.vms[n-1]
		e.vms = e.vms[:n-1]
		e.mu.Unlock()
		return vm
	}
	e.mu.Unlock()
	return newScriptVM(e)
}

// release returns an interpreter for reuse.
func (e *scriptEngine) release(vm *scriptVM) {
	if vm.broken {
		vm.close()
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.vms) < 8 {
		e.vms = append(e.vms, vm)
		return
	}
	vm.close()
}

// scriptEnv is where a script's redis.call runs: inside apply (txn), or
// on the read path (reader).
type scriptEnv struct {
	s      *Server
	txn    *storage.Txn
	reader *storage.Reader
	st     *connState // the script's own connection state (SELECT)
	now    int64
	seed   uint64
	calls  uint64
	oom    bool // refuse denyoom commands until the script writes
}

// scriptCall is what one run needs.
type scriptCall struct {
	sha      string
	cs       *compiledScript
	keys     [][]byte
	argv     [][]byte
	resp     int      // the caller's protocol
	acl      *aclUser // nil: everything allowed
	user     string
	readOnly bool
	seed     uint64
	env      *scriptEnv
	killable bool
	budget   int64
}

// run runs a script and returns its reply; stopped reports that it was
// stopped (over budget, killed), so that its writes must be rolled back.
func (e *scriptEngine) run(c *scriptCall) (reply replyValue, stopped bool) {
	vm := e.vm()
	defer e.release(vm)
	budget := c.budget
	if budget <= 0 {
		budget = e.budget
	}
	r := &scriptRun{eng: e, sha: c.sha, budget: budget, resp: 2, client: c.resp, readOnly: c.readOnly,
		acl: c.acl, user: c.user, env: c.env, cjson: defaultCjsonConfig()}
	r.rand.x = c.seed & (1<<48 - 1)
	if c.killable {
		r.killed = new(atomic.Bool)
		e.mu.Lock()
		e.running[r] = struct{}{}
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			delete(e.running, r)
			e.mu.Unlock()
		}()
	}
	reply = vm.exec(r, c.cs.proto, c.keys, c.argv)
	return reply, r.stop != nil
}

// kill stops the read-path scripts running now; false if there are none.
func (e *scriptEngine) kill() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		r.killed.Store(true)
	}
	return len(e.running) > 0
}

// exec runs proto in run r.
func (vm *scriptVM) exec(r *scriptRun, proto *lua.FunctionProto, keys, argv [][]byte) (reply replyValue) {
	L := vm.L
	vm.run = r
	L.SetContext(vm.ctx)
	defer func() {
		if p := recover(); p != nil { // a Go panic outside Lua's protection
			vm.broken = true
			reply = replyValue{kind: rvError, str: fmt.Sprintf("ERR internal error running script: %v", p)}
		}
		L.RemoveContext()
		L.SetTop(0)
		vm.run = nil
	}()
	vm.globals.RawSetString("KEYS", luaStrings(L, keys))
	vm.globals.RawSetString("ARGV", luaStrings(L, argv))
	L.Push(L.NewFunctionFromProto(proto))
	err := L.PCall(0, 1, vm.errFn)
	if r.stop != nil {
		return vm.scriptError(r, lua.LString(r.stop.Error()))
	}
	if err != nil {
		var obj lua.LValue = lua.LString(err.Error())
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			obj = ae.Object
			if ae.Type == lua.ApiErrorPanic {
				vm.broken = true
			}
		}
		return vm.scriptError(r, obj)
	}
	v, ok := vm.fromLua(r, L.Get(-1), 0)
	if !ok {
		r.halt(r.budgetError())
		return vm.scriptError(r, lua.LString(r.stop.Error()))
	}
	return v
}

func luaStrings(L *lua.LState, list [][]byte) *lua.LTable {
	t := L.CreateTable(len(list), 0)
	for i, b := range list {
		t.RawSetInt(i+1, lua.LString(b))
	}
	return t
}

// scriptError builds the reply to a script that raised obj, as Redis 7.0
// words it: "<error> script: <sha>, on @user_script:<line>.".
func (vm *scriptVM) scriptError(r *scriptRun, obj lua.LValue) replyValue {
	var msg string
	switch x := obj.(type) {
	case lua.LString:
		msg = "ERR " + string(x)
	case lua.LNumber:
		msg = "ERR " + luaNumber(float64(x))
	case *lua.LTable:
		switch e := x.RawGetString("err").(type) {
		case lua.LString:
			msg = string(e)
		case lua.LNumber:
			msg = luaNumber(float64(e))
		default:
			msg = "ERR unknown error"
		}
	default:
		msg = "ERR unknown error"
	}
	if r.errLine > 0 {
		msg += fmt.Sprintf(" script: %s, on @user_script:%d.", r.sha, r.errLine)
	}
	return replyValue{kind: rvError, str: oneLine(msg)}
}

// --- commands ---

func cmdEvalWrite(bySha bool) writeFunc {
	return func(x *execCtx, args [][]byte) (storage.Cmd, string) {
		n, msg := parseNumKeys(args)
		if msg != "" {
			return storage.Cmd{}, msg
		}
		h := scriptHeader{kind: scriptKindEval, seed: scriptSeed(x), budget: uint64(x.s.scripts.budget)}
		h.limited, h.rules = scriptRules(x)
		if x.s.cfg.MaxDiskBytes > 0 && x.s.db.UsedBytes() > x.s.cfg.MaxDiskBytes {
			h.flags |= scriptFlagOOM
		}
		script := args[1]
		if bySha {
			h.kind = scriptKindEvalSha
			sha := strings.ToLower(string(args[1]))
			// Known here (compiled) or loaded as applied; apply checks
			// again, so a script flushed meanwhile still gets NOSCRIPT.
			if !x.s.scripts.compiled(sha) {
				body := x.s.loadedScript(x, sha)
				if body == nil {
					return storage.Cmd{}, errNoScript
				}
				if _, msg := x.s.scripts.compile(sha, body); msg != "" {
					return storage.Cmd{}, msg
				}
			}
			script = []byte(sha)
		} else if _, msg := x.s.scripts.compile(sha1hex(script), script); msg != "" {
			return storage.Cmd{}, msg
		}
		vals := make([][]byte, 0, len(args)-1-n)
		vals = append(vals, h.encode(), script)
		vals = append(vals, args[3+n:]...)
		return storage.Cmd{Op: storage.OpScript, Int: int64(x.st.resp), Keys: args[3 : 3+n], Vals: vals}, ""
	}
}

// scriptSeed draws math.random's seed: at random on the node that
// proposes a script; inside apply (a script queued in MULTI), from the
// entry.
func scriptSeed(x *execCtx) uint64 {
	if x.rng != nil {
		return x.rng.Uint64()
	}
	return rand.Uint64()
}

// loadedScript returns the body of the loaded script sha, as applied, or
// nil.
func (s *Server) loadedScript(x *execCtx, sha string) []byte {
	if len(sha) != 40 {
		return nil
	}
	key := []byte("s" + sha)
	var body []byte
	if x.txn != nil {
		body = x.txn.Sys(key)
	} else if err := s.db.View(func(r *storage.Reader) error {
		body = r.Sys(key)
		return nil
	}); err != nil {
		return nil
	}
	if len(body) == 0 {
		return nil
	}
	return body
}

// cmdEvalRead runs a read-only script on the read path.
func cmdEvalRead(bySha, ro bool) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		n, msg := parseNumKeys(args)
		if msg != "" {
			x.w.Error(msg)
			return
		}
		var sha string
		var body []byte
		if bySha {
			sha = strings.ToLower(string(args[1]))
			if len(sha) == 40 {
				body = r.Sys([]byte("s" + sha))
			}
			if len(body) == 0 {
				x.w.Error(errNoScript)
				return
			}
		} else {
			body = args[1]
			sha = sha1hex(body)
		}
		cs, msg := x.s.scripts.compile(sha, body)
		if msg != "" {
			x.w.Error(msg)
			return
		}
		if ro && cs.flags.shebang && !cs.flags.noWrites {
			x.w.Error(errScriptRO)
			return
		}
		env := &scriptEnv{s: x.s, reader: r, txn: x.txn, now: x.now, seed: scriptSeed(x),
			st: &connState{db: x.st.db, resp: 2, user: x.st.user}}
		call := &scriptCall{sha: sha, cs: cs, keys: args[3 : 3+n], argv: args[3+n:], resp: x.st.resp, acl: x.s.connUser(x.st),
			user: x.st.user, readOnly: true, seed: env.seed, env: env, killable: x.txn == nil}
		if limited, rules := scriptRules(x); !limited {
			call.acl = nil
		} else if x.txn != nil {
			call.acl = x.s.acl.byRules(rules)
		}
		if x.txn == nil {
			x.s.scripts.reads <- struct{}{}
			defer func() { <-x.s.scripts.reads }()
		}
		v, _ := x.s.scripts.run(call)
		v.write(x.w)
	}
}

// applyScript runs an OpScript inside apply (from the Exec hook).
func (s *Server) applyScript(t *storage.Txn, c *storage.Cmd) storage.Result {
	v := s.runScriptEntry(t, c)
	return storage.Result{Kind: storage.ResultValue, Value: &v}
}

// runScriptInTxn runs a script queued in MULTI, inside the EXEC's entry.
func (s *Server) runScriptInTxn(x *execCtx, lc *storage.Cmd) {
	v := s.runScriptEntry(x.txn, lc)
	v.write(x.w)
}

func (s *Server) runScriptEntry(t *storage.Txn, c *storage.Cmd) replyValue {
	errv := func(msg string) replyValue { return replyValue{kind: rvError, str: msg} }
	h, ok := decodeScriptHeader(c.Vals[0])
	if !ok || len(c.Vals) < 2 {
		return errv("ERR malformed script entry")
	}
	var body []byte
	var sha string
	switch h.kind {
	case scriptKindEval, scriptKindLoad:
		body = c.Vals[1]
		sha = sha1hex(body)
	case scriptKindEvalSha:
		sha = string(c.Vals[1])
		if body = t.Sys([]byte("s" + sha)); len(body) == 0 {
			return errv(errNoScript)
		}
	default:
		return errv("ERR malformed script entry")
	}
	cs, msg := s.scripts.compile(sha, body)
	if msg != "" {
		return errv(msg)
	}
	if h.kind != scriptKindEvalSha && len(t.Sys([]byte("s"+sha))) == 0 {
		if r := t.Apply(storage.Cmd{Op: storage.OpSysSet, Keys: [][]byte{[]byte("s" + sha)}, Vals: [][]byte{body}}); r.Kind == storage.ResultErr {
			return errv(storageError(r.Err))
		}
	}
	if h.kind == scriptKindLoad {
		return replyValue{kind: rvBulk, bytes: []byte(sha)}
	}
	env := &scriptEnv{s: s, txn: t, now: t.Now(), seed: h.seed ^ t.Index(), oom: h.flags&scriptFlagOOM != 0,
		st: &connState{db: c.DB, resp: 2, user: "default"}}
	var acl *aclUser
	if h.limited {
		acl = s.acl.byRules(h.rules)
	}
	call := &scriptCall{sha: sha, cs: cs, keys: c.Keys, argv: c.Vals[2:], resp: int(c.Int), acl: acl,
		readOnly: cs.flags.shebang && cs.flags.noWrites, seed: h.seed, env: env, budget: int64(h.budget)}
	sp := t.Save()
	s.scripts.inApply.Add(1)
	v, stopped := s.scripts.run(call)
	s.scripts.inApply.Add(-1)
	if stopped {
		t.RollbackTo(sp)
	}
	return v
}

// noScriptCommands are refused inside scripts, as Redis's noscript flag
// refuses them (and keepkv's own internal commands).
var noScriptCommands = map[string]bool{
	"auth": true, "bgrewriteaof": true, "bgsave": true, "blmove": true, "blpop": true, "brpop": true,
	"brpoplpush": true, "bzpopmax": true, "bzpopmin": true, "debug": true, "discard": true, "eval": true,
	"eval_ro": true, "evalsha": true, "evalsha_ro": true, "exec": true, "failover": true, "fcall": true,
	"fcall_ro": true, "hello": true, "monitor": true, "multi": true, "psubscribe": true, "psync": true,
	"punsubscribe": true, "quit": true, "replconf": true, "replicaof": true, "reset": true, "role": true,
	"save": true, "shutdown": true, "slaveof": true, "ssubscribe": true, "subscribe": true, "sunsubscribe": true,
	"sync": true, "unsubscribe": true, "unwatch": true, "wait": true, "watch": true, "script": true,
	"function": true, "module": true, "latency": true, "acl": true, "config": true, "client": true,
	"raft": true, "readonly": true, "readwrite": true,
}

const (
	errScriptUnknownCmd = "ERR Unknown Redis command called from script"
	errScriptArity      = "ERR Wrong number of args calling Redis command from script"
	errScriptNoScript   = "ERR This Redis command is not allowed from script"
	errScriptNoPerm     = "ERR The user executing the script can't run this command or subcommand"
	errScriptNoPermKey  = "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
	errScriptNoPermChan = "ERR The user executing the script can't publish to the channel mentioned in the command"
	errScriptWriteRO    = "ERR Write commands are not allowed from read-only scripts."
	errScriptScan       = "ERR This command cannot run inside a script in keepkv: KEYS, SCAN, RANDOMKEY and LCS may run long, and a script runs inside the log's apply"
	errScriptOOM        = "OOM command not allowed when used memory > 'maxmemory'."
)

// call runs one command of redis.call and returns its reply.
func (e *scriptEnv) call(r *scriptRun, args [][]byte) replyValue {
	errv := func(msg string) replyValue { return replyValue{kind: rvError, str: msg} }
	cmd := e.s.table.lookup(args[0])
	switch {
	case cmd == nil || cmd.flags&flagInternal != 0:
		return errv(errScriptUnknownCmd)
	case !cmd.arityOK(len(args)):
		return errv(errScriptArity)
	case noScriptCommands[cmd.name]:
		return errv(errScriptNoScript)
	}
	switch r.acl.check(cmd, args) {
	case aclDeniedCmd:
		return errv(errScriptNoPerm)
	case aclDeniedKey:
		return errv(errScriptNoPermKey)
	case aclDeniedChannel:
		return errv(errScriptNoPermChan)
	}
	writes := cmd.writes(args)
	switch {
	case writes && (r.readOnly || e.txn == nil):
		return errv(errScriptWriteRO)
	case writes && e.oom && cmd.flags&flagDenyOOM != 0:
		return errv(errScriptOOM)
	case cmd.flags&flagScan != 0:
		return errv(errScriptScan)
	case cmd.name == "time":
		return timeReply(e.now)
	case cmd.local != nil && !runsInTxn(cmd, args):
		return errv(errScriptNoScript)
	}
	if writes {
		e.oom = false
	}
	capt := &captureEncoder{v3: r.resp == 3}
	w := replyWriter{enc: capt}
	e.st.resp = r.resp
	e.calls++
	x := execCtx{s: e.s, st: e.st, w: &w, now: e.now, txn: e.txn, rng: rand.New(rand.NewPCG(e.seed, e.calls))}
	switch {
	case e.txn != nil:
		e.s.runInTxn(&x, args)
	case cmd.read != nil:
		cmd.read(&x, e.reader, args)
	default:
		cmd.local(&x, args)
	}
	return capt.take()
}

// timeReply is TIME at the script's time: the entry's, inside apply.
func timeReply(now int64) replyValue {
	sec := strconv.FormatInt(now/1000, 10)
	usec := strconv.FormatInt(now%1000*1000, 10)
	return replyValue{kind: rvAggregate, agg: aggArray, elems: []replyValue{{kind: rvBulk, bytes: []byte(sec)}, {kind: rvBulk, bytes: []byte(usec)}}}
}

// cmdScriptWrite: SCRIPT LOAD and FLUSH, log entries.
func cmdScriptWrite(x *execCtx, args [][]byte) (storage.Cmd, string) {
	switch strings.ToLower(string(args[1])) {
	case "load":
		if len(args) != 3 {
			return storage.Cmd{}, errArity("script|load")
		}
		if _, msg := x.s.scripts.compile(sha1hex(args[2]), args[2]); msg != "" {
			return storage.Cmd{}, msg
		}
		h := scriptHeader{kind: scriptKindLoad, budget: 1}
		return storage.Cmd{Op: storage.OpScript, Int: int64(x.st.resp), Vals: [][]byte{h.encode(), args[2]}}, ""
	default: // flush
		if len(args) > 3 || (len(args) == 3 && !eq(args[2], "sync") && !eq(args[2], "async")) {
			return storage.Cmd{}, "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
		}
		return storage.Cmd{Op: storage.OpSysSet, Int: 1, Keys: [][]byte{{'s'}}, Vals: [][]byte{nil}}, ""
	}
}

// cmdScriptRead: SCRIPT EXISTS, KILL and HELP.
func cmdScriptRead(x *execCtx, r *storage.Reader, args [][]byte) {
	switch sub := strings.ToLower(string(args[1])); {
	case sub == "exists":
		if len(args) < 3 {
			x.w.Error(errArity("script|exists"))
			return
		}
		x.w.Array(len(args) - 2)
		for _, a := range args[2:] {
			sha := strings.ToLower(string(a))
			if len(sha) == 40 && len(r.Sys([]byte("s"+sha))) != 0 {
				x.w.Int(1)
			} else {
				x.w.Int(0)
			}
		}
	case sub == "kill":
		if len(args) != 2 {
			x.w.Error(errArity("script|kill"))
			return
		}
		if !x.s.scripts.kill() {
			x.w.Error("NOTBUSY No scripts in execution right now.")
			return
		}
		x.w.OK()
	case sub == "help" && len(args) == 2:
		writeHelp(x.w, "SCRIPT", "DEBUG (YES|SYNC|NO)", "    Set the debug mode for subsequent scripts executed.",
			"EXISTS <sha1> [<sha1> ...]", "    Return information about the existence of the scripts in the script cache.",
			"FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache. Very dangerous on replicas.",
			"    When called without the optional mode argument, the behavior is determined by the",
			"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
			"    * ASYNC: Asynchronously flush the scripts cache.", "    * SYNC: Synchronously flush the scripts cache.",
			"KILL", "    Kill the currently executing Lua script.",
			"LOAD <script>", "    Load a script into the scripts cache without executing it.")
	case sub == "debug":
		x.w.Error("ERR SCRIPT DEBUG is not supported by keepkv")
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try SCRIPT HELP.", args[1]))
	}
}
