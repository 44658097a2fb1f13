package storage

import (
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/cespare/xxhash/v2"
	bolt "go.etcd.io/bbolt"
)

// SCAN sees the keyspace in hash order, which is bbolt's order of the data
// buckets. A layer's records are a hash map, so each layer also files every
// key it has held a live record for under the top bits of the key's hash
// (its scan slot): a SCAN page then merges bbolt's keys with the layers'
// keys of the slots it crosses, sorted, instead of checkpointing the layers
// first. Only live records are filed: a deletion hides bbolt's record
// through the lookup every bbolt key gets, so a mass expiry or DEL files
// nothing. A slot list only grows (a record deleted, rolled back or emptied
// by FLUSHDB leaves its entry, which the merge skips), so it holds every key
// with a live record in the layer. The slots are not in the layer's size:
// about 24 bytes a key, plus 96 KiB for the array of a layer that has any.
const (
	scanSlotBits = 12
	scanSlots    = 1 << scanSlotBits
)

// slotKey is one entry of a layer's scan slot: a key's hash and memKey.
type slotKey struct {
	h  uint64
	mk string
}

func (a slotKey) compare(b slotKey) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return cmp.Compare(a.mk[1:], b.mk[1:]) // dataKey order: hash, then key
}

func scanSlot(h uint64) int { return int(h >> (64 - scanSlotBits)) }

// fileForScan files mk, which has just gained a live record in l.recs
// (it had none there, or a deletion), in its scan slot.
func (l *memLayer) fileForScan(mk string) {
	if l.slots == nil {
		l.slots = new([scanSlots][]slotKey)
	}
	h := xxhash.Sum64String(mk[1:])
	s := &l.slots[scanSlot(h)]
	*s = append(*s, slotKey{h: h, mk: mk})
}

// layerKeys yields, in dataKey order from hash position start, the keys of
// database db that layers (newest first) hold a live record for, with the
// record: one scan slot at a time, each slot's entries from every layer
// gathered and sorted, each resolved through the layers as a read would
// when the merge reaches it.
type layerKeys struct {
	layers   []*memLayer
	db       uint8
	start    uint64
	slot     int // the next slot to read
	buf      []slotKey
	i        int
	resolved int // buf[resolved] is live, with record rec
	rec      []byte
}

// peek returns the next key, reading slots only up to upTo: false means
// none up to there.
func (it *layerKeys) peek(upTo int) (slotKey, []byte, bool) {
	for {
		if it.i < len(it.buf) {
			e := it.buf[it.i]
			if it.resolved == it.i {
				return e, it.rec, true
			}
			if rec, ok := layerRecord(it.layers, it.db, e.mk); ok && rec != nil {
				it.resolved, it.rec = it.i, rec
				return e, rec, true
			}
			it.i++ // deleted, rolled back, or a duplicate of one passed
			continue
		}
		if it.slot > upTo || it.slot >= scanSlots {
			return slotKey{}, nil, false
		}
		it.fillSlot()
	}
}

func (it *layerKeys) next() { it.i++ }

// fillSlot reads the next slot.
func (it *layerKeys) fillSlot() {
	it.buf, it.i, it.resolved = it.buf[:0], 0, -1
	s := it.slot
	it.slot++
	for _, l := range it.layers {
		if l.slots == nil {
			continue
		}
		for _, e := range l.slots[s] {
			if e.mk[0] == it.db && e.h >= it.start {
				it.buf = append(it.buf, e)
			}
		}
	}
	if len(it.buf) > 1 {
		slices.SortFunc(it.buf, slotKey.compare)
		it.buf = slices.CompactFunc(it.buf, func(a, b slotKey) bool { return a.mk == b.mk })
	}
}

// layerRecord resolves memKey mk of database db through layers (newest
// first) as lookupLayers does: its record (nil: deleted), or false when no
// layer decides it and the key reads from bbolt.
func layerRecord(layers []*memLayer, db uint8, mk string) ([]byte, bool) {
	for _, l := range layers {
		if rec, ok := l.recs[mk]; ok {
			return rec, true
		}
		if l.cleared[db] {
			return nil, true
		}
	}
	return nil, false
}

// scanMerged is Scan through layers and bbolt together: the layers' live
// keys, and bbolt's keys no layer decides, in one hash order. Every key
// met counts toward count, hidden ones too, so a page's work is bounded
// even where the layers hide much of bbolt (after a FLUSHDB).
func (r *Reader) scanMerged(db uint8, cursor uint64, count int, visit func(key, raw []byte)) (next uint64) {
	start := cursor << cursorShift
	mem := layerKeys{db: db, start: start, slot: scanSlot(start)}
	hidden := false // a layer emptied db: bbolt and the older layers are hidden
	for _, l := range r.layers {
		mem.layers = append(mem.layers, l)
		if hidden = l.cleared[db]; hidden {
			break
		}
	}
	var c *bolt.Cursor
	var k, raw []byte
	if !hidden {
		c = r.bv.data(db).Cursor()
		k, raw = c.Seek(u64(start))
	}
	mk := []byte{db}
	seen := 0
	var last uint64
	for {
		upTo := scanSlots - 1 // the layers' keys before bbolt's next, or all
		if k != nil {
			upTo = scanSlot(binary.BigEndian.Uint64(k))
		}
		e, rec, memOK := mem.peek(upTo)
		if k == nil && !memOK {
			return 0
		}
		fromDisk := k != nil
		if fromDisk && memOK {
			h := binary.BigEndian.Uint64(k)
			fromDisk = h < e.h || h == e.h && string(k[8:]) < e.mk[1:]
		}
		var h uint64
		if fromDisk {
			h = binary.BigEndian.Uint64(k)
		} else {
			h = e.h
		}
		pos := h >> cursorShift
		if seen >= count && pos != last {
			return pos
		}
		seen++
		last = pos
		if fromDisk {
			mk = append(mk[:1], k[8:]...)
			if _, decided := layerRecord(mem.layers, db, string(mk)); !decided && !r.bv.isDead(db, k, raw) {
				visit(k[8:], raw)
			}
			k, raw = c.Next()
		} else {
			visit([]byte(e.mk[1:]), rec)
			mem.next()
		}
	}
}
