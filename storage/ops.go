package storage

import (
	"bytes"
	"math/big"
	"strconv"
)

// cmd applies one command. It is a pure function of the transaction's state,
// the command and the entry's now.
func (a *applier) cmd(c *Cmd) Result {
	switch c.Op {
	case OpSet:
		return a.set(c)
	case OpDel:
		return a.delKeys(c)
	case OpIncrBy:
		return a.incrBy(c)
	case OpIncrByFloat:
		return a.incrByFloat(c)
	case OpAppend:
		return a.appendValue(c)
	case OpSetRange:
		return a.setRange(c)
	case OpExpire:
		return a.expire(c)
	case OpPersist:
		return a.persist(c)
	case OpRename:
		return a.rename(c)
	case OpMSet:
		return a.mset(c)
	case OpGetDel:
		return a.getDel(c)
	case OpGetEx:
		return a.getEx(c)
	case OpFlushDB:
		a.out.Touched = append(a.out.Touched, KeyRef{DB: c.DB})
		return a.flushDB(c.DB)
	case OpFlushAll:
		return a.flushAll()
	case OpExpireIf:
		return a.expireIf(c)
	case OpGC:
		return a.gc(c)
	}
	if f := familyOf(c.Op); f != nil {
		return f.apply(a, c)
	}
	return errResult(ErrBadEntry)
}

func (a *applier) set(c *Cmd) Result {
	s := a.lookup(c.DB, c.Keys[0])
	get := c.Flags&FlagGet != 0
	if get && s.exists && s.rec.typ != TypeString {
		return errResult(ErrWrongType)
	}
	var prev Result
	if get && s.exists {
		prev = bulkResult(s.rec.value)
	}
	if (c.Flags&FlagNX != 0 && s.exists) || (c.Flags&FlagXX != 0 && !s.exists) {
		return prev // nil unless GET found a value
	}
	deadline := c.Deadline
	if c.Flags&FlagKeepTTL != 0 && s.exists {
		deadline = s.rec.deadline
	}
	a.put(&s, c.Vals[0], deadline)
	a.notify(ClassString, "set", c.DB, c.Keys[0])
	if c.Deadline != 0 {
		a.notify(ClassGeneric, "expire", c.DB, c.Keys[0])
	}
	if get {
		return prev
	}
	return okResult()
}

func (a *applier) delKeys(c *Cmd) Result {
	var n int64
	for _, k := range c.Keys {
		s := a.lookup(c.DB, k)
		if s.exists {
			a.del(&s)
			a.notify(ClassGeneric, "del", c.DB, k)
			n++
		}
	}
	return intResult(n)
}

// stringSlot looks up a key that must hold a string if it exists.
func (a *applier) stringSlot(db uint8, key []byte) (slot, error) {
	s := a.lookup(db, key)
	if s.exists && s.rec.typ != TypeString {
		return s, ErrWrongType
	}
	return s, nil
}

func (a *applier) incrBy(c *Cmd) Result {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	var cur int64
	if s.exists {
		v, ok := ParseInt(s.rec.value)
		if !ok {
			return errResult(ErrNotInteger)
		}
		cur = v
	}
	cur, ok := addInt64(cur, c.Int)
	if !ok {
		return errResult(ErrOverflow)
	}
	a.put(&s, strconv.AppendInt(nil, cur, 10), s.rec.deadline)
	a.notify(ClassString, "incrby", c.DB, c.Keys[0]) // DECR and DECRBY too, as Redis
	return intResult(cur)
}

func (a *applier) incrByFloat(c *Cmd) Result {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	cur := new(big.Float).SetPrec(floatPrec)
	if s.exists {
		v, ok := ParseFloat(s.rec.value)
		if !ok {
			return errResult(ErrNotFloat)
		}
		cur = v
	}
	incr, ok := ParseFloat(c.Vals[0])
	if !ok {
		return errResult(ErrNotFloat)
	}
	sum, ok := addFloat(cur, incr)
	if !ok {
		return errResult(ErrNaN)
	}
	out := []byte(FormatFloat(sum))
	a.put(&s, out, s.rec.deadline)
	a.notify(ClassString, "incrbyfloat", c.DB, c.Keys[0])
	return bulkResult(out)
}

func (a *applier) appendValue(c *Cmd) Result {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	n := int64(len(s.rec.value)) + int64(len(c.Vals[0]))
	if n > MaxStringLen || (c.Limit > 0 && n > c.Limit) {
		return errResult(ErrTooLarge)
	}
	v := make([]byte, 0, n)
	v = append(append(v, s.rec.value...), c.Vals[0]...)
	a.put(&s, v, s.rec.deadline)
	a.notify(ClassString, "append", c.DB, c.Keys[0]) // even of "": Redis creates the key
	return intResult(n)
}

func (a *applier) setRange(c *Cmd) Result {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	val := c.Vals[0]
	if len(val) == 0 {
		return intResult(int64(len(s.rec.value)))
	}
	// Compare without adding: offset + length overflows int64 for
	// offsets near 2^63, which must be refused, not wrapped.
	limit := MaxStringLen
	if c.Limit > 0 {
		limit = min(limit, c.Limit)
	}
	if c.Int < 0 || c.Int > limit || int64(len(val)) > limit-c.Int {
		return errResult(ErrTooLarge)
	}
	end := c.Int + int64(len(val))
	v := clone(s.rec.value)
	if int64(len(v)) < end {
		v = append(v, make([]byte, end-int64(len(v)))...)
	}
	copy(v[c.Int:], val)
	a.put(&s, v, s.rec.deadline)
	a.notify(ClassString, "setrange", c.DB, c.Keys[0])
	return intResult(int64(len(v)))
}

