package storage

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// memLayer holds applied changes that are not yet checkpointed to bbolt.
//
// Applying a batch writes into the active layer, in memory, so a client's
// acknowledgement never waits for a bbolt commit: the Raft log, fsynced
// before anything is applied, is what makes a write durable. A background
// checkpoint seals the active layer and writes every sealed layer to bbolt
// in one transaction, together with the applied index and the counters as
// of the newest one; many Raft batches share that commit. After a crash,
// Raft replays the entries after bbolt's applied index from its log.
type memLayer struct {
	recs    map[string][]byte // memKey → encoded record; nil = deleted
	index   map[string]Type   // expiry index key → the key's type; 0 = deleted
	elems   *btree.BTreeG[elemItem]
	slots   *[scanSlots][]slotKey // every memKey recs has held a live record for, by hash (scanmerge.go)
	garbage map[uint64]int64      // collections to remove: oid → count; -1 = done
	sys     map[string][]byte     // replicated settings and modification indexes (sys.go); nil = deleted
	cleared [NumDBs]bool          // the database was emptied before recs
	dirty   bool                  // applied advanced in this layer
	size    int64                 // approximate bytes held

	// Set when sealed: the state this layer brings bbolt to.
	applied  uint64
	keys     [NumDBs]int64
	expires  [NumDBs]int64
	types    typeCounts
	nextOID  uint64
	garbageN int64

	filed bool // its checkpoint filed deletions (dead.go)
}

func newLayer() *memLayer { return newLayerSized(0, 0) }

// newLayerSized is newLayer with room for recs records and index entries
// made in advance: a map grown one insert at a time rehashes every key
// it holds at each doubling, which was 28 % of applying a mass expiry's
// deletions (the layer's maps grew to hundreds of thousands of keys).
func newLayerSized(recs, index int) *memLayer {
	return &memLayer{recs: make(map[string][]byte, recs), index: make(map[string]Type, index), elems: newElemTree(), garbage: map[uint64]int64{}, sys: map[string][]byte{}}
}

// maxLayerHint caps the room a new layer makes in advance.
const maxLayerHint = 1 << 20

// memKey is a key's identity across databases: db ‖ key.
func memKey(db uint8, key []byte) string {
	b := make([]byte, 1+len(key))
	b[0] = db
	copy(b[1:], key)
	return string(b)
}

func (l *memLayer) setRec(mk string, rec []byte) {
	l.recs[mk] = rec
	l.size += int64(len(mk) + len(rec) + 48)
}

func (l *memLayer) setIndex(k []byte, t Type) {
	l.index[string(k)] = t
	l.size += int64(len(k) + 48)
}

// clear empties database db as of this point of the layer, moving the
// entries it removes into recs and index (for a rollback).
func (l *memLayer) clear(db uint8, recs map[string][]byte, index map[string]Type) {
	for k, v := range l.recs {
		if k[0] == db {
			recs[k] = v
			delete(l.recs, k)
		}
	}
	for k, v := range l.index {
		if len(k) > 8 && k[8] == db {
			index[k] = v
			delete(l.index, k)
		}
	}
	l.cleared[db] = true
}

// lookupLayers finds key's encoded record in layers (newest first), then
// in cache (nil: none) and falling back to bbolt. nil means absent. The
// layers, cache and view must have been taken under one hold of the mem lock.
func lookupLayers(layers []*memLayer, cache *recCache, bv *boltView, db uint8, key []byte) []byte {
	var mk string // built once, and only if some layer holds records
	for _, l := range layers {
		if len(l.recs) > 0 {
			if mk == "" {
				mk = memKey(db, key)
			}
			if rec, ok := l.recs[mk]; ok {
				return rec
			}
		}
		if l.cleared[db] {
			return nil
		}
	}
	if cache != nil {
		if rec, final := cache.get(db, key); final {
			return rec
		}
	}
	dk := dataKey(key)
	if rec := bv.data(db).Get(dk); rec != nil && !bv.isDead(db, dk, rec) {
		return rec
	}
	return nil
}

// indexed returns the type of the key whose expiry index entry is k (an
// indexKey in database db), or 0 if the index does not hold k, looking
// through layers (newest first) to bbolt.
func indexed(layers []*memLayer, bv *boltView, db uint8, k []byte) Type {
	for _, l := range layers {
		if t, ok := l.index[string(k)]; ok {
			return t
		}
		if l.cleared[db] {
			return 0
		}
	}
	found, v := bv.expiry().Cursor().Seek(k)
	if !bytes.Equal(found, k) {
		return 0
	}
	if len(v) == 0 {
		return TypeString // written before the index held types
	}
	return Type(v[0])
}

