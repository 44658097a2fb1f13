package storage

import (
	"fmt"
	"testing"
)

// BenchmarkApplyBatch applies batches of 64 entries of one SET each (16
// commands per entry with b.N scaled), the shape of a loaded leader.
func BenchmarkApplyBatch(b *testing.B) {
	db := mustOpen(b)
	value := make([]byte, 512)
	idx := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		batch := make([]LogEntry, 0, 64)
		for j := 0; j < 64; j++ {
			idx++
			c := Cmd{Op: OpSet, Keys: [][]byte{[]byte(fmt.Sprintf("session:%d", (i+j)%100000))}, Vals: [][]byte{value}, Deadline: 1_800_000_000_000}
			batch = append(batch, LogEntry{Index: idx, Data: entry(1_700_000_000_000, c)})
		}
		if _, err := db.ApplyBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGet reads checkpointed keys through View.
func BenchmarkGet(b *testing.B) {
	db := mustOpen(b)
	var cmds []Cmd
	for i := range 10000 {
		cmds = append(cmds, set(fmt.Sprintf("session:%d", i), "{\"u\":1}", 0))
	}
	mustApply(b, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("session:%d", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.View(func(r *Reader) error {
			if _, ok := r.Get(0, keys[i%len(keys)], 1); !ok {
				b.Fatal("missing key")
			}
			return nil
		})
	}
}

// BenchmarkDecodeEntry decodes a pipeline-sized entry of 16 SETs.
func BenchmarkDecodeEntry(b *testing.B) {
	var cmds []Cmd
	for i := range 16 {
		cmds = append(cmds, set(fmt.Sprintf("session:%d", i), "{\"user\":42,\"cart\":[1,2,3]}", 1_800_000_000_000))
	}
	data := entry(1, cmds...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEntry(data); err != nil {
			b.Fatal(err)
		}
	}
}
