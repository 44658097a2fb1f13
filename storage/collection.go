package storage

import (
	"bytes"
	"encoding/binary"
)

// inlineRelease is the largest collection whose elements are deleted in
// the command that deletes it; larger ones go to the garbage queue, which
// OpGC entries drain a bounded number of records at a time, so a DEL of a
// million-member set returns at once.
const inlineRelease = 64

func sameOID(a, b []byte) bool {
	return len(a) >= 8 && len(b) >= 8 && bytes.Equal(a[:8], b[:8])
}

// newOID returns an oid no collection has had: a counter advanced in
// apply, so every replica assigns the same one.
func (a *applier) newOID() uint64 {
	a.nextOID++
	return a.nextOID
}

// coll is a collection key as a write command sees it.
type coll struct {
	slot
	meta collMeta
}

// collection looks up key for a command on collections of type t. A
// missing key yields a coll that does not exist yet (create it with
// saveColl); a key of another type yields ErrWrongType.
func (a *applier) collection(db uint8, key []byte, t Type) (coll, error) {
	s := a.lookup(db, key)
	c := coll{slot: s}
	if !s.exists {
		return c, nil
	}
	if s.rec.typ != t {
		return c, ErrWrongType
	}
	m, ok := decodeMeta(s.rec.value)
	if !ok {
		a.fail(errCorrupt(db, key))
	}
	c.meta = m
	return c, nil
}

// saveColl writes c's header after its elements changed: a collection
// left empty is deleted (Redis never keeps empty collections), a new one
// is created with a fresh oid first (call ensure before adding elements).
func (a *applier) saveColl(c *coll, t Type) {
	if c.meta.count <= 0 {
		if c.exists {
			a.detach(&c.slot) // no elements left to release
		}
		return
	}
	a.store(&c.slot, t, c.meta.encode(), c.rec.deadline)
}

// saveNotify saves c as saveColl does, then reports the command's event
// name (of class) on c's key and, if c was left empty and deleted, "del",
// as Redis does after removing a collection's last element.
func (a *applier) saveNotify(c *coll, t Type, class byte, name string) {
	existed := c.exists
	a.saveColl(c, t)
	a.notify(class, name, c.db, c.key)
	if existed && !c.exists {
		a.notify(ClassGeneric, "del", c.db, c.key)
	}
}

// ensure gives a collection that does not exist yet its oid.
func (a *applier) ensure(c *coll) {
	if !c.exists && c.meta.oid == 0 {
		c.meta = collMeta{oid: a.newOID()}
	}
}

// elem returns the element record (kind, elem) of collection oid.
func (a *applier) elem(oid uint64, kind byte, elem []byte) ([]byte, bool) {
	return lookupElem(a.layers, &a.bv, elemKey(oid, kind, elem))
}

// setElem writes an element record.
func (a *applier) setElem(oid uint64, kind byte, elem, val []byte) {
	a.putElem(elemItem{key: string(elemKey(oid, kind, elem)), val: bytes.Clone(val)})
}

// delElem deletes an element record.
func (a *applier) delElem(oid uint64, kind byte, elem []byte) {
	a.putElem(elemItem{key: string(elemKey(oid, kind, elem)), del: true})
}

func (a *applier) putElem(it elemItem) {
	if !it.del && len(it.key) > MaxKeyLen+17 { // oid, kind and an 8-byte score
		a.abort(ErrKeyTooLong)
	}
	if a.db.testHook != nil {
		a.db.testHook(a.op)
	}
	old, had := a.layer.elems.ReplaceOrInsert(it)
	if !it.del {
		a.db.hints.noteLive(it.key)
	} else {
		a.db.tombstones.Add(1)
	}
	a.journal = append(a.journal, change{kind: changeElem, key: it.key, had: had, elem: old})
	a.layer.size += int64(len(it.key) + len(it.val) + 64)
}

// rangeElems calls fn with each element (without the prefix) and value of
// kind in collection oid, in order, from from (inclusive; nil = the
// start, or for reverse the end) until fn returns false. fn may not write
// elements; collect what to change first.
func (a *applier) rangeElems(oid uint64, kind byte, from []byte, reverse bool, fn func(elem, val []byte) bool) {
	prefix := elemPrefix(oid, kind)
	if from != nil {
		rangeElems(a.layers, &a.bv, prefix, append(prefix[:9:9], from...), reverse, func(k, v []byte) bool { return fn(k[9:], v) })
		return
	}
	// From one end: start at the hint, and the first record seen is the
	// end's live record (hints.go).
	first := true
	rangeElems(a.layers, &a.bv, prefix, a.db.hints.start(prefix, reverse), reverse, func(k, v []byte) bool {
		if first {
			first = false
			a.db.noteEnd(prefix, k, reverse)
		}
		return fn(k[9:], v)
	})
}

// releaseRecord frees the elements of a collection record that is being
// deleted or overwritten.
func (a *applier) releaseRecord(rec record) {
	m, ok := decodeMeta(rec.value)
	if !ok || m.count == 0 {
		return
	}
	if m.count > inlineRelease {
		a.setGarbage(m.oid, m.count)
		return
	}
	a.dropElems(m.oid, -1)
}

