package server

import (
	"math"

	"github.com/keepkv/keepkv/storage"
)

func stringCommands() []*command {
	return []*command{
		{name: "get", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns the string value of a key.", since: "1.0.0", read: cmdGet},
		{name: "set", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", since: "1.0.0", write: cmdSet},
		{name: "setnx", arity: 3, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Set the string value of a key only when the key doesn't exist.", since: "1.0.0", write: cmdSetNX, reply: replyOKAsOne},
		{name: "setex", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", since: "2.0.0", write: cmdSetEx(unitEX, "setex")},
		{name: "psetex", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", since: "2.6.0", write: cmdSetEx(unitPX, "psetex")},
		{name: "getex", arity: -2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns the string value of a key after setting its expiration time.", since: "6.2.0", write: cmdGetEx, read: cmdGet, readForm: noOptions},
		{name: "getdel", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns the string value of a key after deleting the key.", since: "6.2.0", write: oneKey(storage.OpGetDel)},
		{name: "getset", arity: 3, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns the previous string value of a key after setting it to a new value.", since: "1.0.0", write: cmdGetSet},
		{name: "mget", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "string", summary: "Atomically returns the string values of one or more keys.", since: "1.0.0", read: cmdMGet},
		{name: "mset", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 2, group: "string", summary: "Atomically creates or modifies the string values of one or more keys.", since: "1.0.1", write: cmdMSet(false)},
		{name: "msetnx", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 2, group: "string", summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.", since: "1.0.1", write: cmdMSet(true)},
		{name: "incr", arity: 2, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", since: "1.0.0", write: cmdIncrConst(1)},
		{name: "decr", arity: 2, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", since: "1.0.0", write: cmdIncrConst(-1)},
		{name: "incrby", arity: 3, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", since: "1.0.0", write: cmdIncrBy(false)},
		{name: "decrby", arity: 3, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", since: "1.0.0", write: cmdIncrBy(true)},
		{name: "incrbyfloat", arity: 3, flags: flagWrite | flagFast | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", since: "2.6.0", write: cmdIncrByFloat},
		{name: "append", arity: 3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.", since: "2.0.0", write: cmdAppend},
		{name: "strlen", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns the length of a string value.", since: "2.2.0", read: cmdStrlen},
		{name: "getrange", arity: 4, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Returns a substring of the string stored at a key.", since: "2.4.0", read: cmdGetRange},
		{name: "setrange", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", since: "2.2.0", write: cmdSetRange},
	}
}

func oneKey(op storage.Op) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		return storage.Cmd{Op: op, Keys: args[1:2]}, ""
	}
}

func replyOKAsOne(w *replyWriter, r storage.Result) {
	if r.Kind == storage.ResultOK {
		w.Int(1)
		return
	}
	w.Int(0)
}

// typedValue reads a key that must hold type t if it exists, counting a
// keyspace hit or miss; it writes the WRONGTYPE error itself and reports
// whether the caller should go on.
func (x *execCtx) typedValue(r *storage.Reader, key []byte, t storage.Type) (v storage.Value, exists, goOn bool) {
	v, ok := r.Get(x.st.db, key, x.now)
	if ok && v.Type != t {
		x.w.Error(errWrongType)
		return v, false, false
	}
	if ok {
		x.s.stats.hits.Add(1)
	} else {
		x.s.stats.misses.Add(1)
	}
	return v, ok, true
}

func cmdGet(x *execCtx, r *storage.Reader, args [][]byte) {
	v, ok, goOn := x.typedValue(r, args[1], storage.TypeString)
	switch {
	case !goOn:
	case !ok:
		x.w.Null()
	default:
		x.w.Bulk(v.Data)
	}
}

func cmdMGet(x *execCtx, r *storage.Reader, args [][]byte) {
	x.w.Array(len(args) - 1)
	for _, k := range args[1:] {
		v, ok := r.Get(x.st.db, k, x.now)
		if !ok || v.Type != storage.TypeString {
			x.s.stats.misses.Add(1)
			x.w.Null()
			continue
		}
		x.s.stats.hits.Add(1)
		x.w.Bulk(v.Data)
	}
}

func cmdSet(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpSet, Keys: args[1:2], Vals: args[2:3]}
	var unit expireUnit
	var expArg []byte
	for i := 3; i < len(args); i++ {
		a := args[i]
		hasNext := i+1 < len(args)
		switch {
		case eq(a, "nx") && c.Flags&storage.FlagXX == 0:
			c.Flags |= storage.FlagNX
		case eq(a, "xx") && c.Flags&storage.FlagNX == 0:
			c.Flags |= storage.FlagXX
		case eq(a, "get"):
			c.Flags |= storage.FlagGet
		case eq(a, "keepttl") && expArg == nil:
			c.Flags |= storage.FlagKeepTTL
		case hasNext && expArg == nil && c.Flags&storage.FlagKeepTTL == 0 && unitOf(a, &unit):
			i++
			expArg = args[i]
		default:
			return c, errSyntax
		}
	}
	if expArg != nil {
		d, e := unit.deadline(expArg, x.now, true, "set")
		if e != "" {
			return c, e
		}
		c.Deadline = d
	}
	return c, x.checkValue(args[2])
}

func unitOf(a []byte, u *expireUnit) bool {
	switch {
	case eq(a, "ex"):
		*u = unitEX
	case eq(a, "px"):
		*u = unitPX
	case eq(a, "exat"):
		*u = unitEXAT
	case eq(a, "pxat"):
		*u = unitPXAT
	default:
		return false
	}
	return true
}

func cmdSetNX(x *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpSet, Flags: storage.FlagNX, Keys: args[1:2], Vals: args[2:3]}, x.checkValue(args[2])
}

func cmdGetSet(x *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpSet, Flags: storage.FlagGet, Keys: args[1:2], Vals: args[2:3]}, x.checkValue(args[2])
}

func cmdSetEx(u expireUnit, name string) writeFunc {
	return func(x *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpSet, Keys: args[1:2], Vals: args[3:4]}
		d, e := u.deadline(args[2], x.now, true, name)
		if e != "" {
			return c, e
		}
		c.Deadline = d
		return c, x.checkValue(args[3])
	}
}

func cmdGetEx(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpGetEx, Keys: args[1:2]}
	var unit expireUnit
	switch {
	case len(args) == 3 && eq(args[2], "persist"):
		c.Flags = storage.FlagPersist
		return c, ""
	case len(args) == 4 && unitOf(args[2], &unit):
		d, e := unit.deadline(args[3], x.now, true, "getex")
		c.Deadline = d
		return c, e
	}
	return c, errSyntax
}

// noOptions: GETEX with no option only reads.
func noOptions(args [][]byte) bool { return len(args) == 2 }

func cmdMSet(nx bool) writeFunc {
	return func(x *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpMSet}
		if nx {
			c.Flags = storage.FlagNX
		}
		if len(args)%2 != 1 {
			return c, errArity(string(args[0]))
		}
		for i := 1; i < len(args); i += 2 {
			if e := x.checkValue(args[i+1]); e != "" {
				return c, e
			}
			c.Keys = append(c.Keys, args[i])
			c.Vals = append(c.Vals, args[i+1])
		}
		return c, ""
	}
}

func cmdIncrConst(by int64) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		return storage.Cmd{Op: storage.OpIncrBy, Keys: args[1:2], Int: by}, ""
	}
}

func cmdIncrBy(negate bool) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpIncrBy, Keys: args[1:2]}
		v, ok := parseInt(args[2])
		if !ok {
			return c, errNotInteger
		}
		if negate {
			if v == math.MinInt64 {
				return c, errDecrOverflow
			}
			v = -v
		}
		c.Int = v
		return c, ""
	}
}

func cmdIncrByFloat(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpIncrByFloat, Keys: args[1:2], Vals: args[2:3]}
	if _, ok := storage.ParseFloat(args[2]); !ok {
		return c, errNotFloat
	}
	return c, ""
}

func cmdAppend(x *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpAppend, Keys: args[1:2], Vals: args[2:3], Limit: x.s.cfg.MaxValueSize}, x.checkValue(args[2])
}

func cmdSetRange(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpSetRange, Keys: args[1:2], Vals: args[3:4], Limit: x.s.cfg.MaxValueSize}
	off, ok := parseInt(args[2])
	if !ok {
		return c, errNotInteger
	}
	if off < 0 {
		return c, errOffset
	}
	if len(args[3]) > 0 && (off > x.s.cfg.MaxValueSize || int64(len(args[3])) > x.s.cfg.MaxValueSize-off) {
		return c, errTooLarge
	}
	c.Int = off
	return c, ""
}

func cmdStrlen(x *execCtx, r *storage.Reader, args [][]byte) {
	v, ok, goOn := x.typedValue(r, args[1], storage.TypeString)
	if !goOn {
		return
	}
	if !ok {
		x.w.Int(0)
		return
	}
	x.w.Int(int64(len(v.Data)))
}

func cmdGetRange(x *execCtx, r *storage.Reader, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		x.w.Error(errNotInteger)
		return
	}
	v, _, goOn := x.typedValue(r, args[1], storage.TypeString)
	if !goOn {
		return
	}
	x.w.Bulk(substr(v.Data, start, end))
}

// substr implements GETRANGE's index rules.
func substr(s []byte, start, end int64) []byte {
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return nil
	}
	return s[start : end+1]
}
