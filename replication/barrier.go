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
		err := n.raft.VerifyLeader().Error()
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
