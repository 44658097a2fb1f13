package storage

import (
	"fmt"
	"path/filepath"
	"testing"
)

// The fill reads bbolt a chunk at a time while checkpoints go on: between
// its chunks, writes overwrite, delete and create keys on both sides of
// where it has got to and are checkpointed (in one variant a round also
// empties the database with FLUSHDB, in another the cache evicts everything
// after a round: the keys that round changed are then in neither the
// cache nor what the fill may install). Once it has installed
// the database, the database is whole, every key, missing ones included,
// reads as on a DB without a cache that applied the same entries, and the
// cache's byte count is what it holds.
func TestFillKeepsUpWithCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		name             string
		flushAt, evictAt int
	}{{"checkpoints", -1, -1}, {"flushdb", 2, -1}, {"evicted", -1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			testFillKeepsUp(t, tc.flushAt, tc.evictAt)
		})
	}
}

func testFillKeepsUp(t *testing.T, flushAt, evictAt int) {
	const keys = 3 * fillChunk
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{InitialMmapSize: 1 << 26})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 26, ReadCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var idx uint64
	apply := func(dbs []*DB, cmds ...Cmd) {
		idx++
		for _, d := range dbs {
			mustApply(t, d, LogEntry{Index: idx, Data: entry(1, cmds...)})
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var load []Cmd
	for i := range keys {
		load = append(load, set(fmt.Sprintf("k%d", i), "v0", 0))
	}
	apply([]*DB{db, plain}, load...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	chunks := 0
	var reopened *DB
	hook := func() {
		chunks++
		round := chunks
		var cmds []Cmd
		if round == flushAt {
			cmds = append(cmds, Cmd{Op: OpFlushDB})
		}
		// Keys spread over the hash order: some the fill has read, some not.
		for i := round; i < keys; i += 97 {
			k := fmt.Sprintf("k%d", i)
			switch i % 3 {
			case 0:
				cmds = append(cmds, set(k, fmt.Sprintf("v%d", round), 0))
			case 1:
				cmds = append(cmds, Cmd{Op: OpDel, Keys: [][]byte{[]byte(k)}})
			default:
				cmds = append(cmds, set(fmt.Sprintf("new%d.%d", round, i), "n", 0))
			}
		}
		apply([]*DB{reopened, plain}, cmds...)
		if round == evictAt {
			reopened.mem.Lock()
			reopened.cache.evict(0)
			reopened.mem.Unlock()
		}
	}
	ready := make(chan struct{})
	opts := Options{InitialMmapSize: 1 << 26, fillHook: func() { <-ready; hook() }}
	if reopened, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	reopened.Fill()
	close(ready)
	waitFill(reopened)
	if chunks < 2 {
		t.Fatalf("the fill read %d chunks between checkpoints: the test is not testing", chunks+1)
	}
	var names []string
	for i := range keys {
		names = append(names, fmt.Sprintf("k%d", i), fmt.Sprintf("missing%d", i))
		for round := 1; round <= chunks; round++ {
			names = append(names, fmt.Sprintf("new%d.%d", round, i))
		}
	}
	for _, k := range names {
		got, gok := get(t, reopened, k, 1)
		want, wok := get(t, plain, k, 1)
		if got != want || gok != wok {
			t.Fatalf("after %d rounds: %s reads %q %v after the fill, %q %v without a cache", chunks, k, got, gok, want, wok)
		}
	}
	reopened.mem.RLock()
	whole, held := reopened.cache.whole[0], len(reopened.cache.dbs[0])
	var counted int64
	for _, m := range reopened.cache.dbs {
		for key, rec := range m {
			counted += int64(len(key) + len(rec) + cacheOverhead)
		}
	}
	size := reopened.cache.size
	reopened.mem.RUnlock()
	if counted != size {
		t.Fatalf("the cache counts %d bytes and holds %d", size, counted)
	}
	if evictAt < 0 && (!whole || held == 0) {
		t.Fatalf("after the fill, database 0 whole %v with %d records cached; want whole and loaded", whole, held)
	}
	if evictAt > 0 && whole {
		t.Fatal("the cache evicted during the fill, and the fill still made the database whole")
	}
}