// writeTo writes the layer into a bbolt write transaction, listing in w
// (when not nil) the keys it wrote, for mapWritten.
//
// Keys go in sorted order. bbolt keeps a node's entries in a sorted slice
// until the commit splits it, so each Put in random order shifts the
// entries behind it: quadratic in the keys one node receives within a
// transaction. Fresh sessions' expiry index keys all land in the index's
// last node, and a 50k-key checkpoint took seconds that way. Sorted, those
// Puts append and the data keys visit the tree's leaves in order.
//
// With fileAt or more deletions (fileAt > 0), it files them in the dead
// buckets instead of deleting the records (dead.go); a key it puts is
// taken out of its dead bucket.
func (l *memLayer) writeTo(tx *bolt.Tx, w *written, fileAt int) error {
	for db, cleared := range l.cleared {
		if cleared {
			if err := clearDB(tx, uint8(db)); err != nil {
				return err
			}
		}
	}
	type write struct {
		db       uint8
		key, rec []byte // rec nil: delete
	}
	writes := make([]write, 0, len(l.recs))
	deletions := 0
	for mk, rec := range l.recs {
		writes = append(writes, write{mk[0], dataKey([]byte(mk[1:])), rec})
		if rec == nil {
			deletions++
		}
	}
	slices.SortFunc(writes, func(a, b write) int {
		return cmp.Or(cmp.Compare(a.db, b.db), bytes.Compare(a.key, b.key))
	})
	file := fileAt > 0 && deletions >= fileAt
	meta := tx.Bucket(bucketMeta)
	var mark, was [NumDBs]int64 // the filed marks (dead.go)
	for i := range mark {
		mark[i] = int64(getU64(meta, filedKeys[i]))
		was[i] = mark[i]
	}
	for _, wr := range writes {
		b, dead := tx.Bucket(dbBuckets[wr.db]), tx.Bucket(deadBuckets[wr.db])
		if wr.rec == nil && file {
			old := b.Get(wr.key)
			if old == nil {
				continue // nothing to delete (and so nothing filed)
			}
			if d := recordDeadline(old); d != 0 {
				if err := dead.Put(wr.key, deadMark); err != nil {
					return err
				}
				mark[wr.db] = max(mark[wr.db], d)
				l.filed = true
				w.add(deadBuckets[wr.db], wr.key)
				continue
			}
		}
		var err error
		if wr.rec == nil {
			err = b.Delete(wr.key)
		} else {
			err = b.Put(wr.key, wr.rec)
		}
		if err == nil && mark[wr.db] != 0 {
			err = dead.Delete(wr.key) // a filed deletion no longer
		}
		if err != nil {
			return err
		}
		w.add(dbBuckets[wr.db], wr.key)
	}
	for i := range mark {
		if mark[i] != was[i] {
			if err := meta.Put(filedKeys[i], u64(uint64(mark[i]))); err != nil {
				return err
			}
		}
	}
	idx := tx.Bucket(bucketExpiry)
	// New deadlines are mostly later than all before them, so index keys are
	// mostly appended: fill its pages rather than split them in half.
	idx.FillPercent = 0.9
	for _, ks := range slices.Sorted(maps.Keys(l.index)) {
		k := []byte(ks)
		var err error
		if t := l.index[ks]; t != 0 {
			err = idx.Put(k, []byte{byte(t)})
		} else {
			err = idx.Delete(k)
		}
		if err != nil {
			return err
		}
		w.add(bucketExpiry, k)
	}
	if err := l.writeElems(tx, w); err != nil {
		return err
	}
	if err := l.writeSys(tx); err != nil {
		return err
	}
	return l.writeMeta(tx)
}

func (l *memLayer) writeMeta(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyApplied, u64(l.applied)); err != nil {
		return err
	}
	if err := meta.Put(keyNextOID, u64(l.nextOID)); err != nil {
		return err
	}
	if err := meta.Put(keyGarbage, u64(uint64(l.garbageN))); err != nil {
		return err
	}
	for i := range NumDBs {
		if err := meta.Put(countKeys[i], u64(uint64(l.keys[i]))); err != nil {
			return err
		}
		if err := meta.Put(expireCountKey(uint8(i)), u64(uint64(l.expires[i]))); err != nil {
			return err
		}
	}
	return meta.Put(keyTypeCounts, encodeTypeCounts(l.applied, &l.types))
}

