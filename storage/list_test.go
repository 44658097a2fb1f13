package storage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func lcmd(op Op, key string, vals ...string) Cmd {
	c := Cmd{Op: op, Keys: [][]byte{[]byte(key)}}
	for _, v := range vals {
		c.Vals = append(c.Vals, []byte(v))
	}
	return c
}

func withInt(c Cmd, n int64) Cmd   { c.Int = n; return c }
func withLimit(c Cmd, n int64) Cmd { c.Limit = n; return c }

func lmoveCmd(src, dst string, dir int64) Cmd {
	return Cmd{Op: OpLMove, Keys: [][]byte{[]byte(src), []byte(dst)}, Int: dir}
}

// listOf reads a whole list (nil: no such key) and checks the layout:
// the elements sit at positions head, head+1, ... with no gap, as many as
// the header counts.
func listOf(t *testing.T, db *DB, key string) []string {
	t.Helper()
	var out []string
	err := db.View(func(r *Reader) error {
		v, ok := r.Get(0, []byte(key), 1)
		if !ok {
			return nil
		}
		if v.Type != TypeList {
			return fmt.Errorf("%s is a %s", key, v.Type)
		}
		out = []string{}
		m := v.meta()
		var bad error
		r.rangeElems(v, kindElem, nil, false, func(k, val []byte) bool {
			if want := m.head + int64(len(out)); keyPos(k) != want {
				bad = fmt.Errorf("%s: element %d at position %d, want %d", key, len(out), keyPos(k), want)
				return false
			}
			out = append(out, string(val))
			return true
		})
		if bad != nil {
			return bad
		}
		if int64(len(out)) != m.count || m.count == 0 {
			return fmt.Errorf("%s: %d elements, header says %d", key, len(out), m.count)
		}
		// The exported readers agree.
		var viaRange []string
		r.LRange(v, 0, false, func(i int64, e []byte) bool {
			if i != int64(len(viaRange)) {
				bad = fmt.Errorf("LRange index %d, want %d", i, len(viaRange))
			}
			viaRange = append(viaRange, string(e))
			return true
		})
		var rev []string
		r.LRange(v, m.count-1, true, func(i int64, e []byte) bool { rev = append(rev, string(e)); return true })
		slices.Reverse(rev)
		last, _ := r.LIndex(v, -1)
		if bad != nil || !slices.Equal(viaRange, out) || !slices.Equal(rev, out) || string(last) != out[len(out)-1] {
			return fmt.Errorf("%s: readers disagree: %q %q %q %q (%v)", key, out, viaRange, rev, last, bad)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func headOf(t *testing.T, db *DB, key string) int64 {
	t.Helper()
	var h int64
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte(key), 1)
		h = v.meta().head
		return nil
	})
	return h
}

func resultText(r Result) string {
	var b []byte
	switch r.Kind {
	case ResultNil:
		return "nil"
	case ResultOK:
		return "OK"
	case ResultInt:
		return fmt.Sprint(r.Int)
	case ResultBulk:
		return string(r.Bytes)
	case ResultErr:
		return "err:" + r.Err.Error()
	case ResultArray:
		if r.Null {
			return "nullarray"
		}
		b = append(b, '[')
		for i, e := range r.Elems {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, resultText(e)...)
		}
		return string(append(b, ']'))
	}
	return fmt.Sprintf("%+v", r)
}

