package storage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sbs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func sadd(key string, members ...string) Cmd {
	return Cmd{Op: OpSAdd, Keys: sbs(key), Vals: sbs(members...)}
}

func srem(key string, members ...string) Cmd {
	return Cmd{Op: OpSRem, Keys: sbs(key), Vals: sbs(members...)}
}

func spop(key string, count, seed int64) Cmd {
	return Cmd{Op: OpSPop, Keys: sbs(key), Int: count, Limit: seed}
}

func smove(src, dst, member string) Cmd {
	return Cmd{Op: OpSMove, Keys: sbs(src, dst), Vals: sbs(member)}
}

func sstore(op Op, dst string, srcs ...string) Cmd {
	return Cmd{Op: op, Keys: sbs(append([]string{dst}, srcs...)...)}
}

// membersOf reads a whole set, sorted (nil: no such key), and checks that
// the header's count matches the records.
func membersOf(t testing.TB, db *DB, key string) []string {
	t.Helper()
	var out []string
	err := db.View(func(r *Reader) error {
		v, ok := r.Get(0, []byte(key), 1)
		if !ok {
			return nil
		}
		if v.Type != TypeSet {
			return fmt.Errorf("%s is a %s", key, v.Type)
		}
		out = []string{}
		r.SRange(v, func(m []byte) bool { out = append(out, string(m)); return true })
		if int64(len(out)) != v.Len() {
			return fmt.Errorf("%s: %d members, header says %d", key, len(out), v.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func sBulks(r Result) []string {
	var out []string
	for _, e := range r.Elems {
		out = append(out, string(e.Bytes))
	}
	return out
}

func TestSetElementsLifecycle(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, sadd("s", "b", "a", "b", "c"), sadd("s", "c", "d"), srem("s", "a", "zz", "a"), srem("none", "x"))
	if r[0].Int != 3 || r[1].Int != 1 || r[2].Int != 1 || r[3].Int != 0 {
		t.Fatalf("SADD/SREM results %+v", r)
	}
	if got := membersOf(t, db, "s"); fmt.Sprint(got) != "[b c d]" {
		t.Fatalf("s = %v", got)
	}
	if db.KeyCount(0) != 1 {
		t.Fatalf("%d keys: SREM of a missing key created one?", db.KeyCount(0))
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	// Membership after a checkpoint, through the Reader.
	db.View(func(rd *Reader) error {
		v, _ := rd.Get(0, []byte("s"), 1)
		if !rd.SIsMember(v, []byte("c")) || rd.SIsMember(v, []byte("a")) || rd.SIsMember(v, make([]byte, MaxKeyLen+1)) {
			t.Error("SIsMember wrong after checkpoint")
		}
		return nil
	})
	// Removing every member deletes the key and its records; an empty
	// member is a member like any other.
	l.apply(2, srem("s", "b", "c", "d"), sadd("e", ""))
	if membersOf(t, db, "s") != nil || elemRecords(t, db) != 1 || fmt.Sprint(membersOf(t, db, "e")) != "[]" {
		t.Fatalf("after emptying s: %v, %d records", membersOf(t, db, "s"), elemRecords(t, db))
	}
	// WRONGTYPE everywhere, and nothing changes.
	r = l.apply(3, set("str", "v", 0), sadd("str", "x"), srem("str", "x"), spop("str", 1, 1), smove("str", "e", "x"), smove("e", "str", ""), sstore(OpSUnionStore, "d", "e", "str"))
	for i, res := range r[1:] {
		if res.Err != ErrWrongType {
			t.Errorf("command %d on a string: %+v", i+1, res)
		}
	}
	if got := membersOf(t, db, "e"); fmt.Sprint(got) != "[]" || membersOf(t, db, "d") != nil {
		t.Fatalf("a failed command changed sets: e=%v d=%v", got, membersOf(t, db, "d"))
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestSetTTLAndExpiry(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	l.apply(1, sadd("s", "a"), Cmd{Op: OpExpire, Keys: sbs("s"), Deadline: 100})
	l.apply(2, sadd("s", "b"))
	var deadline int64
	db.View(func(r *Reader) error { v, _ := r.Get(0, []byte("s"), 2); deadline = v.Deadline; return nil })
	if deadline != 100 {
		t.Fatalf("SADD lost the TTL: deadline %d", deadline)
	}
	// Past the deadline the set is absent for every op: SADD starts anew.
	r := l.apply(200, sadd("s", "c"), spop("s", 5, 1))
	if r[0].Int != 1 || fmt.Sprint(sBulks(r[1])) != "[c]" {
		t.Fatalf("expired set: %+v", r)
	}
	if membersOf(t, db, "s") != nil || db.KeyCount(0) != 0 {
		t.Fatal("SPOP of every member left the key")
	}
}

func TestSPop(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, spop("none", -1, 7), spop("none", 3, 7), sadd("s", "a", "b", "c", "d", "e", "f", "g", "h"), spop("s", 0, 7))
	if r[0].Kind != ResultNil || r[1].Kind != ResultArray || len(r[1].Elems) != 0 || r[3].Kind != ResultArray || len(r[3].Elems) != 0 {
		t.Fatalf("SPOP of nothing: %+v", r)
	}
	// The same seed pops the same members on every replica; what is
	// popped is gone and was there.
	popped := map[string]bool{}
	for i := int64(0); i < 3; i++ {
		r = l.apply(2+i, spop("s", 2, 1000+i))
		if len(r[0].Elems) != 2 {
			t.Fatalf("SPOP 2 returned %d members", len(r[0].Elems))
		}
		for _, m := range sBulks(r[0]) {
			if popped[m] || len(m) != 1 || m < "a" || m > "h" {
				t.Fatalf("popped %q twice or out of nowhere", m)
			}
			popped[m] = true
		}
	}
	left := membersOf(t, db, "s")
	if len(left) != 2 {
		t.Fatalf("left %v", left)
	}
	for _, m := range left {
		if popped[m] {
			t.Fatalf("%s popped and still there", m)
		}
	}
	r = l.apply(10, spop("s", -1, 3))
	if r[0].Kind != ResultBulk || !slices.Contains(left, string(r[0].Bytes)) {
		t.Fatalf("SPOP without count: %+v", r)
	}
	// A count at or past the size pops everything and deletes the key,
	// even a count no one could allocate.
	r = l.apply(11, spop("s", math.MaxInt64, 3))
	if len(r[0].Elems) != 1 || membersOf(t, db, "s") != nil || db.KeyCount(0) != 0 {
		t.Fatalf("SPOP MaxInt64: %+v, keys %d", r, db.KeyCount(0))
	}
	// Hostile seeds and a negative count (the single form) are total.
	l.apply(12, sadd("s", "x", "y"), spop("s", math.MinInt64, math.MinInt64), spop("s", -5, math.MaxInt64))
	if membersOf(t, db, "s") != nil {
		t.Fatal("two single pops left members")
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// SPOP on a big set, through each of sampleElems' ways: seeks (a small
// count), one pass (a count above seekSampleMax), and the whole set.
func TestSPopBigSet(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	const n = 20000
	add := sadd("big")
	for i := range n {
		add.Vals = append(add.Vals, []byte(fmt.Sprintf("member:%06d", i)))
	}
	l.apply(1, add)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	want := n
	all := map[string]bool{}
	for i, count := range []int64{10, 1, 500, 3000, 9000} {
		if i == 2 {
			if err := db.Flush(); err != nil { // records on disk and in memory, and tombstones
				t.Fatal(err)
			}
		}
		r := l.apply(int64(2+i), spop("big", count, int64(i)*7919))
		got := sBulks(r[0])
		if int64(len(got)) != count {
			t.Fatalf("SPOP %d returned %d", count, len(got))
		}
		for _, m := range got {
			if all[m] || !strings.HasPrefix(m, "member:") {
				t.Fatalf("SPOP %d: %q twice or unknown", count, m)
			}
			all[m] = true
		}
		want -= int(count)
		if left := membersOf(t, db, "big"); len(left) != want {
			t.Fatalf("after SPOP %d: %d left, want %d", count, len(left), want)
		}
	}
	// Seeded picks are spread over the set, not taken from one end.
	lo, hi := 0, 0
	for m := range all {
		if m < "member:010000" {
			lo++
		} else {
			hi++
		}
	}
	if lo < len(all)/4 || hi < len(all)/4 {
		t.Fatalf("popped %d below the middle and %d above", lo, hi)
	}
	r := l.apply(20, spop("big", n, 1))
	if len(r[0].Elems) != want || db.KeyCount(0) != 0 || db.GarbageCount() != 1 {
		t.Fatalf("SPOP of the rest: %d members, keys %d, garbage %d", len(r[0].Elems), db.KeyCount(0), db.GarbageCount())
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestSMove(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, sadd("a", "x", "y"), set("str", "v", 0),
		smove("none", "str", "x"), // missing source: 0, before the destination's type
		smove("a", "str", "x"),    // WRONGTYPE
		smove("a", "a", "x"),      // same key: member?
		smove("a", "a", "q"),
		smove("a", "b", "q"), // not a member
		smove("a", "b", "x"), // creates b
		sadd("c", "y"),
		smove("a", "c", "y"), // already in c; a goes
	)
	want := []int64{0, -1, 1, 0, 0, 1, 1, 1}
	for i, w := range want {
		res := r[2+i]
		if i == 1 && res.Err != ErrWrongType || i != 1 && res.Int != w {
			t.Errorf("SMOVE case %d: %+v, want %d", i, res, w)
		}
	}
	if membersOf(t, db, "a") != nil || fmt.Sprint(membersOf(t, db, "b")) != "[x]" || fmt.Sprint(membersOf(t, db, "c")) != "[y]" {
		t.Fatalf("a=%v b=%v c=%v", membersOf(t, db, "a"), membersOf(t, db, "b"), membersOf(t, db, "c"))
	}
}

func TestSetStoreOps(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	l.apply(1, sadd("a", "1", "2", "3", "4"), sadd("b", "3", "4", "5"), sadd("c", "4", "6"))
	r := l.apply(2,
		sstore(OpSInterStore, "i", "a", "b", "c"),
		sstore(OpSUnionStore, "u", "a", "b", "c", "none"),
		sstore(OpSDiffStore, "d", "a", "b", "none"),
		sstore(OpSInterStore, "empty", "a", "none"),
	)
	if r[0].Int != 1 || r[1].Int != 6 || r[2].Int != 2 || r[3].Int != 0 {
		t.Fatalf("results %+v", r)
	}
	for k, want := range map[string]string{"i": "[4]", "u": "[1 2 3 4 5 6]", "d": "[1 2]"} {
		if got := fmt.Sprint(membersOf(t, db, k)); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if membersOf(t, db, "empty") != nil {
		t.Fatal("an empty result created its key")
	}
	// The destination may be a source; it is replaced whole, with its TTL;
	// an empty result deletes it whatever it held.
	l.apply(3, Cmd{Op: OpExpire, Keys: sbs("a"), Deadline: 1000}, sstore(OpSDiffStore, "a", "a", "b"), set("str", "v", 0), sstore(OpSInterStore, "str", "a", "none"))
	if got := fmt.Sprint(membersOf(t, db, "a")); got != "[1 2]" {
		t.Fatalf("a = %s", got)
	}
	db.View(func(rd *Reader) error {
		if v, _ := rd.Get(0, []byte("a"), 3); v.Deadline != 0 {
			t.Errorf("SDIFFSTORE kept the destination's TTL %d", v.Deadline)
		}
		if _, ok := rd.Get(0, []byte("str"), 3); ok {
			t.Error("an empty SINTERSTORE did not delete the destination")
		}
		return nil
	})
	// A string as a destination is overwritten; as a source it fails.
	r = l.apply(4, set("str", "v", 0), sstore(OpSUnionStore, "str", "a"), set("str2", "v", 0), sstore(OpSUnionStore, "a", "b", "str2"))
	if r[1].Int != 2 || r[3].Err != ErrWrongType || fmt.Sprint(membersOf(t, db, "str")) != "[1 2]" || fmt.Sprint(membersOf(t, db, "a")) != "[1 2]" {
		t.Fatalf("results %+v; str=%v a=%v", r, membersOf(t, db, "str"), membersOf(t, db, "a"))
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// Cmds a leader never builds but a log may hold: validate refuses the
// misshapen ones, apply is total on the rest.
func TestSetShapes(t *testing.T) {
	long := make([]byte, MaxKeyLen+1)
	bad := []Cmd{
		{Op: OpSAdd, Keys: sbs("k")},
		{Op: OpSAdd, Keys: sbs("k"), Vals: [][]byte{long}},
		{Op: OpSRem, Keys: sbs("k", "j"), Vals: sbs("a")},
		{Op: OpSPop, Keys: sbs("k"), Vals: sbs("a")},
		{Op: OpSMove, Keys: sbs("k"), Vals: sbs("a")},
		{Op: OpSMove, Keys: sbs("k", "j"), Vals: [][]byte{long}},
		{Op: OpSInterStore, Keys: sbs("k")},
		{Op: opSetEnd, Keys: sbs("k")},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%s %d keys %d vals validated", c.Op, len(c.Keys), len(c.Vals))
		}
	}
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	r := l.apply(1, Cmd{Op: OpSAdd, Keys: [][]byte{{}}, Vals: [][]byte{{}, make([]byte, MaxKeyLen)}},
		sstore(OpSUnionStore, "", "", "", ""), sstore(OpSDiffStore, "x", "x"), smove("", "", ""))
	if r[0].Int != 2 || r[1].Int != 2 || r[2].Int != 0 || r[3].Int != 1 {
		t.Fatalf("results %+v", r)
	}
	if l.dbs[0].ApplyPanics() != 0 {
		t.Fatal("apply panicked")
	}
}

// Two stores fed the same random log of set (and hash) operations, with
// big-set deletes, overwrites and GC, and checkpoints at different
// points, agree at every step; so does one reopened from its file.
func TestSetRandomLogDeterminism(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	a, err := Open(path, Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t)
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return fmt.Sprintf("s%d", rng.IntN(4)) }
	member := func() string { return fmt.Sprintf("m%d", rng.IntN(300)) }
	var idx uint64
	for step := range 120 {
		var cmds []Cmd
		for range 1 + rng.IntN(6) {
			switch rng.IntN(12) {
			case 0, 1, 2:
				c := sadd(key())
				for range 1 + rng.IntN(40) {
					c.Vals = append(c.Vals, []byte(member()))
				}
				cmds = append(cmds, c)
			case 3:
				cmds = append(cmds, srem(key(), member(), member()))
			case 4:
				cmds = append(cmds, spop(key(), int64(rng.IntN(120))-1, rng.Int64()))
			case 5:
				cmds = append(cmds, smove(key(), key(), member()))
			case 6:
				op := []Op{OpSInterStore, OpSUnionStore, OpSDiffStore}[rng.IntN(3)]
				cmds = append(cmds, sstore(op, key(), key(), key()))
			case 7:
				cmds = append(cmds, keyCmd(OpDel, key()))
			case 8:
				cmds = append(cmds, Cmd{Op: OpGC, Int: int64(1 + rng.IntN(200))})
			case 9:
				cmds = append(cmds, set(key(), "str", 0))
			case 10:
				cmds = append(cmds, keyCmd(OpRename, key(), key()))
			case 11:
				cmds = append(cmds, Cmd{Op: OpExpire, Keys: sbs(key()), Deadline: int64(step + rng.IntN(20))})
			}
		}
		idx++
		e := LogEntry{Index: idx, Data: entry(int64(step), cmds...)}
		ra := mustApply(t, a, e)
		rb := mustApply(t, b, e)
		if fmt.Sprint(ra.Results) != fmt.Sprint(rb.Results) {
			t.Fatalf("entry %d: results differ\n%v\n%v", idx, ra.Results, rb.Results)
		}
		if rng.IntN(3) == 0 {
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if step%10 == 9 {
			if da, db := digestOf(t, a), digestOf(t, b); da != db {
				t.Fatalf("entry %d: digests differ", idx)
			}
			for i := range 4 { // header counts match the records
				k := fmt.Sprintf("s%d", i)
				if typ, _ := typeOf(t, a, k); typ == TypeSet {
					membersOf(t, a, k)
				}
			}
		}
	}
	if a.ApplyPanics() != 0 || b.ApplyPanics() != 0 {
		t.Fatal("apply panicked")
	}
	want := digestOf(t, b)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := digestOf(t, a); got != want {
		t.Fatalf("reopened store differs: %s %s", got, want)
	}
}

// SScan pages through a big set whose members share a long prefix, every
// member once, with cursors below 2^53, while members come and go; a
// member added outside the common prefix restarts the scan, and none is
// missed.
func TestSScanPages(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	const n = 3000
	add := sadd("s")
	for i := range n {
		add.Vals = append(add.Vals, []byte(fmt.Sprintf("session:user-0000000000:%06d", i)))
	}
	l.apply(1, add)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	cursor, pages := uint64(0), 0
	for {
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte("s"), 1)
			cursor = r.SScan(v, cursor, 100, func(m []byte) { seen[string(m)]++ })
			return nil
		})
		if cursor >= 1<<53 {
			t.Fatalf("cursor %d", cursor)
		}
		pages++
		if pages == 5 { // churn: remove members not yet seen and some seen, add new
			l.apply(2, srem("s", "session:user-0000000000:000001", "session:user-0000000000:002999"), sadd("s", "session:user-0000000000:zzz"))
		}
		if pages == 10 { // the common prefix shrinks
			l.apply(3, sadd("s", "a"))
		}
		if cursor == 0 {
			break
		}
		if pages > 1000 {
			t.Fatal("SScan does not end")
		}
	}
	if pages < 20 {
		t.Fatalf("%d pages of about 100 for %d members", pages, n)
	}
	for i := range n {
		m := fmt.Sprintf("session:user-0000000000:%06d", i)
		if i != 1 && i != 2999 && seen[m] == 0 {
			t.Fatalf("%s missed", m)
		}
	}
	// Unchanged, a scan returns every member exactly once.
	seen = map[string]int{}
	for cursor, pages = 0, 0; ; pages++ {
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte("s"), 1)
			cursor = r.SScan(v, cursor, 7, func(m []byte) { seen[string(m)]++ })
			return nil
		})
		if cursor == 0 {
			break
		}
	}
	for m, c := range seen {
		if c != 1 {
			t.Fatalf("%s returned %d times", m, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("scan saw %d members, want %d", len(seen), n)
	}
	// Cursors no scan returns end it, or (any below 2^53) resume
	// somewhere, harmlessly.
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte("s"), 1)
		for _, c := range []uint64{3 << 51, 1 << 53, math.MaxUint64} {
			if next := r.SScan(v, c, 10, func([]byte) {}); next != 0 {
				t.Errorf("cursor %d: next %d", c, next)
			}
		}
		for _, c := range []uint64{1, 1 << 51, 1 << 52, 1<<52 | 1<<40, 1<<53 - 1, 1<<51 - 1} {
			if next := r.SScan(v, c, 10, func([]byte) {}); next >= 1<<53 {
				t.Errorf("cursor %d: next %d", c, next)
			}
		}
		return nil
	})
}

// A page never stops between members that agree on the cursor's bytes:
// members no anchor tells apart (a long shared run after a short member
// that sorts first in every bucket) make one big page, not an endless
// loop, and each comes once.
func TestSScanCrowdedCursorBytes(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	add := sadd("s", "a", "mm", "z")
	for i := range 50 {
		add.Vals = append(add.Vals, []byte(fmt.Sprintf("mm%s%03d", strings.Repeat("x", 20), i)))
	}
	l.apply(1, add)
	var pages [][]string
	seen := map[string]int{}
	cursor := uint64(0)
	for {
		var page []string
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte("s"), 1)
			cursor = r.SScan(v, cursor, 2, func(m []byte) { page = append(page, string(m)); seen[string(m)]++ })
			return nil
		})
		pages = append(pages, page)
		if cursor == 0 || len(pages) > 100 {
			break
		}
	}
	if len(pages) > 4 || len(seen) != 53 {
		t.Fatalf("%d pages, %d members: %v", len(pages), len(seen), pages)
	}
	for m, c := range seen {
		if c != 1 {
			t.Fatalf("%s came %d times", m, c)
		}
	}
}

func TestSRandomSamples(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	small := sadd("small", "a", "b", "c", "d", "e")
	big := sadd("big")
	for i := range 5000 {
		big.Vals = append(big.Vals, []byte(fmt.Sprintf("%05d", i)))
	}
	l.apply(1, small, big)
	rng := rand.New(rand.NewPCG(3, 4))
	db.View(func(r *Reader) error {
		for _, key := range []string{"small", "big"} {
			v, _ := r.Get(0, []byte(key), 1)
			for _, count := range []int64{1, 3, 5, 6, 200, 2000, 4999, 5000, 9000} {
				for _, unique := range []bool{true, false} {
					if !unique && count > 2000 && key == "big" {
						continue
					}
					var got []string
					r.SRandom(v, count, unique, rng, func(m []byte) { got = append(got, string(m)) })
					want := count
					if unique {
						want = min(count, v.Len())
					}
					if int64(len(got)) != want {
						t.Fatalf("%s count %d unique %v: %d members", key, count, unique, len(got))
					}
					distinct := map[string]bool{}
					for _, m := range got {
						if !r.SIsMember(v, []byte(m)) {
							t.Fatalf("%q is no member", m)
						}
						distinct[m] = true
					}
					if unique && len(distinct) != len(got) {
						t.Fatalf("%s count %d: repeats in a unique sample", key, count)
					}
				}
			}
		}
		// Repeated single picks reach every member of a small set.
		v, _ := r.Get(0, []byte("small"), 1)
		hit := map[string]bool{}
		for range 200 {
			r.SRandom(v, 1, true, rng, func(m []byte) { hit[string(m)] = true })
		}
		if len(hit) != 5 {
			t.Fatalf("200 picks hit %v", hit)
		}
		return nil
	})
}

// seekLiveElem and lastLiveElem agree with rangeElems over records spread
// across disk, an older layer and the active one, with deletions.
func TestSeekLiveElemMatchesRange(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 6 {
		var cmds []Cmd
		for range 30 {
			m := fmt.Sprintf("%03d", rng.IntN(200))
			if rng.IntN(3) == 0 {
				cmds = append(cmds, srem("s", m))
			} else {
				cmds = append(cmds, sadd("s", m))
			}
		}
		l.apply(int64(round+1), cmds...)
		if round%2 == 0 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		db.View(func(r *Reader) error {
			v, ok := r.Get(0, []byte("s"), 1)
			if !ok {
				return nil
			}
			var want []string
			r.SRange(v, func(m []byte) bool { want = append(want, string(m)); return true })
			sp := r.elemSpan(v, kindElem)
			var got []string
			for e, _, ok := sp.seek(nil); ok; e, _, ok = sp.next(e) {
				got = append(got, string(e))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d: seeks %v\nrange %v", round, got, want)
			}
			if last, _, ok := sp.last(); !ok || string(last) != want[len(want)-1] {
				t.Fatalf("round %d: last %q, want %q", round, last, want[len(want)-1])
			}
			return nil
		})
	}
}

func typeOf(t testing.TB, db *DB, key string) (Type, bool) {
	t.Helper()
	var typ Type
	var ok bool
	db.View(func(r *Reader) error {
		var v Value
		v, ok = r.Get(0, []byte(key), 1)
		typ = v.Type
		return nil
	})
	return typ, ok
}
