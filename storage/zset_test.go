package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// zadd builds an OpZAdd of score, member pairs.
func zadd(key string, pairs ...any) Cmd {
	c := Cmd{Op: OpZAdd, Keys: [][]byte{[]byte(key)}}
	for i := 0; i < len(pairs); i += 2 {
		c.Vals = append(c.Vals, ScoreBytes(pairs[i].(float64)), []byte(pairs[i+1].(string)))
	}
	return c
}

func zcmd(op Op, key string, members ...string) Cmd {
	c := Cmd{Op: op, Keys: [][]byte{[]byte(key)}}
	for _, m := range members {
		c.Vals = append(c.Vals, []byte(m))
	}
	return c
}

func zrangeCmd(op Op, keys []string, z ZRange) Cmd {
	c := Cmd{Op: op}
	for _, k := range keys {
		c.Keys = append(c.Keys, []byte(k))
	}
	z.Put(&c)
	return c
}

// zsetOf reads a whole sorted set in score order (nil: no such key) and
// checks that its three indexes agree with each other and the header.
func zsetOf(t testing.TB, db *DB, key string) []ZPair {
	t.Helper()
	var out []ZPair
	err := db.View(func(r *Reader) error {
		v, ok := r.Get(0, []byte(key), 1)
		if !ok {
			return nil
		}
		if v.Type != TypeZSet {
			return fmt.Errorf("%s is a %s", key, v.Type)
		}
		out = []ZPair{}
		r.ZRange(v, ZRange{By: ZByRank, Start: 0, Stop: -1}, func(m []byte, s float64) bool {
			out = append(out, ZPair{Member: bytes.Clone(m), Score: s})
			return true
		})
		var elems, hashes int64
		r.rangeElems(v, kindElem, nil, false, func(m, val []byte) bool {
			elems++
			if s, ok := r.ZScore(v, m); !ok || s != scoreOf(val) {
				t.Errorf("%s: member %q score %v in kindElem, %v by ZScore", key, m, scoreOf(val), s)
			}
			if _, ok := r.elem(v, kindScore, scoreKey(scoreOf(val), m)); !ok {
				t.Errorf("%s: member %q has no score index record", key, m)
			}
			return true
		})
		r.rangeElems(v, kindZHash, nil, false, func(k, _ []byte) bool {
			hashes++
			if _, ok := r.ZScore(v, k[8:]); !ok || !bytes.Equal(k, hashKey(k[8:])) {
				t.Errorf("%s: stray hash index record %q", key, k)
			}
			return true
		})
		if int64(len(out)) != v.Len() || elems != v.Len() || hashes != v.Len() {
			return fmt.Errorf("%s: header says %d members; %d by score, %d by member, %d by hash", key, v.Len(), len(out), elems, hashes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pairsText(ps []ZPair) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s=%v ", p.Member, p.Score)
	}
	return strings.TrimSpace(b.String())
}

func TestSortableScoreOrder(t *testing.T) {
	special := []float64{math.Inf(-1), -math.MaxFloat64, -1e300, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1e-310, 0.1, 1, 2, 1e300, math.MaxFloat64, math.Inf(1)}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		special = append(special, math.Float64frombits(rng.Uint64()))
	}
	for _, a := range special {
		if math.IsNaN(a) {
			continue
		}
		if back := unsortable(sortable(a)); back != a || math.Signbit(back) != math.Signbit(normScore(a)) {
			t.Fatalf("sortable(%v) decodes to %v", a, back)
		}
		for _, b := range special[:15] {
			want := 0
			if a < b {
				want = -1
			} else if a > b {
				want = 1
			}
			if got := bytes.Compare(sortable(a), sortable(b)); got != want {
				t.Fatalf("sortable order of %v and %v is %d, want %d", a, b, got, want)
			}
		}
	}
}

// Members come back ordered by score then member, whatever the sign, size
// or infinity of the score; -0 is 0; updates move a member in the index.
func TestZSetOrdering(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	negZero := math.Copysign(0, -1)
	r := l.apply(1, zadd("z", 1.0, "one", -1.0, "minus", math.Inf(1), "inf", math.Inf(-1), "-inf", negZero, "negzero", 0.0, "zero",
		1e-310, "tiny", -1e300, "hugeneg", 1.0, "a-one", 0.5, "half"))
	if r[0].Int != 10 {
		t.Fatalf("ZADD = %+v", r[0])
	}
	want := "-inf=-Inf hugeneg=-1e+300 minus=-1 negzero=0 zero=0 tiny=1e-310 half=0.5 a-one=1 one=1 inf=+Inf"
	if got := pairsText(zsetOf(t, db, "z")); got != want {
		t.Fatalf("order:\n got  %s\n want %s", got, want)
	}
	if s := zsetOf(t, db, "z")[3].Score; math.Signbit(s) {
		t.Fatal("-0 stored as -0")
	}
	// Move members across the order, and to and from infinities.
	l.apply(2, zadd("z", -2.0, "inf", 2.0, "-inf", math.Inf(1), "zero"))
	want = "hugeneg=-1e+300 inf=-2 minus=-1 negzero=0 tiny=1e-310 half=0.5 a-one=1 one=1 -inf=2 zero=+Inf"
	if got := pairsText(zsetOf(t, db, "z")); got != want {
		t.Fatalf("after moves:\n got  %s\n want %s", got, want)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := pairsText(zsetOf(t, db, "z")); got != want {
		t.Fatalf("after a checkpoint:\n got  %s\n want %s", got, want)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// zmodel is a sorted set kept the slow way, to check ranges against.
type zmodel map[string]float64

func (m zmodel) sorted() []ZPair {
	var out []ZPair
	for k, s := range m {
		out = append(out, ZPair{Member: []byte(k), Score: s})
	}
	slices.SortFunc(out, zcmpPairs)
	return out
}

// rangeOf is ZRange the slow way.
func (m zmodel) rangeOf(z ZRange) []ZPair {
	all := m.sorted()
	n := int64(len(all))
	var out []ZPair
	switch z.By {
	case ZByRank:
		start, stop := z.Start, z.Stop
		if start < 0 {
			start += n
		}
		if stop < 0 {
			stop += n
		}
		start = max(start, 0)
		stop = min(stop, n-1)
		if start > stop || start >= n {
			return nil
		}
		if z.Rev {
			slices.Reverse(all)
		}
		return all[start : stop+1]
	case ZByScore: // the model's own comparisons, not the code's
		for _, p := range all {
			lo := p.Score > z.Min.Score || (p.Score == z.Min.Score && !z.Min.Excl)
			hi := p.Score < z.Max.Score || (p.Score == z.Max.Score && !z.Max.Excl)
			if lo && hi {
				out = append(out, p)
			}
		}
	case ZByLex:
		slices.SortFunc(all, func(a, b ZPair) int { return strings.Compare(string(a.Member), string(b.Member)) })
		for _, p := range all {
			m, lo, hi := string(p.Member), string(z.Min.Lex), string(z.Max.Lex)
			okLo := z.Min.Inf < 0 || z.Min.Inf == 0 && (m > lo || m == lo && !z.Min.Excl)
			okHi := z.Max.Inf > 0 || z.Max.Inf == 0 && (m < hi || m == hi && !z.Max.Excl)
			if okLo && okHi {
				out = append(out, p)
			}
		}
	}
	if z.Rev {
		slices.Reverse(out)
	}
	if z.Offset < 0 || z.Offset >= int64(len(out)) {
		return nil
	}
	out = out[z.Offset:]
	if z.Count >= 0 && z.Count < int64(len(out)) {
		out = out[:z.Count]
	}
	return out
}

func readRange(t *testing.T, db *DB, key string, z ZRange) []ZPair {
	t.Helper()
	var out []ZPair
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte(key), 1)
		r.ZRange(v, z, func(m []byte, s float64) bool {
			out = append(out, ZPair{Member: bytes.Clone(m), Score: s})
			return true
		})
		return nil
	})
	return out
}

// Ranges by rank (read from either end), score and lex, with offsets
// and counts, agree with a model; so do ranks from both ends.
func TestZSetRangesMatchModel(t *testing.T) {
	db := mustOpen(t)
	rng := rand.New(rand.NewPCG(7, 7))
	m := zmodel{}
	c := Cmd{Op: OpZAdd, Keys: [][]byte{[]byte("z")}}
	scores := []float64{math.Inf(-1), -3, -1.5, 0, 0, 1, 2.25, 7, 7, 7, math.Inf(1)}
	for i := range 300 {
		member := fmt.Sprintf("m%03d", rng.IntN(1000))
		s := scores[rng.IntN(len(scores))]
		if i%3 == 0 {
			s = float64(rng.IntN(40)) - 20
		}
		m[member] = s
		c.Vals = append(c.Vals, ScoreBytes(s), []byte(member))
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, c)})
	n := int64(len(m))
	check := func(z ZRange) {
		t.Helper()
		want, got := pairsText(m.rangeOf(z)), pairsText(readRange(t, db, "z", z))
		if got != want {
			t.Fatalf("%+v:\n got  %s\n want %s", z, got, want)
		}
	}
	for _, flushed := range []bool{false, true} {
		if flushed {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		ranks := []int64{0, 1, 2, n / 2, n - 3, n - 2, n - 1, n, n + 5, -1, -2, -n / 3, -n, -n - 1, math.MinInt64, math.MaxInt64}
		for _, a := range ranks {
			for _, b := range ranks {
				check(ZRange{By: ZByRank, Start: a, Stop: b})
				check(ZRange{By: ZByRank, Start: a, Stop: b, Rev: true})
			}
		}
		bounds := []float64{math.Inf(-1), -20, -3, -1.5, 0, 1, 2.25, 7, 19, math.Inf(1)}
		lexes := []ZBound{{Inf: -1, Excl: true}, {Inf: 1, Excl: true}, {Lex: []byte("")}, {Lex: []byte("m1")}, {Lex: []byte("m500"), Excl: true}, {Lex: []byte("m500")}, {Lex: []byte("n")}}
		for _, p := range m.sorted()[:20] { // bounds equal to members
			lexes = append(lexes, ZBound{Lex: p.Member}, ZBound{Lex: p.Member, Excl: true})
			bounds = append(bounds, p.Score)
		}
		for range 400 {
			lo, hi := ZBound{Score: bounds[rng.IntN(len(bounds))], Excl: rng.IntN(2) == 0}, ZBound{Score: bounds[rng.IntN(len(bounds))], Excl: rng.IntN(2) == 0}
			off, cnt := int64(rng.IntN(20)-2), int64(rng.IntN(30)-5)
			if rng.IntN(3) == 0 {
				off, cnt = 0, -1
			}
			check(ZRange{By: ZByScore, Min: lo, Max: hi, Offset: off, Count: cnt, Rev: rng.IntN(2) == 0})
			check(ZRange{By: ZByLex, Min: lexes[rng.IntN(len(lexes))], Max: lexes[rng.IntN(len(lexes))], Offset: off, Count: cnt, Rev: rng.IntN(2) == 0})
		}
		all := m.sorted()
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte("z"), 1)
			for i, p := range all {
				if got, ok := r.ZRank(v, p.Member, false); !ok || got != int64(i) {
					t.Fatalf("ZRANK %s = %d %v, want %d", p.Member, got, ok, i)
				}
				if got, ok := r.ZRank(v, p.Member, true); !ok || got != n-1-int64(i) {
					t.Fatalf("ZREVRANK %s = %d %v, want %d", p.Member, got, ok, n-1-int64(i))
				}
			}
			if _, ok := r.ZRank(v, []byte("nosuch"), false); ok {
				t.Fatal("rank of a missing member")
			}
			z := ZRange{By: ZByScore, Min: ZBound{Score: 0}, Max: ZBound{Score: 7, Excl: true}, Count: -1}
			if got, want := r.ZCount(v, z), int64(len(m.rangeOf(z))); got != want {
				t.Fatalf("ZCOUNT = %d, want %d", got, want)
			}
			return nil
		})
	}
}

