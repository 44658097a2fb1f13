package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func hset(key string, kv ...string) Cmd {
	c := Cmd{Op: OpHSet, Keys: [][]byte{[]byte(key)}}
	for _, s := range kv {
		c.Vals = append(c.Vals, []byte(s))
	}
	return c
}

func keyCmd(op Op, keys ...string) Cmd {
	c := Cmd{Op: op}
	for _, k := range keys {
		c.Keys = append(c.Keys, []byte(k))
	}
	return c
}

// hashOf reads a whole hash as a map (nil: no such key).
func hashOf(t *testing.T, db *DB, key string) map[string]string {
	t.Helper()
	var out map[string]string
	err := db.View(func(r *Reader) error {
		v, ok := r.Get(0, []byte(key), 1)
		if !ok {
			return nil
		}
		if v.Type != TypeHash {
			return fmt.Errorf("%s is a %s", key, v.Type)
		}
		out = map[string]string{}
		r.HRange(v, nil, func(f, val []byte) bool { out[string(f)] = string(val); return true })
		if int64(len(out)) != v.Len() {
			return fmt.Errorf("%s: %d fields, header says %d", key, len(out), v.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// elemRecords counts element records on disk and in memory layers.
func elemRecords(t *testing.T, db *DB) int {
	t.Helper()
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 0
	db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketElems).Stats().KeyN
		return nil
	})
	return n
}

type applyLog struct {
	t   *testing.T
	dbs []*DB
	idx uint64
}

func (l *applyLog) apply(now int64, cmds ...Cmd) []Result {
	l.t.Helper()
	l.idx++
	var res []Result
	for _, db := range l.dbs {
		out := mustApply(l.t, db, LogEntry{Index: l.idx, Data: entry(now, cmds...)})
		res = out.Results[0]
	}
	return res
}

func TestHashElementsLifecycle(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, hset("h", "a", "1", "b", "2"), hset("h", "b", "3", "c", "4"))
	if r[0].Int != 2 || r[1].Int != 1 {
		t.Fatalf("HSET results %+v", r)
	}
	if got := hashOf(t, db, "h"); fmt.Sprint(got) != "map[a:1 b:3 c:4]" {
		t.Fatalf("h = %v", got)
	}
	// A checkpoint between writes changes nothing.
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	l.apply(2, Cmd{Op: OpHDel, Keys: [][]byte{[]byte("h")}, Vals: [][]byte{[]byte("a"), []byte("zz")}})
	if got := hashOf(t, db, "h"); fmt.Sprint(got) != "map[b:3 c:4]" {
		t.Fatalf("after HDEL h = %v", got)
	}
	// RENAME moves the header; the elements follow.
	l.apply(3, keyCmd(OpRename, "h", "h2"))
	if hashOf(t, db, "h") != nil || fmt.Sprint(hashOf(t, db, "h2")) != "map[b:3 c:4]" {
		t.Fatal("RENAME lost the elements")
	}
	// Deleting every field deletes the key and its records.
	l.apply(4, Cmd{Op: OpHDel, Keys: [][]byte{[]byte("h2")}, Vals: [][]byte{[]byte("b"), []byte("c")}})
	if hashOf(t, db, "h2") != nil || db.KeyCount(0) != 0 || elemRecords(t, db) != 0 {
		t.Fatalf("empty hash: keys %d records %d", db.KeyCount(0), elemRecords(t, db))
	}
	// SET over a small hash, and a recreated hash never sees old fields.
	l.apply(5, hset("h", "x", "1"), set("h", "str", 0), hset("g", "y", "1"), keyCmd(OpDel, "g"), hset("g", "z", "2"))
	if got := hashOf(t, db, "g"); fmt.Sprint(got) != "map[z:2]" {
		t.Fatalf("recreated g = %v", got)
	}
	if n := elemRecords(t, db); n != 1 {
		t.Fatalf("%d element records, want 1 (g.z)", n)
	}
	if r := l.apply(6, hset("h", "f", "v")); r[0].Err != ErrWrongType {
		t.Fatalf("HSET on a string: %+v", r)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// A big collection's DEL returns at once and leaves its records to the
// garbage queue, which GC entries drain; nothing is resurrected.
func TestBigCollectionReleasedByGC(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	big := hset("big")
	for i := range 1000 {
		big.Vals = append(big.Vals, []byte(fmt.Sprintf("f%04d", i)), []byte("v"))
	}
	l.apply(1, big)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	l.apply(2, keyCmd(OpDel, "big"), hset("big", "new", "1"))
	if db.GarbageCount() != 1 {
		t.Fatalf("garbage %d, want 1", db.GarbageCount())
	}
	if got := hashOf(t, db, "big"); fmt.Sprint(got) != "map[new:1]" {
		t.Fatalf("big = %v (old fields resurrected?)", got)
	}
	total := 0
	for i := 0; db.GarbageCount() > 0; i++ {
		if i > 20 {
			t.Fatal("GC does not finish")
		}
		r := l.apply(int64(3+i), Cmd{Op: OpGC, Int: 300})
		total += int(r[0].Int)
	}
	if total != 1000 || elemRecords(t, db) != 1 {
		t.Fatalf("GC removed %d records, %d left; want 1000 and 1", total, elemRecords(t, db))
	}
	if r := l.apply(100, Cmd{Op: OpGC, Int: 300}); r[0].Int != 0 {
		t.Fatalf("GC with nothing queued: %+v", r)
	}
	// FLUSHDB releases every collection of the database.
	l.apply(101, big, hset("small", "a", "1"), Cmd{Op: OpFlushDB})
	for db.GarbageCount() > 0 {
		l.apply(102, Cmd{Op: OpGC, Int: 5000})
	}
	if n := elemRecords(t, db); n != 0 {
		t.Fatalf("%d element records after FLUSHDB and GC", n)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// randomCollLog mixes string ops with hash ops on small and big hashes,
// whole-collection deletes, renames, expiries, FLUSHDB and GC entries.
func randomCollLog(seed uint64, n int) []LogEntry {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e37))
	var log []LogEntry
	now := int64(1_700_000_000_000)
	for i := 1; i <= n; i++ {
		now += rng.Int64N(50)
		key := fmt.Sprintf("c%d", rng.IntN(12))
		var c Cmd
		switch rng.IntN(12) {
		case 0, 1, 2:
			c = hset(key, fmt.Sprintf("f%d", rng.IntN(30)), fmt.Sprint(rng.IntN(100)))
		case 3: // a big hash: released through the garbage queue
			c = hset(key)
			for f := range 70 + rng.IntN(60) {
				c.Vals = append(c.Vals, []byte(fmt.Sprintf("g%d", f)), []byte("v"))
			}
		case 4:
			c = Cmd{Op: OpHDel, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{[]byte(fmt.Sprintf("f%d", rng.IntN(30)))}}
		case 5:
			c = Cmd{Op: OpHIncrBy, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{[]byte("n")}, Int: rng.Int64N(7) - 3}
		case 6:
			c = keyCmd(OpDel, key)
		case 7:
			c = keyCmd(OpRename, key, fmt.Sprintf("c%d", rng.IntN(12)))
		case 8:
			c = Cmd{Op: OpExpire, Keys: [][]byte{[]byte(key)}, Deadline: now + rng.Int64N(200) - 50}
		case 9:
			c = Cmd{Op: OpGC, Int: int64(1 + rng.IntN(50))}
		case 10:
			c = set(key, "s", 0)
		case 11:
			c = Cmd{Op: OpExpireIf, Keys: [][]byte{[]byte(key)}, Deadline: now - rng.Int64N(100)}
			if rng.IntN(30) == 0 {
				c = Cmd{Op: OpFlushDB}
			}
		}
		c.DB = uint8(rng.IntN(2))
		log = append(log, LogEntry{Index: uint64(i), Data: entry(now, c)})
	}
	return log
}

// Two stores fed the same log, one in big batches, the other in small
// overlapping ones with checkpoints and a reopen, agree at every step.
func TestDeterminismWithCollections(t *testing.T) {
	log := randomCollLog(7, 3000)
	a, b := mustOpen(t), mustOpen(t)
	path := b.Path()
	for i := 0; i < len(log); i += 100 {
		mustApply(t, a, log[i:min(i+100, len(log))]...)
		for j := i; j < min(i+100, len(log)); j += 9 {
			mustApply(t, b, log[max(0, j-3):min(j+9, i+100, len(log))]...)
		}
		if i == 1500 {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if b, err = Open(path, Options{InitialMmapSize: 1 << 24}); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
		}
		if da, db := digestOf(t, a), digestOf(t, b); da != db {
			t.Fatalf("after index %d: digests differ: %s vs %s", min(i+100, len(log)), da, db)
		}
		if a.GarbageCount() != b.GarbageCount() {
			t.Fatalf("garbage counts differ: %d vs %d", a.GarbageCount(), b.GarbageCount())
		}
	}
	if a.GarbageCount() == 0 && elemRecords(t, a) == 0 {
		t.Fatal("the log left no collections: it tests nothing")
	}
}

// An expired collection reads as absent before its delete commits, and a
// write after the deadline starts a new one: no old field comes back.
func TestExpiredCollectionIsNeverRead(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	l.apply(10, hset("h", "old", "1"), Cmd{Op: OpExpire, Keys: [][]byte{[]byte("h")}, Deadline: 100})
	err := db.View(func(r *Reader) error {
		if _, ok := r.Get(0, []byte("h"), 100); !ok {
			t.Fatal("h absent at its deadline")
		}
		if _, ok := r.Get(0, []byte("h"), 101); ok {
			t.Fatal("h read after its deadline")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.apply(200, hset("h", "new", "2"))
	if got := hashOf(t, db, "h"); fmt.Sprint(got) != "map[new:2]" {
		t.Fatalf("h after its deadline and a new HSET = %v", got)
	}
	if db.ExpiresCount(0) != 0 {
		t.Fatalf("the new hash inherited a deadline: %d expiring keys", db.ExpiresCount(0))
	}
}
