package storage

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// LogEntry is one Raft log entry handed to ApplyBatch. Data is nil for
// entries that carry no command (configuration changes); they only advance
// the applied index.
type LogEntry struct {
	Index uint64
	Data  []byte
}

// ResultKind says which field of a Result holds the reply.
type ResultKind uint8

// Result kinds.
const (
	ResultNil ResultKind = iota
	ResultOK
	ResultInt
	ResultBulk
	ResultErr
)

// Result is the outcome of one applied Cmd.
type Result struct {
	Kind  ResultKind
	Int   int64
	Bytes []byte
	Err   error
}

// Deadline is a (key, deadline) pair set by an applied command.
type Deadline struct {
	DB  uint8
	Key []byte
	At  int64
}

// Applied is what ApplyBatch returns: for each LogEntry, the results of its
// commands (nil for skipped and command-less entries, or a single ResultErr
// for an entry that could not be decoded), and the deadlines the batch set.
type Applied struct {
	Results   [][]Result
	Deadlines []Deadline
}

// ApplyBatch applies entries in one bbolt write transaction and records the
// last entry's index in that transaction. Entries at or below the applied
// index are skipped: commands such as INCR are not idempotent. The returned
// error is an I/O failure of the store; command failures are Results.
func (db *DB) ApplyBatch(entries []LogEntry) (Applied, error) {
	out := Applied{Results: make([][]Result, len(entries))}
	if len(entries) == 0 {
		return out, nil
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return out, ErrClosed
	}
	last := entries[len(entries)-1].Index
	if last <= db.applied.Load() {
		return out, nil
	}
	a := applier{db: db, out: &out}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		a.tx = tx
		for i, e := range entries {
			if e.Index <= db.applied.Load() || e.Data == nil {
				continue
			}
			out.Results[i] = a.entry(e.Data)
		}
		if a.err != nil {
			return a.err
		}
		return a.commitMeta(last)
	})
	if err != nil {
		return Applied{}, fmt.Errorf("storage: apply batch ending at %d: %w", last, err)
	}
	db.applied.Store(last)
	for i := range NumDBs {
		db.keys[i].Add(a.keyDelta[i])
		db.expires[i].Add(a.expDelta[i])
	}
	return out, nil
}

// applier carries one ApplyBatch transaction.
type applier struct {
	db       *DB
	tx       *bolt.Tx
	out      *Applied
	now      int64
	err      error // first bbolt error; aborts the transaction
	keyDelta [NumDBs]int64
	expDelta [NumDBs]int64
}

func (a *applier) commitMeta(last uint64) error {
	meta := a.tx.Bucket(bucketMeta)
	if err := meta.Put(keyApplied, u64(last)); err != nil {
		return err
	}
	for i := range NumDBs {
		if a.keyDelta[i] != 0 {
			n := a.db.keys[i].Load() + a.keyDelta[i]
			if err := meta.Put(countKeys[i], u64(uint64(n))); err != nil {
				return err
			}
		}
		if a.expDelta[i] != 0 {
			n := a.db.expires[i].Load() + a.expDelta[i]
			if err := meta.Put(expireCountKey(uint8(i)), u64(uint64(n))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) entry(data []byte) []Result {
	e, err := DecodeEntry(data)
	if err != nil {
		return []Result{{Kind: ResultErr, Err: err}}
	}
	a.now = e.Now
	res := make([]Result, len(e.Cmds))
	for i := range e.Cmds {
		res[i] = a.cmd(&e.Cmds[i])
	}
	return res
}

func (a *applier) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// slot is a key's stored state as seen by a write command.
type slot struct {
	db     uint8
	key    []byte
	dkey   []byte
	exists bool
	rec    record
}

// lookup returns the key's live state. A key whose deadline has passed at
// the entry's now is deleted on the spot and reported absent.
func (a *applier) lookup(db uint8, key []byte) slot {
	s := slot{db: db, key: key, dkey: dataKey(key)}
	raw := a.tx.Bucket(dbBuckets[db]).Get(s.dkey)
	if raw == nil {
		return s
	}
	rec, ok := decodeRecord(raw)
	if !ok {
		a.fail(fmt.Errorf("corrupt record for key %q in db %d", key, db))
		return s
	}
	s.exists, s.rec = true, rec
	if expired(rec.deadline, a.now) {
		a.del(&s)
	}
	return s
}

// put stores value with deadline at s, keeping the index and counters right.
func (a *applier) put(s *slot, value []byte, deadline int64) {
	if s.exists {
		a.unindex(s)
	} else {
		a.keyDelta[s.db]++
	}
	if err := a.tx.Bucket(dbBuckets[s.db]).Put(s.dkey, encodeRecord(TypeString, deadline, value)); err != nil {
		a.fail(err)
	}
	if deadline != 0 {
		a.expDelta[s.db]++
		if err := a.tx.Bucket(bucketExpiry).Put(indexKey(deadline, s.db, s.key), nil); err != nil {
			a.fail(err)
		}
		a.out.Deadlines = append(a.out.Deadlines, Deadline{DB: s.db, Key: clone(s.key), At: deadline})
	}
	s.exists = true
	s.rec = record{typ: TypeString, deadline: deadline, value: value}
}

// del removes the key at s.
func (a *applier) del(s *slot) {
	if !s.exists {
		return
	}
	a.unindex(s)
	a.keyDelta[s.db]--
	if err := a.tx.Bucket(dbBuckets[s.db]).Delete(s.dkey); err != nil {
		a.fail(err)
	}
	s.exists = false
	s.rec = record{}
}

func (a *applier) unindex(s *slot) {
	if s.rec.deadline == 0 {
		return
	}
	a.expDelta[s.db]--
	if err := a.tx.Bucket(bucketExpiry).Delete(indexKey(s.rec.deadline, s.db, s.key)); err != nil {
		a.fail(err)
	}
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

func okResult() Result                   { return Result{Kind: ResultOK} }
func intResult(n int64) Result           { return Result{Kind: ResultInt, Int: n} }
func bulkResult(b []byte) Result         { return Result{Kind: ResultBulk, Bytes: clone(b)} }
func errResult(err error) Result         { return Result{Kind: ResultErr, Err: err} }
func nilResult() Result                  { return Result{Kind: ResultNil} }
func isErr(err error, target error) bool { return errors.Is(err, target) }
