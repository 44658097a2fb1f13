package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func copyCmd(src, dst string, db int64, replace bool) Cmd {
	c := keyCmd(OpCopy, src, dst)
	c.Int = db
	if replace {
		c.Limit = 1
	}
	return c
}

func moveCmd(key string, db int64) Cmd {
	c := keyCmd(OpMove, key)
	c.Int = db
	return c
}

// hashIn is hashOf for any database.
func hashIn(t *testing.T, db *DB, n uint8, key string) (map[string]string, Value) {
	t.Helper()
	var out map[string]string
	var val Value
	err := db.View(func(r *Reader) error {
		v, ok := r.Get(n, []byte(key), 1)
		if !ok {
			return nil
		}
		val = v
		val.Data = clone(v.Data)
		out = map[string]string{}
		r.HRange(v, nil, func(f, x []byte) bool { out[string(f)] = string(x); return true })
		if int64(len(out)) != v.Len() {
			return fmt.Errorf("%s: %d fields, header says %d", key, len(out), v.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, val
}

// COPY of a big hash copies every field into a collection of its own:
// deleting the source (and collecting its records) leaves the copy whole.
func TestCopyBigHashGetsItsOwnElements(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	big := hset("src")
	for i := range 1000 {
		big.Vals = append(big.Vals, []byte(fmt.Sprintf("f%04d", i)), []byte(fmt.Sprint(i)))
	}
	l.apply(1, big, Cmd{Op: OpExpire, Keys: [][]byte{[]byte("src")}, Deadline: 1_000_000})
	if err := db.Flush(); err != nil { // half the fields on disk, half in memory
		t.Fatal(err)
	}
	l.apply(2, hset("src", "f0000", "changed", "extra", "x"))
	r := l.apply(3, copyCmd("src", "dst", 0, false), copyCmd("src", "dst", 0, false), copyCmd("src", "src", 0, true), copyCmd("nope", "dst", 0, true))
	if r[0].Int != 1 || r[1].Int != 0 || r[2].Err == nil || r[2].Err.Error() != "ERR source and destination objects are the same" || r[3].Int != 0 {
		t.Fatalf("COPY results %+v", r)
	}
	src, sv := hashIn(t, db, 0, "src")
	dst, dv := hashIn(t, db, 0, "dst")
	if len(dst) != 1001 || fmt.Sprint(src) != fmt.Sprint(dst) || dst["f0000"] != "changed" {
		t.Fatalf("copy has %d fields, source %d", len(dst), len(src))
	}
	if sv.meta().oid == dv.meta().oid || dv.Deadline != 1_000_000 {
		t.Fatalf("copy: oid %d (source %d), deadline %d", dv.meta().oid, sv.meta().oid, dv.Deadline)
	}
	if db.ExpiresCount(0) != 2 || db.KeyCount(0) != 2 {
		t.Fatalf("keys %d expires %d", db.KeyCount(0), db.ExpiresCount(0))
	}
	// Writes to one do not show in the other.
	l.apply(4, hset("dst", "only-dst", "1"), Cmd{Op: OpHDel, Keys: [][]byte{[]byte("src")}, Vals: [][]byte{[]byte("f0001")}})
	if s, _ := hashIn(t, db, 0, "src"); s["only-dst"] != "" || len(s) != 1000 {
		t.Fatalf("source sees the copy's field or lost one: %d", len(s))
	}
	// Delete the source and let GC collect it: the copy is intact.
	l.apply(5, keyCmd(OpDel, "src"))
	for i := 0; db.GarbageCount() > 0; i++ {
		if i > 50 {
			t.Fatal("GC does not finish")
		}
		l.apply(6, Cmd{Op: OpGC, Int: 100})
	}
	if d, _ := hashIn(t, db, 0, "dst"); len(d) != 1002 || d["f0001"] != "1" {
		t.Fatalf("copy after the source's GC: %d fields, f0001=%q", len(d), d["f0001"])
	}
	if n := elemRecords(t, db); n != 1002 {
		t.Fatalf("%d element records, want the copy's 1002", n)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestCopyReplaceAndAcrossDatabases(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	l.apply(1, set("s", "v", 5000), hset("h", "a", "1", "b", "2"), hset("old", "x", "1"), set("str", "x", 0))
	r := l.apply(2,
		copyCmd("s", "old", 0, false), // exists: 0
		copyCmd("h", "old", 0, true),  // REPLACE over a hash: its fields are freed
		copyCmd("s", "str", 0, true),  // string over string, TTL copied
		copyCmd("h", "h", 3, false),   // same name, other database
		copyCmd("s", "s", 3, false))
	for i, want := range []int64{0, 1, 1, 1, 1} {
		if r[i].Int != want || r[i].Err != nil {
			t.Fatalf("COPY %d: %+v, want %d", i, r[i], want)
		}
	}
	if h, _ := hashIn(t, db, 0, "old"); fmt.Sprint(h) != "map[a:1 b:2]" {
		t.Fatalf("old = %v", h)
	}
	if h, _ := hashIn(t, db, 3, "h"); fmt.Sprint(h) != "map[a:1 b:2]" {
		t.Fatalf("db3 h = %v", h)
	}
	if n := elemRecords(t, db); n != 6 {
		t.Fatalf("%d element records, want 6 (h, old, db3 h)", n)
	}
	if db.KeyCount(0) != 4 || db.KeyCount(3) != 2 || db.ExpiresCount(0) != 2 || db.ExpiresCount(3) != 1 {
		t.Fatalf("counts: db0 %d/%d db3 %d/%d", db.KeyCount(0), db.ExpiresCount(0), db.KeyCount(3), db.ExpiresCount(3))
	}
	// An expired source is not copied; an expired destination is no
	// obstacle.
	r = l.apply(6000, copyCmd("s", "new", 0, false), copyCmd("h", "s", 3, false))
	if r[0].Int != 0 || r[1].Int != 1 {
		t.Fatalf("COPY with expired keys: %+v", r)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestMoveKeepsRecordAndTTL(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	big := hset("h")
	for i := range 200 {
		big.Vals = append(big.Vals, []byte(fmt.Sprint("f", i)), []byte("v"))
	}
	l.apply(1, big, Cmd{Op: OpExpire, Keys: [][]byte{[]byte("h")}, Deadline: 9000}, set("s", "v", 0), set("taken", "1", 0), set("taken", "2", 0))
	l.apply(2, Cmd{Op: OpSet, DB: 2, Keys: [][]byte{[]byte("taken")}, Vals: [][]byte{[]byte("theirs")}})
	_, before := hashIn(t, db, 0, "h")
	records := elemRecords(t, db)
	r := l.apply(3, moveCmd("h", 2), moveCmd("h", 2), moveCmd("nope", 2), moveCmd("taken", 2), moveCmd("s", 0))
	if r[0].Int != 1 || r[1].Int != 0 || r[2].Int != 0 || r[3].Int != 0 || !errors.Is(r[4].Err, errSameObject) {
		t.Fatalf("MOVE results %+v", r)
	}
	h, after := hashIn(t, db, 2, "h")
	if len(h) != 200 || after.meta().oid != before.meta().oid || after.Deadline != 9000 {
		t.Fatalf("moved hash: %d fields, oid %d (was %d), deadline %d", len(h), after.meta().oid, before.meta().oid, after.Deadline)
	}
	if n := elemRecords(t, db); n != records {
		t.Fatalf("MOVE changed the element records: %d, was %d", n, records)
	}
	if g, _ := hashIn(t, db, 0, "h"); g != nil {
		t.Fatal("h still in db 0")
	}
	if db.KeyCount(0) != 2 || db.KeyCount(2) != 2 || db.ExpiresCount(0) != 0 || db.ExpiresCount(2) != 1 {
		t.Fatalf("counts: db0 %d/%d db2 %d/%d", db.KeyCount(0), db.ExpiresCount(0), db.KeyCount(2), db.ExpiresCount(2))
	}
	// The deadline still expires it, in its new database.
	var due []Due
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	db.View(func(r *Reader) error { due, _ = r.DueBetween(nil, 10000, 10); return nil })
	if len(due) != 1 || due[0].DB != 2 || string(due[0].Key) != "h" {
		t.Fatalf("expiry index %+v", due)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestKeyShapes(t *testing.T) {
	for i, c := range []Cmd{copyCmd("a", "b", NumDBs, false), copyCmd("a", "b", -1, false), {Op: OpCopy, Keys: [][]byte{[]byte("a")}},
		func() Cmd { c := copyCmd("a", "b", 0, false); c.Limit = 2; return c }(), moveCmd("a", NumDBs), moveCmd("a", -1),
		{Op: OpMove, Keys: [][]byte{[]byte("a"), []byte("b")}}, {Op: OpMove, Keys: [][]byte{[]byte("a")}, Vals: [][]byte{{}}}} {
		if _, err := DecodeEntry(entry(1, c)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("case %d: %v, want ErrBadEntry", i, err)
		}
	}
}

func TestEncodingAndRefCount(t *testing.T) {
	db := mustOpen(t)
	wide, w512 := hset("wide"), hset("w512")
	for i := range 513 {
		wide.Vals = append(wide.Vals, []byte(fmt.Sprint(i)), []byte("v"))
	}
	w512.Vals = wide.Vals[:1024]
	ints, strs := keyCmd(OpSAdd, "ints"), keyCmd(OpSAdd, "strs")
	ints.Vals = [][]byte{[]byte("1"), []byte("-5"), []byte("300")}
	strs.Vals = [][]byte{[]byte("1"), []byte("a")}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1,
		set("i", "123", 0), set("big", "10000", 0), set("neg", "-1", 0), set("lz", "0123", 0),
		set("e44", strings.Repeat("x", 44), 0), set("r45", strings.Repeat("x", 45), 0),
		set("max", "9223372036854775807", 0), set("over", "9223372036854775808", 0),
		hset("small", "f", strings.Repeat("v", 64)), hset("longval", "f", strings.Repeat("v", 65)), wide, w512, ints, strs)})
	want := map[string]string{"i": "int", "big": "int", "neg": "int", "lz": "embstr", "e44": "embstr", "r45": "raw",
		"max": "int", "over": "embstr", "small": "listpack", "longval": "hashtable", "wide": "hashtable", "w512": "listpack",
		"ints": "intset", "strs": "hashtable"}
	refs := map[string]int64{"i": sharedRefCount, "big": 1, "neg": 1, "small": 1}
	db.View(func(r *Reader) error {
		for k, enc := range want {
			v, _ := r.Get(0, []byte(k), 1)
			if got := r.Encoding(v); got != enc {
				t.Errorf("%s: %s, want %s", k, got, enc)
			}
		}
		for k, n := range refs {
			v, _ := r.Get(0, []byte(k), 1)
			if got := r.RefCount(v); got != n {
				t.Errorf("refcount %s: %d, want %d", k, got, n)
			}
		}
		for typ, enc := range map[Type]string{TypeList: "quicklist"} {
			if got := r.Encoding(Value{Type: typ, Data: collMeta{oid: 1, count: 1}.encode()}); got != enc {
				t.Errorf("%s: %s", typ, got)
			}
		}
		return nil
	})
}
