package storage

import (
	"bytes"
	"strconv"
)

// The hash family: one element record per field (kindElem: field → value).
const (
	// OpHSet sets the fields Vals[0], Vals[2], ... of Keys[0] to Vals[1],
	// Vals[3], ...; result: the number of fields added. Flags NX (HSETNX,
	// one pair): set only a new field; result 1 or 0.
	OpHSet Op = opHashBase + iota
	// OpHDel deletes the fields Vals of Keys[0]; result: how many existed.
	OpHDel
	// OpHIncrBy adds Int to the integer in field Vals[0] of Keys[0].
	OpHIncrBy
	// OpHIncrByFloat adds the float Vals[1] to field Vals[0] of Keys[0];
	// result: the new value (bulk).
	OpHIncrByFloat
	opHashEnd
)

var hashOpNames = [...]string{"HSET", "HDEL", "HINCRBY", "HINCRBYFLOAT"}

func hashOpName(o Op) string {
	if o >= opHashBase && o < opHashEnd {
		return hashOpNames[o-opHashBase]
	}
	return ""
}

func hashShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	if nk != 1 || !elemsFit(c.Vals, hashFieldStep(c.Op)) {
		return false
	}
	switch c.Op {
	case OpHSet:
		return nv >= 2 && nv%2 == 0 && (c.Flags&FlagNX == 0 || nv == 2)
	case OpHDel:
		return nv >= 1
	case OpHIncrBy:
		return nv == 1
	case OpHIncrByFloat:
		return nv == 2
	}
	return false
}

// hashFieldStep says which Vals are fields: every one (HDEL), or every
// other one starting at 0.
func hashFieldStep(o Op) int {
	if o == OpHDel {
		return 1
	}
	return 2
}

// elemsFit reports whether Vals[0], Vals[step], ... fit in element keys.
func elemsFit(vals [][]byte, step int) bool {
	for i := 0; i < len(vals); i += step {
		if len(vals[i]) > MaxKeyLen {
			return false
		}
	}
	return true
}

var (
	errHashNotInteger = CmdError("ERR hash value is not an integer")
	errHashNotFloat   = CmdError("ERR hash value is not a float")
)

func (a *applier) hashCmd(c *Cmd) Result {
	h, err := a.collection(c.DB, c.Keys[0], TypeHash)
	if err != nil {
		return errResult(err)
	}
	switch c.Op {
	case OpHSet:
		return a.hset(&h, c)
	case OpHDel:
		var n int64
		for _, f := range c.Vals {
			if _, ok := a.elem(h.meta.oid, kindElem, f); h.exists && ok {
				a.delElem(h.meta.oid, kindElem, f)
				h.meta.count--
				n++
			}
		}
		if n > 0 {
			a.saveNotify(&h, TypeHash, ClassHash, "hdel")
		}
		return intResult(n)
	case OpHIncrBy:
		return a.hincrBy(&h, c)
	case OpHIncrByFloat:
		return a.hincrByFloat(&h, c)
	}
	return errResult(ErrBadEntry)
}

func (a *applier) hset(h *coll, c *Cmd) Result {
	a.ensure(h)
	var added int64
	for i := 0; i < len(c.Vals); i += 2 {
		_, exists := a.elem(h.meta.oid, kindElem, c.Vals[i])
		if exists && c.Flags&FlagNX != 0 {
			return intResult(0)
		}
		a.setElem(h.meta.oid, kindElem, c.Vals[i], c.Vals[i+1])
		if !exists {
			h.meta.count++
			added++
		}
	}
	if added > 0 || !h.exists {
		a.saveColl(h, TypeHash)
	}
	a.notify(ClassHash, "hset", c.DB, c.Keys[0]) // even if no value changed, as Redis
	return intResult(added)
}

