package server

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// cjson: lua-cjson 2.1.0 as Redis ships it — the same output bytes for
// the same Lua values (object keys come out in the table's insertion
// order, where Redis's follow its hash order), the same errors, and the
// same settings. The settings last for one script run (Redis keeps them
// until restart, so a script that changes them affects later scripts
// there; here every node must start every script alike).

// jsonMaxNesting bounds nesting whatever the settings say, as the Lua
// stack limit bounds it in Redis (and the Go stack here).
const jsonMaxNesting = 5000

type cjsonConfig struct {
	encodeMaxDepth       int
	decodeMaxDepth       int
	precision            int
	sparseConvert        bool
	sparseRatio          int
	sparseSafe           int
	encodeInvalidNumbers lua.LValue // false, true or "null"
	decodeInvalidNumbers bool
	keepBuffer           bool
}

func defaultCjsonConfig() cjsonConfig {
	return cjsonConfig{encodeMaxDepth: 1000, decodeMaxDepth: 1000, precision: 14, sparseRatio: 2, sparseSafe: 10,
		encodeInvalidNumbers: lua.LFalse, decodeInvalidNumbers: true, keepBuffer: true}
}

func (vm *scriptVM) cjsonLib() *lua.LTable {
	t := vm.cjsonModule(func() *cjsonConfig {
		if vm.run != nil {
			return &vm.run.cjson
		}
		c := defaultCjsonConfig()
		return &c
	})
	f := fields(t)
	return vm.table(f)
}

// cjsonModule builds a cjson table whose functions use cfg's settings.
func (vm *scriptVM) cjsonModule(cfg func() *cjsonConfig) *lua.LTable {
	L := vm.L
	t := L.CreateTable(0, 16)
	set := func(name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	t.RawSetString("null", vm.null)
	set("encode", func(L *lua.LState) int {
		if L.GetTop() != 1 {
			luaArgError(L, 1, "encode", "expected 1 argument")
		}
		e := &jsonEnc{vm: vm, L: L, cfg: cfg()}
		e.value(L.Get(1), 0)
		if r := vm.run; r != nil {
			r.chargeBytes(L, e.b.Len())
		}
		L.Push(lua.LString(e.b.String()))
		return 1
	})
	set("decode", func(L *lua.LState) int {
		if L.GetTop() != 1 {
			luaArgError(L, 1, "decode", "expected 1 argument")
		}
		s := luaCheckString(L, 1, "decode")
		if r := vm.run; r != nil {
			r.chargeBytes(L, len(s))
		}
		d := &jsonDec{vm: vm, L: L, cfg: cfg(), s: s}
		L.Push(d.decode())
		return 1
	})
	intSetting := func(name string, get func(*cjsonConfig) *int, lo, hi int) {
		set(name, func(L *lua.LState) int {
			c := cfg()
			if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
				n := luaToInt64(luaCheckNumber(L, 1, name))
				if n < int64(lo) || n > int64(hi) {
					luaArgError(L, 1, name, "expected integer between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
				}
				*get(c) = int(n)
			}
			L.Push(lua.LNumber(*get(c)))
			return 1
		})
	}
	intSetting("encode_max_depth", func(c *cjsonConfig) *int { return &c.encodeMaxDepth }, 1, math.MaxInt32)
	intSetting("decode_max_depth", func(c *cjsonConfig) *int { return &c.decodeMaxDepth }, 1, math.MaxInt32)
	intSetting("encode_number_precision", func(c *cjsonConfig) *int { return &c.precision }, 1, 14)
	boolSetting := func(name string, get func(*cjsonConfig) *bool) {
		set(name, func(L *lua.LState) int {
			c := cfg()
			if L.GetTop() >= 1 {
				*get(c) = luaCheckBool(L, 1, name)
			}
			L.Push(lua.LBool(*get(c)))
			return 1
		})
	}
	boolSetting("encode_keep_buffer", func(c *cjsonConfig) *bool { return &c.keepBuffer })
	boolSetting("decode_invalid_numbers", func(c *cjsonConfig) *bool { return &c.decodeInvalidNumbers })
	set("encode_invalid_numbers", func(L *lua.LState) int {
		c := cfg()
		if L.GetTop() >= 1 {
			switch v := L.Get(1).(type) {
			case lua.LBool:
				c.encodeInvalidNumbers = v
			case lua.LString:
				if v != "null" {
					luaArgError(L, 1, "encode_invalid_numbers", "invalid option '"+string(v)+"'")
				}
				c.encodeInvalidNumbers = v
			default:
				luaArgError(L, 1, "encode_invalid_numbers", "invalid option")
			}
		}
		L.Push(c.encodeInvalidNumbers)
		return 1
	})
	set("encode_sparse_array", func(L *lua.LState) int {
		c := cfg()
		if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
			c.sparseConvert = luaCheckBool(L, 1, "encode_sparse_array")
		}
		if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
			n := luaToInt64(luaCheckNumber(L, 2, "encode_sparse_array"))
			if n < 0 || n > math.MaxInt32 {
				luaArgError(L, 2, "encode_sparse_array", "expected integer between 0 and 2147483647")
			}
			c.sparseRatio = int(n)
		}
		if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
			n := luaToInt64(luaCheckNumber(L, 3, "encode_sparse_array"))
			if n < 0 || n > math.MaxInt32 {
				luaArgError(L, 3, "encode_sparse_array", "expected integer between 0 and 2147483647")
			}
			c.sparseSafe = int(n)
		}
		L.Push(lua.LBool(c.sparseConvert))
		L.Push(lua.LNumber(c.sparseRatio))
		L.Push(lua.LNumber(c.sparseSafe))
		return 3
	})
	set("new", func(L *lua.LState) int {
		c := defaultCjsonConfig()
		L.Push(vm.cjsonModule(func() *cjsonConfig { return &c }))
		return 1
	})
	return t
}