func TestListPushPopPositions(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, lcmd(OpLPush, "l", "a", "b"), lcmd(OpRPush, "l", "c", "d"), lcmd(OpLPush, "l", "z"))
	if resultText(r[0]) != "2" || resultText(r[1]) != "4" || resultText(r[2]) != "5" {
		t.Fatalf("push results %v %v %v", resultText(r[0]), resultText(r[1]), resultText(r[2]))
	}
	if got := listOf(t, db, "l"); fmt.Sprint(got) != "[z b a c d]" {
		t.Fatalf("l = %v", got)
	}
	// LPUSH went below zero: negative positions sort first.
	if h := headOf(t, db, "l"); h != -3 {
		t.Fatalf("head %d, want -3", h)
	}
	r = l.apply(2, withInt(lcmd(OpLPop, "l"), -1), withInt(lcmd(OpRPop, "l"), 2), withInt(lcmd(OpLPop, "l"), 0),
		withInt(lcmd(OpLPop, "none"), -1), withInt(lcmd(OpLPop, "none"), 3))
	want := []string{"z", "[d c]", "[]", "nil", "nullarray"}
	for i := range want {
		if resultText(r[i]) != want[i] {
			t.Fatalf("pop %d: %s, want %s", i, resultText(r[i]), want[i])
		}
	}
	if got := listOf(t, db, "l"); fmt.Sprint(got) != "[b a]" {
		t.Fatalf("l = %v", got)
	}
	// A huge count pops what there is, and the empty list vanishes.
	r = l.apply(3, withInt(lcmd(OpLPop, "l"), math.MaxInt64))
	if resultText(r[0]) != "[b a]" || listOf(t, db, "l") != nil || db.KeyCount(0) != 0 || elemRecords(t, db) != 0 {
		t.Fatalf("pop all: %s, keys %d, records %d", resultText(r[0]), db.KeyCount(0), elemRecords(t, db))
	}
	// XX pushes only onto an existing list.
	xx := lcmd(OpLPush, "l", "x")
	xx.Flags = FlagXX
	r = l.apply(4, xx, lcmd(OpRPush, "l", "y"), xx)
	if resultText(r[0]) != "0" || resultText(r[2]) != "2" || fmt.Sprint(listOf(t, db, "l")) != "[x y]" {
		t.Fatalf("LPUSHX: %s %s %v", resultText(r[0]), resultText(r[2]), listOf(t, db, "l"))
	}
	// A recreated list starts again at position 0.
	l.apply(5, keyCmd(OpDel, "l"), lcmd(OpRPush, "l", "n"))
	if h := headOf(t, db, "l"); h != 0 {
		t.Fatalf("recreated head %d", h)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestListErrorsAndWrongType(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	l.apply(1, set("s", "v", 0), lcmd(OpRPush, "l", "a", "b", "c"))
	cases := []struct {
		c    Cmd
		want string
	}{
		{lcmd(OpLPush, "s", "x"), "err:storage: wrong type"},
		{withInt(lcmd(OpLPop, "s"), -1), "err:storage: wrong type"},
		{lcmd(OpLSet, "none", "x"), "err:ERR no such key"},
		{withLimit(lcmd(OpLSet, "none", "x"), 1), "err:ERR no such key"},
		{withLimit(lcmd(OpLSet, "s", "x"), 1), "err:storage: wrong type"},
		{withLimit(lcmd(OpLSet, "l", "x"), 1), "err:storage: value is not an integer"},
		{withInt(lcmd(OpLSet, "l", "x"), 3), "err:ERR index out of range"},
		{withInt(lcmd(OpLSet, "l", "x"), -4), "err:ERR index out of range"},
		{withInt(lcmd(OpLSet, "l", "x"), math.MinInt64), "err:ERR index out of range"},
		{withInt(lcmd(OpLSet, "l", "x"), math.MaxInt64), "err:ERR index out of range"},
		{withInt(lcmd(OpLSet, "l", "C"), -1), "OK"},
		{lcmd(OpLInsert, "none", "a", "x"), "0"},
		{lcmd(OpLInsert, "l", "zz", "x"), "-1"},
		{lcmd(OpLInsert, "s", "a", "x"), "err:storage: wrong type"},
		{withInt(lcmd(OpLRem, "none", "a"), 1), "0"},
		{withInt(lcmd(OpLRem, "l", "zz"), math.MinInt64), "0"},
		{lcmd(OpLTrim, "none"), "OK"},
		{lmoveCmd("none", "l", 0), "nil"},
		{lmoveCmd("l", "s", 0), "err:storage: wrong type"},
		{lmoveCmd("s", "l", 0), "err:storage: wrong type"},
		{Cmd{Op: OpBLPop, Keys: [][]byte{[]byte("none"), []byte("s"), []byte("l")}}, "err:storage: wrong type"},
		{Cmd{Op: OpBLPop, Keys: [][]byte{[]byte("none"), []byte("l"), []byte("s")}}, "[l a]"},
		{Cmd{Op: OpBRPop, Keys: [][]byte{[]byte("none"), []byte("l")}}, "[l C]"},
		{Cmd{Op: OpBRPop, Keys: [][]byte{[]byte("none"), []byte("none2")}}, "nullarray"},
	}
	for i, tc := range cases {
		r := l.apply(int64(2+i), tc.c)
		if got := resultText(r[0]); got != tc.want {
			t.Errorf("case %d %s: %s, want %s", i, tc.c.Op, got, tc.want)
		}
	}
	if got := listOf(t, l.dbs[0], "l"); fmt.Sprint(got) != "[b]" {
		t.Fatalf("l = %v; a refused command changed it?", got)
	}
	if v, _ := get(t, l.dbs[0], "s", 1); v != "v" {
		t.Fatal("s changed")
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestListMoveAndRotate(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	l.apply(1, lcmd(OpRPush, "l", "a", "b", "c"))
	r := l.apply(2, lmoveCmd("l", "l", LMoveFromRight), lmoveCmd("l", "l", LMoveToRight))
	if resultText(r[0]) != "c" || resultText(r[1]) != "c" || fmt.Sprint(listOf(t, db, "l")) != "[a b c]" {
		t.Fatalf("rotation: %s %s %v", resultText(r[0]), resultText(r[1]), listOf(t, db, "l"))
	}
	l.apply(3, lcmd(OpRPush, "one", "x"))
	r = l.apply(4, lmoveCmd("one", "one", 0))
	if resultText(r[0]) != "x" || fmt.Sprint(listOf(t, db, "one")) != "[x]" {
		t.Fatalf("rotating a one-element list: %s %v", resultText(r[0]), listOf(t, db, "one"))
	}
	out := l.apply(5, lmoveCmd("l", "dst", LMoveFromRight|LMoveToRight), lmoveCmd("l", "dst", 0), lmoveCmd("l", "dst", LMoveToRight), lmoveCmd("l", "dst", 0))
	if fmt.Sprint(listOf(t, db, "dst")) != "[a c b]" || listOf(t, db, "l") != nil || resultText(out[3]) != "nil" {
		t.Fatalf("dst = %v, l = %v", listOf(t, db, "dst"), listOf(t, db, "l"))
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// countWrites returns how many element and key records cmd writes.
func countWrites(t *testing.T, l *applyLog, now int64, c Cmd) (int, Result) {
	t.Helper()
	n := 0
	for _, db := range l.dbs {
		db.testHook = func(Op) { n++ }
	}
	r := l.apply(now, c)
	for _, db := range l.dbs {
		db.testHook = nil
	}
	return n / len(l.dbs), r[0]
}

// LINSERT and LREM shift the smaller side only: near either end they
// write a handful of records, not the whole list.
func TestListInsertRemoveShiftTheSmallerSide(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	const n = 2000
	var model []string
	push := lcmd(OpRPush, "l")
	for i := range n {
		v := fmt.Sprintf("e%d", i)
		push.Vals = append(push.Vals, []byte(v))
		model = append(model, v)
	}
	l.apply(1, push)
	if err := db.Flush(); err != nil { // half on disk, half in memory
		t.Fatal(err)
	}
	step := int64(2)
	check := func(what string, writes int, r Result, wantRes string, wantHead int64) {
		t.Helper()
		if got := resultText(r); got != wantRes {
			t.Fatalf("%s: %s, want %s", what, got, wantRes)
		}
		if writes > 8 {
			t.Fatalf("%s wrote %d records in a %d-element list", what, writes, len(model))
		}
		if h := headOf(t, db, "l"); h != wantHead {
			t.Fatalf("%s: head %d, want %d", what, h, wantHead)
		}
		if got := listOf(t, db, "l"); !slices.Equal(got, model) {
			t.Fatalf("%s: list differs from the model", what)
		}
		step++
	}
	// Near the head: the head side moves one position down.
	w, r := countWrites(t, l, step, lcmd(OpLInsert, "l", "e1", "new1")) // before e1
	model = slices.Insert(model, 1, "new1")
	check("LINSERT BEFORE e1", w, r, fmt.Sprint(n+1), -1)
	w, r = countWrites(t, l, step, withInt(lcmd(OpLInsert, "l", "e0", "new0"), 1)) // after e0
	model = slices.Insert(model, 1, "new0")
	check("LINSERT AFTER e0", w, r, fmt.Sprint(n+2), -2)
	// Near the tail: the tail side moves up; the head stays.
	w, r = countWrites(t, l, step, withInt(lcmd(OpLInsert, "l", fmt.Sprintf("e%d", n-2), "newT"), 1))
	model = slices.Insert(model, len(model)-1, "newT")
	check("LINSERT AFTER e(n-2)", w, r, fmt.Sprint(n+3), -2)
	// LREM near the head: the head moves up by the removed count.
	w, r = countWrites(t, l, step, withInt(lcmd(OpLRem, "l", "new0"), 0))
	model = slices.DeleteFunc(model, func(s string) bool { return s == "new0" })
	check("LREM new0", w, r, "1", -1)
	// LREM near the tail, counting from the tail.
	w, r = countWrites(t, l, step, withInt(lcmd(OpLRem, "l", "newT"), -5))
	model = slices.DeleteFunc(model, func(s string) bool { return s == "newT" })
	check("LREM -5 newT", w, r, "1", -1)
	// Several matches spread over both halves: everything is kept in order.
	set3 := []Cmd{withInt(lcmd(OpLSet, "l", "dup"), 3), withInt(lcmd(OpLSet, "l", "dup"), 1000), withInt(lcmd(OpLSet, "l", "dup"), -3)}
	l.apply(step, set3...)
	model[3], model[1000], model[len(model)-3] = "dup", "dup", "dup"
	r = l.apply(step+1, withInt(lcmd(OpLRem, "l", "dup"), 2))[0]
	model = slices.Delete(model, 1000, 1001)
	model = slices.Delete(model, 3, 4)
	if resultText(r) != "2" || !slices.Equal(listOf(t, db, "l"), model) {
		t.Fatalf("LREM 2 dup: %s", resultText(r))
	}
	r = l.apply(step+2, withInt(lcmd(OpLRem, "l", "dup"), -1))[0]
	model = slices.Delete(model, len(model)-3, len(model)-2)
	if resultText(r) != "1" || !slices.Equal(listOf(t, db, "l"), model) {
		t.Fatalf("LREM -1 dup: %s", resultText(r))
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestListTrim(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	l.apply(1, lcmd(OpRPush, "l", "a", "b", "c", "d", "e"))
	trim := func(start, stop int64) Cmd { return withLimit(withInt(lcmd(OpLTrim, "l"), start), stop) }
	l.apply(2, trim(1, -2))
	if got := fmt.Sprint(listOf(t, db, "l")); got != "[b c d]" {
		t.Fatalf("LTRIM 1 -2: %s", got)
	}
	l.apply(3, trim(math.MinInt64, math.MaxInt64))
	if got := fmt.Sprint(listOf(t, db, "l")); got != "[b c d]" {
		t.Fatalf("LTRIM min max: %s", got)
	}
	l.apply(4, trim(-1, -1))
	if got := fmt.Sprint(listOf(t, db, "l")); got != "[d]" {
		t.Fatalf("LTRIM -1 -1: %s", got)
	}
	l.apply(5, trim(5, 10))
	if listOf(t, db, "l") != nil || elemRecords(t, db) != 0 {
		t.Fatal("LTRIM past the end left the list")
	}
	// Trimming a big list away entirely releases it through the garbage
	// queue, as DEL does.
	big := lcmd(OpRPush, "big")
	for i := range 500 {
		big.Vals = append(big.Vals, []byte(fmt.Sprint(i)))
	}
	l.apply(6, big)
	w, _ := countWrites(t, l, 7, withLimit(withInt(lcmd(OpLTrim, "big"), 1), 0))
	if w > 4 || db.GarbageCount() != 1 {
		t.Fatalf("LTRIM of everything wrote %d records, garbage %d", w, db.GarbageCount())
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// listModel is the reference: a Go slice per key.
type listModel map[string][]string

func (m listModel) apply(c Cmd) string {
	key := string(c.Keys[0])
	cur := m[key]
	set := func(k string, v []string) {
		if len(v) == 0 {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	switch c.Op {
	case OpLPush, OpRPush:
		if c.Flags&FlagXX != 0 && cur == nil {
			return "0"
		}
		for _, v := range c.Vals {
			if c.Op == OpLPush {
				cur = append([]string{string(v)}, cur...)
			} else {
				cur = append(cur, string(v))
			}
		}
		set(key, cur)
		return fmt.Sprint(len(cur))
	case OpLPop, OpRPop:
		if cur == nil {
			if c.Int >= 0 {
				return "nullarray"
			}
			return "nil"
		}
		n := 1
		if c.Int >= 0 {
			n = int(min(c.Int, int64(len(cur))))
		}
		var got []string
		for range n {
			if c.Op == OpLPop {
				got, cur = append(got, cur[0]), cur[1:]
			} else {
				got, cur = append(got, cur[len(cur)-1]), cur[:len(cur)-1]
			}
		}
		set(key, cur)
		if c.Int < 0 {
			return got[0]
		}
		return "[" + joinSp(got) + "]"
	case OpLMove:
		if cur == nil {
			return "nil"
		}
		var v string
		if c.Int&LMoveFromRight != 0 {
			v, cur = cur[len(cur)-1], cur[:len(cur)-1]
		} else {
			v, cur = cur[0], cur[1:]
		}
		set(key, cur)
		dk := string(c.Keys[1])
		dst := m[dk]
		if c.Int&LMoveToRight != 0 {
			dst = append(slices.Clone(dst), v)
		} else {
			dst = append([]string{v}, dst...)
		}
		set(dk, dst)
		return v
	case OpLSet:
		if cur == nil {
			return "err:ERR no such key"
		}
		i := c.Int
		if i < 0 {
			i += int64(len(cur))
		}
		if i < 0 || i >= int64(len(cur)) {
			return "err:ERR index out of range"
		}
		cur[i] = string(c.Vals[0])
		return "OK"
	case OpLRem:
		if cur == nil {
			return "0"
		}
		limit := len(cur)
		if c.Int != 0 {
			limit = int(min(max(c.Int, -c.Int), int64(limit)))
		}
		removed := 0
		var keep []string
		if c.Int >= 0 {
			for _, e := range cur {
				if e == string(c.Vals[0]) && removed < limit {
					removed++
					continue
				}
				keep = append(keep, e)
			}
		} else {
			for i := len(cur) - 1; i >= 0; i-- {
				if cur[i] == string(c.Vals[0]) && removed < limit {
					removed++
					continue
				}
				keep = append(keep, cur[i])
			}
			slices.Reverse(keep)
		}
		set(key, keep)
		return fmt.Sprint(removed)
	case OpLTrim:
		from, n := ListSpan(int64(len(cur)), c.Int, c.Limit)
		if cur != nil {
			set(key, slices.Clone(cur[from:from+n]))
		}
		return "OK"
	case OpLInsert:
		if cur == nil {
			return "0"
		}
		i := slices.Index(cur, string(c.Vals[0]))
		if i < 0 {
			return "-1"
		}
		cur = slices.Insert(slices.Clone(cur), i+int(c.Int), string(c.Vals[1]))
		set(key, cur)
		return fmt.Sprint(len(cur))
	}
	return "?"
}

func joinSp(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func randomListCmd(rng *rand.Rand) Cmd {
	key := fmt.Sprintf("l%d", rng.IntN(4))
	val := func() string { return fmt.Sprintf("v%d", rng.IntN(6)) }
	idx := func() int64 { return rng.Int64N(24) - 12 }
	switch rng.IntN(14) {
	case 0, 1:
		c := lcmd(OpLPush, key)
		for range 1 + rng.IntN(4) {
			c.Vals = append(c.Vals, []byte(val()))
		}
		if rng.IntN(5) == 0 {
			c.Flags = FlagXX
		}
		return c
	case 2, 3:
		c := lcmd(OpRPush, key)
		for range 1 + rng.IntN(4) {
			c.Vals = append(c.Vals, []byte(val()))
		}
		return c
	case 4:
		return withInt(lcmd(OpLPop, key), rng.Int64N(5)-1)
	case 5:
		return withInt(lcmd(OpRPop, key), rng.Int64N(5)-1)
	case 6:
		return lmoveCmd(key, fmt.Sprintf("l%d", rng.IntN(4)), rng.Int64N(4))
	case 7:
		return withInt(lcmd(OpLSet, key, val()), idx())
	case 8, 9:
		return withInt(lcmd(OpLRem, key, val()), rng.Int64N(7)-3)
	case 10:
		return withLimit(withInt(lcmd(OpLTrim, key), idx()), idx())
	default:
		return withInt(lcmd(OpLInsert, key, val(), val()), rng.Int64N(2))
	}
}

// Random list commands against a slice model, on two stores: one applies
// the log in big batches, the other in small ones with checkpoints and a
// reopen. Results, contents and layout agree with the model, and the
// digests agree, at every step.
func TestListMatchesModelAndIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 96))
	a, b := mustOpen(t), mustOpen(t)
	path := b.Path()
	model := listModel{}
	var log []LogEntry
	var cmds []Cmd
	for i := 1; i <= 4000; i++ {
		c := randomListCmd(rng)
		cmds = append(cmds, c)
		log = append(log, LogEntry{Index: uint64(i), Data: entry(int64(i), c)})
	}
	for i := 0; i < len(log); i += 50 {
		end := min(i+50, len(log))
		out := mustApply(t, a, log[i:end]...)
		for j := i; j < end; j++ {
			want := model.apply(cmds[j])
			if got := resultText(out.Results[j-i][0]); got != want {
				t.Fatalf("entry %d %s %q: %s, model %s", j+1, cmds[j].Op, cmds[j].Vals, got, want)
			}
		}
		for j := i; j < end; j += 7 {
			mustApply(t, b, log[j:min(j+7, end)]...)
			if j%3 == 0 {
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i == 2000 {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if b, err = Open(path, Options{InitialMmapSize: 1 << 24}); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
		}
		for k := range 4 {
			key := fmt.Sprintf("l%d", k)
			if got, want := listOf(t, a, key), model[key]; !slices.Equal(got, want) {
				t.Fatalf("after %d: %s = %v, model %v", end, key, got, want)
			}
			if got, want := listOf(t, b, key), model[key]; !slices.Equal(got, want) {
				t.Fatalf("after %d (second store): %s = %v, model %v", end, key, got, want)
			}
		}
		if da, db := digestOf(t, a), digestOf(t, b); da != db {
			t.Fatalf("after %d: digests differ", end)
		}
	}
}

// Pushes report their keys for blocked clients, also when one command
// touches a key twice; a refused push reports nothing.
func TestListPushesReportReadyKeys(t *testing.T) {
	db := mustOpen(t)
	out := mustApply(t, db, LogEntry{Index: 1, Data: entry(1,
		lcmd(OpRPush, "a", "x"), set("s", "v", 0), lcmd(OpLPush, "s", "y"),
		lmoveCmd("a", "b", 0), withInt(lcmd(OpLInsert, "b", "x", "w"), 0), withInt(lcmd(OpLPop, "b"), -1))})
	var keys []string
	for _, k := range out.Ready {
		keys = append(keys, string(k.Key))
	}
	if fmt.Sprint(keys) != "[a b b]" {
		t.Fatalf("ready keys %v, want [a b b]", keys)
	}
}

// The shapes apply relies on are checked when an entry is decoded.
func TestListShapes(t *testing.T) {
	bad := []Cmd{
		{Op: OpLPush, Keys: [][]byte{[]byte("k")}},
		{Op: OpLPop, Keys: [][]byte{[]byte("k")}, Vals: [][]byte{[]byte("x")}},
		{Op: OpBLPop},
		{Op: OpLMove, Keys: [][]byte{[]byte("k")}},
		{Op: OpLMove, Keys: [][]byte{[]byte("k"), []byte("j")}, Int: 4},
		{Op: OpLInsert, Keys: [][]byte{[]byte("k")}, Vals: [][]byte{[]byte("p"), []byte("e")}, Int: 2},
		{Op: OpLSet, Keys: [][]byte{[]byte("k")}},
		{Op: opListEnd, Keys: [][]byte{[]byte("k")}},
	}
	for _, c := range bad {
		e := Entry{Cmds: []Cmd{c}}
		if _, err := DecodeEntry(e.Encode()); err == nil {
			t.Errorf("%s with %d keys, %d vals, Int %d accepted", c.Op, len(c.Keys), len(c.Vals), c.Int)
		}
	}
	for o := opListBase; o < opListEnd; o++ {
		if listOpName(o) == "" || o.String() != listOpName(o) {
			t.Errorf("op %d has no name", o)
		}
	}
}

// Every list op with hostile numbers: no panic, no rolled-back apply, the
// layout stays contiguous, and two stores agree.
func TestListHostileNumbers(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	nums := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -3, -1, 0, 1, 2, 3, 1 << 32, math.MaxInt64 - 1, math.MaxInt64}
	step := int64(1)
	reset := func() {
		l.apply(step, keyCmd(OpDel, "l"), lcmd(OpRPush, "l", "a", "b", "a", "c"))
		step++
	}
	for _, n := range nums {
		for _, m := range nums {
			reset()
			cmds := []Cmd{
				withInt(lcmd(OpLPop, "l"), n), withInt(lcmd(OpRPop, "l"), m),
				withLimit(withInt(lcmd(OpLSet, "l", "x"), n), m),
				withInt(lcmd(OpLRem, "l", "a"), n),
				withLimit(withInt(lcmd(OpLTrim, "l"), n), m),
			}
			for _, c := range cmds {
				reset()
				l.apply(step, c)
				step++
				listOf(t, l.dbs[0], "l")
			}
		}
	}
	for _, db := range l.dbs {
		if db.ApplyPanics() != 0 {
			t.Fatalf("%d applies panicked", db.ApplyPanics())
		}
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// A list whose positions reach the ends of int64 refuses to grow past
// them, and the refusal changes nothing.
func TestListPositionsExhausted(t *testing.T) {
	for _, head := range []int64{math.MinInt64, math.MaxInt64 - 2} {
		db := mustOpen(t)
		mustApply(t, db, LogEntry{Index: 1, Data: entry(1, lcmd(OpRPush, "l", "a", "b"))})
		// Move the list to the edge, as ~2^63 pushes and pops would.
		forceHead(t, db, "l", head)
		before := listOf(t, db, "l")
		out := mustApply(t, db, LogEntry{Index: 2, Data: entry(2,
			lcmd(OpLPush, "l", "x"), lcmd(OpRPush, "l", "y"), lmoveCmd("l", "l", 0), lmoveCmd("l", "l", LMoveFromRight|LMoveToRight),
			withInt(lcmd(OpLInsert, "l", "a", "i"), 0), withInt(lcmd(OpLInsert, "l", "b", "i"), 1))})
		full := 0
		for _, r := range out.Results[0] {
			if r.Kind == ResultErr && r.Err == errListFull {
				full++
			}
		}
		after := listOf(t, db, "l")
		if full == 0 || db.ApplyPanics() != 0 {
			t.Fatalf("head %d: no refusal (%d), panics %d", head, full, db.ApplyPanics())
		}
		if head == math.MinInt64 && after[0] != "a" || head > 0 && after[len(after)-1] != "b" {
			t.Fatalf("head %d: %v -> %v: grew past the edge", head, before, after)
		}
	}
}

// forceHead rewrites list key's records as if its head were head.
func forceHead(t *testing.T, db *DB, key string, head int64) {
	t.Helper()
	vals := listOf(t, db, key)
	var oid uint64
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte(key), 1)
		oid = v.meta().oid
		return nil
	})
	db.mem.Lock()
	defer db.mem.Unlock()
	l := db.active
	for i, v := range vals {
		l.elems.ReplaceOrInsert(elemItem{key: string(elemKey(oid, kindElem, posKey(int64(i)))), del: true})
		l.elems.ReplaceOrInsert(elemItem{key: string(elemKey(oid, kindElem, posKey(head+int64(i)))), val: []byte(v)})
	}
	m := collMeta{oid: oid, count: int64(len(vals)), head: head}
	l.setRec(memKey(0, []byte(key)), encodeRecord(TypeList, 0, m.encode()))
	l.dirty = true
}
