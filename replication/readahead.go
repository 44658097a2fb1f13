package replication

import (
	"sync"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// readAheadChunk is how many log entries the read-ahead hands to
// storage's Prefetch at a time.
const readAheadChunk = 128

// readAheadHook, if set (tests only), is called before each chunk is read
// ahead.
var readAheadHook func()

// readAhead reads, ahead of the applier, the records that the log entries a
// restarted node replays will read (storage's Prefetch: many disk reads
// in flight instead of one page fault at a time). It starts before Raft,
// so it overlaps the election, and the FSM waits for it before applying
// each replayed batch, so that the applier never takes those faults one
// by one itself.
type readAhead struct {
	to uint64 // the last index of the log when the node started

	mu    sync.Mutex
	moved *sync.Cond
	at    uint64 // entries up to at have been read ahead
	ended bool   // read-ahead finished or stopped: nobody waits any more
}

// startReadAhead reads the entries from..to of logs ahead for db, in a
// goroutine of wg, until done or stop is closed (at a chunk boundary). It
// returns nil if there is nothing to read.
func startReadAhead(db *storage.DB, logs raft.LogStore, from, to uint64, stop <-chan struct{}, wg *sync.WaitGroup) *readAhead {
	if from > to {
		return nil
	}
	r := &readAhead{to: to, at: from - 1}
	r.moved = sync.NewCond(&r.mu)
	wg.Go(func() {
		defer r.end()
		for first := from; first <= to; first += readAheadChunk {
			last := min(first+readAheadChunk-1, to)
			entries := make([]storage.LogEntry, 0, last-first+1)
			for i := first; i <= last; i++ {
				var l raft.Log
				if err := logs.GetLog(i, &l); err != nil {
					continue // compacted away: a snapshot covers it
				}
				e := storage.LogEntry{Index: i}
				if l.Type == raft.LogCommand {
					e.Data = l.Data
				}
				entries = append(entries, e)
			}
			if readAheadHook != nil {
				readAheadHook()
			}
			db.Prefetch(entries)
			r.advance(last)
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	return r
}

func (r *readAhead) advance(at uint64) {
	r.mu.Lock()
	r.at = at
	r.mu.Unlock()
	r.moved.Broadcast()
}

func (r *readAhead) end() {
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
	r.moved.Broadcast()
}

// await returns once the entries up to index (or up to the last one to
// read ahead, if index is past it) have been read ahead, or read-ahead
// has ended. A nil r returns at once.
func (r *readAhead) await(index uint64) {
	if r == nil {
		return
	}
	index = min(index, r.to)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.at < index && !r.ended {
		r.moved.Wait()
	}
}
