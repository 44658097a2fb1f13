package storage

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// written lists the keys a checkpoint wrote, bucket by bucket, in the
// order it wrote them (sorted within each bucket).
type written struct {
	keys []bucketKey
}

type bucketKey struct {
	bucket, key []byte
}

// add lists key of bucket; a nil w lists nothing.
func (w *written) add(bucket, key []byte) {
	if w != nil {
		w.keys = append(w.keys, bucketKey{bucket, key})
	}
}

// mapWrittenChunk is how many keys mapWritten reads back under one read
// transaction (and one hold of flushMu): a bound on how long it can hold
// up a checkpoint, a remap of the file or Close.
const mapWrittenChunk = 4096

// mapWritten reads back, through bbolt's memory map, the pages that hold
// the keys a checkpoint wrote, so that they are mapped into the process.
//
// bbolt writes a checkpoint's pages to new places in the file (copy on
// write) with pwrite: until something reads one through the map, it is
// page cache that no process maps, the kind the kernel reclaims first and
// that a proactive reclaimer pages out once it has gone unused for a while
// (this machine's DAMON scheme: after 60 s). The next checkpoint or read
// that needs such a page then waits for the disk: 0.2–0.5 ms a page here,
// one at a time, where a mapped page costs nothing and an unmapped cached
// one a minor fault. Reading the pages back right after the commit, while
// they are certainly cached, costs that minor fault now instead of at the
// next reader, which is the cost the next checkpoint would pay anyway for
// every page it touches (it must read a leaf to change it).
//
// It runs on the checkpointer, between checkpoints, a chunk at a time
// (viewBetweenCommits), and stops early when the DB closes.
//
// What it does not cover: a fresh mapping maps nothing. After a restart or
// a restore, mapResident maps what the page cache holds; a file that
// outgrows its mapping (InitialMmapSize) is remapped by bbolt every GiB,
// and its pages are mapped again only as checkpoints and reads reach them.
func (db *DB) mapWritten(keys []bucketKey) {
	for len(keys) > 0 {
		part := keys[:min(mapWrittenChunk, len(keys))]
		keys = keys[len(part):]
		open := db.viewBetweenCommits(func(tx *bolt.Tx) {
			var name []byte
			var c *bolt.Cursor
			for _, k := range part {
				if c == nil || !bytes.Equal(name, k.bucket) {
					name, c = k.bucket, nil
					if b := tx.Bucket(k.bucket); b != nil {
						c = b.Cursor()
					}
				}
				if c != nil {
					c.Seek(k.key) // descends to, and so maps, the key's leaf
				}
			}
		})
		if !open {
			return
		}
	}
}

// viewBetweenCommits runs fn in a read transaction, holding flushMu so
// that no commit begins under the transaction (a commit that began while
// a reader was open could not reuse the pages the previous commit freed,
// and would grow the file), and the read lock Close waits on. It returns
// false, without calling fn, once the DB is closing or closed. The
// background readers (mapWritten, mapResident, the fill) call it a chunk
// at a time, so that none holds up a checkpoint for long.
func (db *DB) viewBetweenCommits(fn func(tx *bolt.Tx)) bool {
	select {
	case <-db.ckptStop:
		return false
	default:
	}
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return false
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error { fn(tx); return nil })
	return true
}