func luaCheckBool(L *lua.LState, n int, fn string) bool {
	switch v := L.Get(n).(type) {
	case lua.LBool:
		return bool(v)
	case *lua.LNilType:
		return false
	}
	luaArgError(L, n, fn, "boolean expected, got "+L.Get(n).Type().String())
	return false
}

type jsonEnc struct {
	vm  *scriptVM
	L   *lua.LState
	cfg *cjsonConfig
	b   strings.Builder
}

func (e *jsonEnc) fail(v lua.LValue, reason string) {
	e.L.RaiseError("Cannot serialise %s: %s", v.Type().String(), reason)
}

func (e *jsonEnc) tick() {
	if r := e.vm.run; r != nil {
		r.charge(e.L, 1)
		if e.b.Len() > 1<<16 {
			r.chargeBytes(e.L, e.b.Len()) // charged again at the end: conservative
		}
	}
}

func (e *jsonEnc) value(v lua.LValue, depth int) {
	e.tick()
	switch x := v.(type) {
	case lua.LString:
		jsonQuote(&e.b, string(x))
	case lua.LNumber:
		e.number(float64(x))
	case lua.LBool:
		if x {
			e.b.WriteString("true")
		} else {
			e.b.WriteString("false")
		}
	case *lua.LNilType:
		e.b.WriteString("null")
	case *lua.LTable:
		depth++
		if depth > min(e.cfg.encodeMaxDepth, jsonMaxNesting) {
			e.L.RaiseError("Cannot serialise, excessive nesting (%d)", depth)
		}
		if n := e.arrayLength(x); n > 0 {
			e.b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					e.b.WriteByte(',')
				}
				e.value(x.RawGetInt(i), depth)
			}
			e.b.WriteByte(']')
			return
		}
		e.b.WriteByte('{')
		first := true
		for k, val := x.Next(lua.LNil); k != lua.LNil; k, val = x.Next(k) {
			if !first {
				e.b.WriteByte(',')
			}
			first = false
			switch kk := k.(type) {
			case lua.LString:
				jsonQuote(&e.b, string(kk))
			case lua.LNumber:
				e.b.WriteByte('"')
				e.number(float64(kk))
				e.b.WriteByte('"')
			default:
				e.fail(x, "table key must be a number or string")
			}
			e.b.WriteByte(':')
			e.value(val, depth)
		}
		e.b.WriteByte('}')
	case *lua.LUserData:
		if x == e.vm.null {
			e.b.WriteString("null")
			return
		}
		e.fail(v, "type not supported")
	default:
		e.fail(v, "type not supported")
	}
}

