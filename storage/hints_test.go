package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Pops from both ends of a sorted set, with members added below the first
// and above the last, members removed, scripts rolled back after popping,
// and checkpoints in between, return what a model pops: the hints that let
// a pop skip the deletions in front of it (hints.go) never skip a live
// member.
func TestZPopWithHintsMatchesModel(t *testing.T) {
	db := mustOpen(t)
	db.SetExec(evExec)
	rng := rand.New(rand.NewPCG(11, 12))
	m := zmodel{}
	var idx uint64
	apply := func(c Cmd) Result {
		t.Helper()
		idx++
		return mustApply(t, db, LogEntry{Index: idx, Data: entry(1, c)}).Results[0][0]
	}
	pop := func(n int64, max bool) Cmd {
		c := Cmd{Op: OpZPop, Keys: [][]byte{[]byte("q")}, Int: n}
		if max {
			c.Flags = FlagGT
		}
		return c
	}
	lo, hi := 0.0, 0.0 // below and above every score given out so far
	next := 0
	add := func() Cmd {
		next++
		member := fmt.Sprintf("m%05d", next)
		var s float64
		switch rng.IntN(4) {
		case 0:
			lo--
			s = lo
		case 1:
			hi++
			s = hi
		default:
			s = lo + rng.Float64()*(hi-lo)
		}
		m[member] = s
		return zadd("q", s, member)
	}
	for range 200 {
		apply(add())
	}
	for step := range 3000 {
		switch op := rng.IntN(10); op {
		case 0, 1, 2:
			apply(add())
		case 3, 4, 5:
			n, max := rng.Int64N(3)+1, op == 5
			want := m.sorted()
			if max {
				for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
					want[i], want[j] = want[j], want[i]
				}
			}
			want = want[:min(int(n), len(want))]
			res := apply(pop(n, max))
			var got []ZPair
			for i := 0; i+1 < len(res.Elems); i += 2 {
				got = append(got, ZPair{Member: res.Elems[i].Bytes, Score: res.Elems[i+1].Float})
			}
			if pairsText(got) != pairsText(want) {
				t.Fatalf("step %d: pop %d (max %v) = %s, want %s", step, n, max, pairsText(got), pairsText(want))
			}
			for _, p := range want {
				delete(m, string(p.Member))
			}
		case 6:
			for k := range m { // any member
				apply(zcmd(OpZRem, "q", k))
				delete(m, k)
				break
			}
		case 7: // pops, then an add below the first, all rolled back
			next++
			res := apply(scriptCmd(true, pop(2, false), pop(1, false), pop(1, true), zadd("q", lo-1, fmt.Sprintf("m%05d", next))))
			if res.Kind != ResultErr {
				t.Fatalf("step %d: failing script = %+v", step, res)
			}
		case 8:
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		case 9:
			if len(m) == 0 {
				apply(add())
			}
		}
		if got, want := pairsText(zsetOf(t, db, "q")), pairsText(m.sorted()); got != want {
			t.Fatalf("step %d: set\n got  %s\n want %s", step, got, want)
		}
	}
}
