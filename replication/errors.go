package replication

import "errors"

// Errors returned by a Node. server translates them to Redis errors.
var (
	// ErrNotLeader is returned when this node is not the leader; the write
	// or linearizable read must go to the leader.
	ErrNotLeader = errors.New("replication: not the leader")
	// ErrNoLeader is returned when no leader emerged in the allowed time.
	ErrNoLeader = errors.New("replication: no leader")
	// ErrNotReady is returned when this node is leader but has not yet
	// applied everything committed before its term.
	ErrNotReady = errors.New("replication: leader not ready")
	// ErrUnknownOutcome is returned when leadership was lost after a write
	// was proposed: it may or may not have been committed.
	ErrUnknownOutcome = errors.New("replication: leadership lost, write outcome unknown")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("replication: node closed")
)