// dropElems deletes up to limit (-1: all) element records of oid, of
// every kind, and returns how many it deleted.
func (a *applier) dropElems(oid uint64, limit int) int {
	var doomed [][]byte
	rangeElems(a.layers, &a.bv, u64(oid), nil, false, func(k, _ []byte) bool {
		doomed = append(doomed, bytes.Clone(k))
		return limit < 0 || len(doomed) < limit
	})
	for _, k := range doomed {
		a.putElem(elemItem{key: string(k), del: true})
	}
	return len(doomed)
}

// setGarbage queues (count >= 0) or dequeues (-1) a released collection.
func (a *applier) setGarbage(oid uint64, count int64) {
	old, had := a.layer.garbage[oid]
	a.journal = append(a.journal, change{kind: changeGarbage, oid: oid, had: had, count: old})
	a.layer.garbage[oid] = count
	a.layer.size += 64
	if count >= 0 {
		a.garbageDelta++
	} else {
		a.garbageDelta--
	}
}

// firstGarbage returns the oldest queued collection.
func (a *applier) firstGarbage() (uint64, bool) {
	best, found := uint64(0), false
	consider := func(oid uint64) {
		if !found || oid < best {
			best, found = oid, true
		}
	}
	// A layer's entry shadows older layers and the disk.
	state := func(oid uint64) (present, known bool) {
		for _, l := range a.layers {
			if cnt, ok := l.garbage[oid]; ok {
				return cnt >= 0, true
			}
		}
		return false, false
	}
	for _, l := range a.layers {
		for oid, cnt := range l.garbage {
			if present, _ := state(oid); present && cnt >= 0 {
				consider(oid)
			}
		}
	}
	c := a.bv.tx.Bucket(bucketGarbage).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		oid := binary.BigEndian.Uint64(k)
		if found && oid >= best {
			break
		}
		if present, known := state(oid); !known || present {
			consider(oid)
			break
		}
	}
	return best, found
}

// gc removes up to c.Int element records of the oldest released
// collection, and dequeues it once none are left. The leader proposes it
// while GarbageCount is above zero; apply decides what to delete from the
// state alone, so every replica deletes the same records.
func (a *applier) gc(c *Cmd) Result {
	oid, ok := a.firstGarbage()
	if !ok {
		return intResult(0)
	}
	limit := int(min(max(c.Int, 1), 1<<16))
	n := a.dropElems(oid, limit)
	if n < limit {
		a.setGarbage(oid, -1)
	}
	return intResult(int64(n))
}

// releaseDB frees the elements of every collection in database db before
// FLUSHDB empties it. It visits every key of the database.
func (a *applier) releaseDB(db uint8) {
	seen := map[string]bool{}
	for _, l := range a.layers {
		for mk, raw := range l.recs {
			if mk[0] != db || seen[mk] {
				continue
			}
			seen[mk] = true
			if rec, ok := decodeRecord(raw); ok && rec.typ.IsCollection() {
				a.releaseRecord(rec)
			}
		}
		if l.cleared[db] {
			return
		}
	}
	c := a.bv.data(db).Cursor()
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		if len(raw) == 0 || !Type(raw[0]).IsCollection() || seen[string(append([]byte{db}, k[8:]...))] || a.bv.isDead(db, k, raw) {
			continue
		}
		if rec, ok := decodeRecord(raw); ok {
			a.releaseRecord(rec)
		}
	}
}

// ready notes that key got new elements, for blocked clients.
func (a *applier) ready(db uint8, key []byte) {
	a.out.Ready = append(a.out.Ready, KeyRef{DB: db, Key: bytes.Clone(key)})
}

// readyIfPoppable notes a list or sorted set that RENAME, COPY or MOVE put
// at key: clients blocked on key may pop from it now.
func (a *applier) readyIfPoppable(db uint8, key []byte, t Type) {
	if t == TypeList || t == TypeZSet {
		a.ready(db, key)
	}
}

// GarbageCount returns how many released collections still have element
// records to remove.
func (db *DB) GarbageCount() int64 { return db.garbage.Load() }

// Len returns the number of elements of a collection (0 for a string).
func (v Value) Len() int64 {
	if !v.Type.IsCollection() {
		return 0
	}
	m, _ := decodeMeta(v.Data)
	return m.count
}

func (v Value) meta() collMeta {
	m, _ := decodeMeta(v.Data)
	return m
}

// elem returns the element record (kind, elem) of collection v.
func (r *Reader) elem(v Value, kind byte, elem []byte) ([]byte, bool) {
	return lookupElem(r.layers, &r.bv, elemKey(v.meta().oid, kind, elem))
}

// rangeElems is applier.rangeElems for readers: fn sees each element
// (without the prefix) and value of kind in collection v, in order, from
// from (inclusive; nil = the start, or for reverse the end), until it
// returns false. The slices are valid only during the call.
func (r *Reader) rangeElems(v Value, kind byte, from []byte, reverse bool, fn func(elem, val []byte) bool) {
	prefix := elemPrefix(v.meta().oid, kind)
	var start []byte
	if from != nil {
		start = append(prefix[:9:9], from...)
	}
	rangeElems(r.layers, &r.bv, prefix, start, reverse, func(k, val []byte) bool { return fn(k[9:], val) })
}
