package server

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The string and table libraries: Lua 5.1's functions, with every one
// that can build a large value charged to the script's budget before it
// builds it (string.rep("x", 1e12) is refused, not attempted), and
// string.format written out as Lua 5.1's (C printf semantics, widths of at
// most two digits), which gopher-lua hands to Go's fmt.

func (vm *scriptVM) stringLib(st *lua.LTable) *lua.LTable {
	f := fields(st)
	L := vm.L
	f["rep"] = L.NewFunction(vm.strRep)
	f["format"] = L.NewFunction(vm.strFormat)
	// Functions whose result is at most as large as their arguments: the
	// result is charged once built.
	for _, name := range []string{"byte", "char", "lower", "upper", "reverse", "sub", "len"} {
		f[name] = vm.charged(f[name].(*lua.LFunction).GFunction)
	}
	vm.patternFuncs(f)
	delete(f, "__index")
	t := vm.table(f)
	t.RawSetString("__index", t) // the string metatable's: s:upper() finds these functions
	return t
}

// charged wraps a library function: the strings it returns are charged.
func (vm *scriptVM) charged(fn lua.LGFunction) *lua.LFunction {
	return vm.L.NewFunction(func(L *lua.LState) int {
		n := fn(L)
		if r := vm.run; r != nil {
			size := 0
			for i := L.GetTop() - n + 1; i <= L.GetTop(); i++ {
				if s, ok := L.Get(i).(lua.LString); ok {
					size += len(s)
				}
			}
			r.charge(L, int64(size/unitBytes+n))
		}
		return n
	})
}

// luaCheckString is luaL_checklstring: a string, or a number as %.14g.
func luaCheckString(L *lua.LState, n int, fn string) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return luaNumber(float64(v))
	}
	typ := "no value"
	if n <= L.GetTop() {
		typ = L.Get(n).Type().String()
	}
	luaArgError(L, n, fn, "string expected, got "+typ)
	return ""
}

func (vm *scriptVM) strRep(L *lua.LState) int {
	s := luaCheckString(L, 1, "rep")
	n := luaCheckInt(L, 2, "rep")
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	total := int64(len(s)) * n
	if r := vm.run; r != nil {
		r.charge(L, total/unitBytes+1)
	}
	L.Push(lua.LString(strings.Repeat(s, int(n))))
	return 1
}

// strFormat is Lua 5.1's str_format.
func (vm *scriptVM) strFormat(L *lua.LState) int {
	format := luaCheckString(L, 1, "format")
	var b strings.Builder
	arg := 1
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			b.WriteByte('%')
			continue
		}
		arg++
		if arg > L.GetTop() {
			luaArgError(L, arg, "format", "no value")
		}
		spec, next := scanFormat(L, format, i)
		i = next
		if i >= len(format) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		b.WriteString(vm.formatOne(L, spec, format[i], arg))
		if r := vm.run; r != nil && b.Len() > 1<<16 {
			r.chargeBytes(L, b.Len())
		}
	}
	if r := vm.run; r != nil {
		r.chargeBytes(L, b.Len())
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// fmtSpec is a parsed conversion: flags, width and precision.
type fmtSpec struct {
	flags     string
	width     int
	precision int // -1: none
}

func scanFormat(L *lua.LState, f string, i int) (fmtSpec, int) {
	sp := fmtSpec{precision: -1}
	start := i
	for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
		i++
	}
	if i-start > 5 {
		L.RaiseError("invalid format (repeated flags)")
	}
	sp.flags = f[start:i]
	digits := func() int {
		s := i
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
		}
		if i-s > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		n, _ := strconv.Atoi(f[s:i])
		return n
	}
	sp.width = digits()
	if i < len(f) && f[i] == '.' {
		i++
		sp.precision = digits()
	}
	return sp, i
}

