// Package storage owns keepkv's state on disk: one bbolt file holding the
// keyspace (16 logical databases), the expiry index and the index of the last
// applied Raft entry.
//
// The state changes only through ApplyBatch, which applies a batch of encoded
// log entries (see Entry and Cmd). ApplyBatch is a pure function of the
// current state and the entries: it never reads the clock, a random source or
// the environment; the leader's clock rides in each Entry.
//
// Applied changes first land in an in-memory layer that every read sees
// (see memLayer). A background checkpoint writes the layers to bbolt in one
// write transaction that also records the applied index of the last entry it
// covers, and fsyncs it; checkpoints are paced (CheckpointInterval) so many
// Raft batches share one bbolt commit. This keeps the bbolt commit off the
// acknowledgement path without weakening it: an entry is applied only after
// Raft has fsynced it to its log, and after a crash Raft replays the log
// after bbolt's applied index. Snapshots, KEYS, RANDOMKEY, DEBUG DIGEST and
// the expiry refill checkpoint first; SCAN merges the layers with bbolt
// (scanmerge.go). After each checkpoint the checkpointer reads back the
// pages it wrote, so that they stay mapped (mapWritten); after a restart or
// a restore, the fill maps the pages the page cache holds (mapResident). A
// checkpoint with thousands of deletions files those of records with a
// deadline in a small per-database bucket instead of rewriting a leaf per
// key, and the checkpointer sweeps them later (dead.go). (shared/DESIGN.md still
// describes one bbolt transaction per applied batch; this is the measured
// refinement of it.)
//
// Reads go through View. The rule that a key whose deadline has passed reads
// as absent lives in this package, once (Reader.Get and friends).
//
// storage knows nothing of Raft or the network.
package storage
