package storage

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The sorted-set family. A sorted set keeps three element records per
// member, so that every element operation is O(log n):
//
//	kindElem   member → score (8 bytes, big-endian float64 bits)
//	kindScore  sortable(score) (8) ‖ member → empty
//	kindZHash  keyHash(member) (8) ‖ member → empty
//
// sortable(score) is the score's bits with the sign bit flipped for a
// positive score and every bit flipped for a negative one, so that byte
// order is numeric order. Scores are never NaN and never -0 (stored as 0,
// as Redis's small sorted sets print it). kindScore orders the set for
// ranges by score and by rank; kindElem, in member order, serves lex
// ranges, which Redis defines only when every score is equal; kindZHash
// orders members by the keyspace's stable hash, so that a ZSCAN cursor is
// a plain number that survives concurrent writes (as SCAN's does) and
// ZRANDMEMBER can pick a member with one seek.
const kindZHash byte = 'h'

// The zset family's ops.
const (
	// OpZAdd adds or updates members of Keys[0]. Vals holds score, member
	// pairs; each score is 8 bytes (big-endian float64 bits, not NaN).
	// Flags NX, XX, GT, LT are ZADD's options; Int is a set of ZAddCH and
	// ZAddIncr. Result: the number of members added (with ZAddCH: added or
	// changed); with ZAddIncr (one pair): the new score (a double), or nil
	// when NX, XX, GT or LT left the member alone. An increment that makes
	// NaN (inf plus -inf) is an error and changes nothing.
	OpZAdd Op = opZSetBase + iota
	// OpZRem removes the members Vals from Keys[0]; result: how many existed.
	OpZRem
	// OpZRemRange removes the members of Keys[0] in a range by rank, score
	// or lex, encoded as ZRange.Put does (LIMIT and REV are ignored);
	// result: how many it removed.
	OpZRemRange
	// OpZPop removes and returns up to Int (>= 0) members with the lowest
	// scores, or with Flags GT the highest, of the first of Keys that
	// exists (ZPOPMIN, ZPOPMAX, and the blocking forms once served). A key
	// of another type met before it is WRONGTYPE. Result: an array of
	// member (bulk), score (double) pairs, flat, lowest first (GT: highest
	// first), with Bytes set to the key popped from; empty when no key
	// exists or Int is 0. Limit is echoed in the result's Int: the server
	// marks there a count the client gave, which changes the reply's
	// shape in RESP3.
	OpZPop
	// OpZRangeStore stores in Keys[0] the range of Keys[1] that Int, Vals,
	// Deadline and Limit describe (see ZRange.Put); Keys[0] is replaced (no
	// TTL), or deleted when the range is empty. Result: its size.
	OpZRangeStore
	// OpZUnionStore stores in Keys[0] the union of Keys[1:] (sorted sets,
	// or sets whose members score 1); Vals is empty or holds one weight
	// per source (8-byte float64 bits, not NaN); Int is a ZAggregate.
	// Keys[0] is replaced (no TTL), or deleted when the result is empty.
	// Result: its size.
	OpZUnionStore
	// OpZInterStore is OpZUnionStore's intersection.
	OpZInterStore
	// OpZDiffStore stores Keys[1] minus Keys[2:]; Vals is empty and Int 0.
	OpZDiffStore
	opZSetEnd
)

// OpZAdd's options, in Cmd.Int.
const (
	ZAddCH   int64 = 1 << iota // count changed members too
	ZAddIncr                   // increment one member's score by the given one
)

// ZAggregate says how a union or intersection combines the scores of a
// member found in several sources.
type ZAggregate uint8

// The aggregates.
const (
	ZSum ZAggregate = iota
	ZMin
	ZMax
)

// ZSetOp is a set operation over sorted sets.
type ZSetOp uint8

// The set operations.
const (
	ZUnion ZSetOp = iota
	ZInter
	ZDiff
)

var zsetOpNames = [...]string{"ZADD", "ZREM", "ZREMRANGE", "ZPOP", "ZRANGESTORE", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"}

func zsetOpName(o Op) string {
	if o >= opZSetBase && o < opZSetEnd {
		return zsetOpNames[o-opZSetBase]
	}
	return ""
}

func zsetShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	switch c.Op {
	case OpZAdd:
		return nk == 1 && nv >= 2 && nv%2 == 0 && zaddFlagsOK(c) && scoresOK(c.Vals, 2) && elemsFit(c.Vals[1:], 2)
	case OpZRem:
		return nk == 1 && nv >= 1 && elemsFit(c.Vals, 1)
	case OpZRemRange:
		_, ok := zrangeOf(c)
		return nk == 1 && ok
	case OpZPop:
		return nk >= 1 && nv == 0 && c.Int >= 0
	case OpZRangeStore:
		_, ok := zrangeOf(c)
		return nk == 2 && ok
	case OpZUnionStore, OpZInterStore:
		return nk >= 2 && (nv == 0 || nv == nk-1) && scoresOK(c.Vals, 1) && c.Int >= int64(ZSum) && c.Int <= int64(ZMax)
	case OpZDiffStore:
		return nk >= 2 && nv == 0 && c.Int == 0
	}
	return false
}

