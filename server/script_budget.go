package server

import (
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// The deterministic budget (DESIGN.md, "Transactions, scripts, events").
//
// A script runs inside apply on every node, so it may not be stopped by a
// clock: it is stopped by counting. gopher-lua calls the context's Done
// once before every VM instruction when the LState has a context; ours
// counts the call, and also looks at the instruction about to run, which
// lets it charge what an instruction allocates (a concatenation, a table
// slot, a new table), refuse writes to the read-only library tables (as
// Redis 7's readonly tables do), and stop a script that is over its budget.
// Every node counts the same instructions, so every node stops a runaway
// script at the same instruction, with the same effects rolled back.
//
// One unit of budget is one VM instruction or about unitBytes bytes
// allocated: the budget bounds both the time and the memory a script
// takes.

// unitBytes is how many bytes a script may allocate per unit of budget.
const unitBytes = 4

// Costs, in units, of allocations the VM makes on a script's behalf.
const (
	costNewKey   = 48 // a new hash key in a table: two map entries, the key list, and GC work
	costSlot     = 4  // an array slot (16 bytes)
	costNewTable = 32 // an LTable and its first allocations
	costClosure  = 8
	costCall     = 200 // a redis.call (about 5 µs), besides its reply
	costFuncCall = 12  // a call: a frame, and often Go code (the libraries)
	// costReplyValue is a reply element built from a script's result.
	costReplyValue = 16
)

// DefaultScriptBudget is the default instruction budget of one script.
const DefaultScriptBudget = 50_000_000

// vmLayout locates the unexported fields of gopher-lua's interpreter
// state that the budget reads: the current call frame and the registers.
// They are found by reflection once, so a gopher-lua upgrade that moves
// them fails loudly at start (and in every test) rather than misreading.
type vmLayout struct {
	stateFrame, stateReg     uintptr // LState.currentFrame, LState.reg
	frameFn, framePc, frameB uintptr // callFrame.Fn, Pc, LocalBase
	regArray                 uintptr // registry.array
	tableArray               uintptr // LTable.array
}

var layout = mustVMLayout()

func mustVMLayout() vmLayout {
	l, err := findVMLayout()
	if err != nil {
		panic("server: unsupported gopher-lua version: " + err.Error())
	}
	return l
}

func findVMLayout() (vmLayout, error) {
	var l vmLayout
	field := func(t reflect.Type, name string, want reflect.Type, kind reflect.Kind) (reflect.StructField, error) {
		f, ok := t.FieldByName(name)
		switch {
		case !ok:
			return f, fmt.Errorf("%s has no field %s", t, name)
		case want != nil && f.Type != want:
			return f, fmt.Errorf("%s.%s is %s, want %s", t, name, f.Type, want)
		case want == nil && f.Type.Kind() != kind:
			return f, fmt.Errorf("%s.%s is a %s, want a %s", t, name, f.Type.Kind(), kind)
		}
		return f, nil
	}
	st := reflect.TypeOf(lua.LState{})
	cf, err := field(st, "currentFrame", nil, reflect.Pointer)
	if err != nil {
		return l, err
	}
	reg, err := field(st, "reg", nil, reflect.Pointer)
	if err != nil {
		return l, err
	}
	frame := cf.Type.Elem()
	fn, err := field(frame, "Fn", reflect.TypeOf((*lua.LFunction)(nil)), 0)
	if err != nil {
		return l, err
	}
	pc, err := field(frame, "Pc", reflect.TypeOf(0), 0)
	if err != nil {
		return l, err
	}
	base, err := field(frame, "LocalBase", reflect.TypeOf(0), 0)
	if err != nil {
		return l, err
	}
	values := reflect.TypeOf([]lua.LValue(nil))
	arr, err := field(reg.Type.Elem(), "array", values, 0)
	if err != nil {
		return l, err
	}
	tarr, err := field(reflect.TypeOf(lua.LTable{}), "array", values, 0)
	if err != nil {
		return l, err
	}
	return vmLayout{stateFrame: cf.Offset, stateReg: reg.Offset, frameFn: fn.Offset, framePc: pc.Offset,
		frameB: base.Offset, regArray: arr.Offset, tableArray: tarr.Offset}, nil
}

// frame returns L's current frame's function, program counter (the
// instruction about to run is Code[pc-1]) and register base; fn is nil
// when there is no frame.
func vmFrame(L *lua.LState) (fn *lua.LFunction, pc, base int) {
	cf := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(L), layout.stateFrame))
	if cf == nil {
		return nil, 0, 0
	}
	fn = *(**lua.LFunction)(unsafe.Add(cf, layout.frameFn))
	pc = *(*int)(unsafe.Add(cf, layout.framePc))
	base = *(*int)(unsafe.Add(cf, layout.frameB))
	return fn, pc, base
}

// vmRegs returns L's register file.
func vmRegs(L *lua.LState) []lua.LValue {
	reg := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(L), layout.stateReg))
	return *(*[]lua.LValue)(unsafe.Add(reg, layout.regArray))
}

// tableArrayLen is the length of t's array part.
func tableArrayLen(t *lua.LTable) int {
	return len(*(*[]lua.LValue)(unsafe.Add(unsafe.Pointer(t), layout.tableArray)))
}

var (
	errReadonlyTable = errors.New("Attempt to modify a readonly table")
	errScriptKilled  = errors.New("Script killed by user with SCRIPT KILL...")
)

