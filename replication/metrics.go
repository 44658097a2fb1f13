package replication

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// timedLogStore tells Config.OnStoreLogs how long each write to the log
// store took. The store fsyncs every write, so this is the fsync latency
// that every acknowledged write waits for (on the leader, and on each
// follower whose append completes the majority).
type timedLogStore struct {
	raft.LogStore
	observe func(n int, d time.Duration)
}

func (s timedLogStore) StoreLog(l *raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLog(l)
	s.observe(1, time.Since(start))
	return err
}

func (s timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	s.observe(len(logs), time.Since(start))
	return err
}

// watchLeaderChanges counts the leader changes this node observes (a new
// leader, or the loss of one: Raft's LeaderObservation), for
// LeaderChanges. The observer never blocks Raft: what it drops when this
// goroutine falls behind is counted too.
func (n *Node) watchLeaderChanges() {
	defer n.wg.Done()
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.leaderObs.Store(obs)
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	for {
		select {
		case <-ch:
			n.leaderChanges.Add(1)
		case <-n.stopCh:
			return
		}
	}
}

// LeaderChanges returns how many times this node has seen the leader
// change (to another node, or to none) since it started.
func (n *Node) LeaderChanges() uint64 {
	c := n.leaderChanges.Load()
	if obs := n.leaderObs.Load(); obs != nil {
		c += obs.GetNumDropped()
	}
	return c
}

// JoinTarget is the index a joining node's state must have applied to
// become a voter: the last entry of this leader's log that reaches the
// FSM (catchUpTarget from the last index). Not the commit index: a leader
// that has just restarted reports 0 (hashicorp/raft learns it anew) until
// an entry of its term commits, and a target of 0 promoted a node that had
// applied a quarter of the log; it refused its votes to the voters its
// stale configuration lacked, and the cluster elected no leader (the
// robustness rig, seed 1795986580642779389). Nor the last index itself:
// the leader's no-op, often last, never reaches a follower's state. (A
// leader's last index is never below its commit index.)
func (n *Node) JoinTarget() uint64 {
	return n.catchUpTarget(n.raft.LastIndex())
}

// catchUpTarget returns the index the state must reach to hold every
// committed entry at or below commit: the last such entry that reaches the
// FSM. The leader's no-op and barrier entries never do, so the state's
// applied index stays below a commit index that ends with them until the
// next write; comparing with commit itself would wait for that write. It
// walks back at most catchUpWalk entries; an entry no longer in the log is
// covered by a snapshot the state already holds.
func (n *Node) catchUpTarget(commit uint64) uint64 {
	applied := n.db.AppliedIndex()
	for i := commit; i > applied; i-- {
		if commit-i >= catchUpWalk {
			return i // a long run of entries the FSM never sees: wait for i
		}
		var l raft.Log
		if err := n.logStore.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return applied
			}
			return i
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return applied
}

const catchUpWalk = 64