func (a *applier) expire(c *Cmd) Result {
	s := a.lookup(c.DB, c.Keys[0])
	if !s.exists {
		return intResult(0)
	}
	cur, when := s.rec.deadline, c.Deadline
	switch {
	case c.Flags&FlagNX != 0 && cur != 0,
		c.Flags&FlagXX != 0 && cur == 0,
		c.Flags&FlagGT != 0 && (cur == 0 || when <= cur),
		c.Flags&FlagLT != 0 && cur != 0 && when >= cur:
		return intResult(0)
	}
	if when <= a.now {
		a.del(&s)
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
		return intResult(1)
	}
	a.setDeadline(&s, when)
	a.notify(ClassGeneric, "expire", c.DB, c.Keys[0])
	return intResult(1)
}

func (a *applier) persist(c *Cmd) Result {
	s := a.lookup(c.DB, c.Keys[0])
	if !s.exists || s.rec.deadline == 0 {
		return intResult(0)
	}
	a.setDeadline(&s, 0)
	a.notify(ClassGeneric, "persist", c.DB, c.Keys[0])
	return intResult(1)
}

func (a *applier) rename(c *Cmd) Result {
	nx := c.Flags&FlagNX != 0
	src := a.lookup(c.DB, c.Keys[0])
	if !src.exists {
		return errResult(ErrNoSuchKey)
	}
	if bytes.Equal(c.Keys[0], c.Keys[1]) {
		if nx {
			return intResult(0)
		}
		return okResult()
	}
	dst := a.lookup(c.DB, c.Keys[1])
	if nx && dst.exists {
		return intResult(0)
	}
	typ, value, deadline := src.rec.typ, clone(src.rec.value), src.rec.deadline
	// Redis deletes the destination and adds it anew: a "new" event even
	// when it existed.
	a.del(&dst)
	a.detach(&src)
	a.store(&dst, typ, value, deadline)
	a.readyIfPoppable(dst.db, dst.key, typ)
	a.notify(ClassGeneric, "rename_from", c.DB, c.Keys[0])
	a.notify(ClassGeneric, "rename_to", c.DB, c.Keys[1])
	if nx {
		return intResult(1)
	}
	return okResult()
}

func (a *applier) mset(c *Cmd) Result {
	nx := c.Flags&FlagNX != 0
	if nx {
		for _, k := range c.Keys {
			if s := a.lookup(c.DB, k); s.exists {
				return intResult(0)
			}
		}
	}
	for i, k := range c.Keys {
		s := a.lookup(c.DB, k)
		a.put(&s, c.Vals[i], 0)
		a.notify(ClassString, "set", c.DB, k)
	}
	if nx {
		return intResult(1)
	}
	return okResult()
}

// getting looks up a string key for GETDEL and GETEX: it returns the
// reply and whether the key exists and may be changed.
func (a *applier) getting(c *Cmd) (slot, Result, bool) {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	switch {
	case err != nil:
		return s, errResult(err), false
	case !s.exists:
		return s, nilResult(), false
	}
	return s, bulkResult(s.rec.value), true
}

func (a *applier) getDel(c *Cmd) Result {
	s, res, ok := a.getting(c)
	if ok {
		a.del(&s)
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
	}
	return res
}

func (a *applier) getEx(c *Cmd) Result {
	s, res, ok := a.getting(c)
	if !ok {
		return res
	}
	switch {
	case c.Flags&FlagPersist != 0:
		if s.rec.deadline != 0 {
			a.put(&s, s.rec.value, 0)
			a.notify(ClassGeneric, "persist", c.DB, c.Keys[0])
		}
	case c.Deadline != 0 && c.Deadline <= a.now:
		a.del(&s)
		a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
	case c.Deadline != 0:
		a.put(&s, s.rec.value, c.Deadline)
		a.notify(ClassGeneric, "expire", c.DB, c.Keys[0])
	}
	return res
}

// expireIf deletes the key if its deadline is still c.Deadline and has
// passed. The expiry index holds (deadline, db, key) exactly when the key
// has that deadline, so the check reads the index, where the keys sharing
// a deadline sit together, not the key's record, which in a large store is
// on a page of its own that may not be in memory.
func (a *applier) expireIf(c *Cmd) Result {
	if !expired(c.Deadline, a.now) {
		return intResult(0)
	}
	typ := indexed(a.layers, &a.bv, c.DB, indexKey(c.Deadline, c.DB, c.Keys[0]))
	if typ == 0 {
		return intResult(0)
	}
	if typ.IsCollection() {
		a.lookup(c.DB, c.Keys[0]) // deletes it, releasing its elements
		return intResult(1)
	}
	s := slot{db: c.DB, key: c.Keys[0], exists: true, rec: record{typ: typ, deadline: c.Deadline}}
	a.dropExpired(&s)
	return intResult(1)
}

// flushDB empties a database. Like Redis 7.0 it reports no key events:
// clients tracking keys learn of it from the Touched entry.
func (a *applier) flushDB(db uint8) Result {
	a.releaseDB(db)
	a.clearDB(db)
	a.keyDelta[db] = -a.db.keys[db].Load()
	a.expDelta[db] = -a.db.expires[db].Load()
	for t := range NumKeyTypes {
		a.typeDelta[db][t] = -a.db.types[db][t].Load()
	}
	return okResult()
}

func (a *applier) flushAll() Result {
	for i := range NumDBs {
		a.flushDB(uint8(i))
	}
	a.out.Touched = append(a.out.Touched, KeyRef{DB: AllDBs})
	return okResult()
}
