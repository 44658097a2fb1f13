package storage

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
)

// The list family. A list's header (collMeta) holds head, the position of
// its first element, and count; its elements are the records
//
//	kindElem: position (8 bytes, sortable) → element
//
// at the positions head, head+1, ..., head+count-1, always contiguous.
// A position is stored as uint64(pos) ^ 1<<63, big-endian, so that
// negative positions sort before positive ones. LPUSH writes at head-1,
// RPUSH at head+count, so the ends, LINDEX and LSET cost O(log n); LRANGE
// seeks once and iterates. LREM and LINSERT keep positions contiguous by
// shifting the elements of one side of the change, the smaller one, so
// they are O(n) in the worst case (an element in the middle), as in Redis.
const (
	// OpLPush pushes Vals, in order, onto the head of list Keys[0] (so the
	// last ends up first). Flags XX (LPUSHX): only onto an existing list.
	// Result: the new length (0 for XX on a missing key).
	OpLPush Op = opListBase + iota
	// OpRPush is OpLPush at the tail (RPUSH, RPUSHX).
	OpRPush
	// OpLPop pops from the head of Keys[0]. Int < 0: one element, result
	// the element or nil. Int >= 0 (a count was given): up to Int
	// elements, result an array, or a null array when the key is missing.
	OpLPop
	// OpRPop is OpLPop at the tail.
	OpRPop
	// OpBLPop pops one element from the head of the first of Keys that
	// holds a list (BLPOP when it is served). A key of another type met
	// before it is WRONGTYPE. Result: [key, element], or a null array when
	// no key holds a list.
	OpBLPop
	// OpBRPop is OpBLPop at the tail (BRPOP).
	OpBRPop
	// OpLMove pops an element from Keys[0] and pushes it onto Keys[1]
	// (LMOVE, RPOPLPUSH, BLMOVE when served); the same key rotates the
	// list. Int bit 0: pop from the tail (RIGHT); bit 1: push at the tail.
	// Result: the element, or nil when Keys[0] is missing.
	OpLMove
	// OpLSet sets the element at index Int of Keys[0] to Vals[0]. Limit 1
	// says the client's index was not an integer: Redis reports that
	// only after "no such key" and WRONGTYPE, which need the state.
	OpLSet
	// OpLRem removes elements equal to Vals[0] from Keys[0]: the first Int
	// from the head (Int > 0), the last -Int from the tail (Int < 0), or
	// all (Int 0). Result: how many it removed.
	OpLRem
	// OpLTrim keeps only the elements Int..Limit (Redis indexes, negative
	// from the end) of Keys[0]. Result: OK.
	OpLTrim
	// OpLInsert inserts Vals[1] before (Int 0) or after (Int 1) the first
	// element equal to Vals[0] in Keys[0]. Result: the new length, -1
	// when the pivot is not found, 0 when the key is missing.
	OpLInsert
	opListEnd
)

// LMOVE's directions, in OpLMove's Int.
const (
	LMoveFromRight = 1
	LMoveToRight   = 2
)

var listOpNames = [...]string{"LPUSH", "RPUSH", "LPOP", "RPOP", "BLPOP", "BRPOP", "LMOVE", "LSET", "LREM", "LTRIM", "LINSERT"}

func listOpName(o Op) string {
	if o >= opListBase && o < opListEnd {
		return listOpNames[o-opListBase]
	}
	return ""
}

func listShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	switch c.Op {
	case OpLPush, OpRPush:
		return nk == 1 && nv >= 1
	case OpLPop, OpRPop, OpLTrim:
		return nk == 1 && nv == 0
	case OpBLPop, OpBRPop:
		return nk >= 1 && nv == 0
	case OpLMove:
		return nk == 2 && nv == 0 && c.Int >= 0 && c.Int <= 3
	case OpLSet, OpLRem:
		return nk == 1 && nv == 1
	case OpLInsert:
		return nk == 1 && nv == 2 && (c.Int == 0 || c.Int == 1)
	}
	return false
}

var (
	errListIndex     = CmdError("ERR index out of range")
	errListNoSuchKey = CmdError("ERR no such key")
	// errListFull is keepkv's own: the positions of a list are 64-bit, and
	// a list pushed at one end and popped at the other moves through them;
	// after about 9.2e18 pushes the end is reached.
	errListFull = CmdError("ERR list positions exhausted at this end; recreate the list")
)

// posKey encodes a list position as a sortable element key.
func posKey(pos int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(pos)^1<<63)
}

// keyPos decodes posKey.
func keyPos(k []byte) int64 {
	if len(k) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k) ^ 1<<63)
}

