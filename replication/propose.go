package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// Proposal is a write in flight. Wait returns once it is committed and
// applied on this node, or failed.
type Proposal struct {
	f   raft.ApplyFuture
	err error
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
	return &Proposal{f: n.raft.Apply(data, n.cfg.LeaderWait)}
}

// Wait blocks until the proposal is committed and applied, and returns the
// results of its commands. ErrNotLeader means it was not appended anywhere;
// ErrUnknownOutcome means it may or may not have been committed.
func (p *Proposal) Wait() ([]storage.Result, error) {
	if p.err != nil {
		return nil, p.err
	}
	if err := p.f.Error(); err != nil {
		return nil, mapRaftError(err)
	}
	res, ok := p.f.Response().([]storage.Result)
	if !ok {
		return nil, fmt.Errorf("replication: unexpected FSM response %T", p.f.Response())
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
