package storage

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The read cache must never change what a read or a write sees. The same
// random writes (SET, APPEND, INCR, DEL, RENAME, FLUSHDB, across two
// databases), with checkpoints at random points, go to a DB whose cache is
// small enough to evict all the time, to one with a large cache and to one
// without: after every step every key reads the same in all three, and the
// results and digests agree. Then a snapshot of the cached DB is restored
// over a DB whose cache is full of other values: its reads follow the
// snapshot.
//
// The cached DBs are also closed and reopened at random points: a reopened
// cache loads the databases that fit (fill.go; it then answers for their
// missing keys without bbolt), and must read exactly as before.
func TestReadCacheNeverChangesReads(t *testing.T) {
	reopen := func(path string, cache int64) *DB {
		db, err := Open(path, Options{InitialMmapSize: 1 << 24, ReadCacheBytes: cache})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	open := func(cache int64) *DB { return reopen(filepath.Join(t.TempDir(), "state.db"), cache) }
	dbs := []*DB{open(2000), open(64 << 20), open(-1)}
	loadedWhole := 0 // reopened DBs that loaded a non-empty database whole
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(40)) }
	read := func(db *DB, n uint8, k []byte) string {
		var out string
		db.View(func(r *Reader) error {
			v, ok := r.Get(n, k, 1000)
			if ok {
				out = fmt.Sprintf("%d:%q", v.Type, v.Data)
			}
			return nil
		})
		return out
	}
	hits := 0
	for i := range 3000 {
		c := Cmd{DB: uint8(rng.IntN(2))}
		switch r := rng.IntN(100); {
		case r < 40:
			c.Op, c.Keys, c.Vals = OpSet, [][]byte{key()}, [][]byte{fmt.Appendf(nil, "v%d", i)}
		case r < 55:
			c.Op, c.Keys, c.Vals, c.Limit = OpAppend, [][]byte{key()}, [][]byte{[]byte("+")}, 1<<20
		case r < 65:
			c.Op, c.Keys, c.Int = OpIncrBy, [][]byte{key()}, 1
		case r < 85:
			c.Op, c.Keys = OpDel, [][]byte{key()}
		case r < 98:
			c.Op, c.Keys = OpRename, [][]byte{key(), key()}
		default:
			c.Op = OpFlushDB
		}
		e := LogEntry{Index: uint64(i + 1), Data: entry(1000, c)}
		var results []string
		for _, db := range dbs {
			out := mustApply(t, db, e)
			results = append(results, fmt.Sprintf("%+v", out.Results))
			if rng.IntN(10) == 0 {
				if err := db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if results[0] != results[1] || results[1] != results[2] {
			t.Fatalf("step %d %v: results differ: %v", i, c.Op, results)
		}
		if rng.IntN(100) == 0 {
			for j, cache := range []int64{2000, 64 << 20} {
				if err := dbs[j].Close(); err != nil {
					t.Fatal(err)
				}
				dbs[j] = reopen(dbs[j].Path(), cache)
				dbs[j].Fill()
				waitFill(dbs[j])
				dbs[j].mem.RLock()
				for n := range 2 {
					if dbs[j].cache.whole[n] && len(dbs[j].cache.dbs[n]) > 0 {
						loadedWhole++
					}
				}
				dbs[j].mem.RUnlock()
			}
		}
		for n := range uint8(2) {
			for k := range 40 {
				kb := fmt.Appendf(nil, "k%d", k)
				a, b, want := read(dbs[0], n, kb), read(dbs[1], n, kb), read(dbs[2], n, kb)
				if a != want || b != want {
					t.Fatalf("step %d %v: db%d %s reads %s (small cache), %s (large cache), %s (no cache)", i, c.Op, n, kb, a, b, want)
				}
			}
		}
	}
	for _, db := range dbs[:2] {
		db.mem.RLock()
		for n := range NumDBs {
			hits += len(db.cache.dbs[n])
		}
		if db.cache.size > db.cache.limit {
			t.Errorf("cache holds %d bytes, over its bound %d", db.cache.size, db.cache.limit)
		}
		db.mem.RUnlock()
	}
	if hits == 0 {
		t.Fatal("the caches never held a record: the test exercised nothing")
	}
	if loadedWhole == 0 {
		t.Fatal("no reopened cache loaded a database whole: the test exercised nothing")
	}
	var digests []string
	for _, db := range dbs {
		d, err := db.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("digests differ: %v", digests)
	}

	// Restore: a DB whose cache holds other values for the same keys.
	other := open(64 << 20)
	for k := range 40 {
		mustApply(t, other, LogEntry{Index: uint64(k + 1), Data: entry(1000, set(fmt.Sprintf("k%d", k), "stale", 0))})
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := other.Restore(snapshotOf(t, dbs[1])); err != nil {
		t.Fatal(err)
	}
	for k := range 40 {
		kb := fmt.Appendf(nil, "k%d", k)
		if got, want := read(other, 0, kb), read(dbs[2], 0, kb); got != want {
			t.Fatalf("after Restore %s reads %s, want %s", kb, got, want)
		}
	}
}

// A checkpoint merges large layers into the cache in short holds of the
// lock, with reads and applies running in between: no read may see a key
// older than the last batch applied before it began. Every batch writes
// its number to all keys, so a stale cached record shows as a smaller one.
func TestReadsDuringChunkedCacheMerge(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 26, ReadCacheBytes: 1 << 30, CheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const keys, batches = 3 * mergeChunk, 40
	var acked atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	var stale atomic.Int64
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				floor := acked.Load()
				k := []byte(fmt.Sprintf("k%05d", rng.IntN(keys)))
				db.View(func(rd *Reader) error {
					v, ok := rd.Get(0, k, 1)
					got, _ := strconv.ParseInt(string(v.Data), 10, 64)
					if floor > 0 && (!ok || got < floor) {
						stale.Add(1)
						t.Errorf("%s read %q after batch %d was applied", k, v.Data, floor)
					}
					return nil
				})
			}
		}()
	}
	for b := int64(1); b <= batches; b++ {
		cmds := make([]Cmd, keys)
		for i := range cmds {
			cmds[i] = set(fmt.Sprintf("k%05d", i), strconv.FormatInt(b, 10), 0)
		}
		mustApply(t, db, LogEntry{Index: uint64(b), Data: entry(1, cmds...)})
		acked.Store(b)
		if b%4 == 0 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if stale.Load() > 0 {
		t.Fatalf("%d stale reads", stale.Load())
	}
}

// waitFill waits for the fill that Fill or Restore started last.
func waitFill(db *DB) {
	db.mem.RLock()
	done := db.fillDone
	db.mem.RUnlock()
	<-done
}