func (sp fmtSpec) goFormat(verb byte) string {
	s := "%" + sp.flags
	if sp.width > 0 {
		s += strconv.Itoa(sp.width)
	}
	if sp.precision >= 0 {
		s += "." + strconv.Itoa(sp.precision)
	}
	return s + string(verb)
}

// pad pads s to the spec's width, as printf pads a string.
func (sp fmtSpec) pad(s string) string {
	if len(s) >= sp.width {
		return s
	}
	fill := strings.Repeat(" ", sp.width-len(s))
	if strings.Contains(sp.flags, "-") {
		return s + fill
	}
	return fill + s
}

func (vm *scriptVM) formatOne(L *lua.LState, sp fmtSpec, verb byte, arg int) string {
	switch verb {
	case 'c':
		return sp.pad(string([]byte{byte(luaToInt64(luaCheckNumber(L, arg, "format")))}))
	case 'd', 'i':
		n := luaToInt64(luaCheckNumber(L, arg, "format"))
		return fmt.Sprintf(sp.goFormat('d'), n)
	case 'o', 'u', 'x', 'X':
		f := luaCheckNumber(L, arg, "format")
		var u uint64
		if f >= 9223372036854775808 && f < 18446744073709551616 {
			u = uint64(f)
		} else {
			u = uint64(luaToInt64(f))
		}
		if verb == 'u' {
			verb = 'd'
		}
		return fmt.Sprintf(sp.goFormat(verb), u)
	case 'e', 'E', 'f', 'g', 'G':
		f := luaCheckNumber(L, arg, "format")
		if math.IsInf(f, 0) || math.IsNaN(f) {
			s := luaNumber(f)
			if verb == 'E' || verb == 'G' {
				s = strings.ToUpper(s)
			}
			if f > 0 && strings.Contains(sp.flags, "+") {
				s = "+" + s
			}
			return sp.pad(s)
		}
		if (verb == 'g' || verb == 'G') && sp.precision < 0 {
			sp.precision = 6
		}
		return fmt.Sprintf(sp.goFormat(verb), f)
	case 'q':
		return luaQuote(luaCheckString(L, arg, "format"))
	case 's':
		s := luaCheckString(L, arg, "format")
		if sp.precision < 0 && len(s) >= 100 {
			return s
		}
		if sp.precision >= 0 && len(s) > sp.precision {
			s = s[:sp.precision]
		}
		return sp.pad(s)
	}
	L.RaiseError("invalid option '%%%c' to 'format'", verb)
	return ""
}

// luaQuote is %q's quoting (addquoted).
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (vm *scriptVM) tableLib(tl *lua.LTable) *lua.LTable {
	f := fields(tl)
	L := vm.L
	insert := f["insert"].(*lua.LFunction).GFunction
	remove := f["remove"].(*lua.LFunction).GFunction
	f["concat"] = L.NewFunction(vm.tableConcat)
	f["insert"] = L.NewFunction(func(L *lua.LState) int {
		t := vm.writable(L, 1)
		if r := vm.run; r != nil {
			n := int64(tableArrayLen(t))
			cost := n/unitBytes + costSlot // the shift
			if L.GetTop() == 3 {
				if pos, ok := L.Get(2).(lua.LNumber); ok {
					cost += tableWriteCost(t, pos)
				}
			}
			r.charge(L, cost)
		}
		return insert(L)
	})
	f["remove"] = L.NewFunction(func(L *lua.LState) int {
		t := vm.writable(L, 1)
		if r := vm.run; r != nil {
			r.charge(L, int64(tableArrayLen(t))/unitBytes+1)
		}
		return remove(L)
	})
	f["sort"] = L.NewFunction(vm.tableSort)
	f["foreach"] = L.NewFunction(tableForeach)
	f["foreachi"] = L.NewFunction(tableForeachi)
	f["setn"] = L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("'setn' is obsolete")
		return 0
	})
	return vm.table(f)
}

