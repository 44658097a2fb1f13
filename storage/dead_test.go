package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// deadCount returns how many filed deletions db's dead buckets hold and
// how many of them still have a record in the database bucket.
func deadCount(t *testing.T, db *DB) (filed, ghosts int) {
	t.Helper()
	db.View(func(r *Reader) error {
		for n := range NumDBs {
			r.bv.dead(uint8(n)).ForEach(func(k, _ []byte) error {
				filed++
				if r.bv.data(uint8(n)).Get(k) != nil {
					ghosts++
				}
				return nil
			})
		}
		return nil
	})
	return filed, ghosts
}

// liveView is everything reads say about databases 0 and 1: each key's
// value (GET for strings, the type otherwise), what full SCANs, KEYS and
// RANDOMKEY return, and the counters.
func liveView(t *testing.T, db *DB, now int64, names []string) string {
	t.Helper()
	var out []string
	db.View(func(r *Reader) error {
		for n := range uint8(2) {
			for _, k := range names {
				if v, ok := r.Get(n, []byte(k), now); ok {
					out = append(out, fmt.Sprintf("%d %s=%s/%q", n, k, v.Type, v.Data))
				}
			}
			var scanned []string
			for cur := uint64(0); ; {
				res := r.Scan(n, cur, 7, now, func([]byte, Value) bool { return true })
				for _, k := range res.Keys {
					scanned = append(scanned, string(k))
				}
				if cur = res.Cursor; cur == 0 {
					break
				}
			}
			slices.Sort(scanned)
			out = append(out, fmt.Sprintf("scan %d %v", n, scanned))
		}
		return nil
	})
	for n := range uint8(2) {
		keys, err := db.Keys(context.Background(), n, now, func([]byte, Value) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		ks := make([]string, 0, len(keys))
		for _, k := range keys {
			ks = append(ks, string(k))
		}
		slices.Sort(ks)
		random := map[string]bool{}
		for pos := uint64(0); pos < 1<<63; pos += 1 << 57 {
			if k, ok, err := db.RandomKey(n, pos, now); err != nil {
				t.Fatal(err)
			} else if ok {
				random[string(k)] = true
			}
		}
		for k := range random {
			if !slices.Contains(ks, k) {
				t.Errorf("db %d: RANDOMKEY returned %q, which KEYS does not", n, k)
			}
		}
		out = append(out, fmt.Sprintf("keys %d %v count %d types %v", n, ks, db.KeyCount(n), db.KeysByType(n)))
	}
	return fmt.Sprint(out)
}

// Deletions a checkpoint files read as deleted everywhere — GET, SCAN,
// KEYS, RANDOMKEY, the counters, FLUSHDB, DEBUG DIGEST — before and after
// they are swept and across a restart, exactly as on a replica that
// deleted the records in place; a key put again is no longer filed.
func TestFiledDeletionsReadAsDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{InitialMmapSize: 1 << 24, FileDeletionsAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	db.noSweep.Store(true) // the test sweeps
	defer func() { db.Close() }()
	replica, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24, FileDeletionsAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	var idx uint64
	apply := func(now int64, cmds ...Cmd) {
		idx++
		for _, d := range []*DB{db, replica} {
			mustApply(t, d, LogEntry{Index: idx, Data: entry(now, cmds...)})
		}
	}
	flush := func() {
		for _, d := range []*DB{db, replica} {
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Only records with a deadline are filed: most have one, strings and
	// collections; the rest are deleted in place in the same checkpoints.
	var names []string
	var load []Cmd
	for i := range 600 {
		k := fmt.Sprintf("k%03d", i)
		names = append(names, k)
		switch i % 4 {
		case 0:
			load = append(load, set(k, "v"+k, 0))
		case 1:
			load = append(load, set(k, "t"+k, 5000))
		case 2:
			load = append(load, hset(k, "f", k), Cmd{Op: OpExpire, Keys: sbs(k), Deadline: 9000 + int64(i)})
		default:
			load = append(load, sadd(k, "m", k), Cmd{Op: OpExpire, Keys: sbs(k), Deadline: 9000})
		}
	}
	apply(1000, load...)
	db1 := []Cmd{{Op: OpSet, DB: 1, Keys: sbs("one"), Vals: sbs("1")}}
	for i := range 20 {
		h := hset(fmt.Sprintf("h%d", i), "f", "1", "g", "2")
		for j := range inlineRelease * (i % 2) { // every other one released by the garbage queue
			h.Vals = append(h.Vals, []byte(fmt.Sprint("f", j)), []byte("x"))
		}
		h.DB = 1
		db1 = append(db1, h, Cmd{Op: OpExpire, DB: 1, Keys: sbs(fmt.Sprintf("h%d", i)), Deadline: 9000})
	}
	apply(1000, append(db1, set("other", "x", 0))...)
	names = append(names, "other", "one", "moved")
	flush()
	same := func(step string, now int64) {
		t.Helper()
		if a, b := liveView(t, db, now, names), liveView(t, replica, now, names); a != b {
			t.Fatalf("%s: the filing DB reads\n%s\nthe replica\n%s", step, a, b)
		}
		if a, b := digestOf(t, db), digestOf(t, replica); a != b {
			t.Fatalf("%s: digests differ: %s %s", step, a, b)
		}
		var c typeCounts
		db.View(func(r *Reader) error { c = scanTypeCounts(r.bv.tx); return nil })
		if c != totalKeyTypes(db) {
			t.Fatalf("%s: a scan of the file counts %v, the counters %v", step, c, totalKeyTypes(db))
		}
	}
	// Deletions of every kind: DEL of each type, expiry, RENAME, a
	// collection emptied.
	var dels []Cmd
	for i := 0; i < 600; i += 3 {
		dels = append(dels, keyCmd(OpDel, names[i]))
	}
	dels = append(dels, keyCmd(OpRename, "k004", "moved"), srem("k007", "m", "k007"))
	for i := range 10 {
		d := keyCmd(OpDel, fmt.Sprintf("h%d", i))
		d.DB = 1
		dels = append(dels, d)
	}
	apply(2000, dels...)
	var expires []Cmd
	for i := 1; i < 600; i += 4 {
		expires = append(expires, Cmd{Op: OpExpireIf, Keys: sbs(names[i]), Deadline: 5000})
	}
	apply(6000, expires...)
	flush()
	filed, ghosts := deadCount(t, db)
	if filed < 250 || ghosts != filed {
		t.Fatalf("%d deletions filed, %d with their record still on disk: is filing used?", filed, ghosts)
	}
	if f, _ := deadCount(t, replica); f != 0 {
		t.Fatalf("the replica filed %d deletions", f)
	}
	same("filed", 6000)
	// FLUSHDB releases the collections of the database, not those whose
	// deletion was filed (released then).
	apply(6000, Cmd{Op: OpFlushDB, DB: 1})
	flush()
	if a, b := db.GarbageCount(), replica.GarbageCount(); a != b {
		t.Fatalf("FLUSHDB over filed collections: %d collections to clean up, the replica %d", a, b)
	}
	same("flushdb 1", 6000)
	// Put again: a key set anew, a collection re-created, in the same
	// checkpoint as more deletions.
	apply(6001, set("k000", "again", 0), hset("k006", "g", "2"), sadd("k009", "n"), keyCmd(OpDel, "k010", "k014"))
	flush()
	same("put again", 6001)
	db.View(func(r *Reader) error {
		for _, k := range []string{"k000", "k006", "k009"} {
			if r.bv.dead(0).Get(dataKey([]byte(k))) != nil {
				t.Errorf("%s was put again and is still filed", k)
			}
		}
		return nil
	})
	// A follower installing this node's snapshot gets the filed deletions
	// with it: deleted there too, and due for a sweep.
	buf := snapshotOf(t, db)
	follower, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24, FileDeletionsAt: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	follower.noSweep.Store(true)
	if err := follower.Restore(buf); err != nil {
		t.Fatal(err)
	}
	if filed, _ := deadCount(t, follower); filed == 0 || !follower.deadLeft.Load() {
		t.Fatalf("installed snapshot: %d filed deletions, sweep due %v", filed, follower.deadLeft.Load())
	}
	if a, b := liveView(t, follower, 6001, names), liveView(t, replica, 6001, names); a != b {
		t.Fatalf("installed snapshot reads\n%s\nthe replica\n%s", a, b)
	}
	// A restart with filed deletions: they are still deleted, then swept.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(path, Options{InitialMmapSize: 1 << 24, FileDeletionsAt: 1}); err != nil {
		t.Fatal(err)
	}
	db.noSweep.Store(true)
	if !db.deadLeft.Load() {
		t.Fatal("reopened with filed deletions, and no sweep due")
	}
	same("reopened", 6001)
	for db.deadLeft.Load() {
		if err := db.sweep(); err != nil {
			t.Fatal(err)
		}
	}
	if filed, ghosts := deadCount(t, db); filed != 0 || ghosts != 0 {
		t.Fatalf("swept, and %d filed, %d records left", filed, ghosts)
	}
	noMarks := func(step string) {
		t.Helper()
		db.View(func(r *Reader) error {
			for n := range uint8(NumDBs) {
				if m := r.bv.filedMark(n); m != 0 {
					t.Fatalf("%s: db %d keeps the filed mark %d: reads still look for filed deletions", step, n, m)
				}
			}
			return nil
		})
	}
	noMarks("swept")
	same("swept", 6001)
	// FLUSHDB over filed deletions empties the dead bucket too.
	apply(7000, keyCmd(OpDel, "other", "k002"))
	flush()
	if filed, _ := deadCount(t, db); filed != 1 {
		t.Fatalf("DEL of a key without a deadline and of one with: %d filed, want 1", filed)
	}
	apply(7001, Cmd{Op: OpFlushDB, DB: 0}, set("k002", "new", 0))
	flush()
	if filed, _ := deadCount(t, db); filed != 0 {
		t.Fatalf("FLUSHDB left %d filed deletions", filed)
	}
	noMarks("flushdb")
	same("flushdb", 7001)
}

// Filed deletions are swept while writes keep the checkpointer busy, not
// only when it idles.
func TestFiledDeletionsSweptUnderSteadyWrites(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24, FileDeletionsAt: 1,
		CheckpointInterval: time.Millisecond, CheckpointMaxInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var load, dels []Cmd
	for i := range 3 * sweepChunk {
		k := fmt.Sprint("k", i)
		load = append(load, set(k, "v", 5000))
		dels = append(dels, keyCmd(OpDel, k))
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1000, load...)})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	mustApply(t, db, LogEntry{Index: 2, Data: entry(1000, dels...)})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if filed, _ := deadCount(t, db); filed != len(dels) {
		t.Fatalf("%d deletions filed, want %d", filed, len(dels))
	}
	// Steady writes: every checkpoint ends with applies waiting.
	deadline := time.Now().Add(time.Minute)
	for idx := uint64(3); db.deadLeft.Load(); idx++ {
		if time.Now().After(deadline) {
			filed, _ := deadCount(t, db)
			t.Fatalf("after a minute of steady writes %d filed deletions are left", filed)
		}
		mustApply(t, db, LogEntry{Index: idx, Data: entry(1000, set("hot", fmt.Sprint(idx), 0))})
		<-db.CheckpointEnd()
	}
	if filed, ghosts := deadCount(t, db); filed != 0 || ghosts != 0 {
		t.Fatalf("swept, and %d filed, %d records left", filed, ghosts)
	}
}
