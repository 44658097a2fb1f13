package storage

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// The repro of issue 13: SETRANGE at offset 2^63-1 overflowed offset+length
// and sliced out of range inside apply, crashing every replica on every
// restart. It must be an error that changes nothing.
func TestSetRangeHugeOffsetIsAnError(t *testing.T) {
	db := mustOpen(t)
	before := digestOf(t, db)
	for i, off := range []int64{math.MaxInt64, math.MaxInt64 - 1, MaxStringLen, 1 << 62} {
		c := Cmd{Op: OpSetRange, Keys: [][]byte{[]byte("k")}, Vals: [][]byte{[]byte("AB")}, Int: off}
		for _, limit := range []int64{0, 16 << 20} {
			c.Limit = limit
			out := mustApply(t, db, LogEntry{Index: uint64(2*i) + uint64(limit>>24) + 1, Data: entry(1, c)})
			if r := out.Results[0][0]; r.Kind != ResultErr || !errors.Is(r.Err, ErrTooLarge) {
				t.Fatalf("SETRANGE offset %d limit %d: %+v, want ErrTooLarge", off, limit, r)
			}
		}
	}
	if db.ApplyPanics() != 0 {
		t.Fatalf("%d commands panicked; the check must come first", db.ApplyPanics())
	}
	if _, ok := get(t, db, "k", 1); ok {
		t.Fatal("a refused SETRANGE created the key")
	}
	// The digest covers the applied index too, so compare contents only.
	if n := db.KeyCount(0); n != 0 {
		t.Fatalf("%d keys after refused commands (digest before: %s)", n, before)
	}
}

// A command that panics in apply is rolled back completely, yields
// ErrInternal, is reported, and leaves the rest of its entry applied; two
// stores and a reopened store agree.
func TestPanicInApplyRollsBackOneCommand(t *testing.T) {
	var reports []ApplyPanic
	open := func(path string) *DB {
		db, err := Open(path, Options{InitialMmapSize: 1 << 24, OnApplyPanic: func(p ApplyPanic) { reports = append(reports, p) }})
		if err != nil {
			t.Fatal(err)
		}
		// Panic on the third record MSET writes, after it changed two.
		writes := 0
		db.testHook = func(op Op) {
			if op != OpMSet {
				return
			}
			if writes++; writes%3 == 0 {
				panic("injected")
			}
		}
		return db
	}
	dir := t.TempDir()
	a, b := open(filepath.Join(dir, "a.db")), open(filepath.Join(dir, "b.db"))
	defer b.Close()
	mset := Cmd{Op: OpMSet, Keys: [][]byte{[]byte("m1"), []byte("m2"), []byte("m3")}, Vals: [][]byte{[]byte("1"), []byte("2"), []byte("3")}}
	log := []LogEntry{
		{Index: 1, Data: entry(10, set("m1", "old", 0), set("ttl", "v", 5000))},
		{Index: 2, Data: entry(20, Cmd{Op: OpFlushDB}, set("x", "1", 0), mset, set("after", "ok", 9000))},
	}
	var results [][]Result
	for _, db := range []*DB{a, b} {
		out := mustApply(t, db, log...)
		results = append(results, out.Results[1])
	}
	r := results[0]
	if r[2].Kind != ResultErr || !errors.Is(r[2].Err, ErrInternal) {
		t.Fatalf("MSET result %+v, want ErrInternal", r[2])
	}
	if r[0].Kind != ResultOK || r[1].Kind != ResultOK || r[3].Kind != ResultOK {
		t.Fatalf("the other commands of the entry must apply: %+v", r)
	}
	if len(reports) != 2 || reports[0].Index != 2 || reports[0].Op != OpMSet || len(reports[0].Stack) == 0 {
		t.Fatalf("reports %+v", reports)
	}
	if a.ApplyPanics() != 1 {
		t.Fatalf("ApplyPanics %d", a.ApplyPanics())
	}
	for _, k := range []string{"m1", "m2", "m3"} {
		if v, ok := get(t, a, k, 20); ok {
			t.Fatalf("%s = %q survived the rolled-back MSET (the FLUSHDB before it removed m1)", k, v)
		}
	}
	if v, _ := get(t, a, "after", 20); v != "ok" {
		t.Fatalf("after = %q", v)
	}
	if a.KeyCount(0) != 2 || a.ExpiresCount(0) != 1 {
		t.Fatalf("counters keys=%d expires=%d, want 2 and 1", a.KeyCount(0), a.ExpiresCount(0))
	}
	da, db := digestOf(t, a), digestOf(t, b)
	if da != db {
		t.Fatalf("replicas disagree: %s vs %s", da, db)
	}
	// A restart replays the same log over the same state: same digest.
	path := a.Path()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = open(path)
	defer a.Close()
	mustApply(t, a, log...)
	if d := digestOf(t, a); d != da {
		t.Fatalf("digest after reopen %s, want %s", d, da)
	}
}

