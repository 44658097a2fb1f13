package storage

import (
	"bytes"
	"runtime"
	"slices"
	"sync"
)

// PrefetchReads is how many reads Prefetch keeps in flight.
const PrefetchReads = 16

// Prefetch reads from bbolt, PrefetchReads at a time, the records of the
// keys that entries' commands name (the entries not yet applied), so that
// applying the entries then finds those records' pages mapped instead of
// reading them from the disk one at a time.
//
// It is for replaying the Raft log after a restart: in a fresh process
// nothing of the file is mapped, and every command that replaces a record
// (a SET reads the record it overwrites: whether the key existed, its type,
// its deadline) takes a page fault, often one that waits for the disk.
// Applying is serial, so those waits add up, while the disk serves many
// reads at once: in a probe on this machine (3M sessions, the file dropped
// from the page cache), 20k reads took 3.1 s one at a time and 1.1 s
// sixteen at a time. Pages still in the page cache cost a minor fault
// instead, which is CPU (about 30 µs on this project's VM, a PVM guest):
// reading ahead then only spreads those over the cores.
//
// A page fault holds its goroutine's P: with GOMAXPROCS 2, two faults are
// in flight however many goroutines fault (the same probe: 2.0 s with 32
// goroutines). So Prefetch raises GOMAXPROCS to PrefetchReads while it
// reads (the faulting threads mostly wait for the disk) and sets it back
// after. Call it only where that does not matter: before the node serves.
//
// It changes nothing and returns nothing: it only maps pages, and a key it
// reads that the applier never reaches from bbolt (a command fails, the
// layers hold the key) cost one read. It returns once every read is done.
func (db *DB) Prefetch(entries []LogEntry) {
	type ref struct {
		db  uint8
		key []byte // dataKey
	}
	applied := db.applied.Load()
	var refs []ref
	for _, le := range entries {
		if le.Index <= applied || le.Data == nil {
			continue
		}
		parts, group, err := groupParts(le.Data)
		if err != nil {
			continue // the applier reports it
		}
		if !group {
			parts = [][]byte{le.Data}
		}
		for _, data := range parts {
			e, err := DecodeEntry(data)
			if err != nil {
				continue
			}
			for i := range e.Cmds {
				c := &e.Cmds[i]
				if int(c.DB) >= NumDBs {
					continue
				}
				for _, k := range c.Keys {
					refs = append(refs, ref{c.DB, dataKey(k)})
				}
			}
		}
	}
	if len(refs) == 0 {
		return
	}
	// In file order within each database: neighbours share leaves.
	slices.SortFunc(refs, func(a, b ref) int {
		if a.db != b.db {
			return int(a.db) - int(b.db)
		}
		return bytes.Compare(a.key, b.key)
	})
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return
	}
	if procs := runtime.GOMAXPROCS(0); procs < PrefetchReads {
		runtime.GOMAXPROCS(PrefetchReads)
		defer runtime.GOMAXPROCS(procs)
	}
	workers := min(PrefetchReads, len(refs))
	var wg sync.WaitGroup
	for w := range workers {
		// Each worker reads its own run of the sorted keys: the reads in
		// flight at any time are spread over the file, not queued on one
		// leaf.
		part := refs[w*len(refs)/workers : (w+1)*len(refs)/workers]
		wg.Go(func() {
			tx, err := db.bolt.Begin(false)
			if err != nil {
				return
			}
			defer tx.Rollback()
			bv := boltView{tx: tx}
			for _, r := range part {
				if b := bv.data(r.db); b != nil {
					b.Get(r.key)
				}
			}
		})
	}
	wg.Wait()
	db.prefetched.Add(int64(len(refs)))
}

// PrefetchedKeys returns how many keys Prefetch has read since Open.
func (db *DB) PrefetchedKeys() int64 { return db.prefetched.Load() }
