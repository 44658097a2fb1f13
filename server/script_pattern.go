package server

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1's pattern matching (lstrlib.c: string.find, match, gmatch and
// gsub), written again so that every step of the backtracking matcher is
// charged to the script's budget: a pattern such as ".-.-.-.-.-b" takes
// time exponential in its subject, and gopher-lua's matcher, running
// uncounted inside one VM instruction, would hold apply for as long.

const (
	luaMaxCaptures   = 32
	capUnfinished    = -1
	capPosition      = -2
	luaPatternSpecal = "^$*+?.([%-"
	// maxMatchDepth bounds the matcher's recursion (Lua 5.1 has no bound
	// and overflows the C stack).
	maxMatchDepth = 5000
)

type luaMatch struct {
	vm     *scriptVM
	L      *lua.LState
	src    string
	pat    string
	level  int
	capPos [luaMaxCaptures]int
	capLen [luaMaxCaptures]int
	steps  int64
	depth  int
}

func (vm *scriptVM) patternFuncs(f map[string]lua.LValue) {
	L := vm.L
	f["find"] = L.NewFunction(func(L *lua.LState) int { return vm.strFind(L, true) })
	f["match"] = L.NewFunction(func(L *lua.LState) int { return vm.strFind(L, false) })
	f["gmatch"] = L.NewFunction(vm.strGmatch)
	f["gfind"] = f["gmatch"]
	f["gsub"] = L.NewFunction(vm.strGsub)
}

func (vm *scriptVM) newMatch(L *lua.LState, src, pat string) *luaMatch {
	if i := strings.IndexByte(pat, 0); i >= 0 {
		pat = pat[:i] // a C string ends at its first NUL
	}
	return &luaMatch{vm: vm, L: L, src: src, pat: pat}
}

// step counts one step of the matcher against the budget.
func (m *luaMatch) step() {
	m.steps++
	if m.steps&255 == 0 {
		if r := m.vm.run; r != nil {
			r.charge(m.L, 256)
		}
	}
}

// flush charges the steps not charged yet.
func (m *luaMatch) flush() {
	if r := m.vm.run; r != nil {
		r.charge(m.L, m.steps&255)
	}
	m.steps = 0
}

func (m *luaMatch) p(i int) byte {
	if i < len(m.pat) {
		return m.pat[i]
	}
	return 0
}

