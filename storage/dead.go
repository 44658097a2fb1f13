package storage

import (
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
// So a checkpoint with many deletions files them instead: it puts each
// deleted key in the database's dead bucket (deadN: dataKey → deadMark),
// which is small and written densely, and leaves the record where it is.
// A record whose key is filed is deleted: every read of a database
// bucket asks the dead bucket about each record it finds there while the
// dead bucket is not empty (boltView.isDead), and a checkpoint that puts
// the key again takes it out of the dead bucket in the same commit. The
// checkpointer sweeps filed deletions afterwards, sweepChunk at a time
// and at most every sweepPause, deleting each record and its entry in
// one commit. Filing is physical only: what the state holds, the
// counters and the events are the same as a deletion's, on every node
// whenever it files or sweeps; DEBUG DIGEST leaves filed records and the
// dead buckets out.

var deadBuckets [NumDBs][]byte

func init() {
	for i := range deadBuckets {
		deadBuckets[i] = []byte("dead" + strconv.Itoa(i))
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

// deadState caches, per view and database, whether its dead bucket is
// empty.
const (
	deadUnknown uint8 = iota
	deadNone
	deadSome
)

func (v *boltView) dead(db uint8) *bolt.Bucket { return v.bucket(viewDead + int(db)) }

// isDead reports whether the record under dk (a dataKey) in database db
// is a filed deletion: gone, though bbolt still holds it.
func (v *boltView) isDead(db uint8, dk []byte) bool {
	switch v.deadState[db] {
	case deadNone:
		return false
	case deadUnknown:
		b := v.dead(db)
		if b == nil {
			v.deadState[db] = deadNone
			return false
		}
		if k, _ := b.Cursor().First(); k == nil {
			v.deadState[db] = deadNone
			return false
		}
		v.deadState[db] = deadSome
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

// anyDead reports whether some dead bucket of tx holds an entry.
func anyDead(tx *bolt.Tx) bool {
	for _, name := range deadBuckets {
		if b := tx.Bucket(name); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				return true
			}
		}
	}
	return false
}

// sweep deletes up to sweepChunk filed deletions, records and entries,
// in one commit, and notes whether any are left. A sweep changes no
// logical state, so it runs beside reads and applies; it holds flushMu,
// as a checkpoint does, so that no two commits overlap.
func (db *DB) sweep() error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	if err := db.checkpointErr(); err != nil {
		return err
	}
	left := false
	err := db.bolt.Update(func(tx *bolt.Tx) error {
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
