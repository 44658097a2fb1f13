package server

import (
	"encoding/binary"
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The libraries Redis adds to Lua: bit (LuaBitOp), struct (Roberto
// Ierusalimschy's struct) and cmsgpack (lua-cmsgpack 0.4.0), written for
// gopher-lua to behave as Redis's C versions do. cjson is in
// script_cjson.go.

// --- bit ---

// bitArg is LuaBitOp's barg: the number's low 32 bits, rounded as the
// 2^52+2^51 trick rounds.
func bitArg(L *lua.LState, n int, fn string) uint32 {
	f := luaCheckNumber(L, n, fn)
	return uint32(math.Float64bits(f + 6755399441055744.0))
}

func bitRet(L *lua.LState, b uint32) int {
	L.Push(lua.LNumber(int32(b)))
	return 1
}

func (vm *scriptVM) bitLib() *lua.LTable {
	L := vm.L
	fold := func(name string, op func(a, b uint32) uint32) lua.LValue {
		return L.NewFunction(func(L *lua.LState) int {
			b := bitArg(L, 1, name)
			for i := 2; i <= L.GetTop(); i++ {
				b = op(b, bitArg(L, i, name))
			}
			return bitRet(L, b)
		})
	}
	shift := func(name string, op func(b uint32, n uint) uint32) lua.LValue {
		return L.NewFunction(func(L *lua.LState) int {
			b := bitArg(L, 1, name)
			n := uint(bitArg(L, 2, name) & 31)
			return bitRet(L, op(b, n))
		})
	}
	return vm.table(map[string]lua.LValue{
		"tobit":  L.NewFunction(func(L *lua.LState) int { return bitRet(L, bitArg(L, 1, "tobit")) }),
		"bnot":   L.NewFunction(func(L *lua.LState) int { return bitRet(L, ^bitArg(L, 1, "bnot")) }),
		"band":   fold("band", func(a, b uint32) uint32 { return a & b }),
		"bor":    fold("bor", func(a, b uint32) uint32 { return a | b }),
		"bxor":   fold("bxor", func(a, b uint32) uint32 { return a ^ b }),
		"lshift": shift("lshift", func(b uint32, n uint) uint32 { return b << n }),
		"rshift": shift("rshift", func(b uint32, n uint) uint32 { return b >> n }),
		"arshift": shift("arshift", func(b uint32, n uint) uint32 {
			return uint32(int32(b) >> n)
		}),
		"rol": shift("rol", func(b uint32, n uint) uint32 { return b<<n | b>>(32-n) }),
		"ror": shift("ror", func(b uint32, n uint) uint32 { return b>>n | b<<(32-n) }),
		"bswap": L.NewFunction(func(L *lua.LState) int {
			b := bitArg(L, 1, "bswap")
			return bitRet(L, b>>24|(b>>8)&0xff00|(b&0xff00)<<8|b<<24)
		}),
		"tohex": L.NewFunction(func(L *lua.LState) int {
			b := bitArg(L, 1, "tohex")
			n := int32(8)
			if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
				n = int32(bitArg(L, 2, "tohex"))
			}
			digits := "0123456789abcdef"
			if n < 0 {
				n, digits = -n, "0123456789ABCDEF"
			}
			if n > 8 {
				n = 8
			}
			buf := make([]byte, n)
			for i := int(n) - 1; i >= 0; i-- {
				buf[i] = digits[b&15]
				b >>= 4
			}
			L.Push(lua.LString(buf))
			return 1
		}),
	})
}

// --- struct ---

const structMaxIntSize = 32

type structHeader struct {
	little bool
	align  int
}

func structNum(L *lua.LState, f string, i *int, def int) int {
	if *i >= len(f) || f[*i] < '0' || f[*i] > '9' {
		return def
	}
	a := 0
	for *i < len(f) && f[*i] >= '0' && f[*i] <= '9' {
		d := int(f[*i] - '0')
		if a > math.MaxInt32/10 || a*10 > math.MaxInt32-d {
			L.RaiseError("integral size overflow")
		}
		a = a*10 + d
		*i++
	}
	return a
}

func structSize(L *lua.LState, opt byte, f string, i *int) int {
	switch opt {
	case 'B', 'b':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'x':
		return 1
	case 'c':
		return structNum(L, f, i, 1)
	case 'i', 'I':
		sz := structNum(L, f, i, 4)
		if sz > structMaxIntSize {
			L.RaiseError("integral size %d is larger than limit of %d", sz, structMaxIntSize)
		}
		return sz
	}
	return 0
}

func structToAlign(n int, h *structHeader, opt byte, size int) int {
	if size == 0 || opt == 'c' {
		return 0
	}
	if size > h.align {
		size = h.align
	}
	return (size - (n & (size - 1))) & (size - 1)
}

func structControl(L *lua.LState, opt byte, f string, i *int, h *structHeader) {
	switch opt {
	case ' ':
	case '>':
		h.little = false
	case '<':
		h.little = true
	case '!':
		a := structNum(L, f, i, 8)
		if a == 0 || a&(a-1) != 0 {
			L.RaiseError("alignment %d is not a power of 2", a)
		}
		h.align = a
	default:
		luaArgError(L, 1, "pack", "invalid format option '"+string(opt)+"'")
	}
}

func structIsInt(opt byte) bool { return strings.IndexByte("bBhHlLTiI", opt) >= 0 }

func (vm *scriptVM) structLib() *lua.LTable {
	L := vm.L
	return vm.table(map[string]lua.LValue{
		"pack":   L.NewFunction(vm.structPack),
		"unpack": L.NewFunction(structUnpack),
		"size":   L.NewFunction(structSizeFn),
	})
}

func (vm *scriptVM) structPack(L *lua.LState) int {
	f := luaCheckString(L, 1, "pack")
	h := structHeader{little: true, align: 1}
	arg := 2
	var b []byte
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structSize(L, opt, f, &i)
		for n := structToAlign(len(b), &h, opt, size); n > 0; n-- {
			b = append(b, 0)
		}
		switch {
		case structIsInt(opt):
			n := luaCheckNumber(L, arg, "pack")
			arg++
			var v uint64
			if n < 0 {
				v = uint64(luaToInt64(n))
			} else if n >= 18446744073709551616 {
				v = 0x8000000000000000
			} else {
				v = uint64(n)
			}
			buf := make([]byte, size)
			for k := 0; k < size; k++ {
				idx := k
				if !h.little {
					idx = size - 1 - k
				}
				buf[idx] = byte(v)
				v >>= 8
			}
			b = append(b, buf...)
		case opt == 'x':
			b = append(b, 0)
		case opt == 'f':
			bits := math.Float32bits(float32(luaCheckNumber(L, arg, "pack")))
			arg++
			b = structPut(b, uint64(bits), 4, h.little)
		case opt == 'd':
			bits := math.Float64bits(luaCheckNumber(L, arg, "pack"))
			arg++
			b = structPut(b, bits, 8, h.little)
		case opt == 'c' || opt == 's':
			s := luaCheckString(L, arg, "pack")
			arg++
			if size == 0 {
				size = len(s)
			}
			if len(s) < size {
				luaArgError(L, arg, "pack", "string too short")
			}
			b = append(b, s[:size]...)
			if opt == 's' {
				b = append(b, 0)
			}
		default:
			structControl(L, opt, f, &i, &h)
		}
		if r := vm.run; r != nil && len(b) > 1<<16 {
			r.chargeBytes(L, len(b))
		}
	}
	if r := vm.run; r != nil {
		r.chargeBytes(L, len(b))
	}
	L.Push(lua.LString(b))
	return 1
}

