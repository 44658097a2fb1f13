package storage

// recCache keeps the records of recently checkpointed keys in memory, so
// that a read (GET) or a write that needs a key's old record (SET) finds
// it in a hash map instead of descending bbolt's B+tree.
//
// It holds exactly what bbolt holds for each key it has: a checkpoint
// merges the layers it committed into it (a deleted key leaves it, an
// emptied database empties its map), and readers look through the
// unflushed layers first, so a newer write always wins. It is changed only
// while the DB's mem lock is write-held (by the checkpoint, by Restore)
// and read while it is held for reading or writing (View, ApplyBatch): it
// needs no lock of its own. A checkpoint merges its layers while they are
// still in place, in short holds of the lock (mergeChunk records each), so
// reads and applies are not stopped for a whole large layer: until the
// layers are dropped, they shadow whatever the cache holds for their keys.
// It is filled by writes only; a key read but not written since the node
// started is read from bbolt.
//
// It is bounded by Options.ReadCacheBytes: past the bound, a merge
// evicts keys in Go's map iteration order (effectively at random) until a
// tenth of the bound is free.
//
// A database whose every live record in bbolt the cache holds is whole: a
// key that neither the layers nor the cache hold is absent, and a read (a
// GET of a missing key, the SET that creates one) skips bbolt's B+tree.
// Only checkpoints put records in bbolt's database buckets, and each merges
// into the cache what it wrote (the sweep of filed deletions removes
// records that are already deleted), so a database stays whole until the
// cache evicts from it. It becomes whole when bbolt is opened with it
// empty, when a checkpoint empties it (FLUSHDB), and when the fill loads
// all of it (fill.go).
type recCache struct {
	limit int64
	size  int64
	dbs   [NumDBs]map[string][]byte // key → encoded record
	whole [NumDBs]bool

	// While a fill runs (fill.go): the memKeys merges changed, and the
	// databases they evicted from. reset raises gen, which voids a fill
	// begun before.
	gen     uint64
	filling bool
	touched map[string]struct{}
	spoiled [NumDBs]bool
}

// cacheOverhead approximates a map entry's cost beside its key and value.
const cacheOverhead = 64

func newRecCache(limit int64) *recCache { return &recCache{limit: limit} }

// get returns key's record if the cache holds it, and whether the answer
// is final: the cache holds it, or db is whole and so bbolt does not.
func (c *recCache) get(db uint8, key []byte) ([]byte, bool) {
	rec, ok := c.dbs[db][string(key)]
	return rec, ok || c.whole[db]
}

// mergeChunk is how many records merge applies between two calls of pause.
const mergeChunk = 4096

// merge applies a checkpointed layer: its emptied databases, then its
// records, in the order the layer applied them. It calls pause (which
// releases and retakes the lock) after every mergeChunk records; l must
// not change meanwhile (it is sealed).
func (c *recCache) merge(l *memLayer, pause func()) {
	if c.limit <= 0 {
		return
	}
	for db, cleared := range l.cleared {
		if cleared {
			c.clearDB(uint8(db))
		}
	}
	n := 0
	for mk, rec := range l.recs {
		if n++; n%mergeChunk == 0 {
			pause()
		}
		db, key := mk[0], mk[1:]
		if c.filling {
			c.touched[mk] = struct{}{}
		}
		m := c.dbs[db]
		if old, ok := m[key]; ok {
			c.size -= int64(len(key) + len(old) + cacheOverhead)
			delete(m, key)
		}
		if rec == nil {
			continue
		}
		if m == nil {
			m = map[string][]byte{}
			c.dbs[db] = m
		}
		m[key] = rec
		c.size += int64(len(key) + len(rec) + cacheOverhead)
	}
	if c.size > c.limit {
		c.evict(c.limit - c.limit/10)
	}
}

// clearDB forgets db's records: a checkpoint emptied its bucket, so the
// cache (holding none) holds all of it.
func (c *recCache) clearDB(db uint8) {
	for key, rec := range c.dbs[db] {
		c.size -= int64(len(key) + len(rec) + cacheOverhead)
	}
	c.dbs[db] = nil
	c.whole[db] = true // a fill under way installs nothing for db now
}

// evict drops keys until the cache holds at most target bytes.
func (c *recCache) evict(target int64) {
	for db := range c.dbs {
		for key, rec := range c.dbs[db] {
			if c.size <= target {
				return
			}
			c.size -= int64(len(key) + len(rec) + cacheOverhead)
			delete(c.dbs[db], key)
			c.whole[db] = false
			c.spoiled[db] = c.spoiled[db] || c.filling
		}
	}
}

// reset empties the cache (Restore replaced the state under it); no
// database is whole until the fill after it.
func (c *recCache) reset() {
	c.dbs = [NumDBs]map[string][]byte{}
	c.whole = [NumDBs]bool{}
	c.size = 0
	c.gen++
	c.filling, c.touched, c.spoiled = false, nil, [NumDBs]bool{}
}
