package storage

import (
	"fmt"
	"testing"
	"time"
)

// Element operations on a small and a big collection (issue 14: an
// HSET or SADD on a 1M-element collection costs about what it costs on a
// 10-element one), each op one log entry applied through ApplyBatch, as
// the FSM applies a lone client write. The collection is built once per
// benchmark (the parent of the sub-benchmark runs once) from a few large
// entries, and checkpointed, so the op meets it on disk.
//
//	go test -run '^$' -bench 'HSet|SAdd|DelBigSet' -benchtime 20000x ./storage

const bigColl = 1_000_000

// buildColl applies n elements to key through ApplyBatch, 50,000 per
// entry, and checkpoints them; it returns the next free log index.
func buildColl(b *testing.B, db *DB, op Op, key string, n int) uint64 {
	b.Helper()
	start := time.Now()
	idx := uint64(0)
	const per = 50_000
	for done := 0; done < n; done += per {
		c := Cmd{Op: op, Keys: [][]byte{[]byte(key)}}
		for i := done; i < min(done+per, n); i++ {
			c.Vals = append(c.Vals, []byte(fmt.Sprintf("elem:%09d", i)))
			if op == OpHSet {
				c.Vals = append(c.Vals, []byte("value"))
			}
		}
		idx++
		mustApply(b, db, LogEntry{Index: idx, Data: entry(1, c)})
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	if got := collLen(b, db, key); got != int64(n) {
		b.Fatalf("built %d elements, want %d", got, n)
	}
	b.Logf("built %d elements of %s in %v", n, key, time.Since(start).Round(time.Millisecond))
	return idx + 1
}

func collLen(b *testing.B, db *DB, key string) int64 {
	var n int64
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte(key), 1)
		n = v.Len()
		return nil
	})
	return n
}

// benchElemOp times one entry per op adding a new element to key.
func benchElemOp(b *testing.B, op Op, n int) {
	db := mustOpen(b)
	idx := buildColl(b, db, op, "coll", n)
	b.Run(fmt.Sprintf("elems=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c := Cmd{Op: op, Keys: [][]byte{[]byte("coll")}, Vals: [][]byte{[]byte(fmt.Sprintf("new:%d:%d", idx, i))}}
			if op == OpHSet {
				c.Vals = append(c.Vals, []byte("value"))
			}
			out, err := db.ApplyBatch([]LogEntry{{Index: idx, Data: entry(2, c)}})
			if err != nil || out.Results[0][0].Int != 1 {
				b.Fatalf("%v %+v", err, out.Results)
			}
			idx++
		}
	})
}

func BenchmarkHSetSmall(b *testing.B) { benchElemOp(b, OpHSet, 10) }
func BenchmarkHSetBig(b *testing.B)   { benchElemOp(b, OpHSet, bigColl) }
func BenchmarkSAddSmall(b *testing.B) { benchElemOp(b, OpSAdd, 10) }
func BenchmarkSAddBig(b *testing.B)   { benchElemOp(b, OpSAdd, bigColl) }

// BenchmarkDelBigSet times the apply of DEL of a 1M-member set: it only
// queues the set's records for the background GC (OpGC entries), so it
// costs what deleting any key costs. A log can delete one set only once,
// and building a 1M-member set per op would take the benchmark hours, so
// before each op (untimed) the set's header record, as the build left it,
// is put back under the key: every DEL meets a real 1M-member set on disk.
// The GC of the million records is then timed once, for the log.
func BenchmarkDelBigSet(b *testing.B) {
	db := mustOpen(b)
	idx := buildColl(b, db, OpSAdd, "big", bigColl)
	var raw []byte
	db.View(func(r *Reader) error {
		raw = clone(lookupLayers(r.layers, nil, &r.bv, 0, []byte("big")))
		return nil
	})
	if rec, ok := decodeRecord(raw); !ok || rec.typ != TypeSet {
		b.Fatal("no set header to restore")
	}
	present := true
	restore := func() {
		db.mem.Lock()
		db.active.setRec(memKey(0, []byte("big")), raw)
		db.mem.Unlock()
		db.keys[0].Add(1)
		present = true
	}
	b.Run(fmt.Sprintf("elems=%d", bigColl), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if !present {
				b.StopTimer()
				restore()
				b.StartTimer()
			}
			out, err := db.ApplyBatch([]LogEntry{{Index: idx, Data: entry(2, keyCmd(OpDel, "big"))}})
			idx++
			if err != nil || out.Results[0][0].Int != 1 {
				b.Fatalf("%v %+v", err, out.Results)
			}
			present = false
		}
	})
	start, records := time.Now(), 0
	for n := 1; n > 0; idx++ {
		out := mustApply(b, db, LogEntry{Index: idx, Data: entry(3, Cmd{Op: OpGC, Int: 10_000})})
		n = int(out.Results[0][0].Int)
		records += n
	}
	if records != bigColl {
		b.Fatalf("GC removed %d records, want %d", records, bigColl)
	}
	b.Logf("GC of %d records in OpGC entries of 10,000: %v", records, time.Since(start).Round(time.Millisecond))
}
