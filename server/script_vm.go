package server

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// scriptVM is one Lua interpreter holding Redis 7.0's scripting
// environment: the globals Redis exposes (and no others: no os, io,
// require, loadfile, dofile, print), read-only as in Redis 7, so a script
// can neither leave state behind for the next one nor read another's. It
// is reused across runs; a run's state lives in scriptRun.
//
// Determinism: library tables are built in sorted key order (gopher-lua
// iterates tables in insertion order, and its libraries register from Go
// maps), math.random draws from the entry's seed, tostring names tables
// by a per-run counter rather than an address, and collectgarbage reports
// nothing of the Go heap.
type scriptVM struct {
	L       *lua.LState
	ctx     *budgetCtx
	globals *lua.LTable
	ro      []*lua.LTable // read-only tables: the globals, the libraries, their metatables
	errFn   *lua.LFunction
	null    *lua.LUserData // cjson.null
	run     *scriptRun     // the run in progress, or nil
	broken  bool           // a Go panic escaped a run: do not reuse
}

// scriptRun is one script execution.
type scriptRun struct {
	eng      *scriptEngine
	sha      string
	budget   int64
	used     int64
	stop     error // set once the script must stop: over budget, killed
	pending  error // the error the VM raises at this instruction
	killed   *atomic.Bool
	resp     int // the script's protocol for redis.call (redis.setresp)
	client   int // the caller's protocol
	readOnly bool
	acl      *aclUser // the caller's ACL; nil: everything allowed
	user     string
	// env runs the commands of redis.call: inside apply (txn) or on the
	// read path (reader).
	env   *scriptEnv
	rand  lrand48
	ids   map[any]int // tostring's names of tables, functions, threads
	cjson cjsonConfig
	// errLine is the script line of the last error raised.
	errLine int
}

// Limits of one interpreter.
const (
	luaRegistryMax = 1 << 16 // stack slots (Lua 5.1's C stack limit is 8000)
	luaCallStack   = 1000    // nested calls
)

var readonlyKeys = []string{"ARGV", "KEYS"} // globals a run sets itself

func newScriptVM(eng *scriptEngine) *scriptVM {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, RegistrySize: 1024, RegistryMaxSize: luaRegistryMax,
		CallStackSize: luaCallStack, MinimizeStackMemory: true})
	vm := &scriptVM{L: L}
	vm.ctx = &budgetCtx{vm: vm, L: L}
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenTable, lua.OpenString, lua.OpenMath, lua.OpenCoroutine} {
		L.Push(L.NewFunction(open))
		L.Call(0, 0)
	}
	vm.null = L.NewUserData()
	old := L.G.Global
	g := map[string]lua.LValue{}
	for _, name := range []string{"assert", "getmetatable", "ipairs", "load", "loadstring", "next", "pairs",
		"rawequal", "rawget", "select", "tonumber", "type", "unpack", "xpcall", "_VERSION"} {
		g[name] = old.RawGetString(name)
	}
	base := map[string]lua.LGFunction{
		"pcall": vm.pcall, "tostring": vm.tostring, "rawset": vm.rawset, "setmetatable": vm.setmetatable,
		"collectgarbage": luaCollectGarbage, "gcinfo": luaGcinfo, "loadstring": vm.loadstring, "load": vm.load,
		"__redis__err__handler": func(L *lua.LState) int { return L.GetTop() },
		"error":                 luaError,
	}
	for name, fn := range base {
		g[name] = L.NewFunction(fn)
	}
	g["string"] = vm.stringLib(old.RawGetString("string").(*lua.LTable))
	g["table"] = vm.tableLib(old.RawGetString("table").(*lua.LTable))
	g["math"] = vm.mathLib(old.RawGetString("math").(*lua.LTable))
	g["coroutine"] = vm.coroutineLib(old.RawGetString("coroutine").(*lua.LTable))
	g["redis"] = vm.redisLib()
	g["cjson"] = vm.cjsonLib()
	g["cmsgpack"] = vm.cmsgpackLib()
	g["bit"] = vm.bitLib()
	g["struct"] = vm.structLib()
	for _, k := range readonlyKeys {
		g[k] = L.NewTable()
	}
	globals := vm.table(g)
	globals.RawSetString("_G", globals)
	L.G.Global, L.Env = globals, globals
	vm.globals = globals
	meta := vm.table(map[string]lua.LValue{
		"__index":    L.NewFunction(luaGlobalIndex),
		"__newindex": L.NewFunction(func(L *lua.LState) int { L.RaiseError("%s", errReadonlyTable); return 0 }),
	})
	globals.Metatable = meta
	vm.ro = append(vm.ro, globals, meta)
	// Strings index the (read-only) string library.
	L.SetMetatable(lua.LString(""), g["string"])
	vm.errFn = L.NewFunction(vm.errorHandler)
	return vm
}

