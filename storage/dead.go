package storage

import (
	"bytes"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Filed deletions.
//
// A checkpoint that deletes a key from bbolt rewrites the 4 KiB leaf the
// key's record sits on. Keys are ordered by hash, so a mass expiry (a
// million sessions sharing a deadline) dirties a leaf per key: at 10
// million sessions a checkpoint of ~240,000 deletions wrote ~1.7 GB and
// took 9–12 s, the checkpointer fell behind the expiry drain, and a
// restart replayed the whole drain from the Raft log.
//
// So a checkpoint with many deletions files those of records that have a
// deadline instead: it puts each such key in the database's dead bucket
// (deadN: dataKey → deadMark), which is small and written densely, leaves
// the record where it is, and raises the database's filed mark (meta
// "filed<db>") to the latest deadline among the records it filed. A
// record whose key is filed is deleted: a read of a database bucket asks
// the dead bucket about each record it finds there whose deadline is not
// after the filed mark (boltView.isDead) — so records without a deadline,
// or with a later one (a week-long session beside a drained mass expiry),
// cost no second lookup — and a checkpoint that puts the key again takes
// it out of the dead bucket in the same commit. The checkpointer sweeps
// filed deletions afterwards, sweepChunk at a time, deleting each record
// and its entry in one commit, and the filed mark with the last: after
// each checkpoint that filed nothing (not during a mass deletion, whose
// checkpoints it would delay) and every sweepPause when idle. Filing is
// physical only: what the state holds, the counters and the events are
// the same as a deletion's, on every node whenever it files or sweeps;
// DEBUG DIGEST leaves filed records, the dead buckets and the filed marks
// out.

var (
	deadBuckets [NumDBs][]byte
	filedPrefix = []byte("filed")
	filedKeys   [NumDBs][]byte // meta keys of the filed marks
)

func init() {
	for i := range deadBuckets {
		deadBuckets[i] = []byte("dead" + strconv.Itoa(i))
		filedKeys[i] = []byte("filed" + strconv.Itoa(i))
	}
}

// deadMark is the value of a dead bucket entry (bbolt's Get cannot tell
// an empty value from none).
var deadMark = []byte{1}

// DefaultFileDeletionsAt is Options.FileDeletionsAt's default: below it,
// a checkpoint deletes records in place.
const DefaultFileDeletionsAt = 4096

const (
	sweepChunk = 1024                   // filed deletions swept per commit
	sweepPause = 100 * time.Millisecond // least time between two sweeps
)

func (v *boltView) dead(db uint8) *bolt.Bucket { return v.bucket(viewDead + int(db)) }

// filedMark returns database db's filed mark as of the view: the latest
// deadline of a record filed as deleted, 0 when none is.
func (v *boltView) filedMark(db uint8) int64 {
	if !v.markRead[db] {
		v.mark[db] = int64(getU64(v.tx.Bucket(bucketMeta), filedKeys[db]))
		v.markRead[db] = true
	}
	return v.mark[db]
}

// isDead reports whether rec, the record under dk (a dataKey) in
// database db, is a filed deletion: gone, though bbolt still holds it.
func (v *boltView) isDead(db uint8, dk, rec []byte) bool {
	mark := v.filedMark(db)
	if mark == 0 {
		return false
	}
	if d := recordDeadline(rec); d == 0 || d > mark {
		return false // never filed
	}
	return v.dead(db).Get(dk) != nil
}

// deadBucketIndex returns the database whose dead bucket is named name.
func deadBucketIndex(name []byte) (uint8, bool) {
	for i, n := range deadBuckets {
		if string(n) == string(name) {
			return uint8(i), true
		}
	}
	return 0, false
}

// dataBucketIndex returns the database whose bucket is named name.
func dataBucketIndex(name []byte) (uint8, bool) {
	for i, n := range dbBuckets {
		if string(n) == string(name) {
			return uint8(i), true
		}
	}
	return 0, false
}

// anyFiled reports whether some database of tx has filed deletions.
func anyFiled(tx *bolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	for _, k := range filedKeys {
		if getU64(meta, k) != 0 {
			return true
		}
	}
	return false
}

// isFiledKey reports whether a meta key is a filed mark.
func isFiledKey(k []byte) bool { return bytes.HasPrefix(k, filedPrefix) }

// sweep deletes up to sweepChunk filed deletions, records and entries,
// in one commit, and notes whether any are left. A sweep changes no
// logical state, so it runs beside reads and applies; it holds flushMu,
// as a checkpoint does, so that no two commits overlap.
func (db *DB) sweep() error {
	end, err := db.beginCommit()
	if err != nil {
		// Closed, or a checkpoint failed (the node must restart): no
		// more sweeps until the file is opened again.
		db.deadLeft.Store(false)
		return err
	}
	defer end()
	left := false
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		n := sweepChunk
		for i := range NumDBs {
			dead, data := tx.Bucket(deadBuckets[i]), tx.Bucket(dbBuckets[i])
			var keys [][]byte
			c := dead.Cursor()
			k, _ := c.First()
			for ; k != nil && len(keys) < n; k, _ = c.Next() {
				keys = append(keys, clone(k))
			}
			for _, k := range keys {
				if err := data.Delete(k); err != nil {
					return err
				}
				if err := dead.Delete(k); err != nil {
					return err
				}
			}
			if n -= len(keys); n == 0 {
				left = true // perhaps: the next sweep finds out
				break
			}
			// db has no filed deletion left.
			if err := tx.Bucket(bucketMeta).Delete(filedKeys[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	db.deadLeft.Store(left)
	db.measure()
	return nil
}
