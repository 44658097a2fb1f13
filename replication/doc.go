// Package replication wires keepkv's state machine (storage.DB) into
// hashicorp/raft: the FSM adapter, the raft-boltdb/v2 log store, the file
// snapshot store, the TCP transport, bootstrap, leadership and the read
// barrier. It knows nothing of RESP.
//
// Restart without restore: Raft runs with NoSnapshotRestoreOnStart, and the
// FSM skips entries at or below the applied index bbolt recorded. Before
// Raft starts, New restores the newest snapshot only if the state it holds
// is ahead of bbolt (a crash during a snapshot install), reading just the
// snapshot's 16-byte header to decide. A node's own snapshots are markers
// of the applied index (the data is already in bbolt); a full copy is
// streamed only when a snapshot is opened (markerStore). Reads are served only once this node
// is leader and a Barrier has applied everything committed before its term,
// so a restarted node never serves state older than what it acknowledged.
package replication
