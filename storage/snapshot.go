package storage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// snapshotMagic starts every snapshot stream; the applied index follows, so
// that a restarting node can compare a snapshot with its own state by
// reading 16 bytes instead of the whole file.
var snapshotMagic = [8]byte{'k', 'e', 'e', 'p', 'k', 'v', 's', '1'}

// Snapshot is a consistent point-in-time view of the DB that can be streamed
// while writes continue. Release it when done.
type Snapshot struct {
	tx      *bolt.Tx
	applied uint64
}

// Snapshot checkpoints everything applied, then begins a read transaction
// for streaming.
func (db *DB) Snapshot() (*Snapshot, error) {
	if err := db.Flush(); err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("storage: begin snapshot: %w", err)
	}
	applied := getU64(tx.Bucket(bucketMeta), keyApplied)
	return &Snapshot{tx: tx, applied: applied}, nil
}

// AppliedIndex is the applied index the snapshot contains.
func (s *Snapshot) AppliedIndex() uint64 { return s.applied }

// Size is the number of bytes WriteTo writes.
func (s *Snapshot) Size() int64 { return snapshotHeaderSize + s.tx.Size() }

const snapshotHeaderSize = int64(len(snapshotMagic)) + 8

// WriteTo streams the snapshot: a header, then a copy of the bbolt file.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	var hdr [16]byte
	copy(hdr[:8], snapshotMagic[:])
	binary.BigEndian.PutUint64(hdr[8:], s.applied)
	if _, err := w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := s.tx.WriteTo(w)
	return n + int64(len(hdr)), err
}

// Release ends the snapshot's read transaction. Safe to call twice.
func (s *Snapshot) Release() {
	if s.tx != nil {
		_ = s.tx.Rollback()
		s.tx = nil
	}
}

// ReadSnapshotHeader reads a snapshot stream's header and returns the
// applied index the snapshot contains.
func ReadSnapshotHeader(r io.Reader) (uint64, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if [8]byte(hdr[:8]) != snapshotMagic {
		return 0, ErrBadSnapshot
	}
	return binary.BigEndian.Uint64(hdr[8:]), nil
}

// Restore replaces the whole state with the snapshot read from r. The new
// file is written beside the old one, synced, and renamed over it, so a
// crash at any point leaves either the old or the new state. The DB is
// reopened even if the install fails.
func (db *DB) Restore(r io.Reader) error {
	if _, err := ReadSnapshotHeader(r); err != nil {
		return err
	}
	tmp, err := db.writeTemp(r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := checkBolt(tmp); err != nil {
		return err
	}
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.discardLayers()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("storage: close before restore: %w", err)
	}
	renameErr := os.Rename(tmp, db.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(db.path))
	}
	if err := db.open(); err != nil {
		db.closed = true
		return fmt.Errorf("storage: reopen after restore: %w", err)
	}
	db.mem.Lock()
	defer db.mem.Unlock()
	db.durable = db.applied.Load()
	if renameErr != nil {
		// Unflushed changes are gone and the snapshot is not in place:
		// refuse further applies, so the node restarts and replays.
		db.ckptErr = fmt.Errorf("storage: install snapshot: %w", renameErr)
		return db.ckptErr
	}
	if db.opts.OnRestore != nil {
		go db.opts.OnRestore() // it reads the state, under locks Restore holds
	}
	db.fillDone = make(chan struct{})
	go db.fill(db.fillDone) // it waits for the locks Restore holds
	return nil
}

func (db *DB) writeTemp(r io.Reader) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(db.path), ".restore-*")
	if err != nil {
		return "", fmt.Errorf("storage: restore temp file: %w", err)
	}
	_, err = io.Copy(f, bufio.NewReaderSize(r, 1<<20))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("storage: write snapshot: %w", err)
	}
	return f.Name(), nil
}

// checkBolt verifies that path is a bbolt file with keepkv's buckets.
func checkBolt(path string) error {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	defer b.Close()
	return b.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil || tx.Bucket(bucketExpiry) == nil {
			return fmt.Errorf("%w: missing buckets", ErrBadSnapshot)
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// discardLayers drops changes not yet checkpointed: a restored snapshot
// supersedes them.
func (db *DB) discardLayers() {
	db.mem.Lock()
	defer db.mem.Unlock()
	db.active = newLayer()
	db.sealed = nil
	db.hints = nil
	db.cache.reset()
	db.ckptErr = nil
	db.pending.Store(0)
}