func (e *jsonEnc) number(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		switch inv := e.cfg.encodeInvalidNumbers; {
		case inv == lua.LString("null"):
			e.b.WriteString("null")
			return
		case inv == lua.LTrue:
			switch {
			case math.IsNaN(f):
				e.b.WriteString("nan")
			case f > 0:
				e.b.WriteString("inf")
			default:
				e.b.WriteString("-inf")
			}
			return
		}
		e.L.RaiseError("Cannot serialise number: must not be NaN or Inf")
	}
	e.b.WriteString(strconv.FormatFloat(f, 'g', e.cfg.precision, 64))
}

// arrayLength is lua_array_length: the largest key if every key is a
// positive integer (0 for an empty table: an object), or -1.
func (e *jsonEnc) arrayLength(t *lua.LTable) int {
	maxKey, items := 0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		if !ok || n < 1 || math.Floor(float64(n)) != float64(n) {
			return -1
		}
		if float64(n) > float64(maxKey) {
			maxKey = int(min(float64(n), math.MaxInt32))
		}
		items++
	}
	if e.cfg.sparseRatio > 0 && maxKey > items*e.cfg.sparseRatio && maxKey > e.cfg.sparseSafe {
		if !e.cfg.sparseConvert {
			e.fail(t, "excessively sparse array")
		}
		return -1
	}
	return maxKey
}