// writable returns argument n, a table the script may change.
func (vm *scriptVM) writable(L *lua.LState, n int) *lua.LTable {
	t := L.CheckTable(n)
	if vm.readonly(t) {
		L.RaiseError("%s", errReadonlyTable)
	}
	return t
}

func (vm *scriptVM) tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := ""
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		sep = luaCheckString(L, 2, "concat")
	}
	i := int64(1)
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		i = luaToInt64(luaCheckNumber(L, 3, "concat"))
	}
	j := int64(t.Len())
	if L.GetTop() >= 4 && L.Get(4) != lua.LNil {
		j = luaToInt64(luaCheckNumber(L, 4, "concat"))
	}
	r := vm.run
	total := 0
	for k := i; k <= j; k++ {
		if r != nil && (k-i)&1023 == 0 {
			r.charge(L, 1024/unitBytes)
		}
		switch v := t.RawGetInt(int(k)).(type) {
		case lua.LString:
			total += len(v)
		case lua.LNumber:
			total += len(luaNumber(float64(v)))
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		if k < j {
			total += len(sep)
		}
		if r != nil && total > 1<<20 {
			r.chargeBytes(L, total)
			total = 0
		}
	}
	if r != nil {
		r.chargeBytes(L, total)
	}
	var b strings.Builder
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(int(k)).(type) {
		case lua.LString:
			b.WriteString(string(v))
		case lua.LNumber:
			b.WriteString(luaNumber(float64(v)))
		}
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// tableSort is Lua's table.sort, charged for its comparisons; a
// comparator's own instructions count as they run.
func (vm *scriptVM) tableSort(L *lua.LState) int {
	t := vm.writable(L, 1)
	n := t.Len()
	if r := vm.run; r != nil && n > 1 {
		r.charge(L, int64(n)*int64(bits.Len(uint(n))))
	}
	var less func(a, b lua.LValue) bool
	if fn, ok := L.Get(2).(*lua.LFunction); ok {
		less = func(a, b lua.LValue) bool {
			L.Push(fn)
			L.Push(a)
			L.Push(b)
			L.Call(2, 1)
			v := L.Get(-1)
			L.Pop(1)
			return lua.LVAsBool(v)
		}
	} else {
		less = func(a, b lua.LValue) bool { return luaLess(L, a, b) }
	}
	vals := make([]lua.LValue, n)
	for i := range vals {
		vals[i] = t.RawGetInt(i + 1)
	}
	sort.SliceStable(vals, func(i, j int) bool { return less(vals[i], vals[j]) })
	for i, v := range vals {
		t.RawSetInt(i+1, v)
	}
	return 0
}

// luaLess is Lua's < for sort without a comparator: numbers, strings, or
// the __lt metamethod.
func luaLess(L *lua.LState, a, b lua.LValue) bool {
	switch x := a.(type) {
	case lua.LNumber:
		if y, ok := b.(lua.LNumber); ok {
			return x < y
		}
	case lua.LString:
		if y, ok := b.(lua.LString); ok {
			return x < y
		}
	}
	if mt, ok := L.GetMetaField(a, "__lt").(*lua.LFunction); ok {
		L.Push(mt)
		L.Push(a)
		L.Push(b)
		L.Call(2, 1)
		v := L.Get(-1)
		L.Pop(1)
		return lua.LVAsBool(v)
	}
	L.RaiseError("attempt to compare %s with %s", a.Type(), b.Type())
	return false
}

func tableForeach(L *lua.LState) int {
	t := L.CheckTable(1)
	fn := L.CheckFunction(2)
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		L.Push(fn)
		L.Push(k)
		L.Push(v)
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

func tableForeachi(L *lua.LState) int {
	t := L.CheckTable(1)
	fn := L.CheckFunction(2)
	for i := 1; i <= t.Len(); i++ {
		L.Push(fn)
		L.Push(lua.LNumber(i))
		L.Push(t.RawGetInt(i))
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}
