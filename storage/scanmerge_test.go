package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// SCAN reads the layers and bbolt merged (scanmerge.go). Random writes,
// deletions, renames, expirations, FLUSHDBs and rolled-back scripts, with
// layers sealed and checkpointed at random in between, must leave every
// full SCAN, at any COUNT, returning exactly the keys a read finds live,
// each once, with cursors rising below MaxCursor; and SCAN must not
// checkpoint.
func TestScanMergedMatchesReads(t *testing.T) {
	// No background checkpoint but the checkpointer's first, which comes
	// at once after the first apply and is awaited below: this test seals
	// and checkpoints itself.
	ckpts := make(chan struct{}, 1)
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24, CheckpointInterval: time.Hour, CheckpointMaxInterval: time.Hour,
		OnCheckpoint: func(time.Duration, int64) {
			select {
			case ckpts <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetExec(evExec)
	rng := rand.New(rand.NewPCG(21, 22))
	const pool = 300
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(pool)) }
	const now = 1_000_000
	var idx uint64
	live := func(n uint8) map[string]bool {
		out := map[string]bool{}
		db.View(func(r *Reader) error {
			for i := range pool {
				k := fmt.Appendf(nil, "k%d", i)
				if _, ok := r.Get(n, k, now); ok {
					out[string(k)] = true
				}
			}
			return nil
		})
		return out
	}
	idx++
	mustApply(t, db, LogEntry{Index: idx, Data: entry(now, set("k0", "v", 0))})
	<-ckpts // the checkpointer's first; the next is an hour away
	layersSeen := 0
	for step := range 2500 {
		c := Cmd{DB: uint8(rng.IntN(2))}
		switch r := rng.IntN(100); {
		case r < 45:
			c.Op, c.Keys, c.Vals = OpSet, [][]byte{key()}, [][]byte{[]byte("v")}
			if rng.IntN(5) == 0 {
				c.Deadline = now - 1 + rng.Int64N(3) // expired, or about to
			}
		case r < 60:
			c.Op, c.Keys = OpDel, [][]byte{key()}
		case r < 70:
			c.Op, c.Keys = OpRename, [][]byte{key(), key()}
		case r < 85: // new keys written, then rolled back
			c = scriptCmd(true, set(fmt.Sprintf("gone%d", step), "v", 0), set(string(key()), "w", 0))
			c.DB = uint8(rng.IntN(2))
		case r < 87:
			c.Op = OpFlushDB
		default:
			c.Op, c.Keys, c.Vals = OpHSet, [][]byte{key()}, [][]byte{[]byte("f"), []byte("v")}
		}
		idx++
		mustApply(t, db, LogEntry{Index: idx, Data: entry(now, c)})
		switch rng.IntN(12) {
		case 0:
			db.seal() // one more layer, not yet checkpointed
		case 1:
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if step%10 != 0 {
			continue
		}
		db.mem.RLock()
		layersSeen = max(layersSeen, len(db.layersLocked()))
		db.mem.RUnlock()
		for n := range uint8(2) {
			want := live(n)
			count := []int{1, 3, 10, 1000}[rng.IntN(4)]
			durable := db.DurableIndex()
			seen := map[string]int{}
			cursor := uint64(0)
			for pages := 0; ; pages++ {
				if pages > 2*pool+10 {
					t.Fatalf("step %d: SCAN with COUNT %d does not end", step, count)
				}
				res, err := db.ScanKeys(context.Background(), n, cursor, count, now, func([]byte, Value) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range res.Keys {
					seen[string(k)]++
				}
				if res.Cursor >= MaxCursor || res.Cursor != 0 && res.Cursor <= cursor {
					t.Fatalf("step %d: cursor went from %d to %d", step, cursor, res.Cursor)
				}
				if cursor = res.Cursor; cursor == 0 {
					break
				}
			}
			for k, times := range seen {
				if !want[k] || times != 1 {
					t.Fatalf("step %d db%d COUNT %d: SCAN returned %q %d times; live: %v", step, n, count, k, times, want[k])
				}
			}
			for k := range want {
				if seen[k] == 0 {
					t.Fatalf("step %d db%d COUNT %d: SCAN missed live key %q", step, n, count, k)
				}
			}
			if d := db.DurableIndex(); d != durable {
				t.Fatalf("step %d: SCAN checkpointed (durable index %d -> %d)", step, durable, d)
			}
		}
	}
	if layersSeen < 3 {
		t.Fatalf("at most %d layers at once: the merge of several was not exercised", layersSeen)
	}
}

// A SCAN paged while writes and checkpoints go on returns every key that
// exists for the whole scan exactly once (Redis's guarantee), wherever the
// key is (bbolt, a sealed layer, the active layer) and wherever it moves
// to meanwhile. Under -race this also checks the merge's locking.
func TestScanDuringWritesReturnsStableKeysOnce(t *testing.T) {
	db := mustOpen(t)
	const now = 1_000_000
	var idx uint64
	apply := func(c Cmd) {
		idx++
		mustApply(t, db, LogEntry{Index: idx, Data: entry(now, c)})
	}
	stable := map[string]bool{}
	for i := range 600 {
		k := fmt.Sprintf("stable%d", i)
		stable[k] = true
		apply(set(k, "v", 0))
		if i == 200 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if i == 400 {
			db.seal()
		}
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			k := fmt.Sprintf("churn%d", rng.IntN(500))
			c := set(k, "v", 0)
			if rng.IntN(3) == 0 {
				c = Cmd{Op: OpDel, Keys: [][]byte{[]byte(k)}}
			}
			idx++
			_, err := db.ApplyBatch([]LogEntry{{Index: idx, Data: entry(now, c)}})
			if err == nil && i%97 == 0 {
				err = db.Flush()
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	for round := range 20 {
		seen := map[string]int{}
		cursor := uint64(0)
		for {
			res, err := db.ScanKeys(context.Background(), 0, cursor, 5, now, func([]byte, Value) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range res.Keys {
				seen[string(k)]++
			}
			if cursor = res.Cursor; cursor == 0 {
				break
			}
		}
		for k := range stable {
			if seen[k] != 1 {
				t.Fatalf("round %d: stable key %q returned %d times", round, k, seen[k])
			}
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
