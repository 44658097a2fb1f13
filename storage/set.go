package storage

import (
	"bytes"
	"slices"
)

// The set family: one element record per member, as elems.go lays out
// (kindElem: member → empty), so members are in byte order. Random
// choices (SPOP, SRANDMEMBER) seek to random positions in that order
// (see spanPosition) and SSCAN uses the ordered cursors of scanSpan.
const (
	// OpSAdd adds the members Vals to the set Keys[0]; result: how many
	// were new.
	OpSAdd Op = opSetBase + iota
	// OpSRem removes the members Vals from Keys[0]; result: how many
	// existed. A set left empty is deleted.
	OpSRem
	// OpSPop removes and returns random members of Keys[0]. Int is the
	// count, or -1 for the form without a count (result: a bulk, or nil
	// for a missing key); with a count the result is an array. Limit is
	// the leader's random seed: apply picks the members from it and the
	// set alone, so every replica pops the same ones. With FlagQuickPick
	// each pick draws branches by rejection (elemSpan.randomElem).
	OpSPop
	// OpSMove moves the member Vals[0] from the set Keys[0] to the set
	// Keys[1]; result 1 if it was moved (or, when both keys are the same,
	// if it is a member), else 0.
	OpSMove
	// OpSInterStore stores the intersection of the sets Keys[1:] in
	// Keys[0], replacing whatever it held (and its TTL); result: its size.
	// An empty result deletes Keys[0]. Missing keys are empty sets.
	OpSInterStore
	// OpSUnionStore is OpSInterStore with the union.
	OpSUnionStore
	// OpSDiffStore is OpSInterStore with the members of Keys[1] that are
	// in none of Keys[2:].
	OpSDiffStore
	opSetEnd
)

var setOpNames = [...]string{"SADD", "SREM", "SPOP", "SMOVE", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}

func setOpName(o Op) string {
	if o >= opSetBase && o < opSetEnd {
		return setOpNames[o-opSetBase]
	}
	return ""
}

func setShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	if !elemsFit(c.Vals, 1) {
		return false
	}
	switch c.Op {
	case OpSAdd, OpSRem:
		return nk == 1 && nv >= 1
	case OpSPop:
		return nk == 1 && nv == 0
	case OpSMove:
		return nk == 2 && nv == 1
	case OpSInterStore, OpSUnionStore, OpSDiffStore:
		return nk >= 2 && nv == 0
	}
	return false
}

func (a *applier) setCmd(c *Cmd) Result {
	switch c.Op {
	case OpSAdd, OpSRem:
		s, err := a.collection(c.DB, c.Keys[0], TypeSet)
		if err != nil {
			return errResult(err)
		}
		if c.Op == OpSAdd {
			return a.sadd(&s, c.Vals)
		}
		return a.srem(&s, c.Vals)
	case OpSPop:
		return a.spop(c)
	case OpSMove:
		return a.smove(c)
	case OpSInterStore, OpSUnionStore, OpSDiffStore:
		return a.setStore(c)
	}
	return errResult(ErrBadEntry)
}

func (a *applier) sadd(s *coll, members [][]byte) Result {
	a.ensure(s)
	var added int64
	for _, m := range members {
		if _, ok := a.elem(s.meta.oid, kindElem, m); ok {
			continue
		}
		a.setElem(s.meta.oid, kindElem, m, nil)
		s.meta.count++
		added++
	}
	if added > 0 {
		a.saveNotify(s, TypeSet, ClassSet, "sadd")
	}
	return intResult(added)
}

func (a *applier) srem(s *coll, members [][]byte) Result {
	if !s.exists {
		return intResult(0)
	}
	var n int64
	for _, m := range members {
		if _, ok := a.elem(s.meta.oid, kindElem, m); ok {
			a.delElem(s.meta.oid, kindElem, m)
			s.meta.count--
			n++
		}
	}
	if n > 0 {
		a.saveNotify(s, TypeSet, ClassSet, "srem")
	}
	return intResult(n)
}

