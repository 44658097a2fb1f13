package storage

import (
	"encoding/binary"
	"fmt"
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
	ResultArray  // Elems; nil Elems with Null set: a null array
	ResultDouble // Float
	ResultValue  // Value: a reply built by the Exec hook
)

// Result is the outcome of one applied Cmd.
type Result struct {
	Kind  ResultKind
	Int   int64
	Bytes []byte
	Err   error
	Elems []Result
	Float float64
	Null  bool // ResultArray: a null array (RESP2 *-1)
	Value any  // ResultValue
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
	Results [][]Result
	// Parts, when a batch held a group (group.go), holds for each group
	// entry the results of each of its parts (and Results nil there); nil
	// when none did.
	Parts     [][][]Result
	Deadlines []Deadline
	// Ready lists the keys a command gave new elements to (list pushes,
	// sorted-set adds), in apply order, for clients blocked on them.
	Ready []KeyRef
	// Events are the keyspace notifications and PUBLISHed messages of the
	// batch, in log order.
	Events []Event
	// Touched lists the keys the batch modified or expired, in apply order,
	// for clients tracking them; a nil Key means all of DB was flushed
	// (DB AllDBs: every database).
	Touched []KeyRef
	// Users reports that the batch changed an ACL user (a "u" sys entry).
	Users bool
}

// AllDBs in a Touched KeyRef with a nil Key: every database was flushed.
const AllDBs = 255

// KeyRef names a key of a database.
type KeyRef struct {
	DB  uint8
	Key []byte
	// Origin, in Applied.Touched, is the Entry.Origin of the entry that
	// touched the key.
	Origin []byte
}

// ApplyBatch applies entries in order and returns once they are visible to
// View. Entries at or below the applied index are skipped: commands such as
// INCR are not idempotent. The changes reach bbolt at the next checkpoint,
// one transaction for many batches, with the applied index of the last one.
// The returned error is a failure of the store (a corrupt record, a failed
// checkpoint); command failures are Results.
func (db *DB) ApplyBatch(entries []LogEntry) (Applied, error) {
	out := Applied{Results: make([][]Result, len(entries))}
	if len(entries) == 0 {
		return out, nil
	}
	if err := db.applyLocked(entries, &out); err != nil {
		return Applied{}, err
	}
	db.kickCheckpoint()
	waits, err := db.awaitBacklog(db.opts.MaxPending, nil)
	db.waits.Add(int64(waits))
	if err != nil {
		return Applied{}, err
	}
	return out, nil
}

// awaitBacklog returns once the applied changes waiting for a checkpoint
// are at most limit bytes, or when stop is closed, with the number of
// checkpoints it waited for. It lets the background checkpointer catch up,
// rather than starting a checkpoint of its own behind the one running.
func (db *DB) awaitBacklog(limit int64, stop <-chan struct{}) (int, error) {
	waits := 0
	for db.pending.Load() > limit {
		end := db.checkpointEnd()
		// A failed checkpoint fails every later one before it starts, and
		// those do not end anything: check after taking end.
		if err := db.checkpointErr(); err != nil {
			return waits, err
		}
		if db.pending.Load() <= limit {
			break
		}
		waits++
		db.urgeCheckpoint()
		select {
		case <-end:
		case <-stop:
			return waits, nil
		case <-db.ckptStop: // closing: no background checkpoints any more
			return waits, db.Flush()
		}
	}
	return waits, nil
}

// Backlogged reports whether the changes waiting for a checkpoint exceed
// half of MaxPending, the bound AwaitBacklog keeps.
func (db *DB) Backlogged() bool { return db.pending.Load() > db.opts.MaxPending/2 }

// AwaitBacklog returns once at most half of MaxPending waits for a
// checkpoint, or when stop is closed, with the number of checkpoints it
// waited for. Background work (the expiry driver) calls it before each
// step, so that it never makes client writes wait for a checkpoint.
func (db *DB) AwaitBacklog(stop <-chan struct{}) (int, error) {
	return db.awaitBacklog(db.opts.MaxPending/2, stop)
}

// CheckpointEnd returns a channel that is closed when the checkpoint now
// running, or else the next one, ends (committed or failed). The next one
// starts without waiting out CheckpointInterval: a checkpoint somebody
// waits for is due.
func (db *DB) CheckpointEnd() <-chan struct{} {
	end := db.checkpointEnd()
	db.urgeCheckpoint()
	return end
}

