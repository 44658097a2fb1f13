package replication

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// fsm adapts storage.DB to raft.BatchingFSM.
type fsm struct {
	db        *storage.DB
	logger    hclog.Logger
	onApplied func(storage.Applied)
	// onApplyTime, if set, is told how long each batch took to apply.
	onApplyTime func(n int, d time.Duration)
	// ahead reads the entries a restart replays ahead of ApplyBatch
	// (readahead.go); nil once the replay is over.
	ahead *readAhead
	// tail bounds in bytes the log Raft keeps after a snapshot (nil: the
	// TrailingLogs count alone); raft is set once Raft has started.
	tail *logTail
	raft atomic.Pointer[raft.Raft]
	// recent keeps the last entries' responses for Settle (settle.go).
	recent *recentResults
}

var _ raft.BatchingFSM = (*fsm)(nil)

// ApplyBatch applies committed entries in one bbolt transaction. A storage
// I/O failure is fatal: the node stops and, on restart, replays from the
// index bbolt recorded.
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	if f.ahead != nil && len(logs) > 0 {
		if logs[0].Index > f.ahead.to {
			f.ahead = nil
		} else {
			f.ahead.await(logs[len(logs)-1].Index)
		}
	}
	entries := make([]storage.LogEntry, len(logs))
	for i, l := range logs {
		entries[i].Index = l.Index
		if l.Type == raft.LogCommand {
			entries[i].Data = l.Data
		}
		if f.tail != nil {
			f.tail.add(l.Index, len(l.Data))
		}
	}
	start := time.Now()
	applied, err := f.db.ApplyBatch(entries)
	if f.onApplyTime != nil {
		f.onApplyTime(len(entries), time.Since(start))
	}
	if err != nil {
		f.logger.Error("failed to apply batch, stopping", "error", err)
		panic(fmt.Sprintf("keepkv: failed to store data: %v", err))
	}
	if f.onApplied != nil {
		f.onApplied(applied)
	}
	out := make([]interface{}, len(logs))
	for i := range logs {
		if applied.Parts != nil && applied.Parts[i] != nil {
			out[i] = applied.Parts[i] // a group's: results per part
			continue
		}
		out[i] = applied.Results[i]
	}
	if f.recent != nil {
		f.recent.put(logs, out)
	}
	return out
}

// Apply applies a single entry.
func (f *fsm) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// Snapshot returns a marker of the applied index: the state itself stays
// in bbolt (see markerStore), and the marker's Persist checkpoints it.
// Raft compacts its log after the snapshot persists, keeping the
// TrailingLogs set here (logtail.go).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	applied := f.db.AppliedIndex()
	if r := f.raft.Load(); r != nil && f.tail != nil {
		if err := f.tail.apply(r, applied); err != nil {
			f.logger.Warn("could not bound the log kept after a snapshot", "error", err)
		}
	}
	return markerSnapshot{db: f.db, applied: applied}, nil
}

// Restore replaces the state with a snapshot stream.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.db.Restore(rc); err != nil {
		return err
	}
	if f.tail != nil {
		f.tail.reset()
	}
	f.logger.Info("restored snapshot", "applied-index", f.db.AppliedIndex())
	return nil
}
