package server

import (
	"bytes"
	"math"

	"github.com/keepkv/keepkv/storage"
)

// listCommands are the list family's commands (Redis 7.0), and the
// blocking pops (blocking.go), BZPOPMIN and BZPOPMAX included.
func listCommands() []*command {
	const g = "list"
	w, r, f, oom := flagWrite, flagRead, flagFast, flagDenyOOM
	cmds := []*command{
		{name: "lpush", arity: -3, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.", since: "1.0.0", write: cmdPush(storage.OpLPush, false)},
		{name: "rpush", arity: -3, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.", since: "1.0.0", write: cmdPush(storage.OpRPush, false)},
		{name: "lpushx", arity: -3, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Prepends one or more elements to a list only when the list exists.", since: "2.2.0", write: cmdPush(storage.OpLPush, true)},
		{name: "rpushx", arity: -3, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Appends an element to a list only when the list exists.", since: "2.2.0", write: cmdPush(storage.OpRPush, true)},
		{name: "lpop", arity: -2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", since: "1.0.0", write: cmdPop(storage.OpLPop)},
		{name: "rpop", arity: -2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", since: "1.0.0", write: cmdPop(storage.OpRPop)},
		{name: "lset", arity: 4, flags: w | oom, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Sets the value of an element in a list by its index.", since: "1.0.0", write: cmdLSet},
		{name: "lrem", arity: 4, flags: w, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes elements from a list. Deletes the list if the last element was removed.", since: "1.0.0", write: cmdLRem},
		{name: "ltrim", arity: 4, flags: w, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", since: "1.0.0", write: cmdLTrim},
		{name: "linsert", arity: 5, flags: w | oom, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Inserts an element before or after another element in a list.", since: "2.2.0", write: cmdLInsert},
		{name: "lmove", arity: 5, flags: w | oom, firstKey: 1, lastKey: 2, step: 1, group: g, summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", since: "6.2.0", write: cmdLMove},
		{name: "rpoplpush", arity: 3, flags: w | oom, firstKey: 1, lastKey: 2, step: 1, group: g, summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", since: "1.2.0", write: cmdRPopLPush},

		{name: "llen", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the length of a list.", since: "1.0.0", read: cmdLLen},
		{name: "lindex", arity: 3, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns an element from a list by its index.", since: "1.0.0", read: cmdLIndex},
		{name: "lrange", arity: 4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns a range of elements from a list.", since: "1.0.0", read: cmdLRange},
		{name: "lpos", arity: -3, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the index of matching elements in a list.", since: "6.0.6", read: cmdLPos},
	}
	return append(cmds, blockingCommands()...)
}

// Writes.

func cmdPush(op storage.Op, onlyExisting bool) writeFunc {
	return func(x *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: op, Keys: args[1:2], Vals: args[2:]}
		if onlyExisting {
			c.Flags = storage.FlagXX
		}
		for _, v := range c.Vals {
			if e := x.checkValue(v); e != "" {
				return c, e
			}
		}
		return c, ""
	}
}

const errMustBePositive = "ERR value is out of range, must be positive"

// cmdPop serves LPOP and RPOP: without a count, one element (Int -1);
// with one, an array of up to count.
func cmdPop(op storage.Op) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: op, Keys: args[1:2], Int: -1}
		switch len(args) {
		case 2:
		case 3:
			n, ok := parseInt(args[2])
			if !ok || n < 0 {
				return c, errMustBePositive
			}
			c.Int = n // storage pops at most the list's length
		default:
			return c, errArity(string(args[0]))
		}
		return c, ""
	}
}

// cmdLSet: Redis answers "no such key" and WRONGTYPE before it looks at
// the index, so an index that is not an integer travels to apply (Limit
// 1), where the key's state decides which error the client gets. Nothing
// changes either way.
func cmdLSet(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpLSet, Keys: args[1:2], Vals: args[3:4]}
	if n, ok := parseInt(args[2]); ok {
		c.Int = n
	} else {
		c.Limit = 1
	}
	return c, x.checkValue(args[3])
}

func cmdLRem(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpLRem, Keys: args[1:2], Vals: args[3:4]}
	n, ok := parseInt(args[2])
	if !ok {
		return c, errNotInteger
	}
	c.Int = n
	return c, ""
}

func cmdLTrim(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpLTrim, Keys: args[1:2]}
	start, ok1 := parseInt(args[2])
	stop, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		return c, errNotInteger
	}
	c.Int, c.Limit = start, stop
	return c, ""
}

func cmdLInsert(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpLInsert, Keys: args[1:2], Vals: args[3:5]}
	switch {
	case eq(args[2], "before"):
	case eq(args[2], "after"):
		c.Int = 1
	default:
		return c, errSyntax
	}
	return c, x.checkValue(args[4])
}

// listDirection parses LEFT or RIGHT.
func listDirection(arg []byte) (right, ok bool) {
	switch {
	case eq(arg, "left"):
		return false, true
	case eq(arg, "right"):
		return true, true
	}
	return false, false
}

// lmoveDirs parses LMOVE's wherefrom and whereto into OpLMove's Int.
func lmoveDirs(from, to []byte) (int64, bool) {
	fr, ok1 := listDirection(from)
	tr, ok2 := listDirection(to)
	var dir int64
	if fr {
		dir |= storage.LMoveFromRight
	}
	if tr {
		dir |= storage.LMoveToRight
	}
	return dir, ok1 && ok2
}

func cmdLMove(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpLMove, Keys: args[1:3]}
	dir, ok := lmoveDirs(args[3], args[4])
	if !ok {
		return c, errSyntax
	}
	c.Int = dir
	return c, ""
}

func cmdRPopLPush(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpLMove, Keys: args[1:3], Int: storage.LMoveFromRight}, ""
}

// Reads.
func cmdLLen(x *execCtx, r *storage.Reader, args [][]byte) {
	if v, _, goOn := x.typedValue(r, args[1], storage.TypeList); goOn {
		x.w.Int(v.Len())
	}
}

// cmdLIndex: as Redis, the key is looked up before the index is parsed.
func cmdLIndex(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeList)
	switch {
	case !goOn:
		return
	case !exists:
		x.w.Null()
		return
	}
	i, ok := parseInt(args[2])
	if !ok {
		x.w.Error(errNotInteger)
		return
	}
	if e, found := r.LIndex(v, i); found {
		x.w.Bulk(e)
		return
	}
	x.w.Null()
}

func cmdLRange(x *execCtx, r *storage.Reader, args [][]byte) {
	start, ok1 := parseInt(args[2])
	stop, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		x.w.Error(errNotInteger)
		return
	}
	v, _, goOn := x.typedValue(r, args[1], storage.TypeList)
	if !goOn {
		return
	}
	// The span is clamped to the list, so LRANGE 0 <huge> costs what the
	// list holds, never what the client asked for.
	from, n := storage.ListSpan(v.Len(), start, stop)
	x.w.Array(int(n))
	if n == 0 {
		return
	}
	left := n
	r.LRange(v, from, false, func(_ int64, e []byte) bool {
		x.w.Bulk(e)
		left--
		return left > 0
	})
}

// cmdLPos follows Redis's lposCommand, including its arithmetic: RANK
// -9223372036854775808 negates to itself there, which makes every match
// from the tail qualify and no COUNT stop the search.
func cmdLPos(x *execCtx, r *storage.Reader, args [][]byte) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case eq(args[j], "rank") && more:
			j++
			n, ok := parseInt(args[j])
			if !ok {
				x.w.Error(errNotInteger)
				return
			}
			if n == 0 {
				x.w.Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			rank = n
		case eq(args[j], "count") && more:
			j++
			n, ok := parseInt(args[j])
			if !ok || n < 0 {
				x.w.Error("ERR COUNT can't be negative")
				return
			}
			count = n
		case eq(args[j], "maxlen") && more:
			j++
			n, ok := parseInt(args[j])
			if !ok || n < 0 {
				x.w.Error("ERR MAXLEN can't be negative")
				return
			}
			maxlen = n
		default:
			x.w.Error(errSyntax)
			return
		}
	}
	fromTail, anyRank := false, rank == math.MinInt64
	if rank < 0 {
		fromTail = true
		if !anyRank {
			rank = -rank
		}
	}
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeList)
	switch {
	case !goOn:
		return
	case !exists && count != -1:
		x.w.Array(0)
		return
	case !exists:
		x.w.Null()
		return
	}
	n := v.Len()
	start := int64(0)
	if fromTail {
		start = n - 1
	}
	var found []int64 // bounded by the list's length
	var matches, scanned int64
	r.LRange(v, start, fromTail, func(i int64, e []byte) bool {
		if maxlen != 0 && scanned >= maxlen {
			return false
		}
		scanned++
		if !bytes.Equal(e, args[2]) {
			return true
		}
		matches++
		if !anyRank && matches < rank {
			return true
		}
		found = append(found, i)
		if count == -1 {
			return false
		}
		return count == 0 || anyRank || matches-rank+1 < count
	})
	if count != -1 {
		x.w.Array(len(found))
		for _, i := range found {
			x.w.Int(i)
		}
		return
	}
	if len(found) == 0 {
		x.w.Null()
		return
	}
	x.w.Int(found[0])
}