func (a *applier) listCmd(c *Cmd) Result {
	switch c.Op {
	case OpBLPop, OpBRPop:
		return a.bpop(c)
	case OpLMove:
		return a.lmove(c)
	}
	l, err := a.collection(c.DB, c.Keys[0], TypeList)
	if err != nil {
		return errResult(err)
	}
	switch c.Op {
	case OpLPush, OpRPush:
		if c.Flags&FlagXX != 0 && !l.exists {
			return intResult(0)
		}
		a.ensure(&l)
		if err := a.push(&l, c.Vals, c.Op == OpLPush); err != nil {
			return errResult(err)
		}
		a.saveColl(&l, TypeList)
		a.notify(ClassList, pushEvent(c.Op == OpLPush), c.DB, c.Keys[0])
		a.ready(c.DB, c.Keys[0])
		return intResult(l.meta.count)
	case OpLPop, OpRPop:
		return a.pop(&l, c)
	case OpLSet:
		return a.lset(&l, c)
	case OpLRem:
		return a.lrem(&l, c)
	case OpLTrim:
		return a.ltrim(&l, c)
	case OpLInsert:
		return a.linsert(&l, c)
	}
	return errResult(ErrBadEntry)
}

func pushEvent(head bool) string {
	if head {
		return "lpush"
	}
	return "rpush"
}

func popEvent(head bool) string {
	if head {
		return "lpop"
	}
	return "rpop"
}

// push adds vals at the head (each in turn, as LPUSH does) or the tail.
func (a *applier) push(l *coll, vals [][]byte, head bool) error {
	n := int64(len(vals)) // head+count < MaxInt64 always (listRoom)
	if head && l.meta.head < math.MinInt64+n ||
		!head && l.meta.head+l.meta.count > math.MaxInt64-n {
		return errListFull
	}
	for _, v := range vals {
		if head {
			l.meta.head--
			a.setElem(l.meta.oid, kindElem, posKey(l.meta.head), v)
		} else {
			a.setElem(l.meta.oid, kindElem, posKey(l.meta.head+l.meta.count), v)
		}
		l.meta.count++
	}
	return nil
}

// collect returns up to n elements (positions and values) of list l,
// starting at position from and going towards the tail, or with reverse
// towards the head.
func (a *applier) collect(l *coll, from, n int64, reverse bool) (pos []int64, vals [][]byte) {
	if n <= 0 {
		return nil, nil
	}
	a.rangeElems(l.meta.oid, kindElem, posKey(from), reverse, func(k, v []byte) bool {
		pos = append(pos, keyPos(k))
		vals = append(vals, bytes.Clone(v))
		return int64(len(vals)) < n
	})
	return pos, vals
}

// popEnd removes and returns up to n elements from the head or the tail
// of l (from the end inwards); the caller saves l.
func (a *applier) popEnd(l *coll, n int64, head bool) [][]byte {
	n = min(n, l.meta.count)
	from := l.meta.head
	if !head {
		from = l.meta.head + l.meta.count - 1
	}
	pos, vals := a.collect(l, from, n, !head)
	for _, p := range pos {
		a.delElem(l.meta.oid, kindElem, posKey(p))
	}
	k := int64(len(vals))
	if head {
		l.meta.head += k
	}
	l.meta.count -= k
	return vals
}

func (a *applier) pop(l *coll, c *Cmd) Result {
	countForm := c.Int >= 0
	if !l.exists {
		if countForm {
			return nullArrayResult()
		}
		return nilResult()
	}
	n := int64(1)
	if countForm {
		n = c.Int
	}
	vals := a.popEnd(l, n, c.Op == OpLPop)
	if len(vals) > 0 {
		a.saveNotify(l, TypeList, ClassList, popEvent(c.Op == OpLPop))
	}
	if !countForm {
		return bulkResult(vals[0]) // an existing list has an element
	}
	out := make([]Result, len(vals))
	for i, v := range vals {
		out[i] = Result{Kind: ResultBulk, Bytes: v}
	}
	return arrayResult(out)
}

func (a *applier) bpop(c *Cmd) Result {
	for _, key := range c.Keys {
		l, err := a.collection(c.DB, key, TypeList)
		if err != nil {
			return errResult(err)
		}
		if !l.exists {
			continue
		}
		vals := a.popEnd(&l, 1, c.Op == OpBLPop)
		a.saveNotify(&l, TypeList, ClassList, popEvent(c.Op == OpBLPop))
		return arrayResult([]Result{bulkResult(key), {Kind: ResultBulk, Bytes: vals[0]}})
	}
	return nullArrayResult()
}

