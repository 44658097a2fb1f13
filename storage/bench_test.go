package storage

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used, in
// nanoseconds: a commit's fsync waits take wall time, not CPU.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

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

// BenchmarkCheckpoint writes one layer of fresh 512-byte sessions with
// TTLs to bbolt, the shape of a session store being loaded: data keys land
// all over the tree, expiry index keys all at its end.
func BenchmarkCheckpoint(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "state.db"),
				Options{CheckpointInterval: time.Hour, MaxPending: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			value := make([]byte, 512)
			idx, now := uint64(0), int64(1_700_000_000_000)
			apply := func(count int) {
				cmds := make([]Cmd, 0, 500)
				var batch []LogEntry
				for i := 0; i < count; i++ {
					key := []byte(fmt.Sprintf("session:%d:%d", idx, i))
					cmds = append(cmds, Cmd{Op: OpSet, Keys: [][]byte{key}, Vals: [][]byte{value}, Deadline: now + 7*24*3600*1000})
					if len(cmds) == cap(cmds) || i == count-1 {
						idx++
						now++
						batch = append(batch, LogEntry{Index: idx, Data: entry(now, cmds...)})
						cmds = cmds[:0]
					}
				}
				if _, err := db.ApplyBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
			apply(1) // the checkpointer's first, unpaced, checkpoint
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				apply(n)
				b.StartTimer()
				if err := db.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
		})
	}
}

// BenchmarkApplyExpiry applies a mass expiry's OpExpireIf entries (1,000
// keys each, the expirer's default) into a layer that follows a layer of
// the same size, as in a drain after the first checkpoint: the cost per
// expired key of apply alone (no checkpoint runs while it is timed).
func BenchmarkApplyExpiry(b *testing.B) {
	const keys, perEntry = 100_000, 1000
	const deadline, now = int64(1_800_000_000_000), int64(1_800_000_000_001)
	value := make([]byte, 64)
	for range b.N {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 26, CheckpointInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		idx := uint64(0)
		key := func(i int) []byte { return fmt.Appendf(nil, "exp:%09d", i) }
		// apply applies keys from..to as entries of perEntry commands of
		// op, the log's clock at at.
		apply := func(op Op, from, to int, at int64) {
			for i := from; i < to; i += perEntry {
				cmds := make([]Cmd, perEntry)
				for j := range cmds {
					cmds[j] = Cmd{Op: op, Keys: [][]byte{key(i + j)}, Deadline: deadline}
					if op == OpSet {
						cmds[j].Vals = [][]byte{value}
					}
				}
				idx++
				if _, err := db.ApplyBatch([]LogEntry{{Index: idx, Data: entry(at, cmds...)}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		apply(OpSet, 0, 2*keys, now-1000)
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		apply(OpExpireIf, 0, keys, now) // the drain's first layer
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		apply(OpExpireIf, keys, 2*keys, now)
		b.StopTimer()
		db.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys), "ns/key")
}

// BenchmarkCommitAfterMassDelete times a checkpoint of one SET into a file
// whose freelist is long and scattered, as after a mass deletion: every
// bbolt commit writes the whole freelist (Open's FreelistType). cpu-ns/op
// is the process's CPU per commit; fsync waits are wall time only.
func BenchmarkCommitAfterMassDelete(b *testing.B) {
	const keys = 400_000
	db, err := Open(filepath.Join(b.TempDir(), "state.db"),
		Options{CheckpointInterval: time.Hour, MaxPending: 1 << 40, FileDeletionsAt: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := make([]byte, 512)
	idx := uint64(0)
	apply := func(cmds []Cmd) {
		var batch []LogEntry
		for len(cmds) > 0 {
			n := min(len(cmds), 500)
			idx++
			batch = append(batch, LogEntry{Index: idx, Data: entry(1, cmds[:n]...)})
			cmds = cmds[n:]
		}
		if _, err := db.ApplyBatch(batch); err != nil {
			b.Fatal(err)
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	var sets []Cmd
	for i := range keys {
		key := []byte(fmt.Sprintf("session:%d", i))
		sets = append(sets, Cmd{Op: OpSet, Keys: [][]byte{key}, Vals: [][]byte{value}})
	}
	apply(sets)
	// Updates of a few keys spread over the tree, commit after commit:
	// each rewrites leaves into the lowest free pages and frees others,
	// wherever they are. Then a mass deletion frees most leaves.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var upd []Cmd
		for range 500 {
			upd = append(upd, sets[rng.IntN(keys)])
		}
		apply(upd)
	}
	var dels []Cmd
	for i := 0; i < keys; i += 2 {
		dels = append(dels, Cmd{Op: OpDel, Keys: sets[i].Keys})
	}
	apply(dels)
	apply(sets[:1]) // the deletion's pages released
	free := db.bolt.Stats().FreePageN
	runtime.GC() // the setup's garbage, not the commits'
	cpu := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		apply([]Cmd{{Op: OpSet, Keys: [][]byte{[]byte("one")}, Vals: [][]byte{value}}})
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(free), "free-pages")
}
