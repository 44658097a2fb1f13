package server

import (
	"crypto/sha1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The redis table (Redis 7.0's script_lua.c) and the conversions between
// Redis replies and Lua values.

// redisVersionNum is REDIS_VERSION_NUM for Version ("7.2.0" → 0x070200).
func redisVersionNum() int {
	n := 0
	for _, p := range strings.SplitN(Version, ".", 3) {
		v, _ := strconv.Atoi(p)
		n = n<<8 | v
	}
	return n
}

func (vm *scriptVM) redisLib() *lua.LTable {
	L := vm.L
	fn := func(f lua.LGFunction) lua.LValue { return L.NewFunction(f) }
	return vm.table(map[string]lua.LValue{
		"call":               fn(func(L *lua.LState) int { return vm.redisCall(L, true) }),
		"pcall":              fn(func(L *lua.LState) int { return vm.redisCall(L, false) }),
		"log":                fn(vm.redisLog),
		"LOG_DEBUG":          lua.LNumber(0),
		"LOG_VERBOSE":        lua.LNumber(1),
		"LOG_NOTICE":         lua.LNumber(2),
		"LOG_WARNING":        lua.LNumber(3),
		"REDIS_VERSION":      lua.LString(Version),
		"REDIS_VERSION_NUM":  lua.LNumber(redisVersionNum()),
		"setresp":            fn(vm.setresp),
		"sha1hex":            fn(luaSha1hex),
		"error_reply":        fn(vm.errorReply),
		"status_reply":       fn(statusReply),
		"set_repl":           fn(vm.setRepl),
		"REPL_NONE":          lua.LNumber(0),
		"REPL_AOF":           lua.LNumber(1),
		"REPL_SLAVE":         lua.LNumber(2),
		"REPL_REPLICA":       lua.LNumber(2),
		"REPL_ALL":           lua.LNumber(3),
		"acl_check_cmd":      fn(vm.aclCheckCmd),
		"breakpoint":         fn(func(L *lua.LState) int { L.Push(lua.LFalse); return 1 }),
		"debug":              fn(func(L *lua.LState) int { return 0 }),
		"replicate_commands": fn(func(L *lua.LState) int { L.Push(lua.LTrue); return 1 }),
	})
}

// inRun returns the run in progress, or raises Redis's error for a call
// made outside one.
func (vm *scriptVM) inRun(L *lua.LState, what string) *scriptRun {
	if vm.run == nil {
		vm.raise(L, what+" can only be called inside a script invocation")
	}
	return vm.run
}

// raise raises msg as Redis's error table {err = "ERR " .. msg}.
func (vm *scriptVM) raise(L *lua.LState, msg string) {
	L.Error(vm.errorTable(L, "ERR "+msg), 0)
}

// errorTable is Redis's {err = msg} (luaPushErrorBuff).
func (vm *scriptVM) errorTable(L *lua.LState, msg string) *lua.LTable {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(strings.Trim(msg, "\r\n")))
	return t
}

// replyErrorTable is the table for an error reply "CODE message": a reply
// without a code gets ERR.
func (vm *scriptVM) replyErrorTable(L *lua.LState, e string) *lua.LTable {
	if !strings.Contains(e, " ") {
		e = "ERR " + e
	}
	return vm.errorTable(L, e)
}

// luaArgs converts redis.call's arguments (luaArgsToRedisArgv): strings as
// they are, numbers as %.17g; anything else is refused.
func luaArgs(L *lua.LState) ([][]byte, string) {
	n := L.GetTop()
	if n == 0 {
		return nil, "Please specify at least one argument for this redis lib call"
	}
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(v)
		case lua.LNumber:
			args[i-1] = []byte(formatG17(float64(v)))
		default:
			return nil, "Lua redis lib command arguments must be strings or integers"
		}
	}
	return args, ""
}

// formatG17 is C's %.17g.
func formatG17(f float64) string { return formatG(f, 17) }

// redisCall is redis.call (raise) and redis.pcall.
func (vm *scriptVM) redisCall(L *lua.LState, raise bool) int {
	r := vm.inRun(L, "redis.call/pcall")
	args, msg := luaArgs(L)
	if msg != "" {
		t := vm.errorTable(L, "ERR "+msg)
		if raise {
			L.Error(t, 0)
		}
		L.Push(t)
		return 1
	}
	r.charge(L, costCall)
	for _, a := range args {
		r.chargeBytes(L, len(a))
	}
	v := r.env.call(r, args)
	L.SetTop(0)
	lv := vm.toLua(L, r, &v)
	if v.kind == rvError && raise {
		L.Error(lv, 0)
	}
	L.Push(lv)
	return 1
}