func (a *applier) lmove(c *Cmd) Result {
	src, err := a.collection(c.DB, c.Keys[0], TypeList)
	if err != nil {
		return errResult(err)
	}
	if !src.exists {
		return nilResult()
	}
	fromHead, toHead := c.Int&LMoveFromRight == 0, c.Int&LMoveToRight == 0
	if bytes.Equal(c.Keys[0], c.Keys[1]) {
		// Rotation: one list, saved once (it never becomes empty). Room
		// is checked before the pop, so that a refusal changes nothing.
		if !listRoom(src.meta, toHead) {
			return errResult(errListFull)
		}
		vals := a.popEnd(&src, 1, fromHead)
		_ = a.push(&src, vals, toHead)
		a.saveColl(&src, TypeList)
		a.notify(ClassList, pushEvent(toHead), c.DB, c.Keys[1])
		a.notify(ClassList, popEvent(fromHead), c.DB, c.Keys[0])
		a.ready(c.DB, c.Keys[1])
		return bulkResult(vals[0])
	}
	dst, err := a.collection(c.DB, c.Keys[1], TypeList)
	if err != nil {
		return errResult(err)
	}
	a.ensure(&dst)
	if !listRoom(dst.meta, toHead) { // before the pop: a refusal changes nothing
		return errResult(errListFull)
	}
	// Redis reports the push (after "new" for a new destination), then
	// the pop, then "del" if the source is left empty.
	vals := a.popEnd(&src, 1, fromHead)
	_ = a.push(&dst, vals, toHead)
	a.saveColl(&dst, TypeList)
	a.notify(ClassList, pushEvent(toHead), c.DB, c.Keys[1])
	a.saveNotify(&src, TypeList, ClassList, popEvent(fromHead))
	a.ready(c.DB, c.Keys[1])
	return bulkResult(vals[0])
}

// listRoom reports whether one more element fits at the head or the tail
// of a list: its positions stay within int64, and so does head+count.
func listRoom(m collMeta, head bool) bool {
	if head {
		return m.head > math.MinInt64
	}
	return m.head+m.count < math.MaxInt64
}

// listIndex turns a Redis index (negative: from the end) into a position
// of l, or false when it is out of range.
func listIndex(m collMeta, index int64) (int64, bool) {
	if index < 0 {
		if index < -m.count { // -m.count cannot overflow: count >= 0
			return 0, false
		}
		index += m.count
	}
	if index >= m.count {
		return 0, false
	}
	return m.head + index, true
}

func (a *applier) lset(l *coll, c *Cmd) Result {
	switch {
	case !l.exists:
		return errResult(errListNoSuchKey)
	case c.Limit == 1:
		return errResult(ErrNotInteger)
	}
	pos, ok := listIndex(l.meta, c.Int)
	if !ok {
		return errResult(errListIndex)
	}
	a.setElem(l.meta.oid, kindElem, posKey(pos), c.Vals[0])
	a.notify(ClassList, "lset", c.DB, c.Keys[0])
	return okResult()
}

// lrem finds the elements to remove, then closes the gaps they leave by
// shifting the survivors of one side: those between the head and the last
// removed element towards the tail, or those between the first removed
// element and the tail towards the head, whichever are fewer. Finding is
// O(n) when the list holds few matches; shifting is O(distance).
func (a *applier) lrem(l *coll, c *Cmd) Result {
	if !l.exists {
		return intResult(0)
	}
	limit := l.meta.count // Int 0, and Int MinInt64 whose negation overflows
	if c.Int > 0 {
		limit = min(c.Int, limit)
	} else if c.Int < 0 && c.Int != math.MinInt64 {
		limit = min(-c.Int, limit)
	}
	fromTail := c.Int < 0
	var matched []int64
	start := l.meta.head
	if fromTail {
		start = l.meta.head + l.meta.count - 1
	}
	a.rangeElems(l.meta.oid, kindElem, posKey(start), fromTail, func(k, v []byte) bool {
		if bytes.Equal(v, c.Vals[0]) {
			matched = append(matched, keyPos(k))
		}
		return int64(len(matched)) < limit
	})
	k := int64(len(matched))
	if k == 0 {
		return intResult(0)
	}
	if k == l.meta.count {
		a.del(&l.slot) // every element goes: release them as DEL does
		a.notify(ClassList, "lrem", c.DB, c.Keys[0])
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
		return intResult(k)
	}
	slices.Sort(matched)
	first, last := matched[0], matched[k-1]
	tail := l.meta.head + l.meta.count - 1
	gone := make(map[int64]bool, k)
	for _, p := range matched {
		gone[p] = true
	}
	if last-l.meta.head <= tail-first {
		// Shift [head, last] towards the tail by the gaps after each.
		pos, vals := a.collect(l, l.meta.head, last-l.meta.head+1, false)
		to := last
		for i := len(pos) - 1; i >= 0; i-- {
			if gone[pos[i]] {
				continue
			}
			if pos[i] != to {
				a.setElem(l.meta.oid, kindElem, posKey(to), vals[i])
			}
			to--
		}
		for p := l.meta.head; p < l.meta.head+k; p++ {
			a.delElem(l.meta.oid, kindElem, posKey(p))
		}
		l.meta.head += k
	} else {
		// Shift [first, tail] towards the head.
		pos, vals := a.collect(l, first, tail-first+1, false)
		to := first
		for i := range pos {
			if gone[pos[i]] {
				continue
			}
			if pos[i] != to {
				a.setElem(l.meta.oid, kindElem, posKey(to), vals[i])
			}
			to++
		}
		for p := tail - k + 1; p <= tail; p++ {
			a.delElem(l.meta.oid, kindElem, posKey(p))
		}
	}
	l.meta.count -= k
	a.saveColl(l, TypeList)
	a.notify(ClassList, "lrem", c.DB, c.Keys[0])
	return intResult(k)
}

