package replication

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// watchLeadership consumes Raft's leadership notifications. On gaining
// leadership it first runs a Barrier, so that everything committed before
// this term is applied, and only then marks the node ready to serve reads
// and tells OnLeadership. On losing it, it stops at once.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stopCh:
			n.setReady(false)
			return
		case leader := <-n.notifyCh:
			n.signalLeaderChange()
			if !leader {
				n.setReady(false)
				continue
			}
			began := time.Now()
			if err := n.raft.Barrier(0).Error(); err != nil {
				n.logger.Warn("barrier after election failed", "error", err)
				continue
			}
			if n.raft.State() == raft.Leader {
				n.logger.Info("applied everything committed before this term", "took", time.Since(began).Round(time.Millisecond), "applied-index", n.db.AppliedIndex())
				n.setReady(true)
			}
		}
	}
}

func (n *Node) setReady(ready bool) {
	n.mu.Lock()
	changed := n.ready != ready
	n.ready = ready
	if changed && ready {
		close(n.readyC)
	} else if changed {
		n.readyC = make(chan struct{})
	}
	n.mu.Unlock()
	if changed {
		if ready && !n.wasReady.Swap(true) {
			n.logger.Info("ready to serve as leader for the first time", "since-start", time.Since(n.began).Round(time.Millisecond))
		}
		n.logger.Info("leadership changed", "leader", ready)
		if n.cfg.OnLeadership != nil {
			n.cfg.OnLeadership(ready)
		}
	}
}

func (n *Node) signalLeaderChange() {
	n.mu.Lock()
	close(n.leaderC)
	n.leaderC = make(chan struct{})
	n.mu.Unlock()
}

// IsReadyLeader reports whether this node is leader and has applied
// everything committed before its term.
func (n *Node) IsReadyLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready
}

// awaitLeader waits, at most LeaderWait, until this node is a ready leader
// (nil) or another node is known to be leader (ErrNotLeader).
func (n *Node) awaitLeader(ctx context.Context) error {
	timer := time.NewTimer(n.cfg.LeaderWait)
	defer timer.Stop()
	for {
		n.mu.Lock()
		ready, readyC, leaderC, closed := n.ready, n.readyC, n.leaderC, n.closed
		n.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case ready:
			return nil
		}
		if addr, _ := n.raft.LeaderWithID(); addr != "" && n.raft.State() != raft.Leader {
			return ErrNotLeader
		}
		select {
		case <-readyC:
		case <-leaderC:
		case <-n.stopCh:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return ErrNoLeader
		case <-time.After(n.cfg.LeaderWait / 20):
			// A follower learns of a new leader from its heartbeats,
			// which raise no notification: look again.
		}
	}
}

// Status is a point-in-time view of this node's Raft state.
type Status struct {
	ID           string
	State        string
	Term         uint64
	Leader       string
	LeaderID     string
	CommitIndex  uint64
	AppliedIndex uint64 // applied to bbolt
	LastIndex    uint64
	FirstIndex   uint64 // the oldest entry the log keeps (0: empty)
	TrailingLogs uint64 // entries the next compaction keeps (logtail.go)
	LastContact  time.Time
	Ready        bool
	Members      []Member
	ConfigIndex  uint64 // the log index of the configuration Members is
}

// Member is one server of the Raft configuration.
type Member struct {
	ID      string
	Address string
	Voter   bool
}

// Status returns this node's Raft state.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	s := Status{
		ID:           n.cfg.NodeID,
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		Leader:       string(addr),
		LeaderID:     string(id),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.db.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
		TrailingLogs: n.raft.ReloadableConfig().TrailingLogs,
		LastContact:  n.raft.LastContact(),
		Ready:        n.IsReadyLeader(),
	}
	if first, err := n.logStore.FirstIndex(); err == nil {
		s.FirstIndex = first
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		s.ConfigIndex = f.Index()
		for _, srv := range f.Configuration().Servers {
			s.Members = append(s.Members, Member{ID: string(srv.ID), Address: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
		}
	}
	return s
}

// WaitApplied blocks until this node's state has applied index idx.
func (n *Node) WaitApplied(ctx context.Context, idx uint64) error {
	n.mu.Lock()
	for n.db.AppliedIndex() < idx {
		w := make(chan struct{})
		n.appliedWaiters = append(n.appliedWaiters, appliedWaiter{idx: idx, c: w})
		n.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stopCh:
			return ErrClosed
		}
		n.mu.Lock()
	}
	n.mu.Unlock()
	return nil
}

type appliedWaiter struct {
	idx uint64
	c   chan struct{}
}

// notifyApplied wakes waiters whose index has been applied.
func (n *Node) notifyApplied() {
	applied := n.db.AppliedIndex()
	n.mu.Lock()
	keep := n.appliedWaiters[:0]
	for _, w := range n.appliedWaiters {
		if w.idx <= applied {
			close(w.c)
		} else {
			keep = append(keep, w)
		}
	}
	n.appliedWaiters = keep
	n.mu.Unlock()
}

// CatchUp returns once this node's state has applied everything that was
// committed when it first heard from a leader since starting, so that even
// a stale read never shows state older than what the node held before a
// restart. After the first success it returns at once.
func (n *Node) CatchUp(ctx context.Context) error {
	if n.caughtUp.Load() {
		return nil
	}
	if _, err := n.LeaderAddr(ctx); err != nil {
		return err
	}
	if err := n.WaitApplied(ctx, n.catchUpTarget(n.raft.CommitIndex())); err != nil {
		return err
	}
	n.caughtUp.Store(true)
	return nil
}