func zaddFlagsOK(c *Cmd) bool {
	f := c.Flags
	switch {
	case c.Int&^(ZAddCH|ZAddIncr) != 0, c.Int&ZAddIncr != 0 && len(c.Vals) != 2:
		return false
	case f&^(FlagNX|FlagXX|FlagGT|FlagLT) != 0, f&FlagNX != 0 && f&(FlagXX|FlagGT|FlagLT) != 0, f&FlagGT != 0 && f&FlagLT != 0:
		return false
	}
	return true
}

// scoresOK reports whether vals[0], vals[step], ... are encoded scores.
func scoresOK(vals [][]byte, step int) bool {
	for i := 0; i < len(vals); i += step {
		if len(vals[i]) != 8 || math.IsNaN(scoreOf(vals[i])) {
			return false
		}
	}
	return true
}

// ScoreBytes encodes a score for a Cmd (OpZAdd, weights).
func ScoreBytes(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }

func scoreOf(b []byte) float64 {
	if len(b) != 8 {
		return 0 // not written by this family; shape checks keep it out of Cmds
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}

// normScore turns -0 into 0: a sorted set never stores -0.
func normScore(f float64) float64 {
	if f == 0 {
		return 0
	}
	return f
}

// sortable encodes a score so that byte order is numeric order.
func sortable(f float64) []byte {
	bits := math.Float64bits(normScore(f))
	if bits>>63 == 0 {
		bits |= 1 << 63
	} else {
		bits = ^bits
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+32), bits)
}

func unsortable(b []byte) float64 {
	bits := binary.BigEndian.Uint64(b)
	if bits>>63 == 1 {
		bits &^= 1 << 63
	} else {
		bits = ^bits
	}
	return math.Float64frombits(bits)
}

func scoreKey(f float64, member []byte) []byte { return append(sortable(f), member...) }

func hashKey(member []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(member)), keyHash(member)), member...)
}

// Parsing scores as Redis does.

// ParseScore parses a score or weight as Redis's string2d does: the
// whole of b is one C strtod number (decimal, hex, inf, infinity), with
// no leading space, not NaN, neither overflowing nor underflowing to 0.
// It may return -0, which a sorted set stores as 0 (ZINCRBY's reply for a
// new member shows -0, as Redis's does).
func ParseScore(b []byte) (float64, bool) {
	if len(b) == 0 || zisSpace(b[0]) {
		return 0, false
	}
	f, ok, rangeErr := zstrtod(string(b))
	if !ok || rangeErr || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// ParseScoreBound parses a ZRANGEBYSCORE bound as Redis's zslParseRange
// does: "(" makes it exclusive, the rest is read by C strtod up to a NUL,
// so leading space is allowed, an empty string is 0, and an overflow is
// an infinity; NaN is refused.
func ParseScoreBound(b []byte) (ZBound, bool) {
	var z ZBound
	if len(b) > 0 && b[0] == '(' {
		z.Excl = true
		b = b[1:]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return z, true // zstrtod("") is 0 with nothing left over
	}
	s := strings.TrimLeft(string(b), " \t\n\v\f\r")
	f, ok, _ := zstrtod(s)
	if !ok || math.IsNaN(f) {
		return z, false
	}
	z.Score = normScore(f)
	return z, true
}

// ParseLexBound parses a ZRANGEBYLEX bound: "-", "+", "(member" or
// "[member", as Redis's zslParseLexRangeItem does.
func ParseLexBound(b []byte) (ZBound, bool) {
	if len(b) == 0 {
		return ZBound{}, false
	}
	switch b[0] {
	case '-', '+':
		if len(b) > 1 && b[1] != 0 {
			return ZBound{}, false
		}
		if b[0] == '-' {
			return ZBound{Inf: -1, Excl: true}, true
		}
		return ZBound{Inf: 1, Excl: true}, true
	case '(', '[':
		return ZBound{Lex: append([]byte{}, b[1:]...), Excl: b[0] == '('}, true
	}
	return ZBound{}, false
}

func zisSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// strtod reads s, which must be one whole number in C strtod's syntax.
// rangeErr reports an overflow to an infinity or an underflow to 0
// (strtod's ERANGE).
func zstrtod(s string) (f float64, ok, rangeErr bool) {
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		if s[0] == '-' {
			return math.Inf(-1), true, false
		}
		return math.Inf(1), true, false
	}
	hex := len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	var mant string
	if hex {
		m, exp, ok := zsplitNumber(body[2:], zisHexDigit, "pP")
		if !ok {
			return 0, false, false
		}
		mant = m
		if exp == "" {
			s += "p0" // C allows a hex float without exponent; Go does not
		}
	} else {
		m, _, ok := zsplitNumber(body, zisDigit, "eE")
		if !ok {
			return 0, false, false
		}
		mant = m
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false, false
	}
	underflow := f == 0 && strings.ContainsAny(mant, "123456789abcdefABCDEF")
	return f, true, err != nil || underflow
}