// Removing the last member deletes the key and every element record;
// a set emptied by ZREMRANGE*, ZPOP or an empty store vanishes too.
func TestZSetEmptyVanishes(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	all := ZRange{By: ZByRank, Start: 0, Stop: -1}
	r := l.apply(1,
		zadd("a", 1.0, "x", 2.0, "y"), zcmd(OpZRem, "a", "x", "y", "x"),
		zadd("b", 1.0, "x"), zrangeCmd(OpZRemRange, []string{"b"}, ZRange{By: ZByScore, Min: ZBound{Score: math.Inf(-1)}, Max: ZBound{Score: math.Inf(1)}}),
		zadd("c", 1.0, "x", 2.0, "y"), Cmd{Op: OpZPop, Keys: [][]byte{[]byte("c")}, Int: math.MaxInt64, Flags: FlagGT},
		zadd("d", 1.0, "x"), zrangeCmd(OpZRangeStore, []string{"d", "nokey"}, all),
		zadd("e", 0.0, "x"), zrangeCmd(OpZRemRange, []string{"e"}, ZRange{By: ZByLex, Min: ZBound{Inf: -1}, Max: ZBound{Inf: 1}}),
	)
	if r[1].Int != 2 || r[3].Int != 1 || r[7].Int != 0 || r[9].Int != 1 {
		t.Fatalf("results %+v", r)
	}
	if got := r[5]; len(got.Elems) != 4 || string(got.Elems[0].Bytes) != "y" || got.Elems[1].Float != 2 || string(got.Bytes) != "c" {
		t.Fatalf("ZPOPMAX = %+v", got)
	}
	if db.KeyCount(0) != 0 || elemRecords(t, db) != 0 {
		t.Fatalf("%d keys, %d element records left", db.KeyCount(0), elemRecords(t, db))
	}
}

