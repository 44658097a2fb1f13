package server

import "github.com/keepkv/keepkv/storage"

func expireCommands() []*command {
	return []*command{
		{name: "expire", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Sets the expiration time of a key in seconds.", since: "1.0.0", write: cmdExpire(unitEX, "expire")},
		{name: "pexpire", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Sets the expiration time of a key in milliseconds.", since: "2.6.0", write: cmdExpire(unitPX, "pexpire")},
		{name: "expireat", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Sets the expiration time of a key to a Unix timestamp.", since: "1.2.0", write: cmdExpire(unitEXAT, "expireat")},
		{name: "pexpireat", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.", since: "2.6.0", write: cmdExpire(unitPXAT, "pexpireat")},
		{name: "persist", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Removes the expiration time of a key.", since: "2.2.0", write: oneKey(storage.OpPersist)},
		{name: "ttl", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Returns the expiration time in seconds of a key.", since: "1.0.0", read: cmdTTL(false, false)},
		{name: "pttl", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Returns the expiration time in milliseconds of a key.", since: "2.6.0", read: cmdTTL(true, false)},
		{name: "expiretime", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Returns the expiration time of a key as a Unix timestamp.", since: "7.0.0", read: cmdTTL(false, true)},
		{name: "pexpiretime", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.", since: "7.0.0", read: cmdTTL(true, true)},
	}
}

func cmdExpire(u expireUnit, name string) writeFunc {
	return func(x *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpExpire, Keys: args[1:2]}
		for _, a := range args[3:] {
			switch {
			case eq(a, "nx"):
				c.Flags |= storage.FlagNX
			case eq(a, "xx"):
				c.Flags |= storage.FlagXX
			case eq(a, "gt"):
				c.Flags |= storage.FlagGT
			case eq(a, "lt"):
				c.Flags |= storage.FlagLT
			default:
				return c, "ERR Unsupported option " + string(a)
			}
		}
		if c.Flags&storage.FlagNX != 0 && c.Flags&(storage.FlagXX|storage.FlagGT|storage.FlagLT) != 0 {
			return c, errNXandXX
		}
		if c.Flags&storage.FlagGT != 0 && c.Flags&storage.FlagLT != 0 {
			return c, errGTandLT
		}
		d, e := u.deadline(args[2], x.now, false, name)
		c.Deadline = d
		return c, e
	}
}

func cmdTTL(ms, absolute bool) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		v, ok := r.Get(x.st.db, args[1], x.now)
		switch {
		case !ok:
			x.w.Int(-2)
		case v.Deadline == 0:
			x.w.Int(-1)
		case absolute && ms:
			x.w.Int(v.Deadline)
		case absolute:
			x.w.Int(v.Deadline / 1000)
		default:
			left := max(v.Deadline-x.now, 0)
			if !ms {
				left = (left + 500) / 1000
			}
			x.w.Int(left)
		}
	}
}