// zsplitNumber checks digits [. digits] [exp [sign] decimal digits] with
// at least one mantissa digit, and returns the mantissa and exponent.
func zsplitNumber(s string, digit func(byte) bool, expChars string) (mant, exp string, ok bool) {
	i, n := 0, 0
	for ; i < len(s) && digit(s[i]); i++ {
		n++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && digit(s[i]); i++ {
			n++
		}
	}
	if n == 0 {
		return "", "", false
	}
	mant = s[:i]
	if i == len(s) {
		return mant, "", true
	}
	if !strings.ContainsRune(expChars, rune(s[i])) {
		return "", "", false
	}
	exp = s[i+1:]
	e := strings.TrimLeft(exp, "+-")
	if len(exp)-len(e) > 1 || e == "" || strings.IndexFunc(e, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "", "", false
	}
	return mant, exp, true
}

func zisDigit(c byte) bool    { return c >= '0' && c <= '9' }
func zisHexDigit(c byte) bool { return zisDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }

// Ranges.

// ZBy says what a range is over.
type ZBy uint8

// Range kinds.
const (
	ZByRank ZBy = iota
	ZByScore
	ZByLex
)

// ZBound is one end of a range by score or lex.
type ZBound struct {
	Score float64 // ZByScore
	Lex   []byte  // ZByLex
	Inf   int8    // ZByLex: -1 for "-", +1 for "+"
	Excl  bool
}

// ZRange is a range of a sorted set, as ZRANGE's forms describe it.
type ZRange struct {
	By          ZBy
	Rev         bool  // from the highest score (or member) down
	Start, Stop int64 // ZByRank: ranks as given (negative: from the end)
	Min, Max    ZBound
	Offset      int64 // ZByScore, ZByLex: LIMIT offset; negative selects nothing
	Count       int64 // LIMIT count; negative: no limit
}

// Put encodes the range into c: Int = By | Rev<<2; Vals[0], Vals[1] =
// the bounds (ZByRank: two 8-byte ranks; ZByScore: an exclusive flag
// byte and the 8-byte score; ZByLex: Redis's "-", "+", "(m" or "[m");
// Deadline = Offset; Limit = Count.
func (z ZRange) Put(c *Cmd) {
	c.Int = int64(z.By)
	if z.Rev {
		c.Int |= 4
	}
	c.Vals = [][]byte{z.Min.encode(z.By, z.Start), z.Max.encode(z.By, z.Stop)}
	c.Deadline, c.Limit = z.Offset, z.Count
}

func (b ZBound) encode(by ZBy, rank int64) []byte {
	switch by {
	case ZByRank:
		return binary.BigEndian.AppendUint64(nil, uint64(rank))
	case ZByScore:
		excl := byte(0)
		if b.Excl {
			excl = 1
		}
		return append([]byte{excl}, ScoreBytes(b.Score)...)
	}
	switch {
	case b.Inf < 0:
		return []byte("-")
	case b.Inf > 0:
		return []byte("+")
	case b.Excl:
		return append([]byte("("), b.Lex...)
	}
	return append([]byte("["), b.Lex...)
}

// zrangeOf decodes a range Put encoded.
func zrangeOf(c *Cmd) (ZRange, bool) {
	z := ZRange{By: ZBy(c.Int & 3), Rev: c.Int&4 != 0, Offset: c.Deadline, Count: c.Limit}
	if len(c.Vals) != 2 || c.Int>>3 != 0 {
		return z, false
	}
	lo, hi := c.Vals[0], c.Vals[1]
	switch z.By {
	case ZByRank:
		if len(lo) != 8 || len(hi) != 8 {
			return z, false
		}
		z.Start, z.Stop = int64(binary.BigEndian.Uint64(lo)), int64(binary.BigEndian.Uint64(hi))
		return z, true
	case ZByScore:
		if len(lo) != 9 || len(hi) != 9 || lo[0] > 1 || hi[0] > 1 {
			return z, false
		}
		z.Min = ZBound{Score: normScore(scoreOf(lo[1:])), Excl: lo[0] == 1}
		z.Max = ZBound{Score: normScore(scoreOf(hi[1:])), Excl: hi[0] == 1}
		return z, !math.IsNaN(z.Min.Score) && !math.IsNaN(z.Max.Score)
	case ZByLex:
		var ok1, ok2 bool
		z.Min, ok1 = ParseLexBound(lo)
		z.Max, ok2 = ParseLexBound(hi)
		return z, ok1 && ok2
	}
	return z, false
}