// Bad increments are errors that change nothing; hostile numbers in a
// Cmd (huge counts, extreme ranks, inf weights) are total.
func TestZSetHostileNumbers(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	incr := func(s float64, m string) Cmd { c := zadd("z", s, m); c.Int = ZAddIncr; return c }
	l.apply(1, zadd("z", math.Inf(1), "m", 1.0, "n"), zadd("w", 2.0, "m", 0.0, "n"))
	state := func() string {
		return pairsText(zsetOf(t, db, "z")) + "|" + pairsText(zsetOf(t, db, "w")) + fmt.Sprint(elemRecords(t, db), db.KeyCount(0))
	}
	before := state()
	r := l.apply(2, incr(math.Inf(-1), "m"))
	if ce := (CmdError("")); !errors.As(r[0].Err, &ce) || string(ce) != "ERR resulting score is not a number (NaN)" {
		t.Fatalf("inf + -inf: %+v", r[0])
	}
	if state() != before {
		t.Fatal("a NaN increment changed the state")
	}
	max64, min64 := int64(math.MaxInt64), int64(math.MinInt64)
	r = l.apply(3,
		Cmd{Op: OpZPop, Keys: [][]byte{[]byte("nokey"), []byte("w")}, Int: max64, Limit: 1},
		zrangeCmd(OpZRangeStore, []string{"d", "z"}, ZRange{By: ZByRank, Start: min64, Stop: max64}),
		zrangeCmd(OpZRangeStore, []string{"d2", "z"}, ZRange{By: ZByScore, Min: ZBound{Score: math.Inf(-1)}, Max: ZBound{Score: math.Inf(1)}, Offset: max64, Count: max64}),
		zrangeCmd(OpZRangeStore, []string{"d3", "z"}, ZRange{By: ZByLex, Min: ZBound{Inf: 1}, Max: ZBound{Inf: -1}, Offset: min64, Count: min64}),
		zrangeCmd(OpZRemRange, []string{"z"}, ZRange{By: ZByRank, Start: max64, Stop: min64}),
		Cmd{Op: OpZUnionStore, Keys: [][]byte{[]byte("u"), []byte("z"), []byte("d")}, Vals: [][]byte{ScoreBytes(0), ScoreBytes(math.Inf(-1))}, Int: int64(ZSum)},
		Cmd{Op: OpZInterStore, Keys: [][]byte{[]byte("i"), []byte("z"), []byte("z")}, Vals: [][]byte{ScoreBytes(math.Inf(1)), ScoreBytes(math.Inf(-1))}, Int: int64(ZMax)},
		incr(math.MaxFloat64, "n"), incr(math.MaxFloat64, "n"),
	)
	if w := r[0]; len(w.Elems) != 4 || string(w.Bytes) != "w" || w.Int != 1 || string(w.Elems[0].Bytes) != "n" || string(w.Elems[2].Bytes) != "m" {
		t.Fatalf("ZPOPMIN over two keys = %+v", w)
	}
	if r[1].Int != 2 || r[2].Int != 0 || r[3].Int != 0 || r[4].Int != 0 {
		t.Fatalf("store results %+v", r[1:5])
	}
	// u: m = 0*inf -> NaN -> 0, plus -inf*inf = -inf; n = 0*1 + -inf*1.
	if got := pairsText(zsetOf(t, db, "u")); got != "m=-Inf n=-Inf" {
		t.Fatalf("u = %s", got)
	}
	if got := pairsText(zsetOf(t, db, "i")); got != "n=+Inf m=+Inf" && got != "m=+Inf n=+Inf" {
		t.Fatalf("i = %s", got)
	}
	if got := r[8]; got.Kind != ResultDouble || !math.IsInf(got.Float, 1) {
		t.Fatalf("MaxFloat64 twice = %+v", got)
	}
	if db.ApplyPanics() != 0 {
		t.Fatal("apply panicked")
	}
	// Shapes apply refuses: NaN scores and weights, incompatible flags.
	nan := ScoreBytes(math.NaN())
	for i, c := range []Cmd{
		{Op: OpZAdd, Keys: [][]byte{[]byte("z")}, Vals: [][]byte{nan, []byte("m")}},
		{Op: OpZAdd, Keys: [][]byte{[]byte("z")}, Vals: [][]byte{[]byte("1"), []byte("m")}},
		{Op: OpZAdd, Keys: [][]byte{[]byte("z")}, Vals: [][]byte{ScoreBytes(1), []byte("m")}, Flags: FlagNX | FlagGT},
		{Op: OpZAdd, Keys: [][]byte{[]byte("z")}, Vals: [][]byte{ScoreBytes(1), []byte("m"), ScoreBytes(1), []byte("n")}, Int: ZAddIncr},
		{Op: OpZUnionStore, Keys: [][]byte{[]byte("u"), []byte("z")}, Vals: [][]byte{nan}},
		{Op: OpZPop, Keys: [][]byte{[]byte("z")}, Int: -1},
		{Op: OpZRemRange, Keys: [][]byte{[]byte("z")}, Int: 1, Vals: [][]byte{append([]byte{0}, nan...), append([]byte{0}, ScoreBytes(1)...)}},
		{Op: OpZRemRange, Keys: [][]byte{[]byte("z")}, Int: 2, Vals: [][]byte{[]byte("x"), []byte("+")}},
		{Op: OpZAdd, Keys: [][]byte{[]byte("z")}, Vals: [][]byte{ScoreBytes(1), bytes.Repeat([]byte("m"), MaxKeyLen+1)}},
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadEntry) {
			t.Errorf("cmd %d: validate = %v, want ErrBadEntry", i, err)
		}
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// randomZLog is a log of sorted-set commands over a few keys, with big
// sets deleted (their records left to GC entries) and recreated.
func randomZLog(seed uint64, n int) []LogEntry {
	rng := rand.New(rand.NewPCG(seed, seed^0x5a5a))
	var log []LogEntry
	now := int64(1_700_000_000_000)
	member := func() string { return fmt.Sprintf("m%d", rng.IntN(200)) }
	score := func() float64 {
		switch rng.IntN(12) {
		case 0:
			return math.Inf(1)
		case 1:
			return math.Inf(-1)
		case 2:
			return math.Copysign(0, -1)
		}
		return float64(rng.IntN(100)-50) / 4
	}
	for i := 1; i <= n; i++ {
		now += rng.Int64N(50)
		key := fmt.Sprintf("z%d", rng.IntN(4))
		var cmds []Cmd
		switch rng.IntN(12) {
		case 0, 1, 2:
			c := zadd(key)
			for range 1 + rng.IntN(5) {
				c.Vals = append(c.Vals, ScoreBytes(score()), []byte(member()))
			}
			c.Flags = []Flag{0, 0, FlagNX, FlagXX, FlagGT, FlagLT, FlagXX | FlagGT}[rng.IntN(7)]
			c.Int = rng.Int64N(2) * ZAddCH
			cmds = append(cmds, c)
		case 3:
			c := zadd(key, score(), member())
			c.Int = ZAddIncr
			cmds = append(cmds, c)
		case 4:
			cmds = append(cmds, zcmd(OpZRem, key, member(), member()))
		case 5:
			cmds = append(cmds, zrangeCmd(OpZRemRange, []string{key}, ZRange{By: ZBy(rng.IntN(3)), Start: rng.Int64N(10), Stop: rng.Int64N(20) - 5,
				Min: ZBound{Score: score(), Lex: []byte(member())}, Max: ZBound{Score: score(), Lex: []byte(member()), Excl: true}}))
		case 6:
			cmds = append(cmds, Cmd{Op: OpZPop, Keys: [][]byte{[]byte(key)}, Int: rng.Int64N(4), Flags: Flag(rng.IntN(2)) * FlagGT})
		case 7:
			cmds = append(cmds, zrangeCmd(OpZRangeStore, []string{key, fmt.Sprintf("z%d", rng.IntN(4))}, ZRange{By: ZByScore, Min: ZBound{Score: score()}, Max: ZBound{Score: math.Inf(1)}, Count: -1}))
		case 8:
			op := []Op{OpZUnionStore, OpZInterStore, OpZDiffStore}[rng.IntN(3)]
			c := Cmd{Op: op, Keys: [][]byte{[]byte(key), []byte("z0"), []byte("z1"), []byte("z2")}}
			if op != OpZDiffStore {
				c.Int = rng.Int64N(3)
				if rng.IntN(2) == 0 {
					c.Vals = [][]byte{ScoreBytes(score()), ScoreBytes(2), ScoreBytes(-1)}
				}
			}
			cmds = append(cmds, c)
		case 9: // a big set, deleted later by DEL or an overwrite
			c := zadd("big")
			for j := range 100 + rng.IntN(200) {
				c.Vals = append(c.Vals, ScoreBytes(score()), []byte(fmt.Sprintf("b%d", j)))
			}
			cmds = append(cmds, c)
			if rng.IntN(2) == 0 {
				cmds = append(cmds, Cmd{Op: OpDel, Keys: [][]byte{[]byte("big")}})
			} else {
				cmds = append(cmds, set("big", "string now", 0))
			}
		case 10:
			cmds = append(cmds, Cmd{Op: OpGC, Int: int64(1 + rng.IntN(150))})
		case 11:
			cmds = append(cmds, Cmd{Op: OpExpire, Keys: [][]byte{[]byte(key)}, Deadline: now + rng.Int64N(200) - 50})
		}
		log = append(log, LogEntry{Index: uint64(i), Data: entry(now, cmds...)})
	}
	return log
}

// Two stores fed the same log, in different batches and with checkpoints
// at different points, have equal digests at every index; a store
// reopened from its file has the same state.
func TestZSetDeterminismAndReopen(t *testing.T) {
	log := randomZLog(99, 1500)
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := Open(path, Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t)
	for i := 0; i < len(log); i += 25 {
		batch := log[i:min(i+25, len(log))]
		mustApply(t, a, batch...)
		for _, e := range batch {
			mustApply(t, b, e)
		}
		if i%100 == 0 {
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if da, db := digestOf(t, a), digestOf(t, b); da != db {
			t.Fatalf("after index %d: digests differ", batch[len(batch)-1].Index)
		}
		for k := range 4 {
			zsetOf(t, a, fmt.Sprintf("z%d", k)) // the indexes agree
		}
	}
	if a.ApplyPanics() != 0 || b.ApplyPanics() != 0 {
		t.Fatal("apply panicked")
	}
	want := digestOf(t, a)
	var sets []string
	for k := range 4 {
		sets = append(sets, pairsText(zsetOf(t, a, fmt.Sprintf("z%d", k))))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = Open(path, Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := digestOf(t, a); got != want {
		t.Fatal("digest changed across a reopen")
	}
	for k := range 4 {
		if got := pairsText(zsetOf(t, a, fmt.Sprintf("z%d", k))); got != sets[k] {
			t.Fatalf("z%d after reopen:\n got  %s\n want %s", k, got, sets[k])
		}
	}
	if strings.Join(sets, "") == "" {
		t.Fatal("the log left every set empty: the test checks nothing")
	}
}

// ZScan pages a big set by member hash: a member present for the whole
// scan is returned exactly once, while others come and go.
func TestZScanUnderWrites(t *testing.T) {
	db := mustOpen(t)
	c := zadd("z")
	for i := range 1000 {
		c.Vals = append(c.Vals, ScoreBytes(float64(i%7)), []byte(fmt.Sprintf("keep%d", i)))
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, c)})
	seen := map[string]int{}
	cursor, idx := uint64(0), uint64(1)
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("ZScan does not end")
		}
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte("z"), 1)
			cursor = r.ZScan(v, cursor, 10, func(m []byte, s float64) {
				seen[string(m)]++
				var want float64
				fmt.Sscanf(string(m), "keep%g", &want)
				if strings.HasPrefix(string(m), "keep") && s != float64(int(want)%7) {
					t.Errorf("%s scored %v", m, s)
				}
			})
			return nil
		})
		if cursor >= MaxCursor {
			t.Fatalf("cursor %d", cursor)
		}
		if cursor == 0 {
			break
		}
		idx++
		mustApply(t, db, LogEntry{Index: idx, Data: entry(1, zadd("z", 1.0, fmt.Sprintf("new%d", page)), zcmd(OpZRem, "z", fmt.Sprintf("new%d", page-3)))})
		if page%20 == 0 {
			db.Flush()
		}
	}
	for i := range 1000 {
		if n := seen[fmt.Sprintf("keep%d", i)]; n != 1 {
			t.Fatalf("keep%d seen %d times", i, n)
		}
	}
	// Random picks land on members.
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte("z"), 1)
		hit := map[string]bool{}
		for i := range 200 {
			p, ok := r.ZRandom(v, uint64(i)*0x9e3779b97f4a7c15, i%20)
			if s, in := r.ZScore(v, p.Member); !ok || !in || s != p.Score {
				t.Fatalf("ZRandom = %+v %v", p, ok)
			}
			hit[string(p.Member)] = true
		}
		if len(hit) < 150 {
			t.Fatalf("200 random picks hit only %d members", len(hit))
		}
		return nil
	})
}

