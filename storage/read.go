package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Value is a live key's stored state. Data is valid only inside the View
// that returned it.
type Value struct {
	Type     Type
	Deadline int64 // absolute Unix ms; 0 = none
	Data     []byte
}

// Reader is a consistent read view of the state. Every method treats a key
// whose deadline has passed at now as absent. Get and Scan see everything
// applied; RandomKey, DueBetween and Digest see what is checkpointed to
// bbolt, so call DB.Flush first when they must reflect every applied write.
type Reader struct {
	bv      boltView // the bbolt transaction, its buckets opened once
	layers  []*memLayer
	cache   *recCache // nil: read bbolt alone below the layers
	applied uint64
}

// Get returns key's value in database db at time now.
func (r *Reader) Get(db uint8, key []byte, now int64) (Value, bool) {
	raw := lookupLayers(r.layers, r.cache, &r.bv, db, key)
	rec, ok := decodeRecord(raw)
	if !ok || expired(rec.deadline, now) {
		return Value{}, false
	}
	return Value{Type: rec.typ, Deadline: rec.deadline, Data: rec.value}, true
}

// ScanResult is one page of a Scan.
type ScanResult struct {
	Keys   [][]byte
	Cursor uint64 // 0 when the scan is complete; always < MaxCursor
}

// MaxCursor bounds every cursor Scan returns: JavaScript clients (node-redis
// 4's scanIterator) read a SCAN cursor as a Number, exact only below 2^53.
const MaxCursor = 1 << 53

// cursorShift turns a 64-bit hash position into a cursor: a cursor is the
// top 53 bits of the hash of the next key to visit.
const cursorShift = 64 - 53

// Scan visits live keys of db in hash order starting at cursor (0 = the
// beginning), calling fn for each; fn returns whether to include the key.
// A cursor is the top 53 bits of a hash position (see MaxCursor): Scan
// resumes at the first key whose hash is >= cursor<<11. It stops after
// examining about count keys (at least one), but never between two keys
// whose hashes share those 53 bits, so the next page starts exactly at the
// first key it did not examine. Hence a key present for the whole scan is
// returned exactly once. A cursor >= MaxCursor, which Scan never returns,
// lies past every position: the page is empty and the scan complete.
func (r *Reader) Scan(db uint8, cursor uint64, count int, now int64, fn func(key []byte, v Value) bool) ScanResult {
	var res ScanResult
	if cursor >= MaxCursor {
		return res
	}
	count = max(count, 1) // with 0 it could stop before examining a key, and loop
	// A page that stops does so at a key with pos > last >= 0 (keys come in
	// hash order), so it never returns cursor 0.
	res.Cursor = r.scanMerged(db, cursor, count, func(key, raw []byte) {
		rec, ok := decodeRecord(raw)
		if !ok || expired(rec.deadline, now) {
			return
		}
		if fn(key, Value{Type: rec.typ, Deadline: rec.deadline, Data: rec.value}) {
			res.Keys = append(res.Keys, clone(key))
		}
	})
	return res
}

// RandomKey returns a live key of db near the hash position pos, or false
// when db has no live key.
func (r *Reader) RandomKey(db uint8, pos uint64, now int64) ([]byte, bool) {
	c := r.bv.data(db).Cursor()
	k, raw := c.Seek(u64(pos))
	for wrapped := false; ; k, raw = c.Next() {
		if k == nil {
			if wrapped {
				return nil, false
			}
			wrapped = true
			k, raw = c.First()
			if k == nil {
				return nil, false
			}
		}
		if wrapped && bytes.Compare(k, u64(pos)) >= 0 {
			return nil, false
		}
		rec, ok := decodeRecord(raw)
		if ok && !expired(rec.deadline, now) && !r.bv.isDead(db, k, raw) {
			return clone(k[8:]), true
		}
	}
}

// Due is an expiry index entry: key in db reaches its deadline At.
type Due struct {
	DB  uint8
	Key []byte
	At  int64
}

// DueBetween returns up to limit expiry index entries with from <= entry
// and deadline < until, in index order, and the position after the last one
// returned (pass it as from to continue). from nil starts at the beginning.
func (r *Reader) DueBetween(from []byte, until int64, limit int) ([]Due, []byte) {
	c := r.bv.expiry().Cursor()
	var out []Due
	next := from
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil && len(out) < limit; k, _ = c.Next() {
		if len(k) < 9 {
			continue
		}
		at := int64(binary.BigEndian.Uint64(k))
		if at >= until {
			break
		}
		out = append(out, Due{DB: k[8], Key: clone(k[9:]), At: at})
		next = append(clone(k), 0) // the smallest key after k
	}
	return out, next
}

// IndexPosition returns the expiry index position of a deadline, for use
// with DueBetween.
func IndexPosition(deadline int64) []byte { return u64(uint64(deadline)) }

// Digest checkpoints and returns a deterministic digest of the whole state
// (every bucket's keys and values, and the applied index), for comparing
// nodes and stores. Filed deletions (dead.go) are left out: where they
// are is up to each node's checkpoints and sweeps.
func (db *DB) Digest() (string, error) {
	if err := db.Flush(); err != nil {
		return "", err
	}
	var d string
	err := db.View(func(r *Reader) error { d = r.digest(); return nil })
	return d, err
}

func (r *Reader) digest() string {
	h := newDigest()
	_ = r.bv.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if _, ok := deadBucketIndex(name); ok {
			return nil
		}
		db, data := dataBucketIndex(name)
		meta := string(name) == string(bucketMeta)
		h.add(name)
		return b.ForEach(func(k, v []byte) error {
			if data && r.bv.isDead(db, k, v) || meta && isFiledKey(k) {
				return nil
			}
			h.add(k)
			h.add(v)
			return nil
		})
	})
	return fmt.Sprintf("%016x", h.sum())
}
