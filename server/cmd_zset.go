package server

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/keepkv/keepkv/storage"
)

// zsetCommands are the sorted-set family's commands (Redis 7.0). The
// blocking pops, BZPOPMIN and BZPOPMAX, live with the blocking commands
// and reuse storage.OpZPop.
func zsetCommands() []*command {
	const g = "sorted-set"
	w, r, f, oom := flagWrite, flagRead, flagFast, flagDenyOOM
	return []*command{
		{name: "zadd", arity: -4, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", since: "1.2.0", write: cmdZAdd},
		{name: "zincrby", arity: 4, flags: w | oom | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Increments the score of a member in a sorted set.", since: "1.2.0", write: cmdZIncrBy},
		{name: "zrem", arity: -3, flags: w | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", since: "1.2.0", write: cmdZRem},
		{name: "zremrangebyscore", arity: 4, flags: w, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", since: "1.2.0", write: cmdZRemRange(storage.ZByScore)},
		{name: "zremrangebyrank", arity: 4, flags: w, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", since: "2.0.0", write: cmdZRemRange(storage.ZByRank)},
		{name: "zremrangebylex", arity: 4, flags: w, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", since: "2.8.9", write: cmdZRemRange(storage.ZByLex)},
		{name: "zpopmin", arity: -2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", since: "5.0.0", write: cmdZPop(false), reply: replyZPop},
		{name: "zpopmax", arity: -2, flags: w | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", since: "5.0.0", write: cmdZPop(true), reply: replyZPop},
		{name: "zrangestore", arity: -5, flags: w | oom, firstKey: 1, lastKey: 2, step: 1, group: g, summary: "Stores a range of members from sorted set in a key.", since: "6.2.0", write: cmdZRangeStore},
		{name: "zunionstore", arity: -4, flags: w | oom, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Stores the union of multiple sorted sets in a key.", since: "2.0.0", write: cmdZCombineStore(storage.ZUnion)},
		{name: "zinterstore", arity: -4, flags: w | oom, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Stores the intersect of multiple sorted sets in a key.", since: "2.0.0", write: cmdZCombineStore(storage.ZInter)},
		{name: "zdiffstore", arity: -4, flags: w | oom, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Stores the difference of multiple sorted sets in a key.", since: "6.2.0", write: cmdZCombineStore(storage.ZDiff)},

		{name: "zscore", arity: 3, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the score of a member in a sorted set.", since: "1.2.0", read: cmdZScore},
		{name: "zmscore", arity: -3, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the score of one or more members in a sorted set.", since: "6.2.0", read: cmdZMScore},
		{name: "zcard", arity: 2, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the number of members in a sorted set.", since: "1.2.0", read: cmdZCard},
		{name: "zcount", arity: 4, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the count of members in a sorted set that have scores within a range.", since: "2.0.0", read: cmdZCount(storage.ZByScore)},
		{name: "zlexcount", arity: 4, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the number of members in a sorted set within a lexicographical range.", since: "2.8.9", read: cmdZCount(storage.ZByLex)},
		{name: "zrange", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a range of indexes.", since: "1.2.0", read: cmdZRange(zAuto, zDirAuto)},
		{name: "zrangebyscore", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a range of scores.", since: "1.0.5", read: cmdZRange(zScore, zDirForward)},
		{name: "zrevrangebyscore", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a range of scores in reverse order.", since: "2.2.0", read: cmdZRange(zScore, zDirReverse)},
		{name: "zrangebylex", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a lexicographical range.", since: "2.8.9", read: cmdZRange(zLex, zDirForward)},
		{name: "zrevrangebylex", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a lexicographical range in reverse order.", since: "2.8.9", read: cmdZRange(zLex, zDirReverse)},
		{name: "zrevrange", arity: -4, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns members in a sorted set within a range of indexes in reverse order.", since: "1.2.0", read: cmdZRange(zRank, zDirReverse)},
		{name: "zrank", arity: 3, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the index of a member in a sorted set ordered by ascending scores.", since: "2.0.0", read: cmdZRank(false)},
		{name: "zrevrank", arity: 3, flags: r | f, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns the index of a member in a sorted set ordered by descending scores.", since: "2.0.0", read: cmdZRank(true)},
		{name: "zrandmember", arity: -2, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns one or more random members from a sorted set.", since: "6.2.0", read: cmdZRandMember},
		{name: "zunion", arity: -3, flags: r, group: g, summary: "Returns the union of multiple sorted sets.", since: "6.2.0", read: cmdZCombine(storage.ZUnion)},
		{name: "zinter", arity: -3, flags: r, group: g, summary: "Returns the intersect of multiple sorted sets.", since: "6.2.0", read: cmdZCombine(storage.ZInter)},
		{name: "zdiff", arity: -3, flags: r, group: g, summary: "Returns the difference between multiple sorted sets.", since: "6.2.0", read: cmdZCombine(storage.ZDiff)},
		{name: "zintercard", arity: -3, flags: r, group: g, summary: "Returns the number of members of the intersect of multiple sorted sets.", since: "7.0.0", read: cmdZInterCard},
		{name: "zscan", arity: -3, flags: r, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Iterates over members and scores of a sorted set.", since: "2.8.0", read: cmdZScan},
	}
}

// Redis's sorted-set errors.
const (
	errZAddNXXX       = "ERR XX and NX options at the same time are not compatible"
	errZAddGTLTNX     = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZAddIncrPairs  = "ERR INCR option supports a single increment-element pair"
	errZMinMaxFloat   = "ERR min or max is not a float"
	errZMinMaxLex     = "ERR min or max not valid string range item"
	errZLimitRank     = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
	errZScoresLex     = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
	errZWeight        = "ERR weight value is not a float"
	errZPositive      = "ERR value is out of range, must be positive"
	errZOutOfRange    = "ERR value is out of range"
	errZLimitNegative = "ERR LIMIT can't be negative"
)

func errZNoKeys(name string) string {
	return "ERR at least 1 input key is needed for '" + name + "' command"
}

// Writes.

func cmdZAdd(_ *execCtx, args [][]byte) (storage.Cmd, string) { return zaddCmd(args, 0) }

// ZINCRBY is ZADD INCR, as in Redis: an option word in its place parses
// as one, which leaves an odd number of arguments, a syntax error.
func cmdZIncrBy(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	return zaddCmd(args, storage.ZAddIncr)
}

func zaddCmd(args [][]byte, mode int64) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpZAdd, Keys: args[1:2], Int: mode}
	i := 2
options:
	for ; i < len(args); i++ {
		switch a := args[i]; {
		case eq(a, "nx"):
			c.Flags |= storage.FlagNX
		case eq(a, "xx"):
			c.Flags |= storage.FlagXX
		case eq(a, "gt"):
			c.Flags |= storage.FlagGT
		case eq(a, "lt"):
			c.Flags |= storage.FlagLT
		case eq(a, "ch"):
			c.Int |= storage.ZAddCH
		case eq(a, "incr"):
			c.Int |= storage.ZAddIncr
		default:
			break options
		}
	}
	pairs := args[i:]
	has := func(f storage.Flag) bool { return c.Flags&f != 0 }
	switch {
	case len(pairs) == 0 || len(pairs)%2 != 0:
		return c, errSyntax
	case has(storage.FlagNX) && has(storage.FlagXX):
		return c, errZAddNXXX
	case has(storage.FlagNX) && (has(storage.FlagGT) || has(storage.FlagLT)), has(storage.FlagGT) && has(storage.FlagLT):
		return c, errZAddGTLTNX
	case c.Int&storage.ZAddIncr != 0 && len(pairs) > 2:
		return c, errZAddIncrPairs
	}
	c.Vals = make([][]byte, 0, len(pairs))
	for j := 0; j < len(pairs); j += 2 {
		s, ok := storage.ParseScore(pairs[j])
		if !ok {
			return c, errNotFloat
		}
		c.Vals = append(c.Vals, storage.ScoreBytes(s), pairs[j+1])
	}
	for j := 1; j < len(pairs); j += 2 {
		if len(pairs[j]) > storage.MaxKeyLen {
			return c, errKeyTooLong
		}
	}
	return c, ""
}

func cmdZRem(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	for _, m := range args[2:] {
		if len(m) > storage.MaxKeyLen {
			return storage.Cmd{}, errKeyTooLong
		}
	}
	return storage.Cmd{Op: storage.OpZRem, Keys: args[1:2], Vals: args[2:]}, ""
}

func cmdZRemRange(by storage.ZBy) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpZRemRange, Keys: args[1:2]}
		z := storage.ZRange{By: by, Count: -1}
		if e := parseZBounds(&z, args[2], args[3]); e != "" {
			return c, e
		}
		z.Put(&c)
		return c, ""
	}
}

// parseZBounds reads a range's two ends as z.By says.
func parseZBounds(z *storage.ZRange, lo, hi []byte) string {
	var ok1, ok2 bool
	switch z.By {
	case storage.ZByRank:
		z.Start, ok1 = parseInt(lo)
		z.Stop, ok2 = parseInt(hi)
		if !ok1 || !ok2 {
			return errNotInteger
		}
	case storage.ZByScore:
		z.Min, ok1 = storage.ParseScoreBound(lo)
		z.Max, ok2 = storage.ParseScoreBound(hi)
		if !ok1 || !ok2 {
			return errZMinMaxFloat
		}
	case storage.ZByLex:
		z.Min, ok1 = storage.ParseLexBound(lo)
		z.Max, ok2 = storage.ParseLexBound(hi)
		if !ok1 || !ok2 {
			return errZMinMaxLex
		}
	}
	return ""
}

// cmdZPop builds OpZPop. Limit 1 marks a count the client gave: the
// result echoes it (Result.Int), and in RESP3 such a reply is an array of
// [member, score] pairs, not a flat one.
func cmdZPop(highest bool) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpZPop, Keys: args[1:2], Int: 1}
		if highest {
			c.Flags = storage.FlagGT
		}
		if len(args) > 3 {
			return c, errSyntax
		}
		if len(args) == 3 {
			n, ok := parseInt(args[2])
			if !ok || n < 0 {
				return c, errZPositive
			}
			c.Int, c.Limit = n, 1
		}
		return c, ""
	}
}

func replyZPop(w *replyWriter, r storage.Result) {
	writeZPairs(w, zResultPairs(r.Elems), true, r.Int == 1 && zRESP3(w))
}

// zResultPairs reads an array of member, score pairs.
func zResultPairs(elems []storage.Result) []storage.ZPair {
	out := make([]storage.ZPair, 0, len(elems)/2)
	for i := 0; i+1 < len(elems); i += 2 {
		out = append(out, storage.ZPair{Member: elems[i].Bytes, Score: elems[i+1].Float})
	}
	return out
}

// zRESP3 reports whether w encodes RESP3, for a reply whose shape
// differs (ZPOPMIN with a count).
func zRESP3(w *replyWriter) bool { return w.RESP3() }

// writeZPairs writes members, with their scores if withScores: a flat
// array, or with nested an array of [member, score] pairs (Redis 7's
// RESP3 form of ZRANGE ... WITHSCORES).
func writeZPairs(w *replyWriter, pairs []storage.ZPair, withScores, nested bool) {
	switch {
	case withScores && !nested:
		w.Array(2 * len(pairs))
	default:
		w.Array(len(pairs))
	}
	for _, p := range pairs {
		if withScores && nested {
			w.Array(2)
		}
		w.Bulk(p.Member)
		if withScores {
			w.Double(p.Score)
		}
	}
}

func cmdZRangeStore(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpZRangeStore, Keys: args[1:3]}
	req, e := parseZRange(args, 2, true, zAuto, zDirAuto)
	if e != "" {
		return c, e
	}
	req.spec.Put(&c)
	return c, ""
}

func cmdZCombineStore(op storage.ZSetOp) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		req, e := parseZCombine(args, 2, op, true)
		if e != "" {
			return storage.Cmd{}, e
		}
		c := storage.Cmd{Op: map[storage.ZSetOp]storage.Op{storage.ZUnion: storage.OpZUnionStore, storage.ZInter: storage.OpZInterStore, storage.ZDiff: storage.OpZDiffStore}[op]}
		c.Keys = append([][]byte{args[1]}, req.keys...)
		for _, k := range req.keys {
			if len(k) > storage.MaxKeyLen {
				return c, errKeyTooLong
			}
		}
		for _, w := range req.weights {
			c.Vals = append(c.Vals, storage.ScoreBytes(w))
		}
		c.Int = int64(req.agg)
		return c, ""
	}
}

// zcombineReq is a parsed ZUNION/ZINTER/ZDIFF[STORE].
type zcombineReq struct {
	keys       [][]byte
	weights    []float64 // nil: all 1
	agg        storage.ZAggregate
	withScores bool
}

// parseZCombine reads numkeys at args[at], the keys and the options, in
// Redis's order of checks.
func parseZCombine(args [][]byte, at int, op storage.ZSetOp, store bool) (zcombineReq, string) {
	var req zcombineReq
	n, ok := parseInt(args[at])
	switch {
	case !ok:
		return req, errNotInteger
	case n < 1:
		return req, errZNoKeys(string(zLower(args[0])))
	case n > int64(len(args)-at-1):
		return req, errSyntax
	}
	req.keys = args[at+1 : at+1+int(n)]
	for j := at + 1 + int(n); j < len(args); j++ {
		left := len(args) - j
		switch a := args[j]; {
		case op != storage.ZDiff && left >= int(n)+1 && eq(a, "weights"):
			req.weights = make([]float64, n)
			for i := range req.weights {
				j++
				w, ok := storage.ParseScore(args[j])
				if !ok {
					return req, errZWeight
				}
				req.weights[i] = w
			}
		case op != storage.ZDiff && left >= 2 && eq(a, "aggregate"):
			j++
			switch b := args[j]; {
			case eq(b, "sum"):
				req.agg = storage.ZSum
			case eq(b, "min"):
				req.agg = storage.ZMin
			case eq(b, "max"):
				req.agg = storage.ZMax
			default:
				return req, errSyntax
			}
		case !store && eq(a, "withscores"):
			req.withScores = true
		default:
			return req, errSyntax
		}
	}
	return req, ""
}

func zLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// Reads.
func cmdZScore(x *execCtx, r *storage.Reader, args [][]byte) {
	v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet)
	if !goOn {
		return
	}
	if s, ok := r.ZScore(v, args[2]); ok {
		x.w.Double(s)
		return
	}
	x.w.Null()
}

func cmdZMScore(x *execCtx, r *storage.Reader, args [][]byte) {
	v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet)
	if !goOn {
		return
	}
	x.w.Array(len(args) - 2)
	for _, m := range args[2:] {
		if s, ok := r.ZScore(v, m); ok {
			x.w.Double(s)
		} else {
			x.w.Null()
		}
	}
}

func cmdZCard(x *execCtx, r *storage.Reader, args [][]byte) {
	if v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet); goOn {
		x.w.Int(v.Len())
	}
}

func cmdZCount(by storage.ZBy) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		z := storage.ZRange{By: by, Count: -1}
		if e := parseZBounds(&z, args[2], args[3]); e != "" {
			x.w.Error(e)
			return
		}
		if v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet); goOn {
			x.w.Int(r.ZCount(v, z))
		}
	}
}

// The ZRANGE forms: what a command fixes, and what ZRANGE leaves to its
// options (Redis's ZRANGE_AUTO, ZRANGE_DIRECTION_AUTO).
type zrangeBy uint8

const (
	zAuto zrangeBy = iota
	zRank
	zScore
	zLex
)

type zrangeDir uint8

const (
	zDirAuto zrangeDir = iota
	zDirForward
	zDirReverse
)

type zrangeReq struct {
	spec       storage.ZRange
	withScores bool
}

// parseZRange reads "key min max [options]" with the key at args[at], as
// Redis's zrangeGenericCommand does, errors in its order.
func parseZRange(args [][]byte, at int, store bool, by zrangeBy, dir zrangeDir) (zrangeReq, string) {
	var req zrangeReq
	offset, limit := int64(0), int64(-1)
	for j := at + 3; j < len(args); j++ {
		left := len(args) - j - 1
		switch a := args[j]; {
		case !store && eq(a, "withscores"):
			req.withScores = true
		case eq(a, "limit") && left >= 2:
			var ok1, ok2 bool
			offset, ok1 = parseInt(args[j+1])
			if !ok1 {
				return req, errNotInteger
			}
			limit, ok2 = parseInt(args[j+2])
			if !ok2 {
				return req, errNotInteger
			}
			j += 2
		case dir == zDirAuto && eq(a, "rev"):
			dir = zDirReverse
		case by == zAuto && eq(a, "bylex"):
			by = zLex
		case by == zAuto && eq(a, "byscore"):
			by = zScore
		default:
			return req, errSyntax
		}
	}
	if by == zAuto {
		by = zRank
	}
	switch {
	case limit != -1 && by == zRank:
		return req, errZLimitRank
	case req.withScores && by == zLex:
		return req, errZScoresLex
	}
	z := storage.ZRange{By: map[zrangeBy]storage.ZBy{zRank: storage.ZByRank, zScore: storage.ZByScore, zLex: storage.ZByLex}[by], Rev: dir == zDirReverse, Offset: offset, Count: limit}
	lo, hi := args[at+1], args[at+2]
	if z.Rev && by != zRank {
		lo, hi = hi, lo // given as max, min
	}
	if e := parseZBounds(&z, lo, hi); e != "" {
		return req, e
	}
	req.spec = z
	return req, ""
}

func cmdZRange(by zrangeBy, dir zrangeDir) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		req, e := parseZRange(args, 1, false, by, dir)
		if e != "" {
			x.w.Error(e)
			return
		}
		v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet)
		if !goOn {
			return
		}
		writeZPairs(x.w, zCollect(r, v, req.spec), req.withScores, x.st.resp == 3)
	}
}

func zCollect(r *storage.Reader, v storage.Value, z storage.ZRange) []storage.ZPair {
	var out []storage.ZPair
	r.ZRange(v, z, func(m []byte, s float64) bool {
		out = append(out, storage.ZPair{Member: append([]byte{}, m...), Score: s})
		return true
	})
	return out
}

func cmdZRank(rev bool) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		v, _, goOn := x.typedValue(r, args[1], storage.TypeZSet)
		if !goOn {
			return
		}
		if n, ok := r.ZRank(v, args[2], rev); ok {
			x.w.Int(n)
			return
		}
		x.w.Null()
	}
}

// cmdZRandMember: a read, so it picks with local randomness (see
// zRandomMembers). A count at least the set's size returns the whole set,
// in the order Redis does.
func cmdZRandMember(x *execCtx, r *storage.Reader, args [][]byte) {
	if len(args) == 2 {
		v, exists, goOn := x.typedValue(r, args[1], storage.TypeZSet)
		if !goOn {
			return
		}
		if p, ok := zRandomPick(r, v, x.rand()); exists && ok {
			x.w.Bulk(p.Member)
			return
		}
		x.w.Null()
		return
	}
	n, withScores, e := parseRandomCount(args, "withscores")
	if e != "" {
		x.w.Error(e)
		return
	}
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeZSet)
	if !goOn {
		return
	}
	if exists && n < -maxRandomCount { // a missing key answers [] whatever the count, as Redis
		x.w.Error(errRandomCount)
		return
	}
	writeZPairs(x.w, zRandomMembers(r, v, n, x.rand()), withScores, x.st.resp == 3)
}

func zRandomMembers(r *storage.Reader, v storage.Value, n int64, rng *rand.Rand) []storage.ZPair {
	size := v.Len()
	switch {
	case n == 0 || size == 0:
		return nil
	case n >= size: // the whole set, highest score first, as Redis iterates it
		return zCollect(r, v, storage.ZRange{By: storage.ZByRank, Start: 0, Stop: -1, Rev: true})
	}
	k := max(n, -n)
	out := make([]storage.ZPair, 0, k)
	if size <= zscanSmall || k*32 > size {
		// One pass over the set, then pick from it: O(size + count).
		all := zCollect(r, v, storage.ZRange{By: storage.ZByRank, Start: 0, Stop: -1})
		if n < 0 {
			for range k {
				out = append(out, all[rng.IntN(len(all))])
			}
			return out
		}
		for i := range k { // a partial Fisher-Yates shuffle
			j := i + rng.Int64N(int64(len(all))-i)
			all[i], all[j] = all[j], all[i]
		}
		return all[:k]
	}
	// A small sample of a big set: independent picks, O(count log size).
	seen := map[string]bool{}
	for misses := int64(0); int64(len(out)) < k && misses < 64*k; {
		p, ok := zRandomPick(r, v, rng)
		if !ok || (n > 0 && seen[string(p.Member)]) {
			misses++
			continue
		}
		seen[string(p.Member)] = true
		out = append(out, p)
	}
	return out
}

// zRandomPick picks a member: by a uniform random rank in a small set
// (a rank costs O(rank)); in a big one, by a random position of the
// member-hash index plus a random skip of up to 32 members, which evens
// out the chances that uneven hash gaps give.
func zRandomPick(r *storage.Reader, v storage.Value, rng *rand.Rand) (storage.ZPair, bool) {
	n := v.Len()
	if n > zscanSmall {
		return r.ZRandom(v, rng.Uint64(), rng.IntN(32))
	}
	if n == 0 {
		return storage.ZPair{}, false
	}
	rank := rng.Int64N(n)
	var p storage.ZPair
	r.ZRange(v, storage.ZRange{By: storage.ZByRank, Start: rank, Stop: rank}, func(m []byte, s float64) bool {
		p = storage.ZPair{Member: append([]byte{}, m...), Score: s}
		return false
	})
	return p, p.Member != nil
}

// zsources reads the inputs of a set operation: sorted sets or sets (a
// missing key is an empty input). It writes WRONGTYPE itself.
func (x *execCtx) zsources(r *storage.Reader, keys [][]byte) ([]storage.Value, bool) {
	vals := make([]storage.Value, len(keys))
	for i, k := range keys {
		v, ok := r.Get(x.st.db, k, x.now)
		if ok && v.Type != storage.TypeZSet && v.Type != storage.TypeSet {
			x.w.Error(errWrongType)
			return nil, false
		}
		if ok {
			vals[i] = v
		}
	}
	return vals, true
}

// cmdZCombine serves ZUNION, ZINTER and ZDIFF. As in Redis, a WRONGTYPE
// input is reported before a bad option.
func cmdZCombine(op storage.ZSetOp) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		req, e := parseZCombine(args, 1, op, false)
		if e != "" && req.keys == nil {
			x.w.Error(e)
			return
		}
		vals, ok := x.zsources(r, req.keys)
		if !ok {
			return
		}
		if e != "" {
			x.w.Error(e)
			return
		}
		writeZPairs(x.w, r.ZCombine(op, vals, req.weights, req.agg), req.withScores, x.st.resp == 3)
	}
}

// cmdZInterCard: numkeys and the keys are checked first (WRONGTYPE
// before a bad LIMIT), as Redis's zunionInterDiffGenericCommand does.
func cmdZInterCard(x *execCtx, r *storage.Reader, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok:
		x.w.Error(errNotInteger)
		return
	case n < 1:
		x.w.Error(errZNoKeys("zintercard"))
		return
	case n > int64(len(args)-2):
		x.w.Error(errSyntax)
		return
	}
	vals, ok := x.zsources(r, args[2:2+n])
	if !ok {
		return
	}
	var limit int64
	for j := 2 + int(n); j < len(args); j++ {
		if !eq(args[j], "limit") || j+1 >= len(args) {
			x.w.Error(errSyntax)
			return
		}
		j++
		l, ok := parseInt(args[j])
		if !ok || l < 0 {
			x.w.Error(errZLimitNegative)
			return
		}
		limit = l
	}
	x.w.Int(r.ZInterCard(vals, limit))
}