// jsonQuote writes s as a JSON string, escaped as lua-cjson escapes.
func jsonQuote(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// JSON tokens, named as lua-cjson names them in errors.
const (
	tObjBegin = iota
	tObjEnd
	tArrBegin
	tArrEnd
	tString
	tNumber
	tBoolean
	tNull
	tColon
	tComma
	tEnd
	tWhitespace
	tError
)

var jsonTokenNames = []string{"T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER",
	"T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END", "T_WHITESPACE", "T_ERROR"}

type jsonToken struct {
	typ   int
	index int
	str   string // string value, or the error
	num   float64
	b     bool
}

type jsonDec struct {
	vm    *scriptVM
	L     *lua.LState
	cfg   *cjsonConfig
	s     string
	pos   int
	depth int
}

func (d *jsonDec) decode() lua.LValue {
	if len(d.s) >= 2 && (d.s[0] == 0 || d.s[1] == 0) {
		d.L.RaiseError("JSON parser does not support UTF-16 or UTF-32")
	}
	tok := d.next()
	v := d.value(&tok)
	tok = d.next()
	if tok.typ != tEnd {
		d.fail("the end", &tok)
	}
	return v
}

func (d *jsonDec) fail(expected string, tok *jsonToken) {
	found := tok.str
	if tok.typ != tError {
		found = jsonTokenNames[tok.typ]
	}
	d.L.RaiseError("Expected %s but found %s at character %d", expected, found, tok.index+1)
}

// at is the byte at i, or 0 past the end (lua-cjson reads a C string).
func (d *jsonDec) at(i int) byte {
	if i < len(d.s) {
		return d.s[i]
	}
	return 0
}

func (d *jsonDec) next() jsonToken {
	for {
		c := d.at(d.pos)
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		d.pos++
	}
	tok := jsonToken{index: d.pos}
	c := d.at(d.pos)
	if t := strings.IndexByte("{}[]:,", c); t >= 0 && c != 0 {
		tok.typ = []int{tObjBegin, tObjEnd, tArrBegin, tArrEnd, tColon, tComma}[t]
		d.pos++
		return tok
	}
	rest := d.s[min(d.pos, len(d.s)):]
	switch {
	case c == 0:
		tok.typ = tEnd
	case c == '"':
		d.stringToken(&tok)
	case c == '-' || (c >= '0' && c <= '9'):
		if !d.cfg.decodeInvalidNumbers && jsonInvalidNumber(rest) {
			return jsonToken{typ: tError, index: d.pos, str: "invalid number"}
		}
		d.numberToken(&tok)
	case strings.HasPrefix(rest, "true"):
		tok.typ, tok.b = tBoolean, true
		d.pos += 4
	case strings.HasPrefix(rest, "false"):
		tok.typ = tBoolean
		d.pos += 5
	case strings.HasPrefix(rest, "null"):
		tok.typ = tNull
		d.pos += 4
	case d.cfg.decodeInvalidNumbers && jsonInvalidNumber(rest):
		d.numberToken(&tok)
	default:
		tok.typ, tok.str = tError, "invalid token"
	}
	return tok
}

// jsonInvalidNumber is json_is_invalid_number: a leading +, hex, leading
// zeros, inf or nan.
func jsonInvalidNumber(p string) bool {
	if strings.HasPrefix(p, "+") {
		return true
	}
	p = strings.TrimPrefix(p, "-")
	if strings.HasPrefix(p, "0") {
		if len(p) > 1 && (p[1]|0x20 == 'x' || (p[1] >= '0' && p[1] <= '9')) {
			return true
		}
		return false
	}
	if p != "" && p[0] <= '9' {
		return false
	}
	lp := strings.ToLower(p)
	return strings.HasPrefix(lp, "inf") || strings.HasPrefix(lp, "nan")
}

func (d *jsonDec) numberToken(tok *jsonToken) {
	f, n := strtod(d.s[d.pos:])
	if n == 0 {
		tok.typ, tok.str = tError, "invalid number"
		return
	}
	tok.typ, tok.num = tNumber, f
	d.pos += n
}

// strtod parses the longest prefix of s that C's strtod accepts; n is its
// length (0: none).
func strtod(s string) (float64, int) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	low := strings.ToLower(s[i:])
	switch {
	case strings.HasPrefix(low, "infinity"):
		return sign(math.Inf(1)), i + 8
	case strings.HasPrefix(low, "inf"):
		return sign(math.Inf(1)), i + 3
	case strings.HasPrefix(low, "nan"):
		n := i + 3
		if rest := s[n:]; strings.HasPrefix(rest, "(") {
			if end := strings.IndexByte(rest, ')'); end > 0 {
				n += end + 1
			}
		}
		return sign(math.NaN()), n
	case strings.HasPrefix(low, "0x"):
		j := i + 2
		start := j
		for j < len(s) && isHex(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '.' {
			j++
			for j < len(s) && isHex(s[j]) {
				j++
			}
		}
		if j == start || (j == start+1 && s[start] == '.') {
			return 0, i + 1 // "0x" reads as 0
		}
		if j < len(s) && (s[j] == 'p' || s[j] == 'P') {
			k := j + 1
			if k < len(s) && (s[k] == '+' || s[k] == '-') {
				k++
			}
			if k < len(s) && s[k] >= '0' && s[k] <= '9' {
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				j = k
			}
		}
		lit := s[i:j]
		if !strings.ContainsAny(lit, "pP") {
			lit += "p0"
		}
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil && f == 0 {
			return 0, 0
		}
		return sign(f), j
	}
	j := i
	digits := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && s[k] >= '0' && s[k] <= '9' {
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			j = k
		}
	}
	f, err := strconv.ParseFloat(s[i:j], 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, 0
		}
	}
	return sign(f), j
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

var jsonEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (d *jsonDec) stringToken(tok *jsonToken) {
	d.pos++
	var b strings.Builder
	for {
		c := d.at(d.pos)
		if c == '"' {
			break
		}
		if c == 0 {
			tok.typ, tok.index, tok.str = tError, d.pos, "unexpected end of string"
			return
		}
		if c == '\\' {
			e := d.at(d.pos + 1)
			if e == 'u' {
				if !d.unicodeEscape(&b) {
					tok.typ, tok.index, tok.str = tError, d.pos, "invalid unicode escape code"
					return
				}
				continue
			}
			r, ok := jsonEscapes[e]
			if !ok {
				tok.typ, tok.index, tok.str = tError, d.pos, "invalid escape code"
				return
			}
			c = r
			d.pos++
		}
		b.WriteByte(c)
		d.pos++
	}
	d.pos++
	tok.typ, tok.str = tString, b.String()
}

func (d *jsonDec) hex4(at int) (rune, bool) {
	if at+4 > len(d.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(d.s[at:at+4], 16, 32)
	if err != nil || strings.ContainsAny(d.s[at:at+4], "+-") {
		return 0, false
	}
	return rune(v), true
}

// unicodeEscape decodes \uXXXX (and a surrogate pair) at d.pos.
func (d *jsonDec) unicodeEscape(b *strings.Builder) bool {
	cp, ok := d.hex4(d.pos + 2)
	if !ok {
		return false
	}
	n := 6
	if cp >= 0xdc00 && cp <= 0xdfff {
		return false
	}
	if cp >= 0xd800 && cp <= 0xdbff {
		if d.at(d.pos+6) != '\\' || d.at(d.pos+7) != 'u' {
			return false
		}
		lo, ok := d.hex4(d.pos + 8)
		if !ok || lo < 0xdc00 || lo > 0xdfff {
			return false
		}
		cp = ((cp & 0x3ff) << 10) + (lo & 0x3ff) + 0x10000
		n = 12
	}
	var buf [4]byte
	b.Write(buf[:utf8.EncodeRune(buf[:], cp)])
	d.pos += n
	return true
}

func (d *jsonDec) value(tok *jsonToken) lua.LValue {
	if r := d.vm.run; r != nil {
		r.charge(d.L, 2)
	}
	switch tok.typ {
	case tString:
		return lua.LString(tok.str)
	case tNumber:
		return lua.LNumber(tok.num)
	case tBoolean:
		return lua.LBool(tok.b)
	case tNull:
		return d.vm.null
	case tObjBegin:
		return d.object()
	case tArrBegin:
		return d.array()
	}
	d.fail("value", tok)
	return lua.LNil
}

func (d *jsonDec) descend() {
	if r := d.vm.run; r != nil {
		r.charge(d.L, costNewTable)
	}
	d.depth++
	if d.depth > min(d.cfg.decodeMaxDepth, jsonMaxNesting) {
		d.L.RaiseError("Found too many nested data structures (%d) at character %d", d.depth, d.pos)
	}
}

func (d *jsonDec) object() lua.LValue {
	d.descend()
	t := d.L.NewTable()
	tok := d.next()
	if tok.typ == tObjEnd {
		d.depth--
		return t
	}
	for {
		if tok.typ != tString {
			d.fail("object key string", &tok)
		}
		key := lua.LString(tok.str)
		tok = d.next()
		if tok.typ != tColon {
			d.fail("colon", &tok)
		}
		tok = d.next()
		if r := d.vm.run; r != nil {
			r.charge(d.L, costNewKey)
		}
		t.RawSet(key, d.value(&tok))
		tok = d.next()
		if tok.typ == tObjEnd {
			d.depth--
			return t
		}
		if tok.typ != tComma {
			d.fail("comma or object end", &tok)
		}
		tok = d.next()
	}
}

func (d *jsonDec) array() lua.LValue {
	d.descend()
	t := d.L.NewTable()
	tok := d.next()
	if tok.typ == tArrEnd {
		d.depth--
		return t
	}
	for i := 1; ; i++ {
		t.RawSetInt(i, d.value(&tok))
		tok = d.next()
		if tok.typ == tArrEnd {
			d.depth--
			return t
		}
		if tok.typ != tComma {
			d.fail("comma or array end", &tok)
		}
		tok = d.next()
	}
}
