package storage

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// Element records (DESIGN.md "Data model"): one per hash field, set or
// sorted-set member and list element, so that an element operation costs
// O(log n) whatever the collection's size. They live in the elems bucket:
//
//	oid (8) ‖ kind (1) ‖ element → value
//
// kind kindElem: hash field → value; set member → empty; sorted-set member
// → score (8 bytes, float bits); list position (8, sortable) → element.
// kind kindScore: sorted-set index, sortable score (8) ‖ member → empty.
//
// An oid belongs to one collection for the life of the store, so the
// elements need no database or key: a deleted collection's records are
// unreachable at once and removed later, a few at a time (garbage).
var (
	bucketElems   = []byte("elems")
	bucketGarbage = []byte("garbage") // oid (8) → count (8) of collections to remove
	keyNextOID    = []byte("oid")
	keyGarbage    = []byte("garbage")
)

// Element kinds.
const (
	kindElem  byte = 'e'
	kindScore byte = 's'
)

func elemPrefix(oid uint64, kind byte) []byte {
	b := make([]byte, 9, 9+16)
	binary.BigEndian.PutUint64(b, oid)
	b[8] = kind
	return b
}

func elemKey(oid uint64, kind byte, elem []byte) []byte {
	return append(elemPrefix(oid, kind), elem...)
}

// prefixEnd returns the smallest key after every key starting with p, or
// nil if there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// elemItem is an element record in a memory layer; del marks a deletion.
type elemItem struct {
	key string
	val []byte
	del bool
}

func elemLess(a, b elemItem) bool { return a.key < b.key }

func newElemTree() *btree.BTreeG[elemItem] { return btree.NewG(16, elemLess) }

// lookupElem finds an element record in layers (newest first), falling
// back to bbolt.
func lookupElem(layers []*memLayer, bv *boltView, k []byte) ([]byte, bool) {
	if v, live, found := layerElem(layers, k); found {
		return v, live
	}
	v := bv.elems().Get(k)
	return v, v != nil
}

// layerElem finds an element record in layers (newest first): found says
// whether some layer has it, live whether that is not a deletion.
func layerElem(layers []*memLayer, k []byte) (v []byte, live, found bool) {
	for _, l := range layers {
		if l.elems.Len() == 0 {
			continue
		}
		if it, ok := l.elems.Get(elemItem{key: string(k)}); ok {
			return it.val, !it.del, true
		}
	}
	return nil, false, false
}

// rangeElems calls fn for each live element record whose key starts with
// prefix, in key order (reverse: descending), starting at from (inclusive;
// nil: the first, or for reverse the last, of the prefix), until fn returns
// false. The records of layers (newest first) shadow those of tx. Keys and
// values passed to fn are valid only during the call.
func rangeElems(layers []*memLayer, bv *boltView, prefix, from []byte, reverse bool, fn func(k, v []byte) bool) {
	lo, hi := prefix, prefixEnd(prefix) // [lo, hi); hi nil: unbounded
	if from != nil {
		if reverse {
			hi = append(bytes.Clone(from), 0) // from inclusive
		} else {
			lo = from
		}
	}
	mem := newMemIter(layers, lo, hi, reverse)
	c := bv.elems().Cursor()
	var k, v []byte
	if reverse {
		if hi == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(hi); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Seek(lo)
	}
	inRange := func(k []byte) bool {
		return k != nil && bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0)
	}
	step := func() {
		if reverse {
			k, v = c.Prev()
		} else {
			k, v = c.Next()
		}
	}
	for {
		diskOK := inRange(k)
		it, memOK := mem.peek()
		if !diskOK && !memOK {
			return
		}
		// Compare the next disk key with the next memory key.
		cmp := 0
		switch {
		case !diskOK:
			cmp = 1 // memory first
		case !memOK:
			cmp = -1
		default:
			switch { // string(k) in a comparison is not copied
			case string(k) < it.key:
				cmp = -1
			case string(k) > it.key:
				cmp = 1
			}
			if reverse {
				cmp = -cmp
			}
		}
		switch {
		case cmp < 0: // only on disk
			if !fn(k, v) {
				return
			}
			step()
		default: // in memory (shadowing the disk record when cmp == 0)
			if cmp == 0 {
				step()
			}
			mem.next()
			if !it.del && !fn([]byte(it.key), it.val) {
				return
			}
		}
	}
}

// memIter yields the memory layers' element records in [lo, hi), the
// newest of each key, in order (reverse: descending), a window at a time:
// an iteration that stops early reads about as many records as it used,
// not every unflushed record of the range.
type memIter struct {
	layers  []*memLayer
	lo, hi  string // what is left to read: [lo, hi); hiOpen: no upper bound
	hiOpen  bool
	reverse bool
	buf     []elemItem
	i       int
	done    bool // nothing left beyond buf
	window  int
	got     [][]elemItem // per layer, the window's records (reused)
	heads   []int        // per layer, the next of got to merge
}

