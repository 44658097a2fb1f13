package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
)

// A group applies exactly as its parts would, each as a log entry of its
// own: random entries (several commands each, with origins and request
// ids, some ids repeated so that a part is deduplicated against an
// earlier one, in the same group or not) go to one DB one per log entry
// and to another in groups of random sizes: every part's results, and
// then every key, read the same.
func TestGroupAppliesAsItsParts(t *testing.T) {
	open := func() *DB {
		db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	single, grouped := open(), open()
	rng := rand.New(rand.NewPCG(3, 4))
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(20)) }
	var parts [][]byte
	for i := range 400 {
		e := Entry{Now: int64(1000 + i*10)}
		for range 1 + rng.IntN(3) {
			var c Cmd
			switch r := rng.IntN(100); {
			case r < 40:
				c = Cmd{Op: OpSet, Keys: [][]byte{key()}, Vals: [][]byte{fmt.Appendf(nil, "v%d", i)}, Deadline: int64(1000 + rng.IntN(5000))}
			case r < 60:
				c = Cmd{Op: OpIncrBy, Keys: [][]byte{key()}, Int: 1}
			case r < 75:
				c = Cmd{Op: OpAppend, Keys: [][]byte{key()}, Vals: [][]byte{[]byte("+")}, Limit: 1 << 20}
			default:
				c = Cmd{Op: OpDel, Keys: [][]byte{key()}}
			}
			e.Cmds = append(e.Cmds, c)
		}
		if rng.IntN(3) == 0 {
			e.Origin = fmt.Appendf(nil, "client%d", rng.IntN(4))
		}
		if rng.IntN(3) == 0 {
			for range e.Cmds {
				e.Reqs = append(e.Reqs, fmt.Appendf(nil, "req%d", rng.IntN(300)))
			}
		}
		parts = append(parts, e.Encode())
	}
	var want [][]Result
	for i, p := range parts {
		want = append(want, mustApply(t, single, LogEntry{Index: uint64(i + 1), Data: p}).Results[0])
	}
	var got [][]Result
	groups := 0
	for i, index := 0, uint64(1); i < len(parts); index++ {
		n := min(2+rng.IntN(20), len(parts)-i)
		var le LogEntry
		if n == 1 {
			le = LogEntry{Index: index, Data: parts[i]}
		} else {
			le = LogEntry{Index: index, Data: EncodeGroup(parts[i : i+n])}
			groups++
		}
		out := mustApply(t, grouped, le)
		if n == 1 {
			got = append(got, out.Results[0])
		} else {
			if out.Results[0] != nil || len(out.Parts) != 1 || len(out.Parts[0]) != n {
				t.Fatalf("a group of %d: results %v, parts %d", n, out.Results[0], len(out.Parts))
			}
			got = append(got, out.Parts[0]...)
		}
		i += n
	}
	if groups == 0 {
		t.Fatal("no groups: the test is not testing")
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("entry %d: %v in a group, %v alone", i, got[i], want[i])
		}
	}
	for k := range 20 {
		kb := fmt.Sprintf("k%d", k)
		a, aok := get(t, single, kb, 2000)
		b, bok := get(t, grouped, kb, 2000)
		if a != b || aok != bok {
			t.Fatalf("%s reads %q %v after groups, %q %v after single entries", kb, b, bok, a, aok)
		}
	}
}

// A malformed group fails as one undecodable entry: an error result, and
// none of its parts applied.
func TestMalformedGroupAppliesNothing(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := entry(1, set("a", "1", 0)), entry(1, set("b", "1", 0))
	good := EncodeGroup([][]byte{a, b})
	for i, data := range [][]byte{
		good[:len(good)-1],                   // the last part cut short
		append(append([]byte{}, good...), 0), // trailing bytes
		EncodeGroup([][]byte{a})[:len(a)+2],  // one part
		{entryGroup},                         // nothing
	} {
		out := mustApply(t, db, LogEntry{Index: uint64(i + 1), Data: data})
		if len(out.Results[0]) != 1 || !errors.Is(out.Results[0][0].Err, ErrBadEntry) || out.Parts != nil {
			t.Fatalf("malformed group %d: results %v, parts %v", i, out.Results, out.Parts)
		}
		for _, k := range []string{"a", "b"} {
			if v, ok := get(t, db, k, 1); ok {
				t.Fatalf("malformed group %d applied %s = %q", i, k, v)
			}
		}
	}
}
