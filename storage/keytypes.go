package storage

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// Keys per database and type (the keepkv_keys_by_type metric), kept like
// the per-database key counters: apply counts in the two places a key's
// record is stored or removed (applier.store and applier.unlink) and where
// a database is emptied (flushDB); a command's counts roll back with its
// journal; a checkpoint writes them, with the applied index they are of,
// to the meta bucket in the same transaction as the records. Like the key
// counters, they include keys past their deadline whose delete has not
// applied yet.
//
// A state file written before these counters existed, or whose counters
// are not of its applied index (a checkpoint by a version that did not
// keep them), gets them once, by a scan, when it is opened.

// NumKeyTypes is the number of value types KeysByType counts.
const NumKeyTypes = 5

// KeyTypes returns the value types in the order KeysByType counts them.
func KeyTypes() [NumKeyTypes]Type {
	return [NumKeyTypes]Type{TypeString, TypeList, TypeHash, TypeSet, TypeZSet}
}

// typeSlot returns t's position in KeyTypes, or -1 for a byte that is not
// a type (a corrupt record, counted nowhere).
func typeSlot(t Type) int {
	switch t {
	case TypeString:
		return 0
	case TypeList:
		return 1
	case TypeHash:
		return 2
	case TypeSet:
		return 3
	case TypeZSet:
		return 4
	}
	return -1
}

// typeCounts is, for each database, the number of keys of each type.
type typeCounts [NumDBs][NumKeyTypes]int64

// KeysByType returns the number of keys of each type (in KeyTypes order)
// stored in database n, counting, as KeyCount, keys whose deadline has
// passed but which are not yet deleted. It reads counters: no scan.
func (db *DB) KeysByType(n uint8) [NumKeyTypes]int64 {
	var out [NumKeyTypes]int64
	for i := range out {
		out[i] = db.types[n][i].Load()
	}
	return out
}

// countType adds d to the count of keys of type t in database n.
func (a *applier) countType(n uint8, t Type, d int64) {
	if i := typeSlot(t); i >= 0 {
		a.typeDelta[n][i] += d
	}
}

// keyTypeCounts is the meta key of the counters:
// applied index (8) ‖ for each database, for each type in KeyTypes order,
// the count (8 bytes each).
var keyTypeCounts = []byte("keytypes")

const typeCountsLen = 8 + NumDBs*NumKeyTypes*8

func encodeTypeCounts(applied uint64, c *typeCounts) []byte {
	b := make([]byte, 0, typeCountsLen)
	b = binary.BigEndian.AppendUint64(b, applied)
	for n := range c {
		for _, v := range c[n] {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
	}
	return b
}

// decodeTypeCounts decodes a keyTypeCounts value; false unless it is of
// the applied index and well formed.
func decodeTypeCounts(v []byte, applied uint64) (typeCounts, bool) {
	var c typeCounts
	if len(v) != typeCountsLen || binary.BigEndian.Uint64(v) != applied {
		return c, false
	}
	v = v[8:]
	for n := range c {
		for i := range c[n] {
			c[n][i] = int64(binary.BigEndian.Uint64(v))
			v = v[8:]
		}
	}
	return c, true
}

// scanTypeCounts counts the records of every database in a bbolt
// transaction.
func scanTypeCounts(tx *bolt.Tx) typeCounts {
	var c typeCounts
	for n := range NumDBs {
		b := tx.Bucket(dbBuckets[n])
		if b == nil {
			continue
		}
		bv := boltView{tx: tx}
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(v) < recordHeader || bv.isDead(uint8(n), k, v) {
				continue
			}
			if i := typeSlot(Type(v[0])); i >= 0 {
				c[n][i]++
			}
		}
	}
	return c
}

// ensureTypeCounts gives the file the counters of its applied index,
// scanning its keys if they are missing or stale (see above). It runs in
// the write transaction that opens the file.
func ensureTypeCounts(tx *bolt.Tx) error {
	if typeCountsCurrent(tx) {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	applied := getU64(meta, keyApplied)
	c := scanTypeCounts(tx)
	return meta.Put(keyTypeCounts, encodeTypeCounts(applied, &c))
}

// typeCountsCurrent reports whether the file's type counts are those of
// its applied index (tx holds the meta bucket).
func typeCountsCurrent(tx *bolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	_, ok := decodeTypeCounts(meta.Get(keyTypeCounts), getU64(meta, keyApplied))
	return ok
}

// loadTypeCounts sets the counters from the meta bucket (ensureTypeCounts
// has made them current).
func (db *DB) loadTypeCounts(tx *bolt.Tx) {
	meta := tx.Bucket(bucketMeta)
	c, ok := decodeTypeCounts(meta.Get(keyTypeCounts), getU64(meta, keyApplied))
	if !ok {
		c = scanTypeCounts(tx)
	}
	for n := range c {
		for i, v := range c[n] {
			db.types[n][i].Store(v)
		}
	}
}