func (a *applier) hincrBy(h *coll, c *Cmd) Result {
	a.ensure(h)
	field := c.Vals[0]
	var cur int64
	old, exists := a.elem(h.meta.oid, kindElem, field)
	if exists {
		v, ok := ParseInt(old)
		if !ok {
			return errResult(errHashNotInteger)
		}
		cur = v
	}
	cur, ok := addInt64(cur, c.Int)
	if !ok {
		return errResult(ErrOverflow)
	}
	a.setElem(h.meta.oid, kindElem, field, strconv.AppendInt(nil, cur, 10))
	if !exists {
		h.meta.count++
		a.saveColl(h, TypeHash)
	}
	a.notify(ClassHash, "hincrby", c.DB, c.Keys[0])
	return intResult(cur)
}

func (a *applier) hincrByFloat(h *coll, c *Cmd) Result {
	a.ensure(h)
	field := c.Vals[0]
	incr, ok := ParseFloat(c.Vals[1])
	if !ok {
		return errResult(ErrNotFloat)
	}
	old, exists := a.elem(h.meta.oid, kindElem, field)
	cur, _ := ParseFloat([]byte("0"))
	if exists {
		if cur, ok = ParseFloat(old); !ok {
			return errResult(errHashNotFloat)
		}
	}
	sum, ok := addFloat(cur, incr)
	if !ok {
		return errResult(ErrNaN)
	}
	out := []byte(FormatFloat(sum))
	a.setElem(h.meta.oid, kindElem, field, out)
	if !exists {
		h.meta.count++
		a.saveColl(h, TypeHash)
	}
	a.notify(ClassHash, "hincrbyfloat", c.DB, c.Keys[0])
	return bulkResult(out)
}

// HGet returns the value of field in hash v.
func (r *Reader) HGet(v Value, field []byte) ([]byte, bool) {
	return r.elem(v, kindElem, field)
}

// HRange calls fn for the fields of hash v in field order, starting at
// from (inclusive; nil: the first), until fn returns false. The slices are
// valid only during the call.
func (r *Reader) HRange(v Value, from []byte, fn func(field, val []byte) bool) {
	r.rangeElems(v, kindElem, from, false, fn)
}

// HScan visits fields of hash v in field order from cursor (0: the
// first) and returns the cursor to continue from (0: done); see scanSpan.
func (r *Reader) HScan(v Value, cursor uint64, count int, fn func(field, val []byte)) uint64 {
	return scanSpan(r.elemSpan(v, kindElem), cursor, count, fn)
}

// scanSpan visits the elements of sp in order, starting at cursor (0:
// the first), calling fn for each, and returns the cursor to continue
// from (0: done). Cursors are below 2^53 (MaxCursor), so JavaScript
// clients read them exactly.
//
// A cursor names the next element F without holding it: it names an
// anchor, the first element at or after a key R of j <= 2 bytes (F's
// first bytes; j = 0: the collection's first element), the length L of
// the prefix F shares with the anchor, and the next few bytes b of F.
// The scan resumes at anchor[:L] ‖ b. Of the three anchors the page takes
// the one whose key reaches furthest into F, so elements that share a
// long prefix (session:…) are told apart by their differing bytes even
// when an outlier (a field "created") sorts first.
//
// A page examines about count elements but never stops between two that
// share anchor[:L] ‖ b, so if nothing changed the next page starts exactly
// at the first element this one did not examine: an element present for
// the whole scan is returned exactly once. If elements came or went, an
// element F still present is never missed: the new anchor is at most F
// (it is the first element at or after a prefix of F), so the resume key
// is at most F (when the anchor no longer shares F's first L bytes the
// scan resumes from the anchor itself). Elements may then come twice.
func scanSpan(sp elemSpan, cursor uint64, count int, fn func(elem, val []byte)) uint64 {
	var from []byte
	if cursor != 0 {
		c, ok := decodeSpanCursor(cursor)
		if !ok {
			return 0
		}
		anchor, _, ok := sp.seek(c.r)
		if !ok {
			return 0
		}
		if len(anchor) < c.l || !bytes.HasPrefix(anchor, c.r) {
			from = bytes.Clone(anchor)
		} else {
			from = append(bytes.Clone(anchor[:c.l]), c.b...)
		}
	}
	first, _, ok := sp.seek(nil)
	if !ok {
		return 0
	}
	first = bytes.Clone(first)
	count = max(count, 1)
	seen := 0
	var prev []byte
	for e, val, ok := sp.seek(from); ok; e, val, ok = sp.next(e) {
		if seen >= count {
			c := spanCursorFor(sp, first, e)
			if !bytes.HasPrefix(prev, e[:c.l+len(c.b)]) {
				return c.encode()
			}
		}
		seen++
		prev = e
		fn(e, val)
	}
	return 0
}