func (m *luaMatch) classEnd(p int) int {
	c := m.p(p)
	p++
	switch c {
	case '%':
		if p >= len(m.pat) {
			m.L.RaiseError("%s", "malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if m.p(p) == '^' {
			p++
		}
		for {
			if p >= len(m.pat) {
				m.L.RaiseError("malformed pattern (missing ']')")
			}
			c := m.pat[p]
			p++
			if c == '%' && p < len(m.pat) {
				p++
			}
			if m.p(p) == ']' {
				return p + 1
			}
		}
	}
	return p
}

func isAlpha(c int) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c int) bool  { return c >= '0' && c <= '9' }
func isLower(c int) bool  { return c >= 'a' && c <= 'z' }
func isUpper(c int) bool  { return c >= 'A' && c <= 'Z' }
func isSpace(c int) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func isCntrl(c int) bool  { return c < 32 || c == 127 }
func isPunct(c int) bool  { return c > 32 && c < 127 && !isAlpha(c) && !isDigit(c) }
func isXDigit(c int) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func luaMatchClass(c, cl int) bool {
	var res bool
	lower := cl
	if isUpper(cl) {
		lower = cl + 32
	}
	switch lower {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = isCntrl(c)
	case 'd':
		res = isDigit(c)
	case 'l':
		res = isLower(c)
	case 'p':
		res = isPunct(c)
	case 's':
		res = isSpace(c)
	case 'u':
		res = isUpper(c)
	case 'w':
		res = isAlpha(c) || isDigit(c)
	case 'x':
		res = isXDigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isUpper(cl) {
		return !res
	}
	return res
}

// matchBracket: p at '[', ec at its ']'.
func (m *luaMatch) matchBracket(c, p, ec int) bool {
	sig := true
	if m.p(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		m.step()
		switch {
		case m.pat[p] == '%':
			p++
			if luaMatchClass(c, int(m.p(p))) {
				return sig
			}
		case m.p(p+1) == '-' && p+2 < ec:
			p += 2
			if int(m.pat[p-2]) <= c && c <= int(m.pat[p]) {
				return sig
			}
		case int(m.pat[p]) == c:
			return sig
		}
	}
	return !sig
}

func (m *luaMatch) single(s, p, ep int) bool {
	if s >= len(m.src) {
		return false
	}
	c := int(m.src[s])
	switch m.p(p) {
	case '.':
		return true
	case '%':
		return luaMatchClass(c, int(m.p(p+1)))
	case '[':
		return m.matchBracket(c, p, ep-1)
	}
	return int(m.p(p)) == c
}

// match returns the end of the match of pattern[p:] at src[s:], or -1.
func (m *luaMatch) match(s, p int) int {
	m.depth++
	defer func() { m.depth-- }()
	if m.depth > maxMatchDepth {
		m.L.RaiseError("pattern too complex")
	}
	for {
		m.step()
		if p >= len(m.pat) {
			return s
		}
		switch m.pat[p] {
		case '(':
			if m.p(p+1) == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '%':
			switch next := m.p(p + 1); {
			case next == 'b':
				if s = m.matchBalance(s, p+2); s < 0 {
					return -1
				}
				p += 4
				continue
			case next == 'f':
				p += 2
				if m.p(p) != '[' {
					m.L.RaiseError("%s", "missing '[' after '%f' in pattern")
				}
				ep := m.classEnd(p)
				prev := 0
				if s > 0 {
					prev = int(m.src[s-1])
				}
				cur := 0
				if s < len(m.src) {
					cur = int(m.src[s])
				}
				if m.matchBracket(prev, p, ep-1) || !m.matchBracket(cur, p, ep-1) {
					return -1
				}
				p = ep
				continue
			case isDigit(int(next)):
				if s = m.matchCapture(s, int(next)); s < 0 {
					return -1
				}
				p += 2
				continue
			}
		case '$':
			if p+1 == len(m.pat) {
				if s == len(m.src) {
					return s
				}
				return -1
			}
		}
		ep := m.classEnd(p)
		matched := m.single(s, p, ep)
		switch m.p(ep) {
		case '?':
			if matched {
				if res := m.match(s+1, ep+1); res >= 0 {
					return res
				}
			}
			p = ep + 1
			continue
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !matched {
				return -1
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		}
		if !matched {
			return -1
		}
		s++
		p = ep
	}
}

func (m *luaMatch) maxExpand(s, p, ep int) int {
	i := 0
	for m.single(s+i, p, ep) {
		m.step()
		i++
	}
	for ; i >= 0; i-- {
		if res := m.match(s+i, ep+1); res >= 0 {
			return res
		}
	}
	return -1
}

func (m *luaMatch) minExpand(s, p, ep int) int {
	for {
		if res := m.match(s, ep+1); res >= 0 {
			return res
		}
		if !m.single(s, p, ep) {
			return -1
		}
		s++
	}
}

func (m *luaMatch) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.L.RaiseError("unbalanced pattern")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	b, e := m.pat[p], m.pat[p+1]
	cont := 1
	for s++; s < len(m.src); s++ {
		m.step()
		switch m.src[s] {
		case e:
			if cont--; cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (m *luaMatch) startCapture(s, p, what int) int {
	if m.level >= luaMaxCaptures {
		m.L.RaiseError("too many captures")
	}
	m.capPos[m.level], m.capLen[m.level] = s, what
	m.level++
	res := m.match(s, p)
	if res < 0 {
		m.level--
	}
	return res
}

func (m *luaMatch) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.capLen[i] == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		m.L.RaiseError("invalid pattern capture")
	}
	m.capLen[l] = s - m.capPos[l]
	res := m.match(s, p)
	if res < 0 {
		m.capLen[l] = capUnfinished
	}
	return res
}

func (m *luaMatch) matchCapture(s, l int) int {
	l -= '1'
	if l < 0 || l >= m.level || m.capLen[l] == capUnfinished {
		m.L.RaiseError("invalid capture index")
	}
	n := m.capLen[l]
	if len(m.src)-s >= n && m.src[m.capPos[l]:m.capPos[l]+n] == m.src[s:s+n] {
		return s + n
	}
	return -1
}

// capture returns capture i of the match src[s:e].
func (m *luaMatch) capture(i, s, e int) lua.LValue {
	if i >= m.level {
		if i != 0 {
			m.L.RaiseError("invalid capture index")
		}
		return lua.LString(m.src[s:e])
	}
	switch n := m.capLen[i]; n {
	case capUnfinished:
		m.L.RaiseError("unfinished capture")
	case capPosition:
		return lua.LNumber(m.capPos[i] + 1)
	default:
		return lua.LString(m.src[m.capPos[i] : m.capPos[i]+n])
	}
	return lua.LNil
}

// pushCaptures pushes the captures of the match src[s:e] (the whole match
// when the pattern has none and whole is set).
func (m *luaMatch) pushCaptures(s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := range n {
		m.L.Push(m.capture(i, s, e))
	}
	return n
}

// posrelat is Lua 5.1's: a negative position counts from the end.
func posrelat(pos int64, n int) int64 {
	if pos < 0 {
		pos += int64(n) + 1
	}
	return max(pos, 0)
}

func (vm *scriptVM) strFind(L *lua.LState, find bool) int {
	name := "match"
	if find {
		name = "find"
	}
	s := luaCheckString(L, 1, name)
	p := luaCheckString(L, 2, name)
	init := int64(1)
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		init = luaToInt64(luaCheckNumber(L, 3, name))
	}
	start := posrelat(init, len(s)) - 1
	if start < 0 {
		start = 0
	} else if start > int64(len(s)) {
		start = int64(len(s))
	}
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(cString(p), luaPatternSpecal)) {
		if r := vm.run; r != nil {
			r.charge(L, int64(len(s)-int(start))/unitBytes+1)
		}
		if i := strings.Index(s[start:], p); i >= 0 {
			L.Push(lua.LNumber(int(start) + i + 1))
			L.Push(lua.LNumber(int(start) + i + len(p)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	m := vm.newMatch(L, s, p)
	anchor := strings.HasPrefix(m.pat, "^")
	if anchor {
		m.pat = m.pat[1:]
	}
	for s1 := int(start); ; s1++ {
		m.level = 0
		if e := m.match(s1, 0); e >= 0 {
			m.flush()
			if find {
				L.Push(lua.LNumber(s1 + 1))
				L.Push(lua.LNumber(e))
				return m.pushCaptures(0, 0, false) + 2
			}
			return m.pushCaptures(s1, e, true)
		}
		if s1 >= len(s) || anchor {
			break
		}
	}
	m.flush()
	L.Push(lua.LNil)
	return 1
}

func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func (vm *scriptVM) strGmatch(L *lua.LState) int {
	s := luaCheckString(L, 1, "gmatch")
	p := luaCheckString(L, 2, "gmatch")
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := vm.newMatch(L, s, p)
		for src := pos; src <= len(s); src++ {
			m.level = 0
			if e := m.match(src, 0); e >= 0 {
				m.flush()
				pos = e
				if e == src {
					pos++
				}
				return m.pushCaptures(src, e, true)
			}
		}
		m.flush()
		pos = len(s) + 1
		return 0
	}))
	return 1
}

func (vm *scriptVM) strGsub(L *lua.LState) int {
	src := luaCheckString(L, 1, "gsub")
	p := luaCheckString(L, 2, "gsub")
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LNumber, lua.LString, *lua.LFunction, *lua.LTable:
	default:
		luaArgError(L, 3, "gsub", "string/function/table expected")
	}
	maxN := int64(len(src) + 1)
	if L.GetTop() >= 4 && L.Get(4) != lua.LNil {
		maxN = luaCheckInt(L, 4, "gsub")
	}
	m := vm.newMatch(L, src, p)
	anchor := strings.HasPrefix(m.pat, "^")
	if anchor {
		m.pat = m.pat[1:]
	}
	var b strings.Builder
	r := vm.run
	grow := func() {
		if r != nil && b.Len() > 1<<16 {
			r.chargeBytes(L, b.Len())
		}
	}
	n := int64(0)
	s := 0
	for n < maxN {
		m.level = 0
		e := m.match(s, 0)
		if e >= 0 {
			n++
			vm.gsubValue(L, m, &b, repl, s, e)
			grow()
		}
		switch {
		case e > s:
			s = e
		case s < len(src):
			b.WriteByte(src[s])
			s++
		default:
			s = len(src) + 1
		}
		if s > len(src) || anchor {
			break
		}
	}
	if s < len(src) {
		b.WriteString(src[s:])
	}
	m.flush()
	if r != nil {
		r.chargeBytes(L, b.Len())
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// gsubValue appends the replacement of the match src[s:e] (add_value).
func (vm *scriptVM) gsubValue(L *lua.LState, m *luaMatch, b *strings.Builder, repl lua.LValue, s, e int) {
	var v lua.LValue
	switch x := repl.(type) {
	case lua.LString, lua.LNumber:
		news := vm.luaString(x)
		for i := 0; i < len(news); i++ {
			c := news[i]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			i++
			switch {
			case i >= len(news):
				b.WriteByte(0) // the C string's terminator, as Lua 5.1 copies it
			case !isDigit(int(news[i])):
				b.WriteByte(news[i])
			case news[i] == '0':
				b.WriteString(m.src[s:e])
			default:
				b.WriteString(vm.luaString(m.capture(int(news[i]-'1'), s, e)))
			}
			if r := vm.run; r != nil && b.Len() > 1<<16 && b.Len()&0xfff == 0 {
				r.chargeBytes(L, 1<<12)
			}
		}
		return
	case *lua.LFunction:
		L.Push(x)
		n := m.pushCaptures(s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	case *lua.LTable:
		v = L.GetTable(x, m.capture(0, s, e))
	}
	switch x := v.(type) {
	case *lua.LNilType:
		b.WriteString(m.src[s:e])
	case lua.LBool:
		if !x {
			b.WriteString(m.src[s:e])
			return
		}
		L.RaiseError("invalid replacement value (a boolean)")
	case lua.LString:
		b.WriteString(string(x))
	case lua.LNumber:
		b.WriteString(luaNumber(float64(x)))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