func structPut(b []byte, v uint64, size int, little bool) []byte {
	buf := make([]byte, 8)
	if little {
		binary.LittleEndian.PutUint64(buf, v)
		return append(b, buf[:size]...)
	}
	binary.BigEndian.PutUint64(buf, v)
	return append(b, buf[8-size:]...)
}

func structGet(data []byte, little bool) uint64 {
	var v uint64
	if little {
		for i := len(data) - 1; i >= 0; i-- {
			v = v<<8 | uint64(data[i])
		}
	} else {
		for _, c := range data {
			v = v<<8 | uint64(c)
		}
	}
	return v
}

func structUnpack(L *lua.LState) int {
	f := luaCheckString(L, 1, "unpack")
	data := luaCheckString(L, 2, "unpack")
	pos := int64(1)
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		pos = luaToInt64(luaCheckNumber(L, 3, "unpack"))
	}
	if pos <= 0 {
		luaArgError(L, 3, "unpack", "offset must be 1 or greater")
	}
	p := int(min(pos-1, int64(len(data))+1))
	h := structHeader{little: true, align: 1}
	var out []lua.LValue
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structSize(L, opt, f, &i)
		p += structToAlign(p, &h, opt, size)
		if size > len(data) || p > len(data)-size {
			luaArgError(L, 2, "unpack", "data string too short")
		}
		switch {
		case structIsInt(opt):
			v := structGet([]byte(data[p:p+size]), h.little)
			if opt >= 'a' && opt <= 'z' && size > 0 && size < 8 {
				if v&(1<<(size*8-1)) != 0 {
					v |= ^uint64(0) << (size * 8)
				}
				out = append(out, lua.LNumber(int64(v)))
			} else if opt >= 'a' && opt <= 'z' {
				out = append(out, lua.LNumber(int64(v)))
			} else {
				out = append(out, lua.LNumber(v))
			}
		case opt == 'x':
		case opt == 'f':
			out = append(out, lua.LNumber(math.Float32frombits(uint32(structGet([]byte(data[p:p+4]), h.little)))))
		case opt == 'd':
			out = append(out, lua.LNumber(math.Float64frombits(structGet([]byte(data[p:p+8]), h.little))))
		case opt == 'c':
			if size == 0 {
				last := lua.LValue(lua.LNil)
				if len(out) > 0 {
					last = out[len(out)-1]
				}
				n, ok := last.(lua.LNumber)
				if !ok {
					L.RaiseError("format 'c0' needs a previous size")
				}
				out = out[:len(out)-1]
				size = int(luaToInt64(float64(n)))
				if size < 0 || size > len(data) || p > len(data)-size {
					luaArgError(L, 2, "unpack", "data string too short")
				}
			}
			out = append(out, lua.LString(data[p:p+size]))
		case opt == 's':
			e := strings.IndexByte(data[p:], 0)
			if e < 0 {
				L.RaiseError("unfinished string in data")
			}
			size = e + 1
			out = append(out, lua.LString(data[p:p+e]))
		default:
			structControl(L, opt, f, &i, &h)
		}
		p += size
	}
	for _, v := range out {
		L.Push(v)
	}
	L.Push(lua.LNumber(p + 1))
	return len(out) + 1
}