// Random is a source of random numbers for sampling: *rand.Rand of
// math/rand/v2 for reads, splitMix (seeded by the leader) in apply.
type Random interface {
	Uint64() uint64
	Int64N(n int64) int64 // in [0, n); n > 0
}

// splitMix is apply's random source, SplitMix64: defined here bit for
// bit, so every replica, whatever its Go version, draws the same numbers
// from the same seed (math/rand/v2 does not promise that its Rand methods
// never change).
type splitMix struct{ s uint64 }

func (r *splitMix) Uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Int64N draws uniformly from [0, n) by rejection (n <= 0 yields 0).
func (r *splitMix) Int64N(n int64) int64 {
	if n <= 0 {
		return 0
	}
	bound := uint64(n)
	threshold := -bound % bound // 2^64 mod bound
	for {
		if x := r.Uint64(); x >= threshold {
			return int64(x % bound)
		}
	}
}

func (a *applier) spop(c *Cmd) Result {
	s, err := a.collection(c.DB, c.Keys[0], TypeSet)
	if err != nil {
		return errResult(err)
	}
	single := c.Int < 0
	count := c.Int
	if single {
		count = 1
	}
	if !s.exists || count == 0 {
		if single {
			return nilResult()
		}
		return arrayResult(nil)
	}
	sp := a.elemSpan(s.meta.oid, kindElem)
	sp.quick = c.Flags&FlagQuickPick != 0
	var picked [][]byte // elements
	if count >= s.meta.count {
		// Everything: the set goes, its records released as by DEL.
		sp.each(func(e, _ []byte) bool { picked = append(picked, bytes.Clone(e)); return true })
		a.del(&s.slot)
		a.notify(ClassSet, "spop", c.DB, c.Keys[0])
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
	} else {
		rng := &splitMix{s: uint64(c.Limit)}
		sampleElems(sp, s.meta.count, count, true, rng, func(e, _ []byte) {
			picked = append(picked, bytes.Clone(e))
		})
		for _, e := range picked {
			a.delElem(s.meta.oid, kindElem, e)
		}
		s.meta.count -= int64(len(picked))
		a.saveNotify(&s, TypeSet, ClassSet, "spop")
	}
	if single {
		if len(picked) == 0 {
			return nilResult()
		}
		return bulkResult(picked[0])
	}
	out := make([]Result, len(picked))
	for i, e := range picked {
		out[i] = Result{Kind: ResultBulk, Bytes: e}
	}
	return arrayResult(out)
}

func (a *applier) smove(c *Cmd) Result {
	src, err := a.collection(c.DB, c.Keys[0], TypeSet)
	if !src.exists {
		return intResult(0) // as Redis: before looking at the destination's type
	}
	if err != nil {
		return errResult(err)
	}
	e := c.Vals[0]
	_, member := a.elem(src.meta.oid, kindElem, e)
	if bytes.Equal(c.Keys[0], c.Keys[1]) {
		return setIntBool(member)
	}
	dst, err := a.collection(c.DB, c.Keys[1], TypeSet)
	if err != nil {
		return errResult(err)
	}
	if !member {
		return intResult(0)
	}
	a.delElem(src.meta.oid, kindElem, e)
	src.meta.count--
	a.saveNotify(&src, TypeSet, ClassSet, "srem")
	a.sadd(&dst, [][]byte{c.Vals[0]}) // no event if dst has it already
	return intResult(1)
}

func setIntBool(b bool) Result {
	if b {
		return intResult(1)
	}
	return intResult(0)
}

// SetOp is a set algebra operation.
type SetOp uint8

// The set operations.
const (
	SetInter SetOp = iota + 1
	SetUnion
	SetDiff
)