// Set operations read sets as sorted sets whose members score 1, sum in
// Redis's order and turn inf-inf into 0.
func TestZCombine(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1,
		zadd("a", 1.0, "x", 2.0, "y", math.Inf(1), "z"), zadd("b", 10.0, "y", math.Inf(-1), "z", 5.0, "w"), set("str", "v", 0))})
	db.View(func(r *Reader) error {
		get := func(k string) Value { v, _ := r.Get(0, []byte(k), 1); return v }
		vals := []Value{get("a"), get("b")}
		for _, tc := range []struct {
			op   ZSetOp
			w    []float64
			agg  ZAggregate
			want string
		}{
			{ZUnion, nil, ZSum, "z=0 x=1 w=5 y=12"},
			{ZUnion, []float64{2, 0}, ZMax, "w=0 x=2 y=4 z=+Inf"},
			{ZInter, nil, ZMin, "z=-Inf y=2"},
			{ZInter, []float64{1, -1}, ZSum, "y=-8 z=+Inf"},
			{ZDiff, nil, ZSum, "x=1"},
		} {
			if got := pairsText(r.ZCombine(tc.op, vals, tc.w, tc.agg)); got != tc.want {
				t.Errorf("%v %v %v = %s, want %s", tc.op, tc.w, tc.agg, got, tc.want)
			}
		}
		if n := r.ZInterCard(vals, 1); n != 1 {
			t.Errorf("ZINTERCARD LIMIT 1 = %d", n)
		}
		if n := r.ZInterCard([]Value{get("a"), {}}, 0); n != 0 {
			t.Errorf("ZINTERCARD with a missing key = %d", n)
		}
		return nil
	})
}

