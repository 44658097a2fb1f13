package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// hscanAll pages through a hash with HScan and returns how often each
// field came and the number of pages; between pages it calls churn.
func hscanAll(t *testing.T, db *DB, key string, count int, churn func(page int)) (map[string]int, int) {
	t.Helper()
	seen := map[string]int{}
	cursor, pages := uint64(0), 0
	for {
		db.View(func(r *Reader) error {
			v, _ := r.Get(0, []byte(key), 1)
			cursor = r.HScan(v, cursor, count, func(f, val []byte) {
				if !bytes.Equal(val, []byte("v:"+string(f))) {
					t.Errorf("field %q with value %q", f, val)
				}
				seen[string(f)]++
			})
			return nil
		})
		if cursor >= MaxCursor {
			t.Fatalf("cursor %d", cursor)
		}
		pages++
		if cursor == 0 {
			return seen, pages
		}
		if pages > 100000 {
			t.Fatal("HScan does not end")
		}
		if churn != nil {
			churn(pages)
		}
	}
}

func hsetFields(key string, fields ...string) Cmd {
	c := hset(key)
	for _, f := range fields {
		c.Vals = append(c.Vals, []byte(f), []byte("v:"+f))
	}
	return c
}

// Session-like fields behind an outlier that sorts first ("created"):
// pages stay about COUNT long, every field comes exactly once, and while
// fields come and go (and the outlier changes), none present throughout is
// missed.
func TestHScanPagesWithOutliers(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	const n = 5000
	var fields []string
	for i := range n {
		fields = append(fields, fmt.Sprintf("session:%08x", uint32(i)*2654435761))
	}
	l.apply(1, hsetFields("h", append(fields, "created", "zz-last")...))
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	seen, pages := hscanAll(t, db, "h", 10, nil)
	if len(seen) != n+2 {
		t.Fatalf("%d fields seen, want %d", len(seen), n+2)
	}
	for f, c := range seen {
		if c != 1 {
			t.Fatalf("%s came %d times", f, c)
		}
	}
	if pages < n/20 {
		t.Fatalf("%d pages for %d fields with COUNT 10: pages do not follow COUNT", pages, n)
	}
	// Churn: delete and add fields on both sides of the cursor, replace
	// the first field by one that sorts before everything.
	idx := int64(2)
	seen, _ = hscanAll(t, db, "h", 25, func(page int) {
		idx++
		f := fields[(page*97)%n]
		cmds := []Cmd{hsetFields("h", fmt.Sprintf("new:%d", page)), {Op: OpHDel, Keys: sbs("h"), Vals: sbs("gone:" + f)}}
		switch page {
		case 20:
			cmds = append(cmds, Cmd{Op: OpHDel, Keys: sbs("h"), Vals: sbs("created")}, hsetFields("h", "a"))
		case 40:
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		l.apply(idx, cmds...)
	})
	for _, f := range append(fields, "zz-last") {
		if seen[f] == 0 {
			t.Fatalf("%s, present throughout, was missed", f)
		}
	}
}

// Every cursor survives its encoding, and the layouts stay below 2^53.
func TestSpanCursorRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		j := rng.IntN(3)
		lay := spanLayouts[j]
		c := spanCursor{l: j + rng.IntN(1<<lay.lBits)}
		for range j {
			c.r = append(c.r, byte(rng.Uint32()))
		}
		for range rng.IntN(lay.bBytes + 1) {
			c.b = append(c.b, byte(rng.Uint32()))
		}
		v := c.encode()
		if v >= MaxCursor || (v == 0 && (j > 0 || c.l > 0 || len(c.b) > 0)) {
			t.Fatalf("%+v encodes as %d", c, v)
		}
		d, ok := decodeSpanCursor(v)
		if !ok || !bytes.Equal(d.r, c.r) || d.l != c.l || !bytes.Equal(d.b, c.b) {
			t.Fatalf("%+v → %d → %+v %v", c, v, d, ok)
		}
	}
	for _, v := range []uint64{3 << 51, 1 << 53, 1<<64 - 1} {
		if _, ok := decodeSpanCursor(v); ok {
			t.Errorf("%d decodes", v)
		}
	}
}

func TestHRandom(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t)}}
	db := l.dbs[0]
	var fields []string
	for i := range 3000 {
		fields = append(fields, fmt.Sprintf("f%04d", i))
	}
	l.apply(1, hsetFields("big", fields...), hsetFields("small", "a", "b", "c"))
	rng := rand.New(rand.NewPCG(1, 1))
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte("big"), 1)
		for _, tc := range []struct {
			count  int64
			unique bool
		}{{1, true}, {10, true}, {700, true}, {2000, true}, {3000, true}, {5000, true}, {1, false}, {5000, false}} {
			distinct := map[string]bool{}
			n := 0
			r.HRandom(v, tc.count, tc.unique, rng, func(f, val []byte) {
				if !bytes.Equal(val, []byte("v:"+string(f))) {
					t.Fatalf("field %q value %q", f, val)
				}
				distinct[string(f)] = true
				n++
			})
			want := tc.count
			if tc.unique {
				want = min(want, 3000)
				if len(distinct) != n {
					t.Fatalf("count %d: repeated fields", tc.count)
				}
			}
			if int64(n) != want {
				t.Fatalf("count %d unique %v: %d fields", tc.count, tc.unique, n)
			}
		}
		// Single picks of a big hash reach both ends and the middle.
		hit := map[string]bool{}
		for range 3000 {
			r.HRandom(v, 1, true, rng, func(f, _ []byte) { hit[string(f)] = true })
		}
		// Uniform picks would hit 3000(1-1/e) ≈ 1896 fields.
		if len(hit) < 1700 || !hit["f0000"] && !hit["f0001"] || !hit["f2999"] && !hit["f2998"] {
			t.Errorf("3000 picks of 3000 fields chose %d (ends: %v %v %v %v)", len(hit), hit["f0000"], hit["f0001"], hit["f2998"], hit["f2999"])
		}
		return nil
	})
}