// zview reads one sorted set (or a set, whose members score 1) for the
// walks below, from an applier or a Reader. Members and values passed to
// callbacks are valid only during the call.
type zview struct {
	n    int64
	set  bool
	get  func(kind byte, elem []byte) ([]byte, bool)
	scan func(kind byte, from []byte, reverse bool, fn func(elem, val []byte) bool)
}

var emptyZView = zview{
	get:  func(byte, []byte) ([]byte, bool) { return nil, false },
	scan: func(byte, []byte, bool, func(elem, val []byte) bool) {},
}

func (a *applier) zview(t Type, m collMeta) zview {
	if m.count <= 0 {
		return emptyZView
	}
	oid := m.oid
	return zview{
		n: m.count, set: t == TypeSet,
		get: func(kind byte, elem []byte) ([]byte, bool) { return a.elem(oid, kind, elem) },
		scan: func(kind byte, from []byte, rev bool, fn func(elem, val []byte) bool) {
			a.rangeElems(oid, kind, from, rev, fn)
		},
	}
}

func (r *Reader) zview(v Value) zview {
	if v.Len() <= 0 || (v.Type != TypeZSet && v.Type != TypeSet) {
		return emptyZView
	}
	return zview{
		n: v.Len(), set: v.Type == TypeSet,
		get: func(kind byte, elem []byte) ([]byte, bool) { return r.elem(v, kind, elem) },
		scan: func(kind byte, from []byte, rev bool, fn func(elem, val []byte) bool) {
			r.rangeElems(v, kind, from, rev, fn)
		},
	}
}

func (z zview) score(member []byte) (float64, bool) {
	v, ok := z.get(kindElem, member)
	if !ok || z.set {
		return 1, ok
	}
	return scoreOf(v), true
}

// each calls fn for every member, in member order.
func (z zview) each(fn func(member []byte, score float64) bool) {
	z.scan(kindElem, nil, false, func(m, v []byte) bool {
		if z.set {
			return fn(m, 1)
		}
		return fn(m, scoreOf(v))
	})
}

// walk calls fn for the members of range r in the range's order (for Rev,
// the highest first), until fn returns false.
func (z zview) walk(r ZRange, fn func(member []byte, score float64) bool) {
	if z.n == 0 {
		return
	}
	switch r.By {
	case ZByRank:
		z.walkRank(r, fn)
	case ZByScore:
		z.walkScore(r, fn)
	case ZByLex:
		z.walkLex(r, fn)
	}
}

// walkRank serves a range by rank from whichever end of the score index
// is nearer: a rank costs O(rank) (there is no rank index), so ZRANGE
// 0 10 and ZREVRANGE 0 10 are cheap, the middle of a big set is not.
func (z zview) walkRank(r ZRange, fn func([]byte, float64) bool) {
	start, stop, n := r.Start, r.Stop, z.n
	if start < 0 {
		start += n
	}
	if stop < 0 {
		stop += n
	}
	start = max(start, 0)
	if start > stop || start >= n {
		return
	}
	stop = min(stop, n-1)
	lo, hi := start, stop // positions in ascending order
	if r.Rev {
		lo, hi = n-1-stop, n-1-start
	}
	backward := n-1-hi < lo // the end is nearer
	skip := lo
	if backward {
		skip = n - 1 - hi
	}
	want := hi - lo + 1
	stream := backward == r.Rev // iteration order is the reply's order
	var held []ZPair
	z.scan(kindScore, nil, backward, func(k, _ []byte) bool {
		if skip > 0 {
			skip--
			return true
		}
		want--
		if stream {
			return fn(k[8:], unsortable(k)) && want > 0
		}
		held = append(held, ZPair{Member: bytes.Clone(k[8:]), Score: unsortable(k)})
		return want > 0
	})
	for i := len(held) - 1; i >= 0; i-- {
		if !fn(held[i].Member, held[i].Score) {
			return
		}
	}
}

func zaboveMin(s float64, b ZBound) bool { return s > b.Score || !b.Excl && s == b.Score }
func zbelowMax(s float64, b ZBound) bool { return s < b.Score || !b.Excl && s == b.Score }

