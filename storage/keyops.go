package storage

import (
	"bytes"
	"encoding/binary"
)

// The key family: generic key commands that work on every type.
const (
	// OpCopy copies Keys[0] of DB to Keys[1] of database Int (0..NumDBs-1),
	// with its TTL. A collection's copy gets a new oid and a copy of every
	// element record: O(n), as in Redis. Limit 1 (REPLACE) overwrites an
	// existing destination; otherwise one makes the result 0. Result: 1 if
	// copied, 0 if not; copying a key onto itself is an error.
	OpCopy Op = opKeyBase + iota
	// OpMove moves Keys[0] of DB to database Int, with its TTL, in O(1):
	// the record moves, and a collection's header with it (its elements
	// are named by the oid, not by the database). Result: 1 if moved, 0 if
	// the key is missing or the target database holds the key already.
	OpMove
	opKeyEnd
)

var keyOpNames = [...]string{"COPY", "MOVE"}

func keyOpName(o Op) string {
	if o >= opKeyBase && o < opKeyEnd {
		return keyOpNames[o-opKeyBase]
	}
	return ""
}

func keyShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	if nv != 0 || c.Int < 0 || c.Int >= NumDBs {
		return false
	}
	switch c.Op {
	case OpCopy:
		return nk == 2 && (c.Limit == 0 || c.Limit == 1)
	case OpMove:
		return nk == 1
	}
	return false
}

// errSameObject is Redis's shared.sameobjecterr.
var errSameObject = CmdError("ERR source and destination objects are the same")

func (a *applier) keyCmd(c *Cmd) Result {
	switch c.Op {
	case OpCopy:
		return a.copyKey(c)
	case OpMove:
		return a.moveKey(c)
	}
	return errResult(ErrBadEntry)
}

func (a *applier) copyKey(c *Cmd) Result {
	to := uint8(c.Int)
	if to == c.DB && bytes.Equal(c.Keys[0], c.Keys[1]) {
		return errResult(errSameObject)
	}
	src := a.lookup(c.DB, c.Keys[0])
	if !src.exists {
		return intResult(0)
	}
	typ, value, deadline := src.rec.typ, clone(src.rec.value), src.rec.deadline
	dst := a.lookup(to, c.Keys[1])
	if dst.exists && c.Limit != 1 {
		return intResult(0)
	}
	if typ.IsCollection() {
		m, ok := decodeMeta(value)
		if !ok {
			a.fail(errCorrupt(c.DB, c.Keys[0]))
			return errResult(ErrInternal)
		}
		oid := a.newOID()
		a.copyElems(m.oid, oid)
		binary.BigEndian.PutUint64(value, oid) // the rest of the header is the same
	}
	// Redis deletes a destination it replaces and adds it anew: a "new"
	// event even when it existed.
	a.del(&dst)
	a.store(&dst, typ, value, deadline)
	a.readyIfPoppable(dst.db, dst.key, typ)
	a.notify(ClassGeneric, "copy_to", to, c.Keys[1])
	return intResult(1)
}

// copyElems copies every element record of collection from, of every
// kind, to collection to.
func (a *applier) copyElems(from, to uint64) {
	type rec struct{ k, v []byte }
	var recs []rec
	rangeElems(a.layers, &a.bv, u64(from), nil, false, func(k, v []byte) bool {
		recs = append(recs, rec{bytes.Clone(k[8:]), bytes.Clone(v)})
		return true
	})
	prefix := u64(to)
	for _, r := range recs {
		a.putElem(elemItem{key: string(append(prefix[:8:8], r.k...)), val: r.v})
	}
}

func (a *applier) moveKey(c *Cmd) Result {
	to := uint8(c.Int)
	if to == c.DB {
		return errResult(errSameObject)
	}
	src := a.lookup(c.DB, c.Keys[0])
	if !src.exists {
		return intResult(0)
	}
	dst := a.lookup(to, c.Keys[0])
	if dst.exists {
		return intResult(0)
	}
	typ, value, deadline := src.rec.typ, clone(src.rec.value), src.rec.deadline
	a.detach(&src)
	a.store(&dst, typ, value, deadline)
	a.readyIfPoppable(dst.db, dst.key, typ)
	a.notify(ClassGeneric, "move_from", c.DB, c.Keys[0])
	a.notify(ClassGeneric, "move_to", to, c.Keys[0])
	return intResult(1)
}

// Redis 7.0's built-in encoding thresholds (CONFIG GET on a redis-server
// started without a config file).
const (
	embstrLimit               = 44  // OBJ_ENCODING_EMBSTR_SIZE_LIMIT
	hashListpackEntries       = 512 // hash-max-listpack-entries (redis.conf's example says 128)
	hashListpackValue         = 64  // hash-max-listpack-value
	setIntsetEntries          = 512 // set-max-intset-entries
	zsetListpackEntries       = 128 // zset-max-listpack-entries
	zsetListpackValue         = 64  // zset-max-listpack-value
	sharedIntegers            = 10000
	sharedRefCount      int64 = 1<<31 - 1 // OBJ_SHARED_REFCOUNT
)

// Encoding returns what OBJECT ENCODING answers for v: the encoding Redis
// 7.0 would give a value with v's contents, by its default thresholds.
// keepkv stores every value one way, so this is a plausible answer, not a
// history: Redis keeps a string it modified in place (APPEND, SETRANGE,
// SETBIT) "raw" and never converts a collection back to its compact
// encoding once it outgrew it; keepkv answers from the current contents.
// It visits at most the compact encodings' entry limit of elements.
func (r *Reader) Encoding(v Value) string {
	switch v.Type {
	case TypeString:
		switch {
		case len(v.Data) <= 20 && isInt(v.Data):
			return "int"
		case len(v.Data) <= embstrLimit:
			return "embstr"
		}
		return "raw"
	case TypeHash:
		if r.allElems(v, hashListpackEntries, func(f, val []byte) bool {
			return len(f) <= hashListpackValue && len(val) <= hashListpackValue
		}) {
			return "listpack"
		}
		return "hashtable"
	case TypeSet:
		if r.allElems(v, setIntsetEntries, func(m, _ []byte) bool { return isInt(m) }) {
			return "intset"
		}
		return "hashtable"
	case TypeZSet:
		if r.allElems(v, zsetListpackEntries, func(m, _ []byte) bool { return len(m) <= zsetListpackValue }) {
			return "listpack"
		}
		return "skiplist"
	case TypeList:
		return "quicklist" // Redis 7.0 keeps every list in a quicklist
	}
	return "unknown"
}

// allElems reports whether collection v has at most limit elements and
// ok holds for each (kindElem: element and value).
func (r *Reader) allElems(v Value, limit int64, ok func(elem, val []byte) bool) bool {
	if v.Len() > limit {
		return false
	}
	all := true
	r.rangeElems(v, kindElem, nil, false, func(e, val []byte) bool {
		all = ok(e, val)
		return all
	})
	return all
}

func isInt(b []byte) bool {
	_, ok := ParseInt(b)
	return ok
}

// RefCount returns what OBJECT REFCOUNT answers for v: Redis shares the
// objects of the integers 0..9999 (refcount INT_MAX); everything else has
// one reference.
func (r *Reader) RefCount(v Value) int64 {
	if v.Type == TypeString && len(v.Data) <= 20 {
		if n, ok := ParseInt(v.Data); ok && n >= 0 && n < sharedIntegers {
			return sharedRefCount
		}
	}
	return 1
}