// spanCursor is a decoded scanSpan cursor: resume at
// seek(r)[:l] ‖ b.
type spanCursor struct {
	r []byte // the anchor's key: 0 to 2 bytes
	l int
	b []byte
}

// The cursor's fields by anchor key length j (bits 51-52): the key (8j
// bits), l - j, the length of b, b. Each layout fits in 51 bits.
var spanLayouts = [3]struct{ lBits, nBits, bBytes int }{
	{15, 3, 4}, // j = 0: the first element
	{15, 2, 3},
	{9, 2, 3},
}

// spanCursorFor picks the cursor for element e: the anchor sharing the
// longest prefix with it (counting the bytes of e the cursor can add).
func spanCursorFor(sp elemSpan, first, e []byte) spanCursor {
	var best spanCursor
	bestReach := -1
	for j := 0; j <= 2 && j <= len(e); j++ {
		anchor := first
		if j > 0 {
			a, _, ok := sp.seek(e[:j])
			if !ok {
				continue
			}
			anchor = a
		}
		lay := spanLayouts[j]
		l := min(commonPrefixLen(anchor, e), j+(1<<lay.lBits-1))
		l = max(l, j) // anchor starts with e[:j]
		n := min(len(e)-l, lay.bBytes)
		if l+n > bestReach {
			bestReach = l + n
			best = spanCursor{r: e[:j], l: l, b: e[l : l+n]}
		}
	}
	return best
}

func (c spanCursor) encode() uint64 {
	j := len(c.r)
	lay := spanLayouts[j]
	v := uint64(j)
	for _, x := range c.r {
		v = v<<8 | uint64(x)
	}
	v = v<<lay.lBits | uint64(c.l-j)
	v = v<<lay.nBits | uint64(len(c.b))
	for i := range lay.bBytes {
		var x byte
		if i < len(c.b) {
			x = c.b[i]
		}
		v = v<<8 | uint64(x)
	}
	// Left-align the fields under j, which takes bits 51-52.
	used := 2 + 8*j + lay.lBits + lay.nBits + 8*lay.bBytes
	return v << (53 - used)
}

func decodeSpanCursor(v uint64) (spanCursor, bool) {
	if v >= MaxCursor {
		return spanCursor{}, false
	}
	j := int(v >> 51)
	if j > 2 {
		return spanCursor{}, false
	}
	lay := spanLayouts[j]
	used := 2 + 8*j + lay.lBits + lay.nBits + 8*lay.bBytes
	bits := v & (1<<51 - 1) >> (53 - used) // the fields under j, right-aligned
	rest := used - 2
	get := func(n int) uint64 { // the next field, from the top down
		rest -= n
		return bits >> rest & (1<<n - 1)
	}
	var c spanCursor
	for range j {
		c.r = append(c.r, byte(get(8)))
	}
	c.l = j + int(get(lay.lBits))
	n := int(get(lay.nBits))
	if n > lay.bBytes {
		return spanCursor{}, false
	}
	for i := range lay.bBytes {
		if x := byte(get(8)); i < n {
			c.b = append(c.b, x)
		}
	}
	return c, true
}

func commonPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// HRandom calls fn for random fields of hash v: with unique, min(count,
// size) distinct fields, else count fields that may repeat (the caller
// bounds count). The slices are valid only during the call.
func (r *Reader) HRandom(v Value, count int64, unique bool, rng Random, fn func(field, val []byte)) {
	sampleElems(r.elemSpan(v, kindElem), v.Len(), count, unique, rng, fn)
}