func (db *DB) checkpointEnd() <-chan struct{} {
	db.mem.RLock()
	defer db.mem.RUnlock()
	return db.ckptEnd
}

func (db *DB) applyLocked(entries []LogEntry, out *Applied) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	last := entries[len(entries)-1].Index
	if last <= db.applied.Load() {
		return nil
	}
	db.mem.Lock()
	defer db.mem.Unlock()
	if db.ckptErr != nil {
		return db.ckptErr
	}
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return fmt.Errorf("storage: apply batch ending at %d: %w", last, err)
	}
	defer tx.Rollback()
	a := applier{db: db, bv: boltView{tx: tx}, out: out, layer: db.active, layers: db.layersLocked(), sizeBefore: db.active.size, nextOID: db.nextOID.Load()}
	for i, e := range entries {
		if e.Index <= db.applied.Load() || e.Data == nil {
			continue
		}
		parts, group, err := groupParts(e.Data)
		switch {
		case err != nil:
			out.Results[i] = []Result{{Kind: ResultErr, Err: err}}
		case group:
			if out.Parts == nil {
				out.Parts = make([][][]Result, len(entries))
			}
			out.Parts[i] = make([][]Result, len(parts))
			for j, part := range parts {
				out.Parts[i][j] = a.entry(LogEntry{Index: e.Index, Data: part})
			}
		default:
			out.Results[i] = a.entry(e)
		}
	}
	if a.err != nil {
		return fmt.Errorf("storage: apply batch ending at %d: %w", last, a.err)
	}
	for i := range NumDBs {
		db.keys[i].Add(a.keyDelta[i])
		db.expires[i].Add(a.expDelta[i])
		for t, d := range a.typeDelta[i] {
			db.types[i][t].Add(d)
		}
	}
	db.nextOID.Store(a.nextOID)
	db.garbage.Add(a.garbageDelta)
	db.active.dirty = true
	db.pending.Add(db.active.size - a.sizeBefore)
	db.applied.Store(last)
	return nil
}

// applier carries one ApplyBatch: reads go through the unflushed layers to
// a bbolt read transaction, writes go to the active layer.
type applier struct {
	db           *DB
	bv           boltView // the batch's bbolt transaction, its buckets opened once
	out          *Applied
	layer        *memLayer   // the active layer, written to
	layers       []*memLayer // every unflushed layer, newest first
	now          int64
	err          error // first store error; fails the batch
	keyDelta     [NumDBs]int64
	expDelta     [NumDBs]int64
	typeDelta    typeCounts // keys per type (keytypes.go)
	sizeBefore   int64
	nextOID      uint64 // the last oid given out
	garbageDelta int64
	journal      []change // the current command's changes, for a rollback
	op           Op       // the current command's op
	index        uint64   // the current entry's log index
	indexBytes   []byte   // index, encoded: the value of every sys modification record it writes
	notifyLoaded bool     // notifyCfg holds notify-keyspace-events
	notifyCfg    NotifyFlags
	// touchedBefore is len(out.Touched) when the current command began.
	touchedBefore int
	origin        []byte // the current entry's Origin
}

