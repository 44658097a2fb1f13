package replication

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// A leader that steps down (it lost touch with a majority, saw a newer
// term, or handed leadership over) fails every write it had appended but
// not yet applied with ErrUnknownOutcome: the next leader may commit it
// or drop it. Its clients did nothing wrong and are still connected to a
// node that is up, so the node settles each such write itself (Settle)
// instead of passing the doubt on: it waits until its own log, now fed by
// the next leader, is committed past the write's index, and then the entry
// at that index either is the write (it was applied, here too, and its
// results are kept in recent) or is not (it never will be: the write may
// be sent again).

// recentSize is how many of the last applied entries keep their responses.
// Settle looks a write up as soon as this node has applied it (later only
// when an earlier write of the same pipeline was being settled first);
// 4,096 entries are seconds of group-commit rounds at the rates measured
// here (a few hundred log appends per second). An entry gone from the ring
// settles as unknown.
const recentSize = 4096

// recentResults is a ring of the last applied entries' FSM responses, by
// log index.
type recentResults struct {
	mu    sync.Mutex
	index [recentSize]uint64
	resp  [recentSize]any
}

func (r *recentResults) put(logs []*raft.Log, out []any) {
	r.mu.Lock()
	for i, l := range logs {
		s := l.Index % recentSize
		r.index[s], r.resp[s] = l.Index, out[i]
	}
	r.mu.Unlock()
}

func (r *recentResults) get(idx uint64) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := idx % recentSize
	if r.index[s] != idx {
		return nil, false
	}
	return r.resp[s], true
}

// Settle finds out what became of a proposal whose Wait failed with werr.
// applied reports that it was committed and applied, with res its results;
// otherwise (err nil) it was never appended, or the entry committed at its
// index is another one, so it never will be applied and may be proposed
// again. err is ErrUnknownOutcome when that could not be learnt before ctx
// ended (the committed log did not reach the proposal's index, or the
// entry left the log or the ring first), or werr itself for any other
// failure.
func (n *Node) Settle(ctx context.Context, p *Proposal, werr error) (res []storage.Result, applied bool, err error) {
	switch {
	case errors.Is(werr, ErrNotLeader):
		return nil, false, nil // Raft refused it: not appended anywhere
	case !errors.Is(werr, ErrUnknownOutcome) || p.f == nil:
		return nil, false, werr
	}
	idx := p.f.Index()
	if idx == 0 {
		return nil, false, nil // refused before it was appended (a leadership transfer)
	}
	// Once Raft has applied idx here, the entry at idx is committed for
	// good: the write was applied if and only if it is that entry.
	if err := n.waitCommitted(ctx, idx); err != nil {
		return nil, false, ErrUnknownOutcome
	}
	var l raft.Log
	if err := n.logStore.GetLog(idx, &l); err != nil {
		return nil, false, ErrUnknownOutcome // compacted away meanwhile
	}
	// Entries name their client's node and connection (storage.Entry's
	// Origin), so no other leader appends bytes equal to this node's.
	if l.Type != raft.LogCommand || !bytes.Equal(l.Data, p.entry) {
		return nil, false, nil
	}
	// Raft hands commands to the state machine before it counts them
	// applied; the results are in the ring once the state has them.
	if err := n.WaitApplied(ctx, idx); err != nil {
		return nil, false, ErrUnknownOutcome
	}
	resp, ok := n.recent.get(idx)
	if !ok {
		return nil, false, ErrUnknownOutcome
	}
	res, err = p.results(resp)
	if err != nil {
		return nil, false, err
	}
	return res, true, nil
}

// waitCommitted returns once Raft's applied index here reaches idx. Unlike
// the state's applied index (WaitApplied), it counts the entries the state
// machine never sees — above all the no-op a new leader appends first,
// which is what lands at a dropped write's index when nothing else is
// written — so it is polled: Raft tells nobody when it moves.
func (n *Node) waitCommitted(ctx context.Context, idx uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for n.raft.AppliedIndex() < idx {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stopCh:
			return ErrClosed
		}
	}
	return nil
}