func TestParseScoreMatchesRedis(t *testing.T) {
	for in, want := range map[string]string{
		"1": "1", "-1.5": "-1.5", "+5": "5", ".5": "0.5", "5.": "5", "1e3": "1000", "1E-3": "0.001", "0x10": "16", "0X1p-2": "0.25", "0x.8": "0.5",
		"inf": "+Inf", "-INF": "-Inf", "+Infinity": "+Inf", "1e-310": "1e-310", "-0": "-0",
		"": "bad", " 1": "bad", "1 ": "bad", "nan": "bad", "-nan": "bad", "1e400": "bad", "-1e400": "bad", "1e-400": "bad", "0x1p-2000": "bad",
		"1_0": "bad", "0x": "bad", "0x1p": "bad", "1e": "bad", "e1": "bad", ".": "bad", "--1": "bad", "+-1": "bad", "infinit": "bad", "infx": "bad", "1\x00": "bad", "0e99999": "0",
	} {
		got := "bad"
		if f, ok := ParseScore([]byte(in)); ok {
			got = fmt.Sprint(f)
			if f == 0 && math.Signbit(f) {
				got = "-0"
			}
		}
		if got != want {
			t.Errorf("ParseScore(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"1": "[1", "(1": "(1", "": "[0", "(": "(0", " 1": "[1", "\t(1": "bad", "(\n2": "(2", "  ": "bad", "1 ": "bad", "1e400": "[+Inf", "(-inf": "(-Inf",
		"nan": "bad", "((1": "bad", "1\x00junk": "[1", "\x00": "[0", "0x10": "[16", "1e-400": "[0",
	} {
		got := "bad"
		if b, ok := ParseScoreBound([]byte(in)); ok {
			got = map[bool]string{true: "(", false: "["}[b.Excl] + fmt.Sprint(b.Score)
		}
		if got != want {
			t.Errorf("ParseScoreBound(%q) = %s, want %s", in, got, want)
		}
	}
	for in, ok := range map[string]bool{"-": true, "+": true, "[a": true, "(a": true, "[": true, "a": false, "": false, "-a": false, "+\x00x": true} {
		if _, got := ParseLexBound([]byte(in)); got != ok {
			t.Errorf("ParseLexBound(%q) ok = %v", in, got)
		}
	}
}