// table builds a read-only table holding fields, inserted in sorted key
// order so that pairs() walks it the same way on every node.
func (vm *scriptVM) table(fields map[string]lua.LValue) *lua.LTable {
	t := vm.L.CreateTable(0, len(fields))
	for _, k := range sortedKeys(fields) {
		t.RawSetString(k, fields[k])
	}
	vm.ro = append(vm.ro, t)
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(a, b) })
	return keys
}

// fields copies a library table's fields, less those listed.
func fields(t *lua.LTable, drop ...string) map[string]lua.LValue {
	m := map[string]lua.LValue{}
	t.ForEach(func(k, v lua.LValue) {
		if s, ok := k.(lua.LString); ok && !slices.Contains(drop, string(s)) {
			m[string(s)] = v
		}
	})
	return m
}

// readonly reports whether t is one of the environment's tables, which
// scripts may read but not change.
func (vm *scriptVM) readonly(t *lua.LTable) bool {
	for _, r := range vm.ro {
		if r == t {
			return true
		}
	}
	return false
}

func luaGlobalIndex(L *lua.LState) int {
	L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.ToString(2))
	return 0
}

// luaError is Lua 5.1's error: a string or number message gets the
// position of the function at level.
func luaError(L *lua.LState) int {
	obj := L.Get(1)
	if n, ok := obj.(lua.LNumber); ok {
		obj = lua.LString(luaNumber(float64(n)))
	}
	level := 1
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		level = int(luaCheckInt(L, 2, "error"))
	}
	L.Error(obj, level)
	return 0
}

func luaCollectGarbage(L *lua.LState) int {
	L.Push(lua.LNumber(0))
	return 1
}

func luaGcinfo(L *lua.LState) int {
	L.Push(lua.LNumber(0))
	return 1
}

