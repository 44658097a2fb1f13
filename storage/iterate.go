package storage

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// scanPage is how many keys ScanKeys examines between two looks at its
// context.
const scanPage = 1024

// ScanKeys is Reader.Scan over everything applied, for SCAN. It reads the
// layers and bbolt merged, a page of at most scanPage keys per hold of the
// lock applies take, and calls fn, with the value's type and deadline
// only, outside that lock, so neither a huge count nor a costly fn (a
// pattern match) holds up applies, and no checkpoint is forced. A
// cancelled ctx ends it with ctx's error.
func (db *DB) ScanKeys(ctx context.Context, n uint8, cursor uint64, count int, now int64, fn func(key []byte, v Value) bool) (ScanResult, error) {
	var res ScanResult
	type hit struct {
		key []byte
		v   Value
	}
	var hits []hit
	for examined := 0; ; examined += scanPage {
		if err := ctx.Err(); err != nil {
			return ScanResult{}, err
		}
		hits = hits[:0]
		var page ScanResult
		err := db.View(func(r *Reader) error {
			page = r.Scan(n, cursor, min(scanPage, count-examined), now, func(k []byte, v Value) bool {
				hits = append(hits, hit{clone(k), Value{Type: v.Type, Deadline: v.Deadline}})
				return false
			})
			return nil
		})
		if err != nil {
			return ScanResult{}, err
		}
		for _, h := range hits {
			if err := ctx.Err(); err != nil {
				return ScanResult{}, err // the page may lack keys fn never saw
			}
			if fn(h.key, h.v) {
				res.Keys = append(res.Keys, h.key)
			}
		}
		res.Cursor, cursor = page.Cursor, page.Cursor
		if cursor == 0 || examined+scanPage >= count {
			return res, nil
		}
	}
}

// Keys calls fn for every live key of database n (KEYS) and returns those
// it accepts, as of one moment: it checkpoints the applied changes first,
// then reads a bbolt snapshot without holding the lock applies take, so
// writes go on however long it runs; a cancelled ctx ends it with ctx's
// error.
func (db *DB) Keys(ctx context.Context, n uint8, now int64, fn func(key []byte, v Value) bool) ([][]byte, error) {
	var keys [][]byte
	// Once ctx is done, fn is skipped: the page in progress ends quickly
	// however costly fn is (a pattern match).
	visit := func(k []byte, v Value) bool { return ctx.Err() == nil && fn(k, v) }
	err := db.snapshotView(func(r *Reader) error {
		for cursor := uint64(0); ; {
			page := r.Scan(n, cursor, scanPage, now, visit)
			if err := ctx.Err(); err != nil {
				return err // the page may lack keys fn never saw
			}
			keys = append(keys, page.Keys...)
			if cursor = page.Cursor; cursor == 0 {
				return nil
			}
		}
	})
	return keys, err
}

// RandomKey returns a live key of database n near the hash position pos,
// or false when it has none, from everything applied.
func (db *DB) RandomKey(n uint8, pos uint64, now int64) ([]byte, bool, error) {
	var key []byte
	var ok bool
	err := db.snapshotView(func(r *Reader) error {
		key, ok = r.RandomKey(n, pos, now)
		return nil
	})
	return key, ok, err
}

// DueBetween is Reader.DueBetween over everything applied.
func (db *DB) DueBetween(from []byte, until int64, limit int) ([]Due, []byte, error) {
	var page []Due
	var next []byte
	err := db.snapshotView(func(r *Reader) error {
		page, next = r.DueBetween(from, until, limit)
		return nil
	})
	return page, next, err
}

// snapshotView checkpoints every applied change and runs fn on a bbolt
// read transaction alone: unlike View it does not hold the layers' lock,
// so applies do not wait for fn. Close and Restore still wait for it.
func (db *DB) snapshotView(fn func(r *Reader) error) error {
	if err := db.Flush(); err != nil {
		return err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Reader{bv: boltView{tx: tx}}) })
}