// ListSpan turns a Redis range start..stop (negative: from the end) over a
// list of length n into the first index and how many elements it covers,
// as LRANGE and LTRIM read it. It never overflows.
func ListSpan(n, start, stop int64) (from, count int64) {
	if start < 0 {
		start = max(n+start, 0) // n >= 0: n+start cannot overflow
	}
	if stop < 0 {
		stop = n + stop
	}
	if start > stop || start >= n {
		return 0, 0
	}
	stop = min(stop, n-1)
	return start, stop - start + 1
}

func (a *applier) ltrim(l *coll, c *Cmd) Result {
	if !l.exists {
		return okResult()
	}
	from, n := ListSpan(l.meta.count, c.Int, c.Limit)
	if n == 0 {
		a.del(&l.slot) // everything goes: release as DEL does
		a.notify(ClassList, "ltrim", c.DB, c.Keys[0])
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
		return okResult()
	}
	for p := l.meta.head; p < l.meta.head+from; p++ {
		a.delElem(l.meta.oid, kindElem, posKey(p))
	}
	for p := l.meta.head + from + n; p < l.meta.head+l.meta.count; p++ {
		a.delElem(l.meta.oid, kindElem, posKey(p))
	}
	l.meta.head += from
	l.meta.count = n
	a.saveColl(l, TypeList)
	a.notify(ClassList, "ltrim", c.DB, c.Keys[0]) // even if it kept everything, as Redis
	return okResult()
}

// linsert finds the pivot from the head (O(position)), then makes room by
// shifting the elements on the shorter side of the insertion point by one.
func (a *applier) linsert(l *coll, c *Cmd) Result {
	if !l.exists {
		return intResult(0)
	}
	pivot := int64(0)
	found := false
	a.rangeElems(l.meta.oid, kindElem, posKey(l.meta.head), false, func(k, v []byte) bool {
		if bytes.Equal(v, c.Vals[0]) {
			pivot, found = keyPos(k), true
		}
		return !found
	})
	if !found {
		return intResult(-1)
	}
	at := pivot + c.Int // the new element goes just before position at
	tail := l.meta.head + l.meta.count - 1
	if at-l.meta.head <= tail-at+1 {
		// Shift [head, at-1] one towards the head.
		if !listRoom(l.meta, true) {
			return errResult(errListFull)
		}
		pos, vals := a.collect(l, l.meta.head, at-l.meta.head, false)
		for i := range pos {
			a.setElem(l.meta.oid, kindElem, posKey(pos[i]-1), vals[i])
		}
		a.setElem(l.meta.oid, kindElem, posKey(at-1), c.Vals[1])
		l.meta.head--
	} else {
		// Shift [at, tail] one towards the tail.
		if !listRoom(l.meta, false) {
			return errResult(errListFull)
		}
		pos, vals := a.collect(l, at, tail-at+1, false)
		for i := range pos {
			a.setElem(l.meta.oid, kindElem, posKey(pos[i]+1), vals[i])
		}
		a.setElem(l.meta.oid, kindElem, posKey(at), c.Vals[1])
	}
	l.meta.count++
	a.saveColl(l, TypeList)
	a.notify(ClassList, "linsert", c.DB, c.Keys[0])
	a.ready(c.DB, c.Keys[0])
	return intResult(l.meta.count)
}

// LIndex returns the element at a Redis index (negative: from the end) of
// list v.
func (r *Reader) LIndex(v Value, index int64) ([]byte, bool) {
	pos, ok := listIndex(v.meta(), index)
	if !ok {
		return nil, false
	}
	return r.elem(v, kindElem, posKey(pos))
}

// LRange calls fn with the elements of list v from index from (0 is the
// head; from must be in range) towards the tail, or with reverse towards
// the head, and each one's index, until fn returns false or the list
// ends. The slices are valid only during the call.
func (r *Reader) LRange(v Value, from int64, reverse bool, fn func(index int64, elem []byte) bool) {
	m := v.meta()
	if from < 0 || from >= m.count {
		return
	}
	r.rangeElems(v, kindElem, posKey(m.head+from), reverse, func(k, val []byte) bool {
		return fn(keyPos(k)-m.head, val)
	})
}