// toLua converts a command's reply to Lua (redisProtocolToLuaType), in the
// script's protocol, charging the run for what it builds.
func (vm *scriptVM) toLua(L *lua.LState, r *scriptRun, v *replyValue) lua.LValue {
	r.charge(L, 1)
	resp3 := r.resp == 3
	switch v.kind {
	case rvStatus:
		t := L.CreateTable(0, 1)
		t.RawSetString("ok", lua.LString(v.str))
		return t
	case rvError:
		return vm.replyErrorTable(L, v.str)
	case rvInt:
		return lua.LNumber(v.n)
	case rvDouble:
		if !resp3 {
			return lua.LString(formatG17(v.f))
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("double", lua.LNumber(v.f))
		return t
	case rvBulk:
		r.chargeBytes(L, len(v.bytes))
		return lua.LString(v.bytes)
	case rvNull, rvNullArray:
		if resp3 {
			return lua.LNil
		}
		return lua.LFalse
	case rvVerbatim, rvVerbatimFmt:
		format, text := "txt", v.str
		if v.kind == rvVerbatimFmt {
			format, text = v.str[:3], v.str[4:]
		}
		r.chargeBytes(L, len(text))
		if !resp3 {
			return lua.LString(text)
		}
		inner := L.CreateTable(0, 2)
		inner.RawSetString("string", lua.LString(text))
		inner.RawSetString("format", lua.LString(format))
		t := L.CreateTable(0, 1)
		t.RawSetString("verbatim_string", inner)
		return t
	case rvBool:
		return lua.LBool(v.n != 0)
	case rvBigNum:
		t := L.CreateTable(0, 1)
		t.RawSetString("big_number", lua.LString(v.str))
		return t
	case rvAggregate:
		return vm.aggregateToLua(L, r, v, resp3)
	}
	return lua.LNil
}

func (vm *scriptVM) aggregateToLua(L *lua.LState, r *scriptRun, v *replyValue, resp3 bool) lua.LValue {
	r.charge(L, costNewTable+int64(len(v.elems))*costNewKey)
	switch {
	case resp3 && v.agg == aggMap:
		m := L.CreateTable(0, len(v.elems)/2)
		for i := 0; i+1 < len(v.elems); i += 2 {
			k := vm.toLua(L, r, &v.elems[i])
			if k != lua.LNil {
				m.RawSet(k, vm.toLua(L, r, &v.elems[i+1]))
			}
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("map", m)
		return t
	case resp3 && v.agg == aggSet:
		s := L.CreateTable(0, len(v.elems))
		for i := range v.elems {
			if k := vm.toLua(L, r, &v.elems[i]); k != lua.LNil {
				s.RawSet(k, lua.LTrue)
			}
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("set", s)
		return t
	}
	t := L.CreateTable(len(v.elems), 0)
	for i := range v.elems {
		t.RawSetInt(i+1, vm.toLua(L, r, &v.elems[i]))
	}
	return t
}

// maxReplyNesting bounds the nesting of a script's reply: a table that
// contains itself ends in an error there, as Redis's Lua stack limit
// ends it.
const maxReplyNesting = 1000

// fromLua converts a script's return value to a reply
// (luaReplyToRedisReply). It charges the run per element: a reply that
// would go over the budget yields ok false.
func (vm *scriptVM) fromLua(r *scriptRun, v lua.LValue, depth int) (replyValue, bool) {
	r.used += costReplyValue
	if r.used > r.budget {
		return replyValue{}, false
	}
	switch x := v.(type) {
	case lua.LString:
		r.used += int64(len(x) / unitBytes)
		return replyValue{kind: rvBulk, bytes: []byte(x)}, true
	case lua.LBool:
		if r.resp == 2 {
			if x {
				return replyValue{kind: rvInt, n: 1}, true
			}
			return replyValue{kind: rvNull}, true
		}
		return replyValue{kind: rvBool, n: map[bool]int64{false: 0, true: 1}[bool(x)]}, true
	case lua.LNumber:
		return replyValue{kind: rvInt, n: luaToInt64(float64(x))}, true
	case *lua.LTable:
		if depth >= maxReplyNesting {
			return replyValue{kind: rvError, str: "ERR reached lua stack limit"}, true
		}
		return vm.tableFromLua(r, x, depth)
	}
	return replyValue{kind: rvNull}, true
}

// luaToInt64 is C's (long long) cast of a double on x86-64: out of range,
// infinite and NaN give the minimum.
func luaToInt64(f float64) int64 {
	if math.IsNaN(f) || f >= 9223372036854775807 || f < -9223372036854775808 {
		return math.MinInt64
	}
	return int64(f)
}

func (vm *scriptVM) tableFromLua(r *scriptRun, t *lua.LTable, depth int) (replyValue, bool) {
	if e, ok := t.RawGetString("err").(lua.LString); ok {
		return replyValue{kind: rvError, str: oneLine(string(e))}, true
	}
	if s, ok := t.RawGetString("ok").(lua.LString); ok {
		return replyValue{kind: rvStatus, str: oneLine(string(s))}, true
	}
	if d, ok := t.RawGetString("double").(lua.LNumber); ok {
		return replyValue{kind: rvDouble, f: float64(d)}, true
	}
	if s, ok := t.RawGetString("big_number").(lua.LString); ok {
		return replyValue{kind: rvBigNum, str: oneLine(string(s))}, true
	}
	if vt, ok := t.RawGetString("verbatim_string").(*lua.LTable); ok {
		f, ok1 := vt.RawGetString("format").(lua.LString)
		s, ok2 := vt.RawGetString("string").(lua.LString)
		if ok1 && ok2 {
			format := (string(f) + "   ")[:3]
			return replyValue{kind: rvVerbatimFmt, str: format + ":" + string(s)}, true
		}
	}
	if m, ok := t.RawGetString("map").(*lua.LTable); ok {
		out := replyValue{kind: rvAggregate, agg: aggMap, elems: []replyValue{}}
		for k, v := m.Next(lua.LNil); k != lua.LNil; k, v = m.Next(k) {
			kv, ok1 := vm.fromLua(r, k, depth+1)
			vv, ok2 := vm.fromLua(r, v, depth+1)
			if !ok1 || !ok2 {
				return replyValue{}, false
			}
			out.elems = append(out.elems, kv, vv)
		}
		return out, true
	}
	if s, ok := t.RawGetString("set").(*lua.LTable); ok {
		out := replyValue{kind: rvAggregate, agg: aggSet, elems: []replyValue{}}
		for k, _ := s.Next(lua.LNil); k != lua.LNil; k, _ = s.Next(k) {
			kv, ok := vm.fromLua(r, k, depth+1)
			if !ok {
				return replyValue{}, false
			}
			out.elems = append(out.elems, kv)
		}
		return out, true
	}
	out := replyValue{kind: rvAggregate, agg: aggArray, elems: []replyValue{}}
	for i := 1; ; i++ {
		v := t.RawGetInt(i)
		if v == lua.LNil {
			break
		}
		ev, ok := vm.fromLua(r, v, depth+1)
		if !ok {
			return replyValue{}, false
		}
		out.elems = append(out.elems, ev)
	}
	return out, true
}

// oneLine replaces CR and LF with spaces, as Redis does in status and
// error replies.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return ' '
		}
		return c
	}, s)
}