func structSizeFn(L *lua.LState) int {
	f := luaCheckString(L, 1, "size")
	h := structHeader{little: true, align: 1}
	pos := 0
	for i := 0; i < len(f); {
		opt := f[i]
		i++
		size := structSize(L, opt, f, &i)
		pos += structToAlign(pos, &h, opt, size)
		if opt == 's' {
			luaArgError(L, 1, "size", "options 's' has no fixed size")
		} else if opt == 'c' && size == 0 {
			luaArgError(L, 1, "size", "options 'c0' has no fixed size")
		}
		if !isAlnum(opt) {
			structControl(L, opt, f, &i, &h)
		}
		pos += size
	}
	L.Push(lua.LNumber(pos))
	return 1
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// --- cmsgpack ---

const msgpackMaxNesting = 16

func (vm *scriptVM) cmsgpackLib() *lua.LTable {
	L := vm.L
	return vm.table(map[string]lua.LValue{
		"_NAME":        lua.LString("cmsgpack"),
		"_VERSION":     lua.LString("lua-cmsgpack 0.4.0"),
		"_COPYRIGHT":   lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"),
		"_DESCRIPTION": lua.LString("MessagePack C implementation for Lua"),
		"pack":         L.NewFunction(vm.msgpackPack),
		"unpack":       L.NewFunction(func(L *lua.LState) int { return vm.msgpackUnpack(L, 0, 0) }),
		"unpack_one": L.NewFunction(func(L *lua.LState) int {
			off := int64(0)
			if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
				off = luaToInt64(luaCheckNumber(L, 2, "unpack_one"))
			}
			L.SetTop(1)
			return vm.msgpackUnpack(L, 1, off)
		}),
		"unpack_limit": L.NewFunction(func(L *lua.LState) int {
			limit := luaToInt64(luaCheckNumber(L, 2, "unpack_limit"))
			off := int64(0)
			if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
				off = luaToInt64(luaCheckNumber(L, 3, "unpack_limit"))
			}
			L.SetTop(1)
			return vm.msgpackUnpack(L, limit, off)
		}),
	})
}

type msgpackEnc struct {
	vm  *scriptVM
	L   *lua.LState
	buf []byte
}

func (vm *scriptVM) msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		luaArgError(L, 0, "pack", "MessagePack pack needs input.")
	}
	e := &msgpackEnc{vm: vm, L: L}
	for i := 1; i <= n; i++ {
		e.value(L.Get(i), 0)
	}
	if r := vm.run; r != nil {
		r.chargeBytes(L, len(e.buf))
	}
	L.Push(lua.LString(e.buf))
	return 1
}

