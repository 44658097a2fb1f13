package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rangeElems merges several memory layers (newest first, with deletions)
// over the disk, forward and reverse, from any start, stopping anywhere:
// checked against a plain model, with windows small and large.
func TestRangeElemsMatchesModel(t *testing.T) {
	db := mustOpen(t)
	rng := rand.New(rand.NewPCG(3, 4))
	prefix := elemPrefix(7, kindElem)
	key := func(i int) string { return string(prefix) + fmt.Sprintf("%05d", i) }
	model := map[string]string{}
	// The disk: every third key, plus records of neighbouring collections.
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketElems)
		for i := 0; i < 3000; i += 3 {
			model[key(i)] = "disk"
			b.Put([]byte(key(i)), []byte("disk"))
		}
		b.Put(elemKey(6, kindElem, []byte("x")), []byte("other"))
		b.Put(elemKey(8, kindElem, []byte("x")), []byte("other"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Three layers, oldest written first; each sets or deletes random keys.
	layers := make([]*memLayer, 3)
	for li := range layers {
		l := newLayer()
		for range 700 {
			k := key(rng.IntN(3000))
			if rng.IntN(4) == 0 {
				l.elems.ReplaceOrInsert(elemItem{key: k, del: true})
				delete(model, k)
			} else {
				v := fmt.Sprintf("l%d", li)
				l.elems.ReplaceOrInsert(elemItem{key: k, val: []byte(v)})
				model[k] = v
			}
		}
		layers[len(layers)-1-li] = l // newest first
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	db.bolt.View(func(tx *bolt.Tx) error {
		for trial := range 300 {
			reverse := trial%2 == 1
			var from []byte
			if trial%3 != 0 {
				from = []byte(key(rng.IntN(3000)))
			}
			limit := 1 + rng.IntN(1500)
			var want []string
			for i := range sorted {
				k := sorted[i]
				if reverse {
					k = sorted[len(sorted)-1-i]
				}
				if from != nil && ((!reverse && k < string(from)) || (reverse && k > string(from))) {
					continue
				}
				if len(want) < limit {
					want = append(want, k+"="+model[k])
				}
			}
			var got []string
			rangeElems(layers, &boltView{tx: tx}, prefix, from, reverse, func(k, v []byte) bool {
				if !bytes.HasPrefix(k, prefix) {
					t.Fatalf("key %q outside the prefix", k)
				}
				got = append(got, string(k)+"="+string(v))
				return len(got) < limit
			})
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d (reverse %v, from %q, limit %d): got %d records, want %d; first difference at %d",
					trial, reverse, from, limit, len(got), len(want), firstDiff(got, want))
			}
		}
		return nil
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