func (vm *scriptVM) redisLog(L *lua.LState) int {
	r := vm.run
	n := L.GetTop()
	if n < 2 {
		vm.raise(L, "redis.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		if s, isStr := L.Get(1).(lua.LString); isStr {
			if f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil {
				lv, ok = lua.LNumber(f), true
			}
		}
	}
	if !ok {
		vm.raise(L, "First argument must be a number (log level).")
	}
	level := int(lv)
	if level < 0 || level > 3 {
		vm.raise(L, "Invalid debug level.")
	}
	var parts []string
	for i := 2; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			parts = append(parts, string(v))
		case lua.LNumber:
			parts = append(parts, luaNumber(float64(v)))
		}
	}
	if r == nil || r.eng == nil {
		return 0
	}
	msg := strings.Join(parts, " ")
	r.chargeBytes(L, len(msg))
	lg := r.eng.logger
	switch level {
	case 0:
		lg.Debug(msg, "script", r.sha)
	case 1, 2:
		lg.Info(msg, "script", r.sha)
	default:
		lg.Warn(msg, "script", r.sha)
	}
	return 0
}

func (vm *scriptVM) setresp(L *lua.LState) int {
	r := vm.inRun(L, "redis.setresp")
	if L.GetTop() != 1 {
		vm.raise(L, "redis.setresp() requires one argument.")
	}
	n, _ := L.Get(1).(lua.LNumber)
	if s, ok := L.Get(1).(lua.LString); ok {
		f, _ := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
		n = lua.LNumber(f)
	}
	if resp := int(n); resp != 2 && resp != 3 {
		vm.raise(L, "RESP version must be 2 or 3.")
	} else {
		r.resp = resp
	}
	return 0
}