func (z zview) walkScore(r ZRange, fn func([]byte, float64) bool) {
	skip, count := r.Offset, r.Count
	if skip < 0 || count == 0 {
		return
	}
	from := sortable(r.Min.Score)
	if r.Rev {
		from = prefixEnd(sortable(r.Max.Score)) // nil: from the end
	}
	z.scan(kindScore, from, r.Rev, func(k, _ []byte) bool {
		s := unsortable(k)
		inLow, inHigh := zaboveMin(s, r.Min), zbelowMax(s, r.Max)
		switch {
		case r.Rev && !inHigh, !r.Rev && !inLow:
			return true // before the range
		case !inLow || !inHigh:
			return false // past it
		case skip > 0:
			skip--
			return true
		}
		count--
		return fn(k[8:], s) && count != 0
	})
}

func zlexAboveMin(m []byte, b ZBound) bool {
	if b.Inf != 0 {
		return b.Inf < 0
	}
	c := bytes.Compare(m, b.Lex)
	return c > 0 || c == 0 && !b.Excl
}

func zlexBelowMax(m []byte, b ZBound) bool {
	if b.Inf != 0 {
		return b.Inf > 0
	}
	c := bytes.Compare(m, b.Lex)
	return c < 0 || c == 0 && !b.Excl
}

// walkLex walks member order, which is the set's order when every score is
// equal: the only case Redis defines.
func (z zview) walkLex(r ZRange, fn func([]byte, float64) bool) {
	skip, count := r.Offset, r.Count
	if skip < 0 || count == 0 {
		return
	}
	edge := r.Min
	if r.Rev {
		edge = r.Max
	}
	var from []byte
	switch {
	case edge.Inf == 0:
		from = append([]byte{}, edge.Lex...)
	case (edge.Inf > 0) != r.Rev: // starts past every member
		return
	}
	z.scan(kindElem, from, r.Rev, func(m, v []byte) bool {
		inLow, inHigh := zlexAboveMin(m, r.Min), zlexBelowMax(m, r.Max)
		switch {
		case r.Rev && !inHigh, !r.Rev && !inLow:
			return true
		case !inLow || !inHigh:
			return false
		case skip > 0:
			skip--
			return true
		}
		count--
		return fn(m, scoreOf(v)) && count != 0
	})
}

// rank returns member's rank: its position in score order (rev: from the
// highest). It costs O(rank): the index is counted from that end.
func (z zview) rank(member []byte, rev bool) (int64, bool) {
	s, ok := z.score(member)
	if !ok || z.set {
		return 0, false
	}
	target := scoreKey(s, member)
	var n int64
	found := false
	z.scan(kindScore, nil, rev, func(k, _ []byte) bool {
		if bytes.Equal(k, target) {
			found = true
			return false
		}
		n++
		return true
	})
	return n, found
}

// ZPair is a sorted-set member and its score.
type ZPair struct {
	Member []byte
	Score  float64
}

func zcmpPairs(a, b ZPair) int {
	switch {
	case a.Score < b.Score:
		return -1
	case a.Score > b.Score:
		return 1
	}
	return bytes.Compare(a.Member, b.Member)
}

// collect returns range r's members, copied.
func (z zview) collect(r ZRange) []ZPair {
	var out []ZPair
	z.walk(r, func(m []byte, s float64) bool {
		out = append(out, ZPair{Member: bytes.Clone(m), Score: s})
		return true
	})
	return out
}

// Set operations, as Redis 7.0's zunionInterDiffGenericCommand.

func zaggregate(target *float64, v float64, agg ZAggregate) {
	switch agg {
	case ZSum:
		*target += v
		if math.IsNaN(*target) { // inf + -inf: Redis's convention is 0
			*target = 0
		}
	case ZMin:
		if v < *target {
			*target = v
		}
	case ZMax:
		if v > *target {
			*target = v
		}
	}
}

func zweighted(s, w float64) float64 {
	v := s * w
	if math.IsNaN(v) { // inf * 0
		return 0
	}
	return v
}

