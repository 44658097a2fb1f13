package replication

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

// markerMagic starts a snapshot marker: the 16 bytes (magic, applied
// index) a local snapshot stores instead of a copy of the state.
var markerMagic = [8]byte{'k', 'e', 'e', 'p', 'k', 'v', 'm', '1'}

const markerSize = int64(len(markerMagic)) + 8

// markerStore keeps the node's own snapshots as markers. The state is
// already durable in bbolt (checkpointed before the marker is written), so
// compacting the log needs no copy of it; copying the whole store every
// few thousand entries would cost disk space and I/O proportional to the
// data set. A copy is made only when a snapshot is opened (to send to a
// follower, or by a user): Open streams bbolt's current state, which holds
// at least everything up to the marker's index. The receiver may thus get
// entries beyond the snapshot's index; the FSM skips entries at or below
// the applied index the state carries, so replaying them is harmless.
//
// Snapshots received from a leader are kept in full, as the file store
// writes them: the restore reads them back, and restoreIfBehind needs
// them after a crash mid-install.
type markerStore struct {
	raft.SnapshotStore
	db *storage.DB
}

// Open returns a received snapshot as stored, and for a marker a stream
// of the live state with its exact size in the metadata (Raft sends the
// size ahead of the data).
func (s *markerStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil || meta.Size != markerSize {
		return meta, rc, err
	}
	var m [markerSize]byte
	_, err = io.ReadFull(rc, m[:])
	rc.Close()
	if err != nil || !bytes.Equal(m[:len(markerMagic)], markerMagic[:]) {
		return nil, nil, fmt.Errorf("replication: snapshot %s: %d bytes but not a marker: %v", id, markerSize, err)
	}
	snap, err := s.db.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	if snap.AppliedIndex() < binary.BigEndian.Uint64(m[len(markerMagic):]) {
		snap.Release()
		return nil, nil, fmt.Errorf("replication: snapshot %s: state at %d is behind its marker", id, snap.AppliedIndex())
	}
	full := *meta
	full.Size = snap.Size()
	pr, pw := io.Pipe()
	go func() {
		_, err := snap.WriteTo(pw)
		snap.Release()
		pw.CloseWithError(err)
	}()
	return &full, pr, nil
}

// markerSnapshot is the FSM's snapshot: the applied index bbolt holds.
// Raft takes it on the FSM goroutine, so it only notes the index; Persist,
// on Raft's snapshot goroutine, checkpoints bbolt up to it (and beyond)
// before the marker is written and Raft may compact the log.
type markerSnapshot struct {
	db      *storage.DB
	applied uint64
}

func (m markerSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := m.db.Flush(); err != nil {
		sink.Cancel()
		return fmt.Errorf("replication: checkpoint for snapshot at %d: %w", m.applied, err)
	}
	var b [markerSize]byte
	copy(b[:], markerMagic[:])
	binary.BigEndian.PutUint64(b[len(markerMagic):], m.applied)
	if _, err := sink.Write(b[:]); err != nil {
		sink.Cancel()
		return fmt.Errorf("replication: persist snapshot marker: %w", err)
	}
	return sink.Close()
}

func (markerSnapshot) Release() {}