// setSource is one operand of the set algebra: a set, or a missing key
// (count 0).
type setSource struct {
	count int64
	has   func(e []byte) bool
	each  func(fn func(e []byte) bool)
}

var emptySetSource = setSource{has: func([]byte) bool { return false }, each: func(func([]byte) bool) {}}

// setSourceOf makes an operand of a set collection as a write sees it.
func (a *applier) setSourceOf(s coll) setSource {
	if !s.exists {
		return emptySetSource
	}
	oid := s.meta.oid
	return setSource{
		count: s.meta.count,
		has:   func(e []byte) bool { _, ok := a.elem(oid, kindElem, e); return ok },
		each: func(fn func(e []byte) bool) {
			a.rangeElems(oid, kindElem, nil, false, func(e, _ []byte) bool { return fn(e) })
		},
	}
}

// setSourceOf makes an operand of a set value; a Value that is not a set
// stands for a missing key.
func (r *Reader) setSourceOf(v Value) setSource {
	if v.Type != TypeSet {
		return emptySetSource
	}
	return setSource{
		count: v.Len(),
		has:   func(e []byte) bool { _, ok := r.elem(v, kindElem, e); return ok },
		each: func(fn func(e []byte) bool) {
			r.rangeElems(v, kindElem, nil, false, func(e, _ []byte) bool { return fn(e) })
		},
	}
}