// zcombine computes a union, intersection or difference of srcs, sorted by
// score then member. weights (nil: all 1) go with srcs. limit > 0 stops an
// intersection after that many members (ZINTERCARD). Scores are summed in
// the order Redis sums them: sources by increasing size.
func zcombine(op ZSetOp, srcs []zview, weights []float64, agg ZAggregate, limit int) []ZPair {
	type source struct {
		z zview
		w float64
	}
	ss := make([]source, len(srcs))
	for i, z := range srcs {
		ss[i] = source{z: z, w: 1}
		if weights != nil {
			ss[i].w = weights[i]
		}
	}
	if op != ZDiff {
		slices.SortStableFunc(ss, func(a, b source) int { return int(min(max(a.z.n-b.z.n, -1), 1)) })
	}
	var out []ZPair
	switch op {
	case ZInter:
		ss[0].z.each(func(m []byte, s float64) bool {
			score := zweighted(s, ss[0].w)
			for _, o := range ss[1:] {
				v, ok := o.z.score(m)
				if !ok {
					return true
				}
				zaggregate(&score, zweighted(v, o.w), agg)
			}
			out = append(out, ZPair{Member: bytes.Clone(m), Score: normScore(score)})
			return limit <= 0 || len(out) < limit
		})
	case ZUnion:
		acc := map[string]float64{}
		for _, src := range ss {
			src.z.each(func(m []byte, s float64) bool {
				score := zweighted(s, src.w)
				if cur, ok := acc[string(m)]; ok {
					zaggregate(&cur, score, agg)
					score = cur
				}
				acc[string(m)] = score
				return true
			})
		}
		out = make([]ZPair, 0, len(acc))
		for m, s := range acc {
			out = append(out, ZPair{Member: []byte(m), Score: normScore(s)})
		}
	case ZDiff:
		ss[0].z.each(func(m []byte, s float64) bool {
			for _, o := range ss[1:] {
				if _, ok := o.z.score(m); ok {
					return true
				}
			}
			out = append(out, ZPair{Member: bytes.Clone(m), Score: s})
			return true
		})
	}
	slices.SortFunc(out, zcmpPairs)
	return out
}

// Apply.

var (
	errZSetNaN = CmdError("ERR resulting score is not a number (NaN)")
)

func (a *applier) zsetCmd(c *Cmd) Result {
	switch c.Op {
	case OpZPop:
		return a.zpop(c)
	case OpZRangeStore:
		return a.zrangeStore(c)
	case OpZUnionStore, OpZInterStore, OpZDiffStore:
		return a.zcombineStore(c)
	}
	z, err := a.collection(c.DB, c.Keys[0], TypeZSet)
	if err != nil {
		return errResult(err)
	}
	switch c.Op {
	case OpZAdd:
		return a.zadd(&z, c)
	case OpZRem:
		var n int64
		for _, m := range c.Vals {
			if s, ok := a.zscore(&z, m); ok {
				a.zdel(z.meta.oid, m, s)
				z.meta.count--
				n++
			}
		}
		if n > 0 {
			a.saveNotify(&z, TypeZSet, ClassZSet, "zrem")
		}
		return intResult(n)
	case OpZRemRange:
		r, _ := zrangeOf(c)
		r.Offset, r.Count, r.Rev = 0, -1, false
		doomed := a.zview(TypeZSet, z.meta).collect(r)
		for _, p := range doomed {
			a.zdel(z.meta.oid, p.Member, p.Score)
		}
		if len(doomed) > 0 {
			z.meta.count -= int64(len(doomed))
			a.saveNotify(&z, TypeZSet, ClassZSet, zremRangeEvents[r.By])
		}
		return intResult(int64(len(doomed)))
	}
	return errResult(ErrBadEntry)
}

var zremRangeEvents = [...]string{ZByRank: "zremrangebyrank", ZByScore: "zremrangebyscore", ZByLex: "zremrangebylex"}

// zscore returns member's score in z, which may be a set this command
// is creating (the header is written last).
func (a *applier) zscore(z *coll, member []byte) (float64, bool) {
	if z.meta.oid == 0 {
		return 0, false
	}
	v, ok := a.elem(z.meta.oid, kindElem, member)
	return scoreOf(v), ok
}

// zput writes a new member's records.
func (a *applier) zput(oid uint64, member []byte, s float64) {
	s = normScore(s)
	a.setElem(oid, kindElem, member, ScoreBytes(s))
	a.setElem(oid, kindScore, scoreKey(s, member), nil)
	a.setElem(oid, kindZHash, hashKey(member), nil)
}

// zdel deletes a member's records.
func (a *applier) zdel(oid uint64, member []byte, s float64) {
	a.delElem(oid, kindElem, member)
	a.delElem(oid, kindScore, scoreKey(s, member))
	a.delElem(oid, kindZHash, hashKey(member))
}

// zmove changes an existing member's score.
func (a *applier) zmove(oid uint64, member []byte, from, to float64) {
	to = normScore(to)
	a.setElem(oid, kindElem, member, ScoreBytes(to))
	a.delElem(oid, kindScore, scoreKey(from, member))
	a.setElem(oid, kindScore, scoreKey(to, member), nil)
}

