package server

import (
	"github.com/keepkv/keepkv/storage"
)

// setCommands are the set family's commands.
func setCommands() []*command {
	return []*command{
		{name: "sadd", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Adds one or more members to a set. Creates the key if it doesn't exist.", since: "1.0.0", write: cmdSMembersOp(storage.OpSAdd)},
		{name: "srem", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Removes one or more members from a set. Deletes the set if the last member was removed.", since: "1.0.0", write: cmdSMembersOp(storage.OpSRem)},
		{name: "smembers", arity: 2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Returns all members of a set.", since: "1.0.0", read: cmdSMembers},
		{name: "sismember", arity: 3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Determines whether a member belongs to a set.", since: "1.0.0", read: cmdSIsMember},
		{name: "smismember", arity: -3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Determines whether multiple members belong to a set.", since: "6.2.0", read: cmdSMIsMember},
		{name: "scard", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Returns the number of members in a set.", since: "1.0.0", read: cmdSCard},
		{name: "spop", arity: -2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", since: "1.0.0", write: cmdSPop, reply: replySPop},
		{name: "srandmember", arity: -2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Get one or multiple random members from a set.", since: "1.0.0", read: cmdSRandMember},
		{name: "smove", arity: 4, flags: flagWrite | flagFast, firstKey: 1, lastKey: 2, step: 1, group: "set", summary: "Moves a member from one set to another.", since: "1.0.0", write: cmdSMove},
		{name: "sinter", arity: -2, flags: flagRead, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Returns the intersect of multiple sets.", since: "1.0.0", read: cmdSAlgebra(storage.SetInter)},
		{name: "sintercard", arity: -3, flags: flagRead, group: "set", summary: "Returns the number of members of the intersect of multiple sets.", since: "7.0.0", read: cmdSInterCard},
		{name: "sinterstore", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Stores the intersect of multiple sets in a key.", since: "1.0.0", write: cmdSStore(storage.OpSInterStore)},
		{name: "sunion", arity: -2, flags: flagRead, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Returns the union of multiple sets.", since: "1.0.0", read: cmdSAlgebra(storage.SetUnion)},
		{name: "sunionstore", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Stores the union of multiple sets in a key.", since: "1.0.0", write: cmdSStore(storage.OpSUnionStore)},
		{name: "sdiff", arity: -2, flags: flagRead, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Returns the difference of multiple sets.", since: "1.0.0", read: cmdSAlgebra(storage.SetDiff)},
		{name: "sdiffstore", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 1, group: "set", summary: "Stores the difference of multiple sets in a key.", since: "1.0.0", write: cmdSStore(storage.OpSDiffStore)},
		{name: "sscan", arity: -3, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "set", summary: "Iterates over members of a set.", since: "2.8.0", read: cmdSScan},
	}
}

// Writes.

// cmdSMembersOp serves SADD and SREM: a key and members.
func cmdSMembersOp(op storage.Op) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: op, Keys: args[1:2], Vals: args[2:]}
		if elemsTooLong(c.Vals, 1) {
			return c, errKeyTooLong
		}
		return c, ""
	}
}

// cmdSPop: the leader draws the seed apply picks the members with. A
// SPOP of its own entry picks quickly (storage.FlagQuickPick); one inside
// MULTI or a script is built again each time its entry is applied, so it
// keeps the pick that entries logged by older versions made.
func cmdSPop(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpSPop, Keys: args[1:2], Int: -1, Limit: x.rand().Int64()}
	if x.txn == nil {
		c.Flags = storage.FlagQuickPick
	}
	switch {
	case len(args) > 3:
		return c, errSyntax
	case len(args) == 3:
		n, ok := parseInt(args[2])
		if !ok || n < 0 {
			return c, "ERR value is out of range, must be positive"
		}
		c.Int = n
	}
	return c, ""
}

// replySPop: with a count, a set (RESP3); without, a bulk or nil.
func replySPop(w *replyWriter, r storage.Result) {
	if r.Kind != storage.ResultArray {
		w.Result(r)
		return
	}
	w.Set(len(r.Elems))
	for _, e := range r.Elems {
		w.Bulk(e.Bytes)
	}
}

func cmdSMove(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpSMove, Keys: args[1:3], Vals: args[3:4]}
	if len(args[3]) > storage.MaxKeyLen {
		return c, errKeyTooLong
	}
	return c, ""
}

// cmdSStore serves SINTERSTORE, SUNIONSTORE and SDIFFSTORE: the
// destination, then the sources.
func cmdSStore(op storage.Op) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		return storage.Cmd{Op: op, Keys: args[1:]}, ""
	}
}

// Reads.

func cmdSMembers(x *execCtx, r *storage.Reader, args [][]byte) {
	v, _, goOn := x.typedValue(r, args[1], storage.TypeSet)
	if !goOn {
		return
	}
	n := v.Len()
	x.w.Set(int(n))
	var i int64
	r.SRange(v, func(m []byte) bool {
		if i == n {
			return false
		}
		x.w.Bulk(m)
		i++
		return true
	})
	for ; i < n; i++ { // records short of the header's count: stay well-formed
		x.w.Null()
	}
}

func cmdSIsMember(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeSet)
	if goOn {
		x.w.Int(boolInt(exists && r.SIsMember(v, args[2])))
	}
}

func cmdSMIsMember(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeSet)
	if !goOn {
		return
	}
	x.w.Array(len(args) - 2)
	for _, m := range args[2:] {
		x.w.Int(boolInt(exists && r.SIsMember(v, m)))
	}
}

func cmdSCard(x *execCtx, r *storage.Reader, args [][]byte) {
	v, _, goOn := x.typedValue(r, args[1], storage.TypeSet)
	if goOn {
		x.w.Int(v.Len())
	}
}

// cmdSRandMember: a read, so local randomness. With a count the reply is
// an array (not a set), as in Redis.
func cmdSRandMember(x *execCtx, r *storage.Reader, args [][]byte) {
	if len(args) == 2 {
		v, exists, goOn := x.typedValue(r, args[1], storage.TypeSet)
		if !goOn {
			return
		}
		var member []byte
		if exists {
			r.SRandom(v, 1, true, x.rand(), func(m []byte) { member = append([]byte{}, m...) })
		}
		if member == nil {
			x.w.Null()
			return
		}
		x.w.Bulk(member)
		return
	}
	if len(args) > 3 {
		x.w.Error(errSyntax)
		return
	}
	n, _, e := parseRandomCount(args, "")
	if e != "" {
		x.w.Error(e)
		return
	}
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeSet)
	if !goOn {
		return
	}
	if exists && n < -maxRandomCount {
		x.w.Error(errRandomCount)
		return
	}
	var out [][]byte
	if exists && n != 0 {
		r.SRandom(v, max(n, -n), n > 0, x.rand(), func(m []byte) { out = append(out, append([]byte{}, m...)) })
	}
	x.w.Array(len(out))
	for _, m := range out {
		x.w.Bulk(m)
	}
}

// setSources reads the operands of a set operation: every key is checked
// for WRONGTYPE before any result is given, as in Redis; a missing key is
// an empty set (the zero Value). It writes the error itself.
func (x *execCtx) setSources(r *storage.Reader, keys [][]byte) ([]storage.Value, bool) {
	vals := make([]storage.Value, len(keys))
	for i, k := range keys {
		v, exists, goOn := x.typedValue(r, k, storage.TypeSet)
		if !goOn {
			return nil, false
		}
		if exists {
			vals[i] = v
		}
	}
	return vals, true
}

// cmdSAlgebra serves SINTER, SUNION and SDIFF: a set reply (RESP3).
func cmdSAlgebra(op storage.SetOp) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		vals, ok := x.setSources(r, args[1:])
		if !ok {
			return
		}
		var out [][]byte
		r.SetAlgebra(op, vals, func(m []byte) bool {
			out = append(out, append([]byte{}, m...))
			return true
		})
		x.w.Set(len(out))
		for _, m := range out {
			x.w.Bulk(m)
		}
	}
}

// cmdSInterCard: SINTERCARD numkeys key [key ...] [LIMIT limit], its
// arguments checked in Redis's order and wording.
func cmdSInterCard(x *execCtx, r *storage.Reader, args [][]byte) {
	numKeys, ok := parseInt(args[1])
	if !ok || numKeys < 1 {
		x.w.Error("ERR numkeys should be greater than 0")
		return
	}
	if numKeys > int64(len(args)-2) {
		x.w.Error("ERR Number of keys can't be greater than number of args")
		return
	}
	keys := args[2 : 2+numKeys]
	var limit int64
	for i := 2 + int(numKeys); i < len(args); i++ {
		if eq(args[i], "limit") && i+1 < len(args) {
			n, ok := parseInt(args[i+1])
			if !ok || n < 0 {
				x.w.Error("ERR LIMIT can't be negative")
				return
			}
			limit = n
			i++
			continue
		}
		x.w.Error(errSyntax)
		return
	}
	if elemsTooLong(keys, 1) {
		x.w.Error(errKeyTooLong)
		return
	}
	vals, ok := x.setSources(r, keys)
	if !ok {
		return
	}
	var n int64
	r.SetAlgebra(storage.SetInter, vals, func([]byte) bool {
		n++
		return limit == 0 || n < limit
	})
	x.w.Int(n)
}

func cmdSScan(x *execCtx, r *storage.Reader, args [][]byte) { collScan(x, r, args, storage.TypeSet) }
