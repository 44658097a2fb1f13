package replication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// Proposal is a write in flight. Wait returns once it is committed and
// applied on this node, or failed.
type Proposal struct {
	f   raft.ApplyFuture
	err error

	// With group commit: the entry, until its round starts; done is closed
	// when the round's watcher has read the future's outcome into ferr
	// (a raft future must not be read from two goroutines at once). A
	// proposal that went to Raft in a group with others (storage/group.go)
	// shares its future, and its results are the group's part part.
	data    []byte
	done    chan struct{}
	ferr    error
	grouped bool
	part    int
	// entry is the Raft log entry's data (the group's, for a grouped
	// proposal), kept so that Settle can recognise it in the log.
	entry []byte
}

// rounds is group commit (Config.GroupCommit): while one round of
// proposals is in Raft, new ones queue, and when every entry of the round
// has applied, the queue goes to Raft at once as the next round. Raft's
// leader loop then stores each round with one log append, and finds no new
// entries waiting when its append completes, so it hands the round to the
// state machine at once (it picks among ready work at random, and a
// waiting append used to delay the previous round's commit by a whole
// fsync).
type rounds struct {
	mu    sync.Mutex
	open  bool
	queue []*Proposal
}

// Propose hands an encoded storage.Entry to Raft without waiting for it to
// commit, so that many proposals (a whole pipeline, many clients) are in
// flight at once and share fsyncs. If this node is not leader, it waits at
// most LeaderWait for one to emerge.
func (n *Node) Propose(ctx context.Context, data []byte) *Proposal {
	if n.raft.State() != raft.Leader {
		if err := n.awaitLeader(ctx); err != nil {
			return &Proposal{err: err}
		}
	}
	if !n.cfg.GroupCommit {
		return &Proposal{f: n.raft.Apply(data, n.cfg.LeaderWait), entry: data}
	}
	p := &Proposal{data: data, done: make(chan struct{})}
	n.rounds.mu.Lock()
	if n.rounds.open {
		n.rounds.queue = append(n.rounds.queue, p)
		n.rounds.mu.Unlock()
		return p
	}
	n.rounds.open = true
	n.rounds.mu.Unlock()
	n.startRound([]*Proposal{p})
	return p
}

// Bounds on a group: a round's entries go to Raft in groups of at most
// this many entries and bytes (an entry that is larger goes alone).
const (
	maxGroupEntries = 1024
	maxGroupBytes   = 64 << 10
)

// startRound hands a round's entries to Raft, in order, consecutive ones
// as one log entry (a group, storage/group.go) within the bounds above,
// and watches for its end.
func (n *Node) startRound(ps []*Proposal) {
	for i := 0; i < len(ps); {
		j, size := i+1, len(ps[i].data)
		for j < len(ps) && j-i < maxGroupEntries && size+len(ps[j].data) <= maxGroupBytes {
			size += len(ps[j].data)
			j++
		}
		group := ps[i:j]
		if len(group) == 1 {
			group[0].f, group[0].entry = n.raft.Apply(group[0].data, n.cfg.LeaderWait), group[0].data
		} else {
			parts := make([][]byte, len(group))
			for k, p := range group {
				parts[k] = p.data
			}
			entry := storage.EncodeGroup(parts)
			f := n.raft.Apply(entry, n.cfg.LeaderWait)
			for k, p := range group {
				p.f, p.grouped, p.part, p.entry = f, true, k, entry
			}
		}
		for _, p := range group {
			p.data = nil
		}
		i = j
	}
	go n.endRound(ps)
}

// endRound waits until every entry of a round has applied (or failed),
// then starts the next round with what queued meanwhile.
func (n *Node) endRound(ps []*Proposal) {
	for _, p := range ps {
		p.ferr = p.f.Error()
		close(p.done)
	}
	n.rounds.mu.Lock()
	next := n.rounds.queue
	n.rounds.queue = nil
	n.rounds.open = len(next) > 0
	n.rounds.mu.Unlock()
	if len(next) > 0 {
		n.startRound(next)
	}
}

// Wait blocks until the proposal is committed and applied, and returns the
// results of its commands. ErrNotLeader means it was not appended anywhere;
// ErrUnknownOutcome means it may or may not have been committed.
func (p *Proposal) Wait() ([]storage.Result, error) {
	if p.err != nil {
		return nil, p.err
	}
	var err error
	if p.done != nil {
		<-p.done
		err = p.ferr
	} else {
		err = p.f.Error()
	}
	if err != nil {
		return nil, mapRaftError(err)
	}
	return p.results(p.f.Response())
}

// results picks the proposal's results out of its entry's FSM response.
func (p *Proposal) results(resp any) ([]storage.Result, error) {
	if p.grouped {
		parts, ok := resp.([][]storage.Result)
		if !ok || p.part >= len(parts) {
			return nil, fmt.Errorf("replication: unexpected FSM response %T to a group", resp)
		}
		return parts[p.part], nil
	}
	res, ok := resp.([]storage.Result)
	if !ok {
		return nil, fmt.Errorf("replication: unexpected FSM response %T", resp)
	}
	return res, nil
}

// Apply proposes one entry and waits for it.
func (n *Node) Apply(ctx context.Context, data []byte) ([]storage.Result, error) {
	return n.Propose(ctx, data).Wait()
}

// Now returns the leader's clock in Unix milliseconds, to stamp log
// commands. It is the only clock reading on the write path.
func Now() int64 { return time.Now().UnixMilli() }