func (vm *scriptVM) setRepl(L *lua.LState) int {
	vm.inRun(L, "redis.set_repl")
	if L.GetTop() != 1 {
		vm.raise(L, "redis.set_repl() requires two arguments.")
	}
	if n, _ := L.Get(1).(lua.LNumber); int(n)&^3 != 0 {
		vm.raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	return 0
}

func (vm *scriptVM) aclCheckCmd(L *lua.LState) int {
	r := vm.inRun(L, "redis.acl_check_cmd")
	args, msg := luaArgs(L)
	if msg != "" {
		vm.raise(L, msg)
	}
	cmd := r.eng.table.lookup(args[0])
	if cmd == nil || !cmd.arityOK(len(args)) {
		vm.raise(L, "Invalid command passed to redis.acl_check_cmd()")
	}
	L.Push(lua.LBool(r.acl.check(cmd, args) == aclOK))
	return 1
}

func luaSha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(luaErrTable(L, "ERR wrong number of arguments"), 0)
	}
	s := ""
	switch v := L.Get(1).(type) {
	case lua.LString:
		s = string(v)
	case lua.LNumber:
		s = luaNumber(float64(v))
	}
	L.Push(lua.LString(sha1hex([]byte(s))))
	return 1
}

func luaErrTable(L *lua.LState, msg string) *lua.LTable {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	return t
}

func sha1hex(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}

func (vm *scriptVM) errorReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(luaErrTable(L, "ERR wrong number or type of arguments"))
		return 1
	}
	e := strings.TrimPrefix(string(s), "-")
	L.Push(vm.replyErrorTable(L, e))
	return 1
}

func statusReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(luaErrTable(L, "ERR wrong number or type of arguments"))
		return 1
	}
	t := L.CreateTable(0, 1)
	t.RawSetString("ok", s)
	L.Push(t)
	return 1
}

// lrand48 is Redis's rand.c: the 48-bit linear congruential generator of
// lrand48(3), so a script that seeds it draws the numbers Redis draws.
type lrand48 struct{ x uint64 }

const lrand48Max = 2147483647

func (r *lrand48) seed(s int32) { r.x = uint64(uint32(s))<<16 | 0x330E }

func (r *lrand48) next() int32 {
	r.x = (0x5DEECE66D*r.x + 0xB) & (1<<48 - 1)
	return int32(r.x >> 17)
}

// mathLib is Lua's, with random and randomseed drawing from the run's
// generator (Redis's redis_math_random).
func (vm *scriptVM) mathLib(m *lua.LTable) *lua.LTable {
	f := fields(m)
	f["random"] = vm.L.NewFunction(func(L *lua.LState) int {
		r := vm.inRun(L, "math.random")
		x := float64(r.rand.next()%lrand48Max) / lrand48Max
		switch L.GetTop() {
		case 0:
			L.Push(lua.LNumber(x))
		case 1:
			u := luaCheckInt(L, 1, "random")
			if u < 1 {
				luaArgError(L, 1, "random", "interval is empty")
			}
			L.Push(lua.LNumber(math.Floor(x*float64(u)) + 1))
		case 2:
			l := luaCheckInt(L, 1, "random")
			u := luaCheckInt(L, 2, "random")
			if l > u {
				luaArgError(L, 2, "random", "interval is empty")
			}
			L.Push(lua.LNumber(math.Floor(x*float64(u-l+1)) + float64(l)))
		default:
			L.RaiseError("wrong number of arguments")
		}
		return 1
	})
	f["randomseed"] = vm.L.NewFunction(func(L *lua.LState) int {
		r := vm.inRun(L, "math.randomseed")
		r.rand.seed(int32(luaCheckInt(L, 1, "randomseed")))
		return 0
	})
	return vm.table(f)
}

// luaArgError raises Lua 5.1's "bad argument #n to 'fn' (msg)".
func luaArgError(L *lua.LState, n int, fn, msg string) {
	L.RaiseError("bad argument #%d to '%s' (%s)", n, fn, msg)
}

// luaCheckNumber is luaL_checknumber: a number, or a string that reads as
// one.
func luaCheckNumber(L *lua.LState, n int, fn string) float64 {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if f, ok := luaStringNumber(string(v)); ok {
			return f
		}
	}
	typ := "no value"
	if n <= L.GetTop() {
		typ = L.Get(n).Type().String()
	}
	luaArgError(L, n, fn, "number expected, got "+typ)
	return 0
}

// luaCheckInt is luaL_checkint: the number truncated to a C int.
func luaCheckInt(L *lua.LState, n int, fn string) int64 {
	return int64(int32(luaToInt64(luaCheckNumber(L, n, fn))))
}

// luaStringNumber converts a string as Lua's lua_str2number does.
func luaStringNumber(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false
	}
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		u, err := strconv.ParseUint(h, 16, 64)
		return float64(u), err == nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}