// closedChan is returned by Done to stop the VM.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// budgetCtx is the context of one LState (the script's, or a coroutine's)
// while a script runs. Its Done is called before every instruction.
type budgetCtx struct {
	vm *scriptVM
	L  *lua.LState
}

func (c *budgetCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *budgetCtx) Value(any) any               { return nil }

// Err is the message of the error the VM raises when Done stopped it. A
// read-only table violation is one instruction's error (a pcall may catch
// it); an exhausted budget or a kill stops every instruction after it.
func (c *budgetCtx) Err() error {
	r := c.vm.run
	if r == nil {
		return nil
	}
	e := r.pending
	if r.stop == nil {
		r.pending = nil
	}
	return e
}

func (c *budgetCtx) Done() <-chan struct{} {
	r := c.vm.run
	if r == nil {
		return nil
	}
	if r.stop != nil {
		r.pending = r.stop
		return closedChan
	}
	r.used++
	if r.used&1023 == 0 && r.killed != nil && r.killed.Load() {
		r.halt(errScriptKilled)
		return closedChan
	}
	if err := c.vm.inspect(c.L, r); err != nil {
		r.pending = err
		return closedChan
	}
	if r.used > r.budget {
		r.halt(r.budgetError())
		return closedChan
	}
	return nil
}

// inspect looks at the instruction L is about to run: it charges what the
// instruction allocates and refuses writes to read-only tables.
func (vm *scriptVM) inspect(L *lua.LState, r *scriptRun) error {
	fn, pc, base := vmFrame(L)
	if fn == nil || fn.IsG || pc < 1 || pc > len(fn.Proto.Code) {
		return nil
	}
	inst := fn.Proto.Code[pc-1]
	switch int(inst >> 26) {
	case lua.OP_SETTABLE, lua.OP_SETTABLEKS:
		regs := vmRegs(L)
		a := base + int(inst>>18)&0xff
		if a >= len(regs) {
			return nil
		}
		t, ok := regs[a].(*lua.LTable)
		if !ok {
			return nil
		}
		if vm.readonly(t) {
			return errReadonlyTable
		}
		r.used += tableWriteCost(t, vmRK(fn, regs, base, int(inst&0x1ff)))
	case lua.OP_SETGLOBAL:
		if vm.readonly(fn.Env) {
			return errReadonlyTable
		}
	case lua.OP_SETLIST:
		n := int(inst & 0x1ff)
		if n == 0 {
			n = lua.FieldsPerFlush
		}
		r.used += int64(n) * costSlot
	case lua.OP_NEWTABLE:
		r.used += costNewTable + int64(int(inst&0x1ff)+int(inst>>9)&0x1ff)*costSlot
	case lua.OP_CLOSURE:
		r.used += costClosure
	case lua.OP_CALL, lua.OP_TAILCALL, lua.OP_SELF:
		r.used += costFuncCall
	case lua.OP_CONCAT:
		regs := vmRegs(L)
		from, to := base+int(inst&0x1ff), base+int(inst>>9)&0x1ff
		n := 0
		for i := from; i <= to && i < len(regs); i++ {
			switch v := regs[i].(type) {
			case lua.LString:
				n += len(v)
			case lua.LNumber:
				n += 24
			}
		}
		r.used += int64(n/unitBytes) + 1
	}
	return nil
}

// vmRK reads an RK operand: a constant or a register.
func vmRK(fn *lua.LFunction, regs []lua.LValue, base, x int) lua.LValue {
	if x&0x100 != 0 {
		k := x & 0xff
		if k < len(fn.Proto.Constants) {
			return fn.Proto.Constants[k]
		}
		return lua.LNil
	}
	if base+x < len(regs) {
		return regs[base+x]
	}
	return lua.LNil
}

// tableWriteCost is what storing under key in t may allocate: nothing for
// an existing key, an array slot (and any gap of nils before it), or a
// hash entry.
func tableWriteCost(t *lua.LTable, key lua.LValue) int64 {
	if n, ok := key.(lua.LNumber); ok && n >= 1 && n < lua.LNumber(lua.MaxArrayIndex) && n == lua.LNumber(int64(n)) {
		alen := int64(tableArrayLen(t))
		if int64(n) <= alen {
			return 0
		}
		return (int64(n) - alen) * costSlot
	}
	if key == lua.LNil || t.RawGet(key) != lua.LNil {
		return 0
	}
	return costNewKey
}

// charge takes n units from the run's budget, from Go code running on the
// script's behalf (a library function, a reply's conversion); over the
// budget it stops the script.
func (r *scriptRun) charge(L *lua.LState, n int64) {
	r.used += n
	if r.stop == nil && r.used > r.budget {
		r.halt(r.budgetError())
	}
	if r.stop != nil {
		L.RaiseError("%s", r.stop.Error())
	}
}

// chargeBytes charges for n bytes about to be allocated.
func (r *scriptRun) chargeBytes(L *lua.LState, n int) { r.charge(L, int64(n/unitBytes)+1) }

// halt stops the script at its next instruction, for good.
func (r *scriptRun) halt(err error) {
	if r.stop == nil {
		r.stop = err
	}
	r.pending = r.stop
}

func (r *scriptRun) budgetError() error {
	return fmt.Errorf("Script exceeded its budget of %d instructions and was aborted (script-budget)", r.budget)
}
