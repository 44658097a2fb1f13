package storage

import (
	"math"
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
			a.saveColl(&h, TypeHash)
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
	if (c.Int < 0 && cur < 0 && c.Int < math.MinInt64-cur) ||
		(c.Int > 0 && cur > 0 && c.Int > math.MaxInt64-cur) {
		return errResult(ErrOverflow)
	}
	cur += c.Int
	a.setElem(h.meta.oid, kindElem, field, strconv.AppendInt(nil, cur, 10))
	if !exists {
		h.meta.count++
		a.saveColl(h, TypeHash)
	}
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