func (a *applier) entry(le LogEntry) []Result {
	e, err := DecodeEntry(le.Data)
	if err != nil {
		return []Result{{Kind: ResultErr, Err: err}}
	}
	a.now = e.Now
	a.index = le.Index
	a.indexBytes = binary.BigEndian.AppendUint64(nil, le.Index) // shared by the entry's touches; never mutated
	a.origin = nil
	if e.Origin != nil {
		a.origin = clone(e.Origin)
	}
	res := make([]Result, len(e.Cmds))
	for i := range e.Cmds {
		var req []byte
		if e.Reqs != nil && len(e.Reqs[i]) > 0 {
			req = e.Reqs[i]
			if r, ok := a.appliedReq(req); ok {
				res[i] = r // applied before: a forwarded request, retried
				continue
			}
		}
		res[i] = a.safeCmd(&e.Cmds[i], le.Index)
		if req != nil {
			a.recordReq(req, res[i])
		}
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
	exists bool
	rec    record
}

// raw returns key's encoded record as applied so far, or nil.
func (a *applier) raw(db uint8, key []byte) []byte {
	return lookupLayers(a.layers, a.db.cache, &a.bv, db, key)
}

// lookup returns the key's live state. A key whose deadline has passed at
// the entry's now is deleted on the spot and reported absent.
func (a *applier) lookup(db uint8, key []byte) slot {
	s := slot{db: db, key: key}
	raw := a.raw(db, key)
	if raw == nil {
		return s
	}
	rec, ok := decodeRecord(raw)
	if !ok {
		a.fail(errCorrupt(db, key))
		return s
	}
	s.exists, s.rec = true, rec
	if expired(rec.deadline, a.now) {
		a.dropExpired(&s)
	}
	return s
}

// dropExpired deletes the key at s, whose deadline has passed: not a
// modification (the key already read as absent), but an "expired" event.
func (a *applier) dropExpired(s *slot) {
	if !s.exists {
		return
	}
	key := s.key
	if s.rec.typ.IsCollection() {
		a.releaseRecord(s.rec)
	}
	a.unlink(s)
	a.expiredKey(s.db, key)
}

// put stores a string value with deadline at s.
func (a *applier) put(s *slot, value []byte, deadline int64) {
	a.store(s, TypeString, value, deadline)
}

// setDeadline changes only the deadline of the key at s, whatever its type.
func (a *applier) setDeadline(s *slot, deadline int64) {
	a.store(s, s.rec.typ, s.rec.value, deadline)
}

// store writes a record of type typ with value and deadline at s, keeping
// the index and counters right. A collection it replaces (another type, or
// another oid) is released.
func (a *applier) store(s *slot, typ Type, value []byte, deadline int64) {
	if s.exists {
		if s.rec.typ.IsCollection() && (typ != s.rec.typ || !sameOID(value, s.rec.value)) {
			a.releaseRecord(s.rec)
		}
		a.unindex(s)
		if typ != s.rec.typ {
			a.countType(s.db, s.rec.typ, -1)
			a.countType(s.db, typ, 1)
		}
	} else {
		a.keyDelta[s.db]++
		a.countType(s.db, typ, 1)
		if a.notifyFlags()&notifyNew != 0 {
			a.notify(ClassNew, "new", s.db, s.key)
		}
	}
	a.touch(s.db, s.key)
	rec := encodeRecord(typ, deadline, value)
	a.setRec(s.db, s.key, rec)
	if deadline != 0 {
		a.expDelta[s.db]++
		a.setIndex(indexKey(deadline, s.db, s.key), typ)
		a.out.Deadlines = append(a.out.Deadlines, Deadline{DB: s.db, Key: clone(s.key), At: deadline})
	}
	s.exists = true
	s.rec = record{typ: typ, deadline: deadline, value: rec[recordHeader:]}
}

// del removes the key at s, releasing a collection's elements.
func (a *applier) del(s *slot) {
	if s.exists && s.rec.typ.IsCollection() {
		a.releaseRecord(s.rec)
	}
	a.detach(s)
}

// detach removes the key at s but not a collection's elements: its record
// is moving to another key (RENAME, MOVE).
func (a *applier) detach(s *slot) {
	if s.exists {
		a.touch(s.db, s.key)
	}
	a.unlink(s)
}

// unlink removes the key at s without touching it.
func (a *applier) unlink(s *slot) {
	if !s.exists {
		return
	}
	a.unindex(s)
	a.keyDelta[s.db]--
	a.countType(s.db, s.rec.typ, -1)
	a.setRec(s.db, s.key, nil)
	s.exists = false
	s.rec = record{}
}

func (a *applier) unindex(s *slot) {
	if s.rec.deadline == 0 {
		return
	}
	a.expDelta[s.db]--
	a.setIndex(indexKey(s.rec.deadline, s.db, s.key), 0)
}

func errCorrupt(db uint8, key []byte) error {
	return fmt.Errorf("corrupt record for key %q in db %d", key, db)
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

func okResult() Result           { return Result{Kind: ResultOK} }
func intResult(n int64) Result   { return Result{Kind: ResultInt, Int: n} }
func bulkResult(b []byte) Result { return Result{Kind: ResultBulk, Bytes: clone(b)} }
func errResult(err error) Result { return Result{Kind: ResultErr, Err: err} }
func nilResult() Result          { return Result{Kind: ResultNil} }
func arrayResult(e []Result) Result {
	if e == nil {
		e = []Result{}
	}
	return Result{Kind: ResultArray, Elems: e}
}
func nullArrayResult() Result       { return Result{Kind: ResultArray, Null: true} }
func doubleResult(f float64) Result { return Result{Kind: ResultDouble, Float: f} }
