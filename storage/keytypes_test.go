package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// scanKeyTypes is the oracle of KeysByType: it visits every stored key,
// through the unflushed layers down to bbolt as a read would, and counts
// each record's type.
func scanKeyTypes(t testing.TB, db *DB) typeCounts {
	t.Helper()
	var c typeCounts
	count := func(n int, raw []byte) {
		rec, ok := decodeRecord(raw)
		if !ok {
			t.Fatalf("db %d: a record of %d bytes", n, len(raw))
		}
		for i, typ := range KeyTypes() {
			if typ == rec.typ {
				c[n][i]++
				return
			}
		}
		t.Fatalf("db %d: a record of type %q", n, rec.typ)
	}
	err := db.View(func(r *Reader) error {
		for n := range NumDBs {
			decided := map[string]bool{} // by a newer layer
			hidden := false              // a layer emptied the database
			for _, l := range r.layers {
				for mk, raw := range l.recs {
					if mk[0] != byte(n) || decided[mk] {
						continue
					}
					decided[mk] = true
					if raw != nil {
						count(n, raw)
					}
				}
				if l.cleared[n] {
					hidden = true
					break
				}
			}
			if hidden {
				continue
			}
			err := r.bv.tx.Bucket(dbBuckets[n]).ForEach(func(k, v []byte) error {
				if !decided[memKey(uint8(n), k[8:])] && !r.bv.isDead(uint8(n), k, v) {
					count(n, v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkKeyTypes compares the counters with the oracle, and with KeyCount.
func checkKeyTypes(t testing.TB, db *DB, step string) {
	t.Helper()
	want := scanKeyTypes(t, db)
	for n := range NumDBs {
		got := db.KeysByType(uint8(n))
		if got != want[n] {
			t.Fatalf("%s: db %d: KeysByType %v, a scan counts %v (%v)", step, n, got, want[n], KeyTypes())
		}
		var sum int64
		for _, v := range got {
			sum += v
		}
		if sum != db.KeyCount(uint8(n)) {
			t.Fatalf("%s: db %d: %d keys by type, KeyCount %d", step, n, sum, db.KeyCount(uint8(n)))
		}
	}
}

// persistedKeyTypes reads the counters a checkpoint wrote, with the
// applied index they are of.
func persistedKeyTypes(t testing.TB, db *DB) (typeCounts, bool) {
	t.Helper()
	var c typeCounts
	var ok bool
	err := db.View(func(r *Reader) error {
		meta := r.bv.tx.Bucket(bucketMeta)
		c, ok = decodeTypeCounts(meta.Get(keyTypeCounts), getU64(meta, keyApplied))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, ok
}

func totalKeyTypes(db *DB) typeCounts {
	var c typeCounts
	for n := range NumDBs {
		c[n] = db.KeysByType(uint8(n))
	}
	return c
}

// keyTypeSteps covers every way a key of a type comes or goes: creation
// by each family, an overwrite by another type, a *STORE onto a key of
// another type, a collection emptied, DEL, RENAME over another type,
// MOVE and COPY across databases, expiry (read on the spot, EXPIREIF,
// EXPIRE in the past, GETEX), FLUSHDB amid other writes, FLUSHALL, EXEC,
// a script rolled back, GC.
type keyTypeStep struct {
	name string
	now  int64
	cmds []Cmd
}

func keyTypeSteps() []keyTypeStep {
	big := hset("bighash")
	for i := range 100 {
		big.Vals = append(big.Vals, []byte(fmt.Sprint("f", i)), []byte("v"))
	}
	return []keyTypeStep{
		{"create each type", 10, []Cmd{set("s1", "v", 0), set("s2", "v", 1000), hset("h1", "f", "v"), sadd("set1", "a", "b"),
			zadd("z1", 1.0, "a", 2.0, "b"), lcmd(OpRPush, "l1", "a", "b", "c"), big,
			inDB(set("s1", "v", 0), 1), inDB(sadd("set1", "x"), 15)}},
		{"writes to existing keys", 11, []Cmd{hset("h1", "g", "w"), sadd("set1", "c"), lcmd(OpLPush, "l1", "z"), incr("s1", 0), set("s1", "1", 0)}},
		{"string commands create", 12, []Cmd{incr("n1", 1), {Op: OpAppend, Keys: sbs("ap"), Vals: sbs("x")}, setBit("bits", 7, '1', 1<<20),
			{Op: OpMSet, Keys: sbs("m1", "m2"), Vals: sbs("1", "2")}, {Op: OpMSet, Keys: sbs("m1", "m3"), Vals: sbs("1", "2"), Flags: FlagNX}}},
		{"overwrite with another type", 13, []Cmd{set("h1", "now a string", 0), set("l1", "x", 0)}},
		{"store onto another type", 14, []Cmd{sstore(OpSInterStore, "s2", "set1", "set1"), sstore(OpSUnionStore, "z1", "set1"),
			zstoreCmd(OpZUnionStore, "zu set1"), zstoreCmd(OpZRangeStore, "s1 zu"), bitOp(BitOr, "set1", "bits")}},
		{"store an empty result deletes", 15, []Cmd{sadd("e1", "x"), sstore(OpSDiffStore, "e1", "e1", "e1"), sstore(OpSInterStore, "zu", "nosuch")}},
		{"collections emptied", 16, []Cmd{
			hset("h2", "f", "v"), {Op: OpHDel, Keys: sbs("h2"), Vals: sbs("f")},
			sadd("s3", "a"), srem("s3", "a"),
			zadd("z2", 1.0, "a"), zcmd(OpZRem, "z2", "a"),
			lcmd(OpRPush, "l2", "a"), withInt(lcmd(OpLPop, "l2"), -1),
			lcmd(OpRPush, "l3", "a", "b"), withLimit(withInt(lcmd(OpLTrim, "l3"), 5), 6),
			sadd("s4", "a", "b"), spop("s4", 5, 1),
			zadd("z3", 1.0, "a"), zpop("z3", 3, false),
			lcmd(OpRPush, "l4", "a"), {Op: OpBLPop, Keys: sbs("nosuch", "l4")},
		}},
		{"moves between collections", 17, []Cmd{lcmd(OpRPush, "l5", "a"), lmoveCmd("l5", "l6", 0), sadd("s5", "m"), smove("s5", "s6", "m")}},
		{"DEL and GETDEL", 18, []Cmd{keyCmd(OpDel, "s6", "l6", "nosuch", "m2"), keyCmd(OpGetDel, "m3")}},
		{"rename", 19, []Cmd{keyCmd(OpRename, "ap", "zu"), keyCmd(OpRename, "s2", "h1"), keyCmd(OpRename, "n1", "n1"),
			withFlags(keyCmd(OpRename, "bits", "z1"), FlagNX), keyCmd(OpRename, "bits", "fresh")}},
		{"move and copy across databases", 20, []Cmd{moveCmd("h1", 3), moveCmd("s1", 1), copyCmd("z1", "z1", 5, false),
			copyCmd("set1", "s1", 1, true), copyCmd("fresh", "fresh2", 0, false), copyCmd("bighash", "bh", 15, false)}},
		{"expire in the past and GETEX", 21, []Cmd{set("x1", "v", 0), {Op: OpExpire, Keys: sbs("x1"), Deadline: 5},
			set("x2", "v", 0), {Op: OpGetEx, Keys: sbs("x2"), Deadline: 1},
			hset("hx", "f", "v"), zadd("zx", 1.0, "a"), set("ttl1", "1", 100),
			{Op: OpExpire, Keys: sbs("hx"), Deadline: 50}, {Op: OpExpire, Keys: sbs("zx"), Deadline: 50}}},
		{"expired keys met by writes", 2000, []Cmd{hset("zx", "f", "v"), incr("ttl1", 1)}},
		{"EXPIREIF of a string and a collection", 2001, []Cmd{{Op: OpExpireIf, Keys: sbs("hx"), Deadline: 50}, inDB(set("t1", "v", 2000), 2),
			inDB(Cmd{Op: OpExpireIf, Keys: sbs("t1"), Deadline: 2000}, 2)}},
		{"FLUSHDB between writes", 2002, []Cmd{hset("before", "f", "v"), {Op: OpFlushDB}, sadd("after", "a"), set("after2", "v", 0),
			inDB(lcmd(OpRPush, "l", "a"), 4), inDB(Cmd{Op: OpFlushDB}, 4), inDB(lcmd(OpRPush, "l", "b"), 4)}},
		{"FLUSHDB after FLUSHDB", 2003, []Cmd{set("a", "v", 0), {Op: OpFlushDB}, {Op: OpFlushDB}, zadd("z", 1.0, "a")}},
		{"EXEC", 2004, []Cmd{execCmd(nil, hset("eh", "f", "v"), set("es", "v", 0), keyCmd(OpDel, "z"), moveCmd("eh", 7))}},
		{"a script rolled back", 2005, []Cmd{scriptCmd(true, set("rb", "v", 0), keyCmd(OpDel, "after"), hset("after2", "f", "v"), Cmd{Op: OpFlushAll})}},
		{"a script that stays", 2006, []Cmd{scriptCmd(false, set("rb", "v", 0), hset("after2", "f", "v"))}},
		{"GC", 2007, []Cmd{{Op: OpGC, Int: 1000}, {Op: OpGC, Int: 1000}}},
		{"FLUSHALL and after", 2008, []Cmd{sadd("pre", "a"), {Op: OpFlushAll}, inDB(zadd("z", 1.0, "a"), 9), set("s", "v", 0)}},
	}
}

func TestKeyTypeCountsFollowEveryChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	open := func() *DB {
		db, err := Open(path, Options{InitialMmapSize: 1 << 24, CheckpointInterval: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		db.SetExec(evExec)
		return db
	}
	db := open()
	defer func() { db.Close() }()
	replica := mustOpen(t) // fed the same log, checkpointed after every entry
	replica.SetExec(evExec)
	checkKeyTypes(t, db, "empty")
	seen := map[Type]bool{}
	for i, st := range keyTypeSteps() {
		idx := uint64(i + 1)
		le := LogEntry{Index: idx, Data: entry(st.now, st.cmds...)}
		out := mustApply(t, db, le)
		for j, r := range out.Results[0] {
			if errors.Is(r.Err, ErrInternal) || errors.Is(r.Err, ErrBadEntry) {
				t.Fatalf("%s: command %d (%s): %v", st.name, j, st.cmds[j].Op, r.Err)
			}
		}
		checkKeyTypes(t, db, st.name)
		for n := range NumDBs {
			for k, v := range db.KeysByType(uint8(n)) {
				if v > 0 {
					seen[KeyTypes()[k]] = true
				}
			}
		}
		mustApply(t, replica, le)
		if err := replica.Flush(); err != nil {
			t.Fatal(err)
		}
		checkKeyTypes(t, replica, st.name+" (checkpointed)")
		if c, ok := persistedKeyTypes(t, replica); !ok || c != totalKeyTypes(replica) {
			t.Fatalf("%s: the checkpoint wrote %v (valid %v), the counters are %v", st.name, c, ok, totalKeyTypes(replica))
		}
		// Every third step: a restart, with what is not checkpointed
		// written by Close.
		if i%3 == 2 {
			before := totalKeyTypes(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = open()
			if got := totalKeyTypes(db); got != before {
				t.Fatalf("%s: after a restart %v, before %v", st.name, got, before)
			}
			checkKeyTypes(t, db, st.name+" (restarted)")
		}
	}
	for _, typ := range KeyTypes() {
		if !seen[typ] {
			t.Errorf("no step left a key of type %s", typ)
		}
	}
	if digestOf(t, db) != digestOf(t, replica) {
		t.Fatal("the two stores diverged")
	}
}

// A command that panics half way is rolled back with its counts.
func TestKeyTypeCountsRollBackWithAPanic(t *testing.T) {
	db := mustOpen(t)
	panicking := false
	db.SetExec(func(t *Txn, c *Cmd) Result {
		res := evExec(t, c)
		if panicking {
			panic("injected after the EXEC's commands")
		}
		return res
	})
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("a", "1", 0), hset("h", "f", "v"), sadd("s", "m"), inDB(zadd("z", 1.0, "m"), 2))})
	idx := uint64(1)
	for _, tc := range []struct {
		c       Cmd
		panicAt int // the write of c's op that panics; 0: the exec hook panics
	}{
		{keyCmd(OpRename, "a", "h"), 2}, // after the destination's delete
		{copyCmd("s", "h", 2, true), 1},
		{moveCmd("h", 2), 2}, // after the detach
		{Cmd{Op: OpFlushAll}, 5},
		{set("h", "x", 0), 1}, // overwriting another type
		{execCmd(nil, keyCmd(OpDel, "s"), hset("a", "f", "v"), moveCmd("z", 3)), 0},
	} {
		before := totalKeyTypes(db)
		writes := 0
		db.testHook = func(op Op) {
			if op == tc.c.Op {
				if writes++; writes == tc.panicAt {
					panic("injected")
				}
			}
		}
		panicking = tc.panicAt == 0
		idx++
		out := mustApply(t, db, LogEntry{Index: idx, Data: entry(2, tc.c, sadd("s2", "after"))})
		db.testHook, panicking = nil, false
		if r := out.Results[0][0]; !errors.Is(r.Err, ErrInternal) {
			t.Fatalf("%s: %+v, want ErrInternal", tc.c.Op, r)
		}
		before[0][typeSlot(TypeSet)]++ // the command after it applied
		if got := totalKeyTypes(db); got != before {
			t.Fatalf("%s rolled back: counters %v, want %v", tc.c.Op, got[:4], before[:4])
		}
		checkKeyTypes(t, db, tc.c.Op.String())
		idx++
		mustApply(t, db, LogEntry{Index: idx, Data: entry(2, keyCmd(OpDel, "s2"))})
		checkKeyTypes(t, db, tc.c.Op.String()+" then DEL")
	}
	if db.ApplyPanics() != 6 {
		t.Fatalf("%d panics, want 6", db.ApplyPanics())
	}
}

// writeKeyTypeFile applies the first key type steps to a new state file,
// closes it and returns its path and the counts it held.
func writeKeyTypeFile(t *testing.T) (string, typeCounts) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	db.SetExec(evExec)
	for i, st := range keyTypeSteps()[:8] {
		mustApply(t, db, LogEntry{Index: uint64(i + 1), Data: entry(st.now, st.cmds...)})
	}
	want := totalKeyTypes(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// A state file written before the counters existed has none in its meta
// bucket; one checkpointed by such a version after this one has counters
// of an older applied index. Either way they are counted once when it
// opens, and written at once.
func TestKeyTypeCountsOfAnOlderFile(t *testing.T) {
	for _, how := range []string{"missing", "stale", "malformed"} {
		t.Run(how, func(t *testing.T) {
			path, want := writeKeyTypeFile(t)
			b, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Update(func(tx *bolt.Tx) error {
				meta := tx.Bucket(bucketMeta)
				switch how {
				case "missing":
					return meta.Delete(keyTypeCounts)
				case "stale":
					var wrong typeCounts
					wrong[0][0] = 12345
					return meta.Put(keyTypeCounts, encodeTypeCounts(getU64(meta, keyApplied)-1, &wrong))
				default:
					return meta.Put(keyTypeCounts, []byte("short"))
				}
			})
			if err2 := b.Close(); err == nil {
				err = err2
			}
			if err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{InitialMmapSize: 1 << 24})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := totalKeyTypes(db); got != want {
				t.Fatalf("counted on open: %v, want %v", got, want)
			}
			checkKeyTypes(t, db, "reopened")
			if c, ok := persistedKeyTypes(t, db); !ok || c != want {
				t.Fatalf("not written on open: %v %v", c, ok)
			}
			// And kept from there on.
			mustApply(t, db, LogEntry{Index: 9, Data: entry(30, lcmd(OpRPush, "new", "a"), keyCmd(OpDel, "set1"))})
			checkKeyTypes(t, db, "after an apply")
		})
	}
}

// Opening a file that has every bucket and current type counts commits
// nothing: every bbolt commit writes the freelist, which takes tens of
// milliseconds on a large file with many free pages.
func TestOpenOfACurrentFileCommitsNothing(t *testing.T) {
	path, _ := writeKeyTypeFile(t)
	txid := func(b *bolt.DB) (id int) {
		b.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before := txid(b)
	b.Close()
	db, err := Open(path, Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if after := txid(db.bolt); after != before {
		t.Fatalf("opening committed: transaction %d, was %d", after, before)
	}
	checkKeyTypes(t, db, "reopened")
}

// A snapshot carries the counters; restoring one replaces them, whether
// or not the snapshot has them (a leader of an older version).
func TestKeyTypeCountsAfterRestore(t *testing.T) {
	for _, old := range []bool{false, true} {
		src, dst := mustOpen(t), mustOpen(t)
		src.SetExec(evExec)
		for i, st := range keyTypeSteps()[:12] {
			mustApply(t, src, LogEntry{Index: uint64(i + 1), Data: entry(st.now, st.cmds...)})
		}
		mustApply(t, dst, LogEntry{Index: 1, Data: entry(1, hset("only-on-dst", "f", "v"), inDB(sadd("s", "a"), 3))})
		if old {
			// What an older leader streams: no counters in its meta bucket.
			if err := src.Flush(); err != nil {
				t.Fatal(err)
			}
			err := src.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyTypeCounts) })
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := dst.Restore(snapshotOf(t, src)); err != nil {
			t.Fatal(err)
		}
		if got, want := totalKeyTypes(dst), totalKeyTypes(src); got != want {
			t.Fatalf("old=%v: restored counters %v, source %v", old, got, want)
		}
		checkKeyTypes(t, dst, "restored")
		next := LogEntry{Index: 13, Data: entry(40, set("h1", "x", 0), inDB(Cmd{Op: OpFlushDB}, 1))}
		mustApply(t, dst, next)
		mustApply(t, src, next)
		checkKeyTypes(t, dst, "applied after a restore")
		if totalKeyTypes(dst) != totalKeyTypes(src) {
			t.Fatalf("old=%v: the restored store counts %v, its source %v", old, totalKeyTypes(dst), totalKeyTypes(src))
		}
	}
}

// A random mix of every family's commands across three databases, applied
// in random batches with random checkpoints and restarts.
func TestKeyTypeCountsRandomLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	path := filepath.Join(t.TempDir(), "state.db")
	open := func() *DB {
		db, err := Open(path, Options{InitialMmapSize: 1 << 24, CheckpointInterval: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	defer func() { db.Close() }()
	now := int64(1000)
	key := func() string { return fmt.Sprint("k", rng.IntN(8)) }
	var idx uint64
	for step := range 600 {
		var batch []LogEntry
		for range 1 + rng.IntN(4) {
			now += rng.Int64N(30)
			var cmds []Cmd
			for range 1 + rng.IntN(3) {
				var c Cmd
				switch rng.IntN(16) {
				case 0:
					c = set(key(), "v", 0)
				case 1:
					c = set(key(), "v", now+rng.Int64N(100))
				case 2:
					c = hset(key(), fmt.Sprint("f", rng.IntN(3)), "v")
				case 3:
					c = sadd(key(), fmt.Sprint("m", rng.IntN(3)))
				case 4:
					c = zadd(key(), float64(rng.IntN(5)), fmt.Sprint("m", rng.IntN(3)))
				case 5:
					c = lcmd(OpRPush, key(), "x")
				case 6:
					c = withInt(lcmd(OpLPop, key()), -1)
				case 7:
					c = srem(key(), fmt.Sprint("m", rng.IntN(3)))
				case 8:
					c = keyCmd(OpDel, key())
				case 9:
					c = keyCmd(OpRename, key(), key())
				case 10:
					c = copyCmd(key(), key(), int64(rng.IntN(3)), rng.IntN(2) == 0)
				case 11:
					c = moveCmd(key(), int64(rng.IntN(3)))
				case 12:
					c = Cmd{Op: OpExpire, Keys: sbs(key()), Deadline: now + rng.Int64N(60) - 20}
				case 13:
					c = Cmd{Op: OpExpireIf, Keys: sbs(key()), Deadline: now - rng.Int64N(100)}
				case 14:
					c = sstore(OpSUnionStore, key(), key(), key())
				case 15:
					c = Cmd{Op: OpFlushDB}
					if rng.IntN(4) == 0 {
						c = Cmd{Op: OpFlushAll}
					}
				}
				c.DB = uint8(rng.IntN(3))
				cmds = append(cmds, c)
			}
			idx++
			batch = append(batch, LogEntry{Index: idx, Data: entry(now, cmds...)})
		}
		mustApply(t, db, batch...)
		checkKeyTypes(t, db, fmt.Sprint("step ", step))
		switch rng.IntN(20) {
		case 0:
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = open()
			checkKeyTypes(t, db, fmt.Sprint("step ", step, " restarted"))
		}
	}
}