// pcall is Redis 7's: an error raised as a table with an err field (what
// redis.call raises) is returned as that string.
func (vm *scriptVM) pcall(L *lua.LState) int {
	fn := L.CheckAny(1)
	nargs := L.GetTop() - 1
	if err := L.PCall(nargs, lua.MultRet, nil); err != nil {
		obj := lua.LValue(lua.LString(err.Error()))
		if ae, ok := err.(*lua.ApiError); ok {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok {
			if e := t.RawGetString("err"); e.Type() == lua.LTString || e.Type() == lua.LTNumber {
				obj = e
			}
		}
		if r := vm.run; r != nil && r.stop != nil {
			L.RaiseError("%s", r.stop.Error()) // an exhausted budget is not caught
		}
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	_ = fn
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// tostring is Lua 5.1's: numbers as %.14g, and tables, functions and
// threads named by a counter of this run (not a memory address, which
// differs from node to node).
func (vm *scriptVM) tostring(L *lua.LState) int {
	v := L.CheckAny(1)
	if t, ok := v.(*lua.LTable); ok {
		if mt, ok := t.Metatable.(*lua.LTable); ok {
			if f := mt.RawGetString("__tostring"); f != lua.LNil {
				L.Push(f)
				L.Push(v)
				L.Call(1, 1)
				return 1
			}
		}
	}
	L.Push(lua.LString(vm.luaString(v)))
	return 1
}

func (vm *scriptVM) luaString(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return luaNumber(float64(x))
	case lua.LBool:
		if x {
			return "true"
		}
		return "false"
	case *lua.LNilType:
		return "nil"
	case *lua.LUserData:
		if x == vm.null {
			return "userdata: (nil)"
		}
	}
	r := vm.run
	if r == nil {
		return v.Type().String()
	}
	if r.ids == nil {
		r.ids = map[any]int{}
	}
	id, ok := r.ids[v]
	if !ok {
		id = len(r.ids) + 1
		r.ids[v] = id
	}
	return fmt.Sprintf("%s: 0x%012x", v.Type().String(), 0x10000+id*0x40)
}

// luaNumber formats a number as Lua 5.1 does (LUAI_NUMFFORMAT "%.14g").
func luaNumber(f float64) string { return formatG(f, 14) }

// formatG is C's %.<prec>g, with C's spellings of NaN and the infinities.
func formatG(f float64, prec int) string {
	switch {
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', prec, 64)
}

func (vm *scriptVM) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	k := L.CheckAny(2)
	v := L.CheckAny(3)
	if vm.readonly(t) {
		L.RaiseError("%s", errReadonlyTable)
	}
	if k == lua.LNil {
		L.ArgError(2, "table index is nil")
	}
	if r := vm.run; r != nil {
		r.charge(L, tableWriteCost(t, k))
	}
	t.RawSet(k, v)
	L.SetTop(1)
	return 1
}

func (vm *scriptVM) setmetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	mt := L.Get(2)
	if _, ok := mt.(*lua.LTable); !ok && mt != lua.LNil {
		L.TypeError(2, lua.LTTable)
	}
	if vm.readonly(t) {
		L.RaiseError("%s", errReadonlyTable)
	}
	if old, ok := t.Metatable.(*lua.LTable); ok && old.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = mt
	L.SetTop(1)
	return 1
}

// maxScriptBytes bounds a script's source (and loadstring's): the Lua
// compiler recurses over the syntax tree, and a bounded source bounds its
// depth.
const maxScriptBytes = 1 << 20

func (vm *scriptVM) loadstring(L *lua.LState) int {
	src := L.CheckString(1)
	name := L.OptString(2, src)
	return vm.loadChunk(L, src, name)
}

// load reads a chunk from a function, as Lua 5.1's load does.
func (vm *scriptVM) load(L *lua.LState) int {
	fn := L.CheckFunction(1)
	name := L.OptString(2, "=(load)")
	var b strings.Builder
	for {
		L.Push(fn)
		L.Call(0, 1)
		v := L.Get(-1)
		L.Pop(1)
		s, ok := v.(lua.LString)
		if v == lua.LNil || (ok && len(s) == 0) {
			break
		}
		if !ok {
			L.Push(lua.LNil)
			L.Push(lua.LString("reader function must return a string"))
			return 2
		}
		if b.Len()+len(s) > maxScriptBytes {
			L.RaiseError("chunk too large")
		}
		if r := vm.run; r != nil {
			r.chargeBytes(L, len(s))
		}
		b.WriteString(string(s))
	}
	return vm.loadChunk(L, b.String(), name)
}

func (vm *scriptVM) loadChunk(L *lua.LState, src, name string) int {
	if len(src) > maxScriptBytes {
		L.RaiseError("chunk too large")
	}
	if r := vm.run; r != nil {
		r.charge(L, int64(len(src))) // compiling costs about a unit a byte
	}
	proto, err := compileLua(src, chunkName(name))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}

// chunkName is how Lua 5.1 names a chunk in messages (luaO_chunkid).
func chunkName(name string) string {
	switch {
	case strings.HasPrefix(name, "=") || strings.HasPrefix(name, "@"):
		return name[1:]
	}
	line, _, cut := strings.Cut(name, "\n")
	if len(line) > 40 || cut {
		if len(line) > 40 {
			line = line[:40]
		}
		return `[string "` + line + `..."]`
	}
	return `[string "` + line + `"]`
}

// errorHandler runs where an error was raised, before the stack unwinds:
// it records the script line of the innermost Lua function for the reply
// ("script: <sha>, on @user_script:<line>.").
func (vm *scriptVM) errorHandler(L *lua.LState) int {
	if r := vm.run; r != nil {
		r.errLine = 0
		for level := 1; ; level++ {
			dbg, ok := L.GetStack(level)
			if !ok {
				break
			}
			if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
				break
			}
			if dbg.What != "G" && dbg.CurrentLine > 0 {
				r.errLine = dbg.CurrentLine
				break
			}
		}
	}
	L.Push(L.Get(1))
	return 1
}

// coroutineLib is Lua's, with every coroutine counted against the budget
// of the script that made it.
func (vm *scriptVM) coroutineLib(co *lua.LTable) *lua.LTable {
	f := fields(co)
	create := co.RawGetString("create").(*lua.LFunction).GFunction
	resume := co.RawGetString("resume").(*lua.LFunction).GFunction
	newThread := func(L *lua.LState) *lua.LState {
		if r := vm.run; r != nil {
			r.charge(L, (1024*16+4096)/unitBytes) // its registry and call stack
		}
		create(L)
		th := L.CheckThread(L.GetTop())
		if vm.run != nil {
			th.SetContext(&budgetCtx{vm: vm, L: th})
		}
		return th
	}
	f["create"] = vm.L.NewFunction(func(L *lua.LState) int {
		newThread(L)
		return 1
	})
	f["wrap"] = vm.L.NewFunction(func(L *lua.LState) int {
		th := newThread(L)
		L.Push(L.NewFunction(func(L *lua.LState) int {
			L.Insert(th, 1)
			n := resume(L)
			if L.Get(-n) == lua.LFalse {
				msg := L.Get(-n + 1)
				if s, ok := msg.(lua.LString); ok {
					L.RaiseError("%s", string(s))
				}
				L.Error(msg, 0)
			}
			L.Remove(-n)
			return n - 1
		}))
		return 1
	})
	return vm.table(f)
}

// close releases the interpreter.
func (vm *scriptVM) close() { vm.L.Close() }