func (e *msgpackEnc) grow() {
	if r := e.vm.run; r != nil && len(e.buf) > 1<<16 && len(e.buf)&0xffff < 16 {
		r.chargeBytes(e.L, 1<<16)
	}
}

func (e *msgpackEnc) value(v lua.LValue, level int) {
	e.grow()
	if r := e.vm.run; r != nil {
		r.charge(e.L, 1)
	}
	switch x := v.(type) {
	case lua.LString:
		e.str(string(x))
	case lua.LBool:
		if x {
			e.buf = append(e.buf, 0xc3)
		} else {
			e.buf = append(e.buf, 0xc2)
		}
	case lua.LNumber:
		f := float64(x)
		if !math.IsInf(f, 0) && f == float64(int64(f)) && f >= -9223372036854775808 && f < 9223372036854775808 {
			e.int(int64(f))
		} else if f32 := float32(f); float64(f32) == f {
			e.buf = append(e.buf, 0xca)
			e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(f32))
		} else {
			e.buf = append(e.buf, 0xcb)
			e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
		}
	case *lua.LTable:
		if level == msgpackMaxNesting {
			e.buf = append(e.buf, 0xc0)
			return
		}
		if n, ok := msgpackArrayLen(x); ok {
			e.header(n, 0x90, 15, 0xdc, 0xdd)
			for i := 1; i <= n; i++ {
				e.value(x.RawGetInt(i), level+1)
			}
			return
		}
		count := 0
		for k, _ := x.Next(lua.LNil); k != lua.LNil; k, _ = x.Next(k) {
			count++
		}
		e.header(count, 0x80, 15, 0xde, 0xdf)
		for k, val := x.Next(lua.LNil); k != lua.LNil; k, val = x.Next(k) {
			e.value(k, level+1)
			e.value(val, level+1)
		}
	default:
		e.buf = append(e.buf, 0xc0)
	}
}

// msgpackArrayLen reports whether t's keys are exactly 1..n.
func msgpackArrayLen(t *lua.LTable) (int, bool) {
	count, maxIdx := 0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		if !ok || n <= 0 || float64(n) != float64(int64(n)) {
			return 0, false
		}
		count++
		maxIdx = max(maxIdx, int(n))
	}
	return count, count == maxIdx
}