// setAlgebra calls fn for each element of op over srcs, each once, in an
// order that depends only on the operands, until fn returns false. The
// element passed to fn is valid only during the call.
func setAlgebra(op SetOp, srcs []setSource, fn func(e []byte) bool) {
	if len(srcs) == 0 {
		return
	}
	switch op {
	case SetInter:
		// Walk the smallest set, test the others smallest first.
		order := make([]int, len(srcs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(i, j int) int { return setCmpCount(srcs[i].count, srcs[j].count) })
		if srcs[order[0]].count == 0 {
			return
		}
		srcs[order[0]].each(func(e []byte) bool {
			for _, i := range order[1:] {
				if !srcs[i].has(e) {
					return true
				}
			}
			return fn(e)
		})
	case SetUnion:
		seen := map[string]struct{}{}
		stopped := false
		for _, s := range srcs {
			s.each(func(e []byte) bool {
				if _, dup := seen[string(e)]; dup {
					return true
				}
				seen[string(e)] = struct{}{}
				stopped = !fn(e)
				return !stopped
			})
			if stopped {
				return
			}
		}
	case SetDiff:
		srcs[0].each(func(e []byte) bool {
			for _, o := range srcs[1:] {
				if o.count > 0 && o.has(e) {
					return true
				}
			}
			return fn(e)
		})
	}
}

func setCmpCount(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var setStoreOps = map[Op]SetOp{OpSInterStore: SetInter, OpSUnionStore: SetUnion, OpSDiffStore: SetDiff}

var setStoreEvents = map[Op]string{OpSInterStore: "sinterstore", OpSUnionStore: "sunionstore", OpSDiffStore: "sdiffstore"}

// setStore computes the result in full before it touches the destination,
// which may be one of the operands. A result replaces the destination,
// whatever it held, in place (Redis's setKey: no "new" event for a key
// that existed); an empty result deletes it.
func (a *applier) setStore(c *Cmd) Result {
	srcs := make([]setSource, 0, len(c.Keys)-1)
	for _, k := range c.Keys[1:] {
		s, err := a.collection(c.DB, k, TypeSet)
		if err != nil {
			return errResult(err)
		}
		srcs = append(srcs, a.setSourceOf(s))
	}
	var elems [][]byte
	setAlgebra(setStoreOps[c.Op], srcs, func(e []byte) bool {
		elems = append(elems, bytes.Clone(e))
		return true
	})
	dst := a.lookup(c.DB, c.Keys[0])
	if len(elems) == 0 {
		if dst.exists {
			a.del(&dst)
			a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
		}
		return intResult(0)
	}
	m := collMeta{oid: a.newOID(), count: int64(len(elems))}
	for _, e := range elems {
		a.setElem(m.oid, kindElem, e, nil)
	}
	// store releases what dst held; its TTL goes too, as in Redis.
	a.store(&dst, TypeSet, m.encode(), 0)
	a.notify(ClassSet, setStoreEvents[c.Op], c.DB, c.Keys[0])
	return intResult(m.count)
}

// SIsMember reports whether m is a member of the set v.
func (r *Reader) SIsMember(v Value, m []byte) bool {
	if len(m) > MaxKeyLen {
		return false
	}
	_, ok := r.elem(v, kindElem, m)
	return ok
}

// SRange calls fn for each member of the set v, in order, until fn
// returns false. The slice is valid only during the call.
func (r *Reader) SRange(v Value, fn func(member []byte) bool) {
	r.rangeElems(v, kindElem, nil, false, func(e, _ []byte) bool { return fn(e) })
}

// SetAlgebra calls fn for each member of the intersection, union or
// difference (the first set minus the others) of sets, until fn returns
// false. An element of sets that is not a set (the zero Value) stands for
// a missing key, an empty set: the caller checks the types first. The
// slice is valid only during the call.
func (r *Reader) SetAlgebra(op SetOp, sets []Value, fn func(member []byte) bool) {
	srcs := make([]setSource, len(sets))
	for i, v := range sets {
		srcs[i] = r.setSourceOf(v)
	}
	setAlgebra(op, srcs, fn)
}

// SScan visits members of the set v in order from cursor (0: the first)
// and returns the cursor to continue from (0: done); see scanSpan.
func (r *Reader) SScan(v Value, cursor uint64, count int, fn func(member []byte)) uint64 {
	return scanSpan(r.elemSpan(v, kindElem), cursor, count, func(m, _ []byte) { fn(m) })
}

// SRandom calls fn for random members of the set v: with unique,
// min(count, size) distinct members, else count members that may repeat
// (the caller bounds count). The slice is valid only during the call.
func (r *Reader) SRandom(v Value, count int64, unique bool, rng Random, fn func(member []byte)) {
	sampleElems(r.elemSpan(v, kindElem), v.Len(), count, unique, rng, func(m, _ []byte) { fn(m) })
}

// elemSpan is the element records of one kind of one collection, for
// positioned reads: a seek costs O(log n) whatever the collection's size
// and wherever its records are (memory layers or disk).
type elemSpan struct {
	layers []*memLayer
	bv     *boltView
	prefix []byte // oid ‖ kind
	end    []byte
	// quick makes randomElem try branches by rejection first (see
	// there); the picks differ, so only a Cmd that asks for it gets it.
	quick bool
}

func newElemSpan(layers []*memLayer, bv *boltView, oid uint64, kind byte) elemSpan {
	p := elemPrefix(oid, kind)
	return elemSpan{layers: layers, bv: bv, prefix: p, end: prefixEnd(p)}
}

func (a *applier) elemSpan(oid uint64, kind byte) elemSpan {
	return newElemSpan(a.layers, &a.bv, oid, kind)
}

func (r *Reader) elemSpan(v Value, kind byte) elemSpan {
	return newElemSpan(r.layers, &r.bv, v.meta().oid, kind)
}

// seek returns the first element at or after from (nil: the first).
func (s elemSpan) seek(from []byte) (elem, val []byte, ok bool) {
	lo := s.prefix
	if from != nil {
		lo = append(s.prefix[:len(s.prefix):len(s.prefix)], from...)
	}
	k, v, ok := seekLiveElem(s.layers, s.bv, lo, s.end)
	if !ok {
		return nil, nil, false
	}
	return k[len(s.prefix):], v, true
}

// next returns the element after elem.
func (s elemSpan) next(elem []byte) ([]byte, []byte, bool) {
	from := make([]byte, len(elem)+1)
	copy(from, elem)
	return s.seek(from)
}

// last returns the last element.
func (s elemSpan) last() (elem, val []byte, ok bool) {
	k, v, ok := lastLiveElem(s.layers, s.bv, s.prefix, s.end)
	if !ok {
		return nil, nil, false
	}
	return k[len(s.prefix):], v, true
}

// each calls fn for every element in order until it returns false; fn may
// not write.
func (s elemSpan) each(fn func(elem, val []byte) bool) {
	rangeElems(s.layers, s.bv, s.prefix, nil, false, func(k, v []byte) bool { return fn(k[len(s.prefix):], v) })
}

// seekLiveElem returns the first live element record with lo <= key < hi
// (hi nil: unbounded). Unlike rangeElems it does not gather the memory
// layers' records of the whole range first: each step is one seek per
// layer and one on disk, so it costs O(log n) plus one step per deleted
// record it passes.
func seekLiveElem(layers []*memLayer, bv *boltView, lo, hi []byte) ([]byte, []byte, bool) {
	c := bv.elems().Cursor()
	for {
		var best, diskV []byte // diskV: best's value, if best is from disk
		disk := false
		if k, v := c.Seek(lo); k != nil && (hi == nil || bytes.Compare(k, hi) < 0) {
			best, diskV, disk = k, v, true
		}
		for _, l := range layers {
			if l.elems.Len() == 0 {
				continue
			}
			l.elems.AscendGreaterOrEqual(elemItem{key: string(lo)}, func(it elemItem) bool {
				if (hi == nil || it.key < string(hi)) && (best == nil || it.key < string(best)) {
					best, disk = []byte(it.key), false
				}
				return false
			})
		}
		if best == nil {
			return nil, nil, false
		}
		v, live, found := layerElem(layers, best)
		if !found && disk {
			return best, diskV, true // no layer shadows the disk's record
		}
		if live {
			return best, v, true
		}
		next := make([]byte, len(best)+1) // the smallest key after best
		copy(next, best)
		lo = next
	}
}

// lastLiveElem returns the last live element record with lo <= key < hi
// (hi nil: unbounded), as seekLiveElem in reverse.
func lastLiveElem(layers []*memLayer, bv *boltView, lo, hi []byte) ([]byte, []byte, bool) {
	c := bv.elems().Cursor()
	for {
		var k, kv []byte
		switch {
		case hi == nil:
			k, kv = c.Last()
		default:
			if k, _ = c.Seek(hi); k == nil {
				k, kv = c.Last()
			} else {
				k, kv = c.Prev()
			}
		}
		var best, diskV []byte // diskV: best's value, if best is from disk
		disk := false
		if k != nil && bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0) {
			best, diskV, disk = k, kv, true
		}
		consider := func(it elemItem) bool {
			if hi != nil && it.key >= string(hi) {
				return true // the pivot itself: go on to the one below
			}
			if it.key >= string(lo) && (best == nil || it.key > string(best)) {
				best, disk = []byte(it.key), false
			}
			return false
		}
		for _, l := range layers {
			if l.elems.Len() == 0 {
				continue
			}
			if hi == nil {
				l.elems.Descend(consider)
			} else {
				l.elems.DescendLessOrEqual(elemItem{key: string(hi)}, consider)
			}
		}
		if best == nil {
			return nil, nil, false
		}
		v, live, found := layerElem(layers, best)
		if !found && disk {
			return best, diskV, true // no layer shadows the disk's record
		}
		if live {
			return best, v, true
		}
		hi = bytes.Clone(best)
	}
}

// Sampling bounds. A collection of up to listSampleMax elements is
// sampled from a list of them all, exactly uniformly. In a bigger one,
// distinct elements are found by random seeks only while that stays cheap
// whatever the order's skew (at most seekSampleMax seeks, each passing at
// most seekSampleMax already chosen elements, and at most a quarter of
// the collection); otherwise one pass over the collection picks them
// (Knuth's selection sampling), which costs what the reply does. Repeated
// samples of a bigger one are drawn from at most seekSampleMax random
// picks.
const (
	seekSampleMax = 1024
	listSampleMax = 1024
)

// sampleElems calls fn for random elements of sp, whose size is n, chosen
// with rng: with unique, min(count, n) distinct elements; else count
// elements (count is bounded by the caller) that may repeat. fn may not
// write; its slices are valid only during the call. The choice depends
// only on the records and rng.
func sampleElems(sp elemSpan, n, count int64, unique bool, rng Random, fn func(elem, val []byte)) {
	if n <= 0 || count <= 0 {
		return
	}
	switch {
	case unique && count >= n:
		sp.each(func(e, v []byte) bool { fn(e, v); return true })
	case n <= listSampleMax:
		var elems, vals [][]byte
		sp.each(func(e, v []byte) bool {
			elems, vals = append(elems, bytes.Clone(e)), append(vals, bytes.Clone(v))
			return true
		})
		size := int64(len(elems))
		if size == 0 {
			return
		}
		for i := range count {
			if !unique {
				j := rng.Int64N(size)
				fn(elems[j], vals[j])
				continue
			}
			if i == size {
				return
			}
			j := i + rng.Int64N(size-i) // a partial Fisher-Yates shuffle
			elems[i], elems[j] = elems[j], elems[i]
			vals[i], vals[j] = vals[j], vals[i]
			fn(elems[i], vals[i])
		}
	case unique && (count > seekSampleMax || count*4 >= n):
		need, left := count, n
		sp.each(func(e, v []byte) bool {
			if left <= need || rng.Int64N(left) < need {
				fn(e, v)
				need--
			}
			left--
			return need > 0
		})
	case unique:
		chosen := make(map[string]struct{}, count)
		for int64(len(chosen)) < count {
			e, v, ok := sp.randomElem(rng)
			for steps := int64(0); ok; steps++ {
				if _, dup := chosen[string(e)]; !dup {
					break
				}
				if steps > n { // fewer elements than the header says
					return
				}
				if e, v, ok = sp.next(e); !ok {
					e, v, ok = sp.seek(nil)
				}
			}
			if !ok {
				return
			}
			chosen[string(e)] = struct{}{}
			fn(e, v)
		}
	default:
		// Up to seekSampleMax picks; a longer reply draws from those, so
		// its cost is bounded by the collection's, not the count.
		var elems, vals [][]byte
		for range min(count, seekSampleMax) {
			e, v, ok := sp.randomElem(rng)
			if !ok {
				return
			}
			elems, vals = append(elems, bytes.Clone(e)), append(vals, bytes.Clone(v))
		}
		for i := range count {
			j := i
			if count > int64(len(elems)) {
				j = rng.Int64N(int64(len(elems)))
			}
			fn(elems[j], vals[j])
		}
	}
}

// randomElem picks an element at random by a descent of the trie of the
// elements' bytes: at each branching point (the common prefix of the
// first and last element under the prefix so far) it picks one of the
// bytes that follow, uniformly among those present when there are at
// most randomFanout (and the prefix itself when it is an element),
// otherwise uniformly over the range of bytes present, and goes on under
// the longer prefix until one element is left. Every element can be
// chosen, elements are spread over the whole order whatever their
// alphabet (decimal, hex, words), and a pick costs O(log n) seeks per
// level, with about log n / log fanout levels; it is not exactly uniform
// (a small branch is picked as often as a big one).
//
// With s.quick, each level first draws up to quickTrials bytes uniformly
// over that range (and the prefix itself when it is an element) and
// keeps the first one some element continues the prefix with: one seek
// a draw instead of one per branch, and still uniform among the branches
// present (a draw that finds none is drawn again). Only when every draw
// misses does it list the branches as above. It picks other elements
// than the listing alone for the same rng, so it is chosen per Cmd
// (FlagQuickPick) and entries logged before it existed pick as they did.
func (s elemSpan) randomElem(rng Random) ([]byte, []byte, bool) {
	var p []byte
	for {
		lo, lov, ok := s.seek(p)
		if !ok || !bytes.HasPrefix(lo, p) {
			return nil, nil, false
		}
		hi, hiv, ok := s.lastWithPrefix(p)
		if !ok || bytes.Equal(lo, hi) {
			return lo, lov, true
		}
		p = bytes.Clone(lo[:commonPrefixLen(lo, hi)])
		end := len(lo) == len(p) // p is an element: an option of its own
		first := lo
		if end {
			if first, _, ok = s.next(lo); !ok {
				return hi, hiv, true
			}
		}
		if s.quick {
			x, e, ok := s.drawBranch(p, first, hi, end, rng)
			switch {
			case ok && x < 0:
				return lo, lov, true
			case ok:
				p = bytes.Clone(e[:len(p)+1])
				continue
			}
		}
		var opts []int // the bytes after p present, -1 for p itself
		if end {
			opts = append(opts, -1)
		}
		for c := int(first[len(p)]); len(opts) <= randomFanout; {
			opts = append(opts, c)
			if c == int(hi[len(p)]) || c == 255 {
				break
			}
			e, _, ok := s.seek(append(bytes.Clone(p), byte(c+1)))
			if !ok || !bytes.HasPrefix(e, p) || len(e) == len(p) {
				break
			}
			c = int(e[len(p)])
		}
		var x int
		if len(opts) <= randomFanout {
			x = opts[rng.Int64N(int64(len(opts)))]
		} else { // many branches: uniform over the range of bytes
			a, b := int(first[len(p)]), int(hi[len(p)])
			if end {
				a--
			}
			if x = a + int(rng.Int64N(int64(b-a+1))); end && x == a {
				x = -1
			}
		}
		if x < 0 {
			return lo, lov, true
		}
		e, _, ok := s.seek(append(bytes.Clone(p), byte(x)))
		if !ok || !bytes.HasPrefix(e, p) || len(e) == len(p) {
			return lo, lov, true // cannot happen: hi is such an element
		}
		p = bytes.Clone(e[:len(p)+1])
	}
}

// randomFanout bounds the branches randomElem tells apart one by one.
const randomFanout = 64

// quickTrials bounds the draws of a quick randomElem level: with hex
// elements (16 of a range of 55 bytes) all miss one time in 16.
const quickTrials = 8

// drawBranch draws bytes uniformly over [first[len(p)], hi[len(p)]], and
// -1 (p itself) with them when end, until one is present: -1, or a byte
// b with an element e that continues p with b, which it returns. ok is
// false when quickTrials draws all missed.
func (s elemSpan) drawBranch(p, first, hi []byte, end bool, rng Random) (x int, e []byte, ok bool) {
	a, b := int(first[len(p)]), int(hi[len(p)])
	if end {
		a-- // a stands for p itself
	}
	for range quickTrials {
		x = a + int(rng.Int64N(int64(b-a+1)))
		if end && x == a {
			return -1, nil, true
		}
		e, _, found := s.seek(append(bytes.Clone(p), byte(x)))
		if found && len(e) > len(p) && bytes.HasPrefix(e, p) && int(e[len(p)]) == x {
			return x, e, true
		}
	}
	return 0, nil, false
}

// lastWithPrefix returns the last element that starts with p.
func (s elemSpan) lastWithPrefix(p []byte) ([]byte, []byte, bool) {
	lo := append(s.prefix[:len(s.prefix):len(s.prefix)], p...)
	k, v, ok := lastLiveElem(s.layers, s.bv, lo, prefixEnd(lo))
	if !ok {
		return nil, nil, false
	}
	return k[len(s.prefix):], v, true
}
