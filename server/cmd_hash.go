package server

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/keepkv/keepkv/storage"
)

// hashCommands are the hash family's commands.
func hashCommands() []*command {
	return []*command{
		{name: "hset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Creates or modifies the value of a field in a hash.", since: "2.0.0", write: cmdHSet},
		{name: "hmset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Sets the values of multiple fields.", since: "2.0.0", write: cmdHSet, reply: replyAlwaysOK},
		{name: "hsetnx", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Sets the value of a field in a hash only when the field doesn't exist.", since: "2.0.0", write: cmdHSetNX},
		{name: "hget", arity: 3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns the value of a field in a hash.", since: "2.0.0", read: cmdHGet},
		{name: "hmget", arity: -3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns the values of all fields in a hash.", since: "2.0.0", read: cmdHMGet},
		{name: "hdel", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", since: "2.0.0", write: cmdHDel},
		{name: "hexists", arity: 3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Determines whether a field exists in a hash.", since: "2.0.0", read: cmdHExists},
		{name: "hlen", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns the number of fields in a hash.", since: "2.0.0", read: cmdHLen},
		{name: "hstrlen", arity: 3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns the length of the value of a field.", since: "3.2.0", read: cmdHStrlen},
		{name: "hkeys", arity: 2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns all fields in a hash.", since: "2.0.0", read: cmdHGetAll(true, false)},
		{name: "hvals", arity: 2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns all values in a hash.", since: "2.0.0", read: cmdHGetAll(false, true)},
		{name: "hgetall", arity: 2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns all fields and values in a hash.", since: "2.0.0", read: cmdHGetAll(true, true)},
		{name: "hincrby", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", since: "2.0.0", write: cmdHIncrBy},
		{name: "hincrbyfloat", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", since: "2.6.0", write: cmdHIncrByFloat},
		{name: "hrandfield", arity: -2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Returns one or more random fields from a hash.", since: "6.2.0", read: cmdHRandField},
		{name: "hscan", arity: -3, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: "hash", summary: "Iterates over fields and values of a hash.", since: "2.8.0", read: cmdHScan},
	}
}

func replyAlwaysOK(w *replyWriter, _ storage.Result) { w.OK() }

// Writes.

// elemsTooLong reports whether any of args[0], args[step], ... (fields or
// members, which become part of a bbolt key) is longer than storage takes.
func elemsTooLong(args [][]byte, step int) bool {
	for i := 0; i < len(args); i += step {
		if len(args[i]) > storage.MaxKeyLen {
			return true
		}
	}
	return false
}

// cmdHSet serves HSET and HMSET: field value pairs.
func cmdHSet(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpHSet, Keys: args[1:2], Vals: args[2:]}
	if len(args)%2 != 0 {
		return c, errArity(string(args[0]))
	}
	if elemsTooLong(c.Vals, 2) {
		return c, errKeyTooLong
	}
	for i := 1; i < len(c.Vals); i += 2 {
		if e := x.checkValue(c.Vals[i]); e != "" {
			return c, e
		}
	}
	return c, ""
}

func cmdHSetNX(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpHSet, Flags: storage.FlagNX, Keys: args[1:2], Vals: args[2:4]}
	if len(args[2]) > storage.MaxKeyLen {
		return c, errKeyTooLong
	}
	return c, x.checkValue(args[3])
}

func cmdHDel(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpHDel, Keys: args[1:2], Vals: args[2:]}
	if elemsTooLong(c.Vals, 1) {
		return c, errKeyTooLong
	}
	return c, ""
}

func cmdHIncrBy(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpHIncrBy, Keys: args[1:2], Vals: args[2:3]}
	n, ok := parseInt(args[3])
	if !ok {
		return c, errNotInteger
	}
	if len(args[2]) > storage.MaxKeyLen {
		return c, errKeyTooLong
	}
	c.Int = n
	return c, ""
}

func cmdHIncrByFloat(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpHIncrByFloat, Keys: args[1:2], Vals: args[2:4]}
	f, ok := storage.ParseFloat(args[3])
	if !ok {
		return c, errNotFloat
	}
	if f.IsInf() {
		return c, "ERR value is NaN or Infinity"
	}
	if len(args[2]) > storage.MaxKeyLen {
		return c, errKeyTooLong
	}
	return c, ""
}

// Reads.
func cmdHGet(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if !goOn {
		return
	}
	if val, ok := r.HGet(v, args[2]); exists && ok {
		x.w.Bulk(val)
		return
	}
	x.w.Null()
}

func cmdHMGet(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if !goOn {
		return
	}
	x.w.Array(len(args) - 2)
	for _, f := range args[2:] {
		if val, ok := r.HGet(v, f); exists && ok {
			x.w.Bulk(val)
		} else {
			x.w.Null()
		}
	}
}

func cmdHExists(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if !goOn {
		return
	}
	_, ok := r.HGet(v, args[2])
	x.w.Int(boolInt(exists && ok))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdHLen(x *execCtx, r *storage.Reader, args [][]byte) {
	v, _, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if goOn {
		x.w.Int(v.Len())
	}
}

func cmdHStrlen(x *execCtx, r *storage.Reader, args [][]byte) {
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if !goOn {
		return
	}
	val, ok := r.HGet(v, args[2])
	if !exists || !ok {
		x.w.Int(0)
		return
	}
	x.w.Int(int64(len(val)))
}

// cmdHGetAll serves HKEYS, HVALS and HGETALL (a map in RESP3), streaming
// the fields in field order.
func cmdHGetAll(fields, vals bool) readFunc {
	return func(x *execCtx, r *storage.Reader, args [][]byte) {
		v, _, goOn := x.typedValue(r, args[1], storage.TypeHash)
		if !goOn {
			return
		}
		n := v.Len()
		if fields && vals {
			x.w.Map(int(n))
		} else {
			x.w.Array(int(n))
		}
		var i int64
		r.HRange(v, nil, func(f, val []byte) bool {
			if i == n {
				return false
			}
			if fields {
				x.w.Bulk(f)
			}
			if vals {
				x.w.Bulk(val)
			}
			i++
			return true
		})
		// The header's count is the truth the reply was announced with; a
		// store whose records disagreed with it must still yield a
		// well-formed reply.
		for ; i < n; i++ {
			if fields {
				x.w.Null()
			}
			if vals {
				x.w.Null()
			}
		}
	}
}

// maxRandomCount bounds a negative HRANDFIELD or SRANDMEMBER count (the
// elements may repeat, so the reply is not bounded by the collection's
// size): Redis takes up to LONG_MAX and builds the reply until it runs
// out of memory; keepkv refuses a count past this with an error.
const maxRandomCount = 1 << 20

var errRandomCount = fmt.Sprintf("ERR value is out of range: keepkv returns at most %d random elements", maxRandomCount)

// parseRandomCount reads the count of HRANDFIELD and SRANDMEMBER (args[2])
// and, if withWord is given, the optional option after it, as Redis does.
// The caller refuses a count below -maxRandomCount once it knows the key
// exists (a missing key answers an empty array whatever the count).
func parseRandomCount(args [][]byte, withWord string) (count int64, with bool, e string) {
	n, ok := parseInt(args[2])
	if !ok {
		return 0, false, errNotInteger
	}
	if n == math.MinInt64 {
		return 0, false, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	}
	if len(args) > 4 || (len(args) == 4 && (withWord == "" || !eq(args[3], withWord))) {
		return 0, false, errSyntax
	}
	with = len(args) == 4
	if with && (n < -math.MaxInt64/2 || n > math.MaxInt64/2) {
		return 0, false, "ERR value is out of range"
	}
	return n, with, ""
}

// readRand is a read's random source: local randomness is fine, reads are
// not in the log.
// rand is the command's random source: seeded from the log entry inside
// apply (EXEC, scripts), so every node draws alike; otherwise fresh.
func (x *execCtx) rand() *rand.Rand {
	if x.rng == nil {
		x.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return x.rng
}

func cmdHRandField(x *execCtx, r *storage.Reader, args [][]byte) {
	if len(args) == 2 {
		v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
		if !goOn {
			return
		}
		var field []byte
		if exists {
			r.HRandom(v, 1, true, x.rand(), func(f, _ []byte) { field = append([]byte{}, f...) })
		}
		if field == nil {
			x.w.Null()
			return
		}
		x.w.Bulk(field)
		return
	}
	n, withValues, e := parseRandomCount(args, "withvalues")
	if e != "" {
		x.w.Error(e)
		return
	}
	v, exists, goOn := x.typedValue(r, args[1], storage.TypeHash)
	if !goOn {
		return
	}
	if exists && n < -maxRandomCount {
		x.w.Error(errRandomCount)
		return
	}
	var pairs [][2][]byte
	if exists && n != 0 {
		r.HRandom(v, max(n, -n), n > 0, x.rand(), func(f, val []byte) {
			pairs = append(pairs, [2][]byte{append([]byte{}, f...), append([]byte{}, val...)})
		})
	}
	switch {
	case !withValues:
		x.w.Array(len(pairs))
	case x.st.resp == 3:
		x.w.Array(len(pairs)) // of [field, value] pairs
	default:
		x.w.Array(2 * len(pairs))
	}
	for _, p := range pairs {
		if withValues && x.st.resp == 3 {
			x.w.Array(2)
		}
		x.w.Bulk(p[0])
		if withValues {
			x.w.Bulk(p[1])
		}
	}
}

// collScanSmall is the size up to which HSCAN and SSCAN return the whole
// collection at once with cursor 0, whatever the cursor and COUNT, as
// Redis does for a small one (hash-max-listpack-entries and
// set-max-intset-entries are 512).
const collScanSmall = 512

// collScan serves HSCAN (pairs) and SSCAN: the cursor is checked first,
// then the key (a missing one answers an empty page even with bad
// options), then the options, as in Redis.
func collScan(x *execCtx, r *storage.Reader, args [][]byte, t storage.Type) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		x.w.Error(errInvalidCursor)
		return
	}
	v, exists, goOn := x.typedValue(r, args[1], t)
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
	if v.Len() <= collScanSmall {
		cursor, count = 0, int(v.Len())
	}
	var out [][]byte
	keep := func(elem, val []byte) {
		if pattern == nil || globMatch(pattern, elem) {
			out = append(out, append([]byte{}, elem...))
			if t == storage.TypeHash {
				out = append(out, append([]byte{}, val...))
			}
		}
	}
	var next uint64
	if t == storage.TypeHash {
		next = r.HScan(v, cursor, count, keep)
	} else {
		next = r.SScan(v, cursor, count, func(m []byte) { keep(m, nil) })
	}
	writeScanPage(x.w, next, out)
}

func cmdHScan(x *execCtx, r *storage.Reader, args [][]byte) { collScan(x, r, args, storage.TypeHash) }