func (e *msgpackEnc) header(n int, fix byte, fixMax int, b16, b32 byte) {
	switch {
	case n <= fixMax:
		e.buf = append(e.buf, fix|byte(n))
	case n <= 0xffff:
		e.buf = append(e.buf, b16)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	default:
		e.buf = append(e.buf, b32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	}
}

func (e *msgpackEnc) str(s string) {
	switch n := len(s); {
	case n < 32:
		e.buf = append(e.buf, 0xa0|byte(n))
	case n <= 0xff:
		e.buf = append(e.buf, 0xd9, byte(n))
	case n <= 0xffff:
		e.buf = append(e.buf, 0xda)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	default:
		e.buf = append(e.buf, 0xdb)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	}
	if r := e.vm.run; r != nil {
		r.chargeBytes(e.L, len(s))
	}
	e.buf = append(e.buf, s...)
}

func (e *msgpackEnc) int(n int64) {
	b := e.buf
	switch {
	case n >= 0 && n <= 127:
		b = append(b, byte(n))
	case n >= 0 && n <= 0xff:
		b = append(b, 0xcc, byte(n))
	case n >= 0 && n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= 0xffffffff:
		b = binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		b = binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= -32:
		b = append(b, byte(int8(n)))
	case n >= -128:
		b = append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		b = binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		b = binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
	}
	e.buf = b
}

type msgpackDec struct {
	vm  *scriptVM
	L   *lua.LState
	s   string
	pos int
	err string
}

const (
	msgpackEOF    = "Missing bytes in input."
	msgpackBadFmt = "Bad data format in input."
)

func (vm *scriptVM) msgpackUnpack(L *lua.LState, limit, offset int64) int {
	s := luaCheckString(L, 1, "unpack")
	all := limit == 0 && offset == 0
	if offset < 0 || limit < 0 {
		L.RaiseError("Invalid request to unpack with offset of %d and limit of %d.", offset, len(s))
	}
	if offset > int64(len(s)) {
		L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
	}
	if all {
		limit = math.MaxInt32
	}
	d := &msgpackDec{vm: vm, L: L, s: s, pos: int(offset)}
	var out []lua.LValue
	for cnt := int64(0); d.pos < len(s) && cnt < limit; cnt++ {
		v := d.value(0)
		if d.err != "" {
			L.RaiseError("%s", d.err)
		}
		out = append(out, v)
	}
	if !all {
		next := d.pos
		if d.pos >= len(s) {
			next = -1
		}
		L.Push(lua.LNumber(next))
	}
	for _, v := range out {
		L.Push(v)
	}
	if all {
		return len(out)
	}
	return len(out) + 1
}

func (d *msgpackDec) need(n int) bool {
	if n < 0 || len(d.s)-d.pos < n {
		d.err = msgpackEOF
		return false
	}
	return true
}

func (d *msgpackDec) bytes(n int) string {
	if !d.need(n) {
		return ""
	}
	s := d.s[d.pos : d.pos+n]
	d.pos += n
	return s
}

func (d *msgpackDec) uint(n int) uint64 {
	return structGet([]byte(d.bytes(n)), false)
}

func (d *msgpackDec) value(depth int) lua.LValue {
	if !d.need(1) {
		return lua.LNil
	}
	if r := d.vm.run; r != nil {
		r.charge(d.L, 2)
	}
	if depth > 1000 {
		d.err = msgpackBadFmt
		return lua.LNil
	}
	c := d.s[d.pos]
	d.pos++
	switch {
	case c <= 0x7f:
		return lua.LNumber(c)
	case c >= 0xe0:
		return lua.LNumber(int8(c))
	case c&0xf0 == 0x80:
		return d.mapOf(int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.arrayOf(int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return d.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		return lua.LNil
	case 0xc2:
		return lua.LFalse
	case 0xc3:
		return lua.LTrue
	case 0xca:
		return lua.LNumber(math.Float32frombits(uint32(d.uint(4))))
	case 0xcb:
		return lua.LNumber(math.Float64frombits(d.uint(8)))
	case 0xcc:
		return lua.LNumber(d.uint(1))
	case 0xcd:
		return lua.LNumber(d.uint(2))
	case 0xce:
		return lua.LNumber(d.uint(4))
	case 0xcf:
		return lua.LNumber(d.uint(8))
	case 0xd0:
		return lua.LNumber(int8(d.uint(1)))
	case 0xd1:
		return lua.LNumber(int16(d.uint(2)))
	case 0xd2:
		return lua.LNumber(int32(d.uint(4)))
	case 0xd3:
		return lua.LNumber(int64(d.uint(8)))
	case 0xd9:
		return d.str(int(d.uint(1)))
	case 0xda:
		return d.str(int(d.uint(2)))
	case 0xdb:
		return d.str(int(d.uint(4)))
	case 0xdc:
		return d.arrayOf(int(d.uint(2)), depth)
	case 0xdd:
		return d.arrayOf(int(d.uint(4)), depth)
	case 0xde:
		return d.mapOf(int(d.uint(2)), depth)
	case 0xdf:
		return d.mapOf(int(d.uint(4)), depth)
	}
	d.err = msgpackBadFmt
	return lua.LNil
}

func (d *msgpackDec) str(n int) lua.LValue {
	if d.err != "" {
		return lua.LNil
	}
	if r := d.vm.run; r != nil {
		r.chargeBytes(d.L, n)
	}
	return lua.LString(d.bytes(n))
}

func (d *msgpackDec) arrayOf(n int, depth int) lua.LValue {
	if d.err != "" || !d.need(n) { // every element takes a byte at least
		return lua.LNil
	}
	if r := d.vm.run; r != nil {
		r.charge(d.L, costNewTable)
	}
	t := d.L.CreateTable(n, 0)
	for i := 1; i <= n && d.err == ""; i++ {
		t.RawSetInt(i, d.value(depth+1))
	}
	return t
}

func (d *msgpackDec) mapOf(n int, depth int) lua.LValue {
	if d.err != "" || !d.need(2*n) {
		return lua.LNil
	}
	if r := d.vm.run; r != nil {
		r.charge(d.L, costNewTable+int64(n)*costNewKey)
	}
	t := d.L.CreateTable(0, n)
	for i := 0; i < n && d.err == ""; i++ {
		k := d.value(depth + 1)
		v := d.value(depth + 1)
		if k != lua.LNil && d.err == "" {
			t.RawSet(k, v)
		}
	}
	return t
}