func newMemIter(layers []*memLayer, lo, hi []byte, reverse bool) *memIter {
	m := &memIter{lo: string(lo), hi: string(hi), hiOpen: hi == nil, reverse: reverse, window: 32}
	for _, l := range layers {
		if l.elems.Len() > 0 {
			m.layers = append(m.layers, l)
		}
	}
	m.done = len(m.layers) == 0
	return m
}

func (m *memIter) peek() (elemItem, bool) {
	for m.i == len(m.buf) {
		if m.done {
			return elemItem{}, false
		}
		m.fill()
	}
	return m.buf[m.i], true
}

func (m *memIter) next() { m.i++ }

// fill reads the next window: up to window records from each layer. A
// layer that had more limits the window to its last record read (bound);
// every layer's records up to bound are then known, so the newest of each
// key up to bound is final.
func (m *memIter) fill() {
	inRange := func(k string) bool { return k >= m.lo && (m.hiOpen || k < m.hi) }
	if m.got == nil {
		m.got, m.heads = make([][]elemItem, len(m.layers)), make([]int, len(m.layers))
	}
	bound, bounded := "", false
	for li, l := range m.layers {
		items := m.got[li][:0]
		visit := func(it elemItem) bool {
			if !inRange(it.key) {
				// Forward, past hi: done. Reverse starts at hi itself (skip
				// it) and is done below lo.
				return m.reverse && !m.hiOpen && it.key >= m.hi
			}
			items = append(items, it)
			return len(items) < m.window
		}
		if m.reverse {
			if m.hiOpen {
				l.elems.Descend(visit)
			} else {
				l.elems.DescendLessOrEqual(elemItem{key: m.hi}, visit)
			}
		} else {
			l.elems.AscendGreaterOrEqual(elemItem{key: m.lo}, visit)
		}
		if len(items) == m.window {
			last := items[len(items)-1].key
			if !bounded || (!m.reverse && last < bound) || (m.reverse && last > bound) {
				bound, bounded = last, true
			}
		}
		m.got[li] = items
		m.heads[li] = 0
	}
	m.buf, m.i = m.buf[:0], 0
	if len(m.layers) == 1 { // in order already, and nothing to shadow
		for _, it := range m.got[0] {
			if bounded && m.beyond(it.key, bound) {
				break
			}
			m.buf = append(m.buf, it)
		}
	} else {
		m.merge(bound, bounded)
	}
	switch {
	case !bounded:
		m.done = true
	case m.reverse:
		m.hi, m.hiOpen = bound, false // bound itself is in buf
	default:
		m.lo = bound + "\x00" // the smallest key after bound
	}
	m.window = min(2*m.window, 4096)
}

// beyond reports whether key comes after bound in the iteration's order.
func (m *memIter) beyond(key, bound string) bool {
	if m.reverse {
		return key < bound
	}
	return key > bound
}

// merge appends to buf the newest record of each key in the layers'
// windows, in the iteration's order, up to bound: a merge of the windows
// (each in order already), the newest layer winning a key several hold.
func (m *memIter) merge(bound string, bounded bool) {
	for {
		best := -1
		for li, items := range m.got {
			h := m.heads[li]
			if h == len(items) {
				continue
			}
			// Strictly before only: on a tie the newer (earlier) layer stays.
			if best < 0 || m.beyond(m.got[best][m.heads[best]].key, items[h].key) {
				best = li
			}
		}
		if best < 0 {
			return
		}
		it := m.got[best][m.heads[best]]
		if bounded && m.beyond(it.key, bound) {
			return
		}
		m.buf = append(m.buf, it)
		for li, items := range m.got { // the older layers' records of the key
			if h := m.heads[li]; h < len(items) && items[h].key == it.key {
				m.heads[li]++
			}
		}
	}
}

// writeElems writes a layer's element records and garbage queue changes
// into a bbolt write transaction, in key order.
func (l *memLayer) writeElems(tx *bolt.Tx, w *written) error {
	b := tx.Bucket(bucketElems)
	var err error
	l.elems.Ascend(func(it elemItem) bool {
		k := []byte(it.key)
		if it.del {
			err = b.Delete(k)
		} else {
			err = b.Put(k, it.val)
		}
		w.add(bucketElems, k)
		return err == nil
	})
	if err != nil {
		return err
	}
	g := tx.Bucket(bucketGarbage)
	for _, oid := range slices.Sorted(maps.Keys(l.garbage)) {
		if cnt := l.garbage[oid]; cnt >= 0 {
			err = g.Put(u64(oid), u64(uint64(cnt)))
		} else {
			err = g.Delete(u64(oid))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