// A rolled-back command restores what the layer held: here RENAME after
// its first write, and FLUSHALL after clearing four databases.
func TestPanicRestoresLayer(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("a", "1", 0), set("b", "2", 100))})
	writes := 0
	db.testHook = func(op Op) {
		if writes++; (op == OpRename && writes == 2) || (op == OpFlushAll && writes == 5) {
			panic("injected")
		}
	}
	out := mustApply(t, db, LogEntry{Index: 2, Data: entry(50, Cmd{Op: OpRename, Keys: [][]byte{[]byte("a"), []byte("c")}})})
	writes = 0
	out2 := mustApply(t, db, LogEntry{Index: 3, Data: entry(50, Cmd{Op: OpFlushAll})})
	db.testHook = nil
	for _, r := range []Result{out.Results[0][0], out2.Results[0][0]} {
		if !errors.Is(r.Err, ErrInternal) {
			t.Fatalf("result %+v, want ErrInternal", r)
		}
	}
	if v, _ := get(t, db, "a", 50); v != "1" {
		t.Fatalf("a = %q after rolled-back RENAME and FLUSHALL", v)
	}
	if _, ok := get(t, db, "c", 50); ok {
		t.Fatal("c exists after a rolled-back RENAME")
	}
	if db.KeyCount(0) != 2 || db.ExpiresCount(0) != 1 {
		t.Fatalf("counters keys=%d expires=%d", db.KeyCount(0), db.ExpiresCount(0))
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, db, "b", 50); v != "2" {
		t.Fatalf("b = %q after a checkpoint", v)
	}
}

// A key bbolt cannot store is refused by the command that would store it,
// with nothing changed; before, the checkpoint failed on every replica.
func TestKeyTooLongIsRefusedInApply(t *testing.T) {
	db := mustOpen(t)
	long := strings.Repeat("k", MaxKeyLen+1)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("src", "v", 0))})
	out := mustApply(t, db, LogEntry{Index: 2, Data: entry(1,
		set(long, "v", 0),
		Cmd{Op: OpRename, Keys: [][]byte{[]byte("src"), []byte(long)}},
		Cmd{Op: OpDel, Keys: [][]byte{[]byte(long)}},
	)})
	for i, r := range out.Results[0][:2] {
		if !errors.Is(r.Err, ErrKeyTooLong) {
			t.Fatalf("command %d: %+v, want ErrKeyTooLong", i, r)
		}
	}
	if r := out.Results[0][2]; r.Kind != ResultInt || r.Int != 0 {
		t.Fatalf("DEL of a long key: %+v", r)
	}
	if v, _ := get(t, db, "src", 1); v != "v" || db.KeyCount(0) != 1 || db.ApplyPanics() != 0 {
		t.Fatalf("src=%q keys=%d panics=%d", v, db.KeyCount(0), db.ApplyPanics())
	}
	if err := db.Flush(); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
}
