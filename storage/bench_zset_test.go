package storage

import (
	"fmt"
	"testing"
)

// BenchmarkZAddSmall and BenchmarkZAddBig apply one ZADD of a new member
// per log entry, through ApplyBatch, to a sorted set of 10 and of
// 1,000,000 members ("active sessions by last seen": member a session
// id, score a timestamp). An element operation is O(log n): the two
// should cost about the same.
func BenchmarkZAddSmall(b *testing.B) { benchZAdd(b, 10) }
func BenchmarkZAddBig(b *testing.B)   { benchZAdd(b, 1_000_000) }

func benchZAdd(b *testing.B, size int) {
	db := mustOpen(b)
	const now = 1_700_000_000_000
	idx := uint64(0)
	for i := 0; i < size; {
		c := zadd("active")
		for ; i < size && len(c.Vals) < 2*10_000; i++ {
			c.Vals = append(c.Vals, ScoreBytes(float64(now+i*7919%size)), []byte(fmt.Sprintf("session:%08d", i)))
		}
		idx++
		mustApply(b, db, LogEntry{Index: idx, Data: entry(now, c)})
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	if got := zcard(b, db, "active"); got != int64(size) {
		b.Fatalf("preloaded %d members, want %d", got, size)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		c := zadd("active", float64(now+size+i), fmt.Sprintf("new:%08d", i))
		out, err := db.ApplyBatch([]LogEntry{{Index: idx, Data: entry(now, c)}})
		if err != nil || out.Results[0][0].Int != 1 {
			b.Fatalf("ZADD: %v %+v", err, out.Results)
		}
	}
	b.StopTimer()
	if got := zcard(b, db, "active"); got != int64(size+b.N) {
		b.Fatalf("%d members, want %d", got, size+b.N)
	}
}

func zcard(b *testing.B, db *DB, key string) int64 {
	var n int64
	db.View(func(r *Reader) error {
		v, _ := r.Get(0, []byte(key), 1)
		n = v.Len()
		return nil
	})
	return n
}