// clearDB deletes every key of db, its filed deletions and its expiry
// index entries.
func clearDB(tx *bolt.Tx, db uint8) error {
	if err := tx.Bucket(bucketMeta).Delete(filedKeys[db]); err != nil {
		return err
	}
	for _, name := range [][]byte{dbBuckets[db], deadBuckets[db]} {
		if err := tx.DeleteBucket(name); err != nil && err != bolt.ErrBucketNotFound {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	idx := tx.Bucket(bucketExpiry)
	var doomed [][]byte
	c := idx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > 8 && k[8] == db {
			doomed = append(doomed, clone(k))
		}
	}
	for _, k := range doomed {
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Flush checkpoints every applied change to bbolt and returns once it is
// committed (fsynced). It is safe to call from any goroutine.
func (db *DB) Flush() error {
	_, err := db.flush(nil)
	return err
}

// beginCommit takes what a commit of the checkpointer's holds — flushMu,
// so that no two overlap, then the read lock Close and Restore wait on —
// and checks that the DB may still commit; end releases them.
func (db *DB) beginCommit() (end func(), err error) {
	db.flushMu.Lock()
	db.mu.RLock()
	end = func() {
		db.mu.RUnlock()
		db.flushMu.Unlock()
	}
	if db.closed {
		err = ErrClosed
	} else {
		err = db.checkpointErr()
	}
	if err != nil {
		end()
		return nil, err
	}
	return end, nil
}

// flush is Flush, listing in w (when not nil) the keys it wrote, and
// reporting whether it filed deletions (dead.go).
func (db *DB) flush(w *written) (filed bool, err error) {
	end, err := db.beginCommit()
	if err != nil {
		return false, err
	}
	defer end()
	list := db.seal()
	if len(list) == 0 {
		return false, nil
	}
	defer db.endCheckpoint()
	start := time.Now()
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for _, l := range list {
			if err := l.writeTo(tx, w, db.opts.FileDeletionsAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if w != nil {
			w.keys = w.keys[:0]
		}
		err = fmt.Errorf("storage: checkpoint to %d: %w", list[len(list)-1].applied, err)
		db.mem.Lock()
		db.ckptErr = err
		db.mem.Unlock()
		return false, err
	}
	var freed int64
	for _, l := range list {
		freed += l.size
		filed = filed || l.filed
	}
	if filed {
		db.deadLeft.Store(true)
	}
	// The layers stay in place while the cache takes in their records
	// (cache.go), then go.
	db.mem.Lock()
	for _, l := range list {
		db.cache.merge(l, func() { db.mem.Unlock(); db.mem.Lock() })
	}
	db.sealed = db.sealed[len(list):]
	db.durable = list[len(list)-1].applied
	db.mem.Unlock()
	db.pending.Add(-freed)
	db.measure()
	if db.opts.OnCheckpoint != nil {
		db.opts.OnCheckpoint(time.Since(start), freed)
	}
	return filed, nil
}

// endCheckpoint wakes whoever waits for this checkpoint to end.
func (db *DB) endCheckpoint() {
	db.mem.Lock()
	defer db.mem.Unlock()
	close(db.ckptEnd)
	db.ckptEnd = make(chan struct{})
}

// seal closes the active layer, if it holds anything, and returns every
// sealed layer, oldest first.
//
// The new active layer is made as large as the one it replaces (the
// workload's size for one checkpoint window), before the lock is taken:
// making a large map zeroes its memory.
func (db *DB) seal() []*memLayer {
	db.mem.RLock()
	recs, index := len(db.active.recs), len(db.active.index)
	db.mem.RUnlock()
	next := newLayerSized(min(recs, maxLayerHint), min(index, maxLayerHint))
	db.mem.Lock()
	defer db.mem.Unlock()
	if a := db.active; len(a.recs) > 0 || len(a.index) > 0 || a.elems.Len() > 0 || len(a.garbage) > 0 || len(a.sys) > 0 || a.dirty || a.hasClear() {
		a.applied = db.applied.Load()
		a.nextOID = db.nextOID.Load()
		a.garbageN = db.garbage.Load()
		for i := range NumDBs {
			a.keys[i] = db.keys[i].Load()
			a.expires[i] = db.expires[i].Load()
			for t := range NumKeyTypes {
				a.types[i][t] = db.types[i][t].Load()
			}
		}
		db.sealed = append(db.sealed, a)
		db.active = next
		db.tombstones.Store(0)
	}
	return append([]*memLayer(nil), db.sealed...)
}

func (l *memLayer) hasClear() bool {
	for _, c := range l.cleared {
		if c {
			return true
		}
	}
	return false
}

func (db *DB) checkpointErr() error {
	db.mem.RLock()
	defer db.mem.RUnlock()
	return db.ckptErr
}

// layers returns the unflushed layers, newest first. Call with mem held.
func (db *DB) layersLocked() []*memLayer {
	out := make([]*memLayer, 0, 1+len(db.sealed))
	out = append(out, db.active)
	for i := len(db.sealed) - 1; i >= 0; i-- {
		out = append(out, db.sealed[i])
	}
	return out
}

// maxTombstones element deletions in the active layer end a checkpoint's
// wait for CheckpointBytes: a set popped at random (SPOP) otherwise makes
// every pick step past more and more deleted members.
const maxTombstones = 1024

// checkpointer commits layers in the background whenever there are any:
// while one checkpoint runs, batches pile up in the active layer and the
// next checkpoint writes them all at once.
// Checkpoints are at least CheckpointInterval apart. Past that, one waits
// until CheckpointBytes of changes are pending or CheckpointMaxInterval has
// passed since the last, so that a small hot keyspace (whose every
// checkpoint rewrites the same pages) is written less often, while large
// writes, and element deletions (maxTombstones), still go out after a
// short window. Somebody waiting for a checkpoint (see urgeCheckpoint)
// skips both waits.
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	pace := time.NewTimer(0)
	defer pace.Stop()
	window := time.NewTimer(time.Hour)
	window.Stop() // armed before each wait for bytes
	defer window.Stop()
	sweep := time.NewTimer(time.Hour)
	sweep.Stop() // armed while filed deletions are left
	defer sweep.Stop()
	last := time.Now()
	for {
		var swept <-chan time.Time
		if db.deadLeft.Load() && !db.noSweep.Load() {
			sweep.Reset(sweepPause)
			swept = sweep.C
		}
		select {
		case <-db.ckptStop:
			return
		case <-db.ckptKick:
		case <-swept:
			if err := db.sweep(); err != nil && err != ErrClosed {
				db.opts.OnCheckpointError(err)
			}
			continue
		}
		urged := false
		select {
		case <-db.ckptStop:
			return
		case <-pace.C:
		case <-db.ckptNow:
			urged = true
		}
		if !urged && db.opts.CheckpointMaxInterval > db.opts.CheckpointInterval {
			window.Reset(db.opts.CheckpointMaxInterval - time.Since(last))
		wait:
			for db.pending.Load() < db.opts.CheckpointBytes && db.tombstones.Load() < maxTombstones {
				select {
				case <-db.ckptStop:
					return
				case <-db.ckptNow:
					break wait
				case <-window.C:
					break wait
				case <-db.ckptKick: // more applied: look at pending again
				}
			}
			window.Stop()
		}
		var w written
		filed, err := db.flush(&w)
		if err != nil && err != ErrClosed {
			db.opts.OnCheckpointError(err)
		}
		db.mapWritten(w.keys)
		if db.deadLeft.Load() && !db.noSweep.Load() && !filed {
			// One sweep per checkpoint too: under steady writes a kick is
			// always waiting, and the sweep timer would never be chosen.
			// Not while a mass deletion goes on (this checkpoint filed):
			// each sweep would delay the next checkpoint of it, and the
			// expiry drain waits on the checkpoint backlog.
			if err := db.sweep(); err != nil && err != ErrClosed {
				db.opts.OnCheckpointError(err)
			}
		}
		last = time.Now()
		pace.Reset(db.opts.CheckpointInterval)
	}
}

// urgeCheckpoint asks for a checkpoint that does not wait out
// CheckpointInterval.
func (db *DB) urgeCheckpoint() {
	db.kickCheckpoint()
	select {
	case db.ckptNow <- struct{}{}:
	default:
	}
}

func (db *DB) kickCheckpoint() {
	select {
	case db.ckptKick <- struct{}{}:
	default:
	}
}
