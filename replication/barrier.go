package replication

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// readRound is one shared leadership confirmation: every read that joined
// it before it started is answered by one VerifyLeader.
type readRound struct {
	done chan struct{}
	err  error
}

// ReadBarrier returns nil once a linearizable read may be served from this
// node's local state: the node is a ready leader (everything committed
// before its term is applied, and every write it acknowledged was applied
// before the acknowledgement) and it confirmed its leadership with a quorum
// after the call began. Concurrent calls share one confirmation round.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if err := n.awaitLeader(ctx); err != nil {
		return err
	}
	if n.SoleVoter() {
		return nil
	}
	n.mu.Lock()
	r := n.pending
	if r == nil {
		r = &readRound{done: make(chan struct{})}
		n.pending = r
		select {
		case n.kickRead <- struct{}{}:
		default:
		}
	}
	n.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readLoop runs confirmation rounds. A round starts only after taking the
// pending set, so no read joins a round that began before it arrived.
func (n *Node) readLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stopCh:
			n.finishRound(ErrClosed)
			return
		case <-n.kickRead:
		}
		n.mu.Lock()
		r := n.pending
		n.pending = nil
		n.mu.Unlock()
		if r == nil {
			continue
		}
		err := n.verifyLeader()
		if err == nil && !n.IsReadyLeader() {
			err = ErrNotReady
		}
		r.err = mapRaftError(err)
		close(r.done)
	}
}

func (n *Node) finishRound(err error) {
	n.mu.Lock()
	r := n.pending
	n.pending = nil
	n.mu.Unlock()
	if r != nil {
		r.err = err
		close(r.done)
	}
}

func mapRaftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrUnknownOutcome
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrNoLeader
	}
	return err
}

// SoleVoter reports whether this node is the ready leader of a
// configuration in which it is the only voter. Raft's VerifyLeader then
// answers at once, without asking anybody (its quorum is this node), but
// only after a trip through Raft's leader loop, which may be busy storing a
// batch of writes: a single node's reads skip that wait. No other node can
// commit anything while this one is leader here: a configuration that adds
// a voter takes effect on this leader as soon as it is appended, and from
// then on reads take the full round.
func (n *Node) SoleVoter() bool {
	if n.raft.State() != raft.Leader || !n.IsReadyLeader() {
		return false
	}
	voters, self := 0, false
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(n.cfg.NodeID)
		}
	}
	return voters == 1 && self
}

// verifyLeader runs Raft's VerifyLeader, giving up with ErrClosed when the
// node closes: a verification Raft's leader loop never picked up is never
// answered once Raft shuts down, and Close waits for this goroutine.
func (n *Node) verifyLeader() error {
	f := n.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.stopCh:
		return ErrClosed
	}
}
