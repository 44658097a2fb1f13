package storage

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// spopGoldenState builds, on every db of l, a set of 3,000 members shaped
// like redis-benchmark's (element:<12 digits>), part of it checkpointed,
// with members removed after the checkpoint, and returns what SPOPs with
// flags pop from it.
func spopGoldenState(l *applyLog, flags Flag) []string {
	rng := rand.New(rand.NewPCG(11, 12))
	add := sadd("myset")
	for range 3000 {
		add.Vals = append(add.Vals, []byte(fmt.Sprintf("element:%012d", rng.IntN(100000))))
	}
	l.apply(1, add)
	for _, db := range l.dbs {
		if err := db.Flush(); err != nil {
			l.t.Fatal(err)
		}
	}
	rem := srem("myset")
	for i := 0; i < 3000; i += 7 {
		rem.Vals = append(rem.Vals, add.Vals[i])
	}
	l.apply(2, rem)
	var pops []string
	for i := range 16 {
		c := spop("myset", -1, int64(i)*0x5E3779B97F4A7C15)
		c.Flags = flags
		pops = append(pops, string(l.apply(int64(3+i), c)[0].Bytes))
	}
	c := spop("myset", 5, 77)
	c.Flags = flags
	return append(pops, sBulks(l.apply(30, c)[0])...)
}

// An SPOP entry without FlagQuickPick pops what keepkv popped before the
// quick pick existed, so a log written by an older version replays to the
// same state. The members below are what 3be5125 (the last commit before
// it) popped from this state.
func TestSPopWithoutQuickPickPopsAsBefore(t *testing.T) {
	want := []string{"element:000000050981", "element:000000024284", "element:000000047331",
		"element:000000070951", "element:000000070619", "element:000000012413", "element:000000073347",
		"element:000000047864", "element:000000090735", "element:000000001268", "element:000000062797",
		"element:000000069139", "element:000000031245", "element:000000055455", "element:000000051387",
		"element:000000084377", "element:000000070080", "element:000000072662", "element:000000073636",
		"element:000000098395", "element:000000083446"}
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	if got := spopGoldenState(l, 0); !slices.Equal(got, want) {
		t.Fatalf("popped %q\nwant   %q", got, want)
	}
	// With the flag the same seeds pop members of the set too, the same
	// on every replica, each once.
	q := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	got := spopGoldenState(q, FlagQuickPick)
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m] || !strings.HasPrefix(m, "element:") {
			t.Fatalf("quick pops %q: %q twice or unknown", got, m)
		}
		seen[m] = true
	}
	if slices.Equal(got, want) {
		t.Fatal("the quick pick popped exactly what the listing did: is it used?")
	}
	if a, b := digestOf(t, q.dbs[0]), digestOf(t, q.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// randomElem, quick or not, picks each branch of the members' trie
// equally often, never a removed member, and reaches every member.
func TestRandomElemPicksBranchesUniformly(t *testing.T) {
	for _, quick := range []bool{false, true} {
		t.Run(fmt.Sprintf("quick=%v", quick), func(t *testing.T) {
			l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
			db := l.dbs[0]
			// "k" is a member and a prefix; under it the branches a, b
			// (300 members) and z (3) are sparse in the range a..z.
			sparse := sadd("sparse", "k", "ka")
			for i := range 300 {
				sparse.Vals = append(sparse.Vals, []byte(fmt.Sprintf("kb%03d", i)))
			}
			sparse.Vals = append(sparse.Vals, sbs("kz1", "kz2", "kz3")...)
			dense := sadd("dense")
			for i := range 100 {
				dense.Vals = append(dense.Vals, []byte(fmt.Sprintf("%02d", i)))
			}
			l.apply(1, sparse, dense, sadd("sparse", "kc", "kq"), sadd("dense", "x1"))
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			// Removed members: on disk shadowed by the layer.
			l.apply(2, srem("sparse", "kc", "kq"), srem("dense", "x1"))
			rng := rand.New(rand.NewPCG(1, 2))
			pick := func(r *Reader, key string) string {
				v, ok := r.Get(0, []byte(key), 1)
				if !ok {
					t.Fatalf("%s missing", key)
				}
				sp := r.elemSpan(v, kindElem)
				sp.quick = quick
				e, _, ok := sp.randomElem(rng)
				if !ok || !r.SIsMember(v, e) {
					t.Fatalf("%s: picked %q (ok %v), no member", key, e, ok)
				}
				return string(e)
			}
			db.View(func(r *Reader) error {
				const n = 8000
				branch := map[string]int{}
				for range n {
					e := pick(r, "sparse")
					branch[e[:min(len(e), 2)]]++
				}
				for _, b := range []string{"k", "ka", "kb", "kz"} {
					if c := branch[b]; c < n/4*85/100 || c > n/4*115/100 {
						t.Errorf("sparse: branch %q picked %d times of %d, want about %d: %v", b, c, n, n/4, branch)
					}
				}
				hits := map[string]int{}
				for range 20000 {
					hits[pick(r, "dense")]++
				}
				lo, hi := 20000, 0
				for _, c := range hits {
					lo, hi = min(lo, c), max(hi, c)
				}
				if len(hits) != 100 || lo < 100 || hi > 300 {
					t.Errorf("dense: %d members hit, %d to %d times each (want 100, about 200)", len(hits), lo, hi)
				}
				return nil
			})
		})
	}
}
