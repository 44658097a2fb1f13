// Package storage owns keepkv's state on disk: one bbolt file holding the
// keyspace (16 logical databases), the expiry index and the index of the last
// applied Raft entry.
//
// The state changes only through ApplyBatch, which applies a batch of encoded
// log entries (see Entry and Cmd) in one bbolt write transaction and records
// the index of the last entry in that same transaction. ApplyBatch is a pure
// function of the current state and the entries: it never reads the clock, a
// random source or the environment; the leader's clock rides in each Entry.
//
// Reads go through View. The rule that a key whose deadline has passed reads
// as absent lives in this package, once (Reader.Get and friends).
//
// storage knows nothing of Raft or the network.
package storage
