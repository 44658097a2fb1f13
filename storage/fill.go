package storage

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The fill.
//
// A node that restarts (or installs a snapshot) starts with an empty read
// cache: its databases are not whole (cache.go), so every read of a key it
// has not written since descends bbolt's B+tree, and so does every read of
// a missing key. The fill loads, in the background, each database that
// fits in the cache below its eviction target, and marks it whole.
//
// It reads bbolt fillChunk records at a time, each chunk under its own
// read transaction and hold of flushMu (as mapWritten: no commit begins
// under the transaction, none is held up for long), while reads, applies
// and checkpoints go on. A checkpoint between two chunks can change records
// the fill has already read: while the fill runs, merges list the keys they
// change (touched) and the databases they evict from (spoiled).
// The fill installs a database under flushMu and the mem lock, so with no
// merge half done: it drops the touched keys from what it read, and lets
// the cache's own records win (the cache holds exactly what bbolt holds
// for each key it has, and a touched key bbolt still holds is in the cache
// unless evicted, which spoils the database). What is left is what bbolt
// holds now. A spoiled database, one a checkpoint emptied meanwhile
// (FLUSHDB: the cache holds it whole already), one that outgrew the target
// while being read, or a fill that a Restore overtook (reset raises the
// generation) installs nothing.

// fillChunk is how many records the fill reads under one read transaction.
const fillChunk = 4096

// wholeIfEmpty marks whole each database that bbolt, as just opened, holds
// no record of; only open calls it, before anything reads.
func (c *recCache) wholeIfEmpty(bv *boltView) {
	if c.limit <= 0 {
		return
	}
	for n := range uint8(NumDBs) {
		if k, _ := bv.data(n).Cursor().First(); k == nil {
			c.whole[n] = true
		}
	}
}

// Fill starts the fill (see above) in the background. Call it once a
// restarted node has replayed its log: before, its reads from disk would
// compete with the replay's (with a cold page cache, a 100k-key fill read
// at start made the restart to serving 2–3 s slower here). Restore starts
// one itself. After the fill, its goroutine maps the file's cached pages
// into the process (mapResident).
func (db *DB) Fill() {
	done := make(chan struct{})
	db.mem.Lock()
	db.fillDone = done
	db.mem.Unlock()
	go db.fill(done)
}

// fill loads the databases that fit into the cache (see above), then maps
// the file's cached pages (mapResident), and closes done.
func (db *DB) fill(done chan struct{}) {
	defer func() {
		db.mapResident()
		close(done)
	}()
	c := db.cache
	target := c.limit - c.limit/10
	db.mem.Lock()
	if c.limit <= 0 || c.filling {
		db.mem.Unlock()
		return
	}
	gen := c.gen
	var want []uint8
	room := target - c.size
	for n := range uint8(NumDBs) {
		if keys := db.keys[n].Load(); !c.whole[n] && keys*cacheOverhead <= room {
			want = append(want, n)
			room -= keys * cacheOverhead
		}
	}
	if len(want) == 0 {
		db.mem.Unlock()
		return
	}
	c.filling, c.touched, c.spoiled = true, map[string]struct{}{}, [NumDBs]bool{}
	db.mem.Unlock()
	defer func() {
		db.mem.Lock()
		if c.gen == gen {
			c.filling, c.touched = false, nil
		}
		db.mem.Unlock()
	}()

	for _, n := range want {
		m, size, ok := db.readWhole(n, target)
		if !ok {
			continue
		}
		if !db.installWhole(n, m, size, gen, target) {
			return
		}
	}
}

// readWhole reads database n's live records from bbolt, a chunk at a time,
// and their size as the cache counts it; false if the DB closed or they
// came to more than target bytes.
func (db *DB) readWhole(n uint8, target int64) (map[string][]byte, int64, bool) {
	m := map[string][]byte{}
	var size int64
	var last []byte // the dataKey read last
	for {
		done, over := false, false
		open := db.viewBetweenCommits(func(tx *bolt.Tx) {
			bv := boltView{tx: tx}
			cur := bv.data(n).Cursor()
			k, rec := cur.First()
			if last != nil {
				if k, rec = cur.Seek(last); bytes.Equal(k, last) {
					k, rec = cur.Next()
				}
			}
			for i := 0; k != nil && i < fillChunk; i++ {
				last = clone(k)
				if !bv.isDead(n, k, rec) {
					key := k[8:] // past dataKey's hash
					if size += int64(len(key) + len(rec) + cacheOverhead); size > target {
						over = true
						return
					}
					m[string(key)] = clone(rec)
				}
				k, rec = cur.Next()
			}
			done = k == nil
		})
		if !open || over {
			return nil, 0, false
		}
		if done {
			return m, size, true
		}
		if db.opts.fillHook != nil {
			db.opts.fillHook()
		}
	}
}

// installWhole makes m (database n's records as the fill read them, size
// bytes) the cache's map for n and marks it whole, when nothing spoiled it
// and it fits; false if a Restore overtook the fill. Under the lock it
// only visits the touched keys and the cache's own records of n.
func (db *DB) installWhole(n uint8, m map[string][]byte, size int64, gen uint64, target int64) bool {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mem.Lock()
	defer db.mem.Unlock()
	c := db.cache
	if c.gen != gen {
		return false
	}
	if c.spoiled[n] || c.whole[n] {
		return true
	}
	cost := func(key string, rec []byte) int64 { return int64(len(key) + len(rec) + cacheOverhead) }
	for mk := range c.touched {
		if rec, ok := m[mk[1:]]; ok && mk[0] == n {
			size -= cost(mk[1:], rec)
			delete(m, mk[1:])
		}
	}
	var was int64
	for key, rec := range c.dbs[n] {
		if old, ok := m[key]; ok {
			size -= cost(key, old)
		}
		m[key] = rec
		size += cost(key, rec)
		was += cost(key, rec)
	}
	if c.size-was+size > target {
		return true
	}
	c.dbs[n], c.whole[n] = m, true
	c.size += size - was
	return true
}