// zscanSmall is the size up to which ZSCAN returns the whole set at once,
// in score order, with cursor 0, as Redis does for a small (listpack)
// sorted set; a bigger one is paged in member-hash order.
const zscanSmall = 128

func cmdZScan(x *execCtx, r *storage.Reader, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		x.w.Error(errInvalidCursor)
		return
	}
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeZSet)
	if !goOn {
		return
	}
	if !exists {
		writeScanPage(x.w, 0, nil)
		return
	}
	o, e := parseScanOpts(args[3:], false)
	if e != "" {
		x.w.Error(e)
		return
	}
	count, pattern := o.count, o.pattern
	var page []storage.ZPair
	keep := func(m []byte, s float64) {
		if pattern == nil || globMatch(pattern, m) {
			page = append(page, storage.ZPair{Member: append([]byte{}, m...), Score: s})
		}
	}
	next := uint64(0)
	if v.Len() <= zscanSmall {
		r.ZRange(v, storage.ZRange{By: storage.ZByRank, Start: 0, Stop: -1}, func(m []byte, s float64) bool { keep(m, s); return true })
	} else {
		next = r.ZScan(v, cursor, min(count, 1<<20), keep)
	}
	items := make([][]byte, 0, 2*len(page))
	for _, p := range page {
		items = append(items, p.Member, []byte(zFormatScore(p.Score))) // a string, even in RESP3
	}
	writeScanPage(x.w, next, items)
}

// zFormatScore renders a score as Redis 7.0 does in ZSCAN: %.17g, inf, -inf.
func zFormatScore(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}