// zadd is Redis's zsetAdd over every pair: every score is valid already,
// and only the single INCR pair can fail (NaN), before anything changes.
func (a *applier) zadd(z *coll, c *Cmd) Result {
	nx, xx := c.Flags&FlagNX != 0, c.Flags&FlagXX != 0
	gt, lt := c.Flags&FlagGT != 0, c.Flags&FlagLT != 0
	incr := c.Int&ZAddIncr != 0
	var added, updated, processed int64
	var newScore float64
	if z.exists || !xx {
		a.ensure(z)
		for i := 0; i < len(c.Vals); i += 2 {
			score, member := scoreOf(c.Vals[i]), c.Vals[i+1]
			cur, exists := a.zscore(z, member)
			switch {
			case exists && nx, !exists && xx:
				continue
			case exists:
				if incr {
					if score += cur; math.IsNaN(score) {
						return errResult(errZSetNaN)
					}
				}
				if lt && score >= cur || gt && score <= cur {
					continue
				}
				if score != cur {
					a.zmove(z.meta.oid, member, cur, score)
					updated++
				}
			default:
				a.zput(z.meta.oid, member, score)
				z.meta.count++
				added++
			}
			processed++
			newScore = score // as Redis replies: -0 for a new member added at -0
		}
	}
	if added > 0 {
		a.saveColl(z, TypeZSet)
		a.ready(c.DB, c.Keys[0])
	}
	if added+updated > 0 { // as Redis: nothing for a score set to what it was
		name := "zadd"
		if incr {
			name = "zincr"
		}
		a.notify(ClassZSet, name, c.DB, c.Keys[0])
	}
	switch {
	case incr && processed > 0:
		return doubleResult(newScore)
	case incr:
		return nilResult()
	case c.Int&ZAddCH != 0:
		return intResult(added + updated)
	}
	return intResult(added)
}

func (a *applier) zpop(c *Cmd) Result {
	for _, key := range c.Keys {
		z, err := a.collection(c.DB, key, TypeZSet)
		if err != nil {
			return errResult(err)
		}
		if !z.exists {
			continue
		}
		res := arrayResult(nil)
		res.Bytes, res.Int = clone(key), c.Limit
		if c.Int == 0 {
			return res
		}
		r := ZRange{By: ZByRank, Start: 0, Stop: min(c.Int, z.meta.count) - 1, Rev: c.Flags&FlagGT != 0}
		popped := a.zview(TypeZSet, z.meta).collect(r)
		for _, p := range popped {
			a.zdel(z.meta.oid, p.Member, p.Score)
			res.Elems = append(res.Elems, bulkResult(p.Member), doubleResult(p.Score))
		}
		z.meta.count -= int64(len(popped))
		name := "zpopmin"
		if c.Flags&FlagGT != 0 {
			name = "zpopmax"
		}
		a.saveNotify(&z, TypeZSet, ClassZSet, name)
		return res
	}
	res := arrayResult(nil)
	res.Int = c.Limit
	return res
}

// zsource looks up a sorted set, or a set, as the input of a set operation.
func (a *applier) zsource(db uint8, key []byte) (zview, error) {
	s := a.lookup(db, key)
	if !s.exists {
		return emptyZView, nil
	}
	if s.rec.typ != TypeZSet && s.rec.typ != TypeSet {
		return zview{}, ErrWrongType
	}
	m, ok := decodeMeta(s.rec.value)
	if !ok {
		a.fail(errCorrupt(db, key))
	}
	return a.zview(s.rec.typ, m), nil
}

func (a *applier) zrangeStore(c *Cmd) Result {
	src, err := a.collection(c.DB, c.Keys[1], TypeZSet)
	if err != nil {
		return errResult(err)
	}
	r, _ := zrangeOf(c)
	var pairs []ZPair
	if src.exists {
		pairs = a.zview(TypeZSet, src.meta).collect(r)
	}
	return a.zstore(c.DB, c.Keys[0], pairs, "zrangestore")
}

func (a *applier) zcombineStore(c *Cmd) Result {
	srcs := make([]zview, 0, len(c.Keys)-1)
	for _, k := range c.Keys[1:] {
		z, err := a.zsource(c.DB, k)
		if err != nil {
			return errResult(err)
		}
		srcs = append(srcs, z)
	}
	var weights []float64
	for _, w := range c.Vals {
		weights = append(weights, scoreOf(w))
	}
	op := map[Op]ZSetOp{OpZUnionStore: ZUnion, OpZInterStore: ZInter, OpZDiffStore: ZDiff}[c.Op]
	return a.zstore(c.DB, c.Keys[0], zcombine(op, srcs, weights, ZAggregate(c.Int), 0), zstoreEvents[c.Op])
}

var zstoreEvents = map[Op]string{OpZUnionStore: "zunionstore", OpZInterStore: "zinterstore", OpZDiffStore: "zdiffstore"}

// zstore replaces key with a sorted set of pairs (sorted, distinct
// members), without TTL, and reports event; or deletes it when pairs is
// empty. The result replaces whatever key held in place (Redis's setKey:
// no "new" event for a key that existed).
func (a *applier) zstore(db uint8, key []byte, pairs []ZPair, event string) Result {
	s := a.lookup(db, key)
	if len(pairs) == 0 {
		if s.exists {
			a.del(&s)
			a.notify(ClassGeneric, "del", db, key)
		}
		return intResult(0)
	}
	m := collMeta{oid: a.newOID(), count: int64(len(pairs))}
	for _, p := range pairs {
		a.zput(m.oid, p.Member, p.Score)
	}
	a.store(&s, TypeZSet, m.encode(), 0) // releases what key held
	a.notify(ClassZSet, event, db, key)
	a.ready(db, key)
	return intResult(m.count)
}

// Reads.

// ZScore returns member's score in sorted set v.
func (r *Reader) ZScore(v Value, member []byte) (float64, bool) {
	return r.zview(v).score(member)
}

// ZRange calls fn for the members of range z of sorted set v, in the
// range's order, until fn returns false. A range by rank costs O(rank of
// its nearer end); by score or lex, O(log n + offset + members).
func (r *Reader) ZRange(v Value, z ZRange, fn func(member []byte, score float64) bool) {
	r.zview(v).walk(z, fn)
}

// ZCount returns how many members range z (by score or lex) holds; it
// counts them, O(members).
func (r *Reader) ZCount(v Value, z ZRange) int64 {
	var n int64
	r.zview(v).walk(z, func([]byte, float64) bool { n++; return true })
	return n
}

// ZRank returns member's rank in sorted set v (rev: counted from the
// highest score). It costs O(rank).
func (r *Reader) ZRank(v Value, member []byte, rev bool) (int64, bool) {
	return r.zview(v).rank(member, rev)
}

// ZScan visits about count members of sorted set v in hash order from
// cursor (0: the start), as Reader.Scan does for keys, and returns the
// next cursor (0: done; always below MaxCursor). A member present for the
// whole scan is visited exactly once.
func (r *Reader) ZScan(v Value, cursor uint64, count int, fn func(member []byte, score float64)) uint64 {
	z := r.zview(v)
	if cursor >= MaxCursor || z.n == 0 {
		return 0
	}
	count = max(count, 1)
	seen, next := 0, uint64(0)
	var last uint64
	z.scan(kindZHash, u64(cursor<<cursorShift), false, func(k, _ []byte) bool {
		pos := binary.BigEndian.Uint64(k) >> cursorShift
		if seen >= count && pos != last {
			next = pos
			return false
		}
		seen++
		last = pos
		if s, ok := z.score(k[8:]); ok {
			fn(k[8:], s)
		}
		return true
	})
	return next
}

// ZRandom returns a member of sorted set v: the one skip places after
// hash position pos (wrapping around), or false for an empty set. With a
// random pos a member's chance is its hash gap's share of 2^64; a random
// skip of up to a few dozen evens the chances out. It costs
// O(log n + skip).
func (r *Reader) ZRandom(v Value, pos uint64, skip int) (ZPair, bool) {
	z := r.zview(v)
	if z.n == 0 {
		return ZPair{}, false
	}
	skip = int(int64(max(skip, 0)) % z.n)
	var p ZPair
	found := false
	pick := func(k, _ []byte) bool {
		if skip > 0 {
			skip--
			return true
		}
		s, _ := z.score(k[8:])
		p, found = ZPair{Member: bytes.Clone(k[8:]), Score: s}, true
		return false
	}
	z.scan(kindZHash, u64(pos), false, pick)
	if !found {
		z.scan(kindZHash, nil, false, pick)
	}
	return p, found
}

// ZCombine computes ZUNION, ZINTER or ZDIFF of vals (sorted sets or sets;
// a zero Value is a missing key), sorted by score then member. weights is
// nil or has one weight per value.
func (r *Reader) ZCombine(op ZSetOp, vals []Value, weights []float64, agg ZAggregate) []ZPair {
	return zcombine(op, r.zviews(vals), weights, agg, 0)
}

// ZInterCard returns the size of the intersection of vals, counting up to
// limit (0: no limit).
func (r *Reader) ZInterCard(vals []Value, limit int64) int64 {
	return int64(len(zcombine(ZInter, r.zviews(vals), nil, ZSum, int(min(limit, math.MaxInt32)))))
}

func (r *Reader) zviews(vals []Value) []zview {
	out := make([]zview, len(vals))
	for i, v := range vals {
		out[i] = r.zview(v)
	}
	return out
}
