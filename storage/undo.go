package storage

import (
	"fmt"
	"runtime/debug"
)

// Apply is total (DESIGN.md, promise 6): every command of a committed entry
// yields a result or an error, never a crash, because a command that crashed
// the FSM would crash it again on every restart and on every replica. The
// commands validate their input, and as a last line of defence a panic
// inside one command is recovered: the command's changes are rolled back
// from a journal, it yields ErrInternal, and OnApplyPanic is told. The
// decision depends only on the command and the state, so every replica
// takes it alike and their digests stay equal.

// ApplyPanic describes a command whose apply panicked and was rolled back.
type ApplyPanic struct {
	Index uint64 // the Raft log index of the entry
	Op    Op
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

type changeKind uint8

const (
	changeRec changeKind = iota + 1
	changeIndex
	changeClear
	changeElem
	changeGarbage
	changeSys
)

// change is one journaled write to the active layer: what it replaced.
type change struct {
	kind  changeKind
	key   string   // memKey (changeRec), index key (changeIndex) or sys key (changeSys)
	had   bool     // the layer held key before
	rec   []byte   // its previous record (changeRec) or value (changeSys)
	idx   Type     // its previous index entry (changeIndex)
	elem  elemItem // its previous element record (changeElem)
	count int64    // its previous garbage entry (changeGarbage)

	oid uint64 // changeGarbage

	// changeClear: database db's layer entries the clear removed, and
	// whether the layer already marked db cleared.
	db      uint8
	recs    map[string][]byte
	index   map[string]Type
	cleared bool
}

// savepoint is the applier's state before a command.
type savepoint struct {
	keyDelta  [NumDBs]int64
	expDelta  [NumDBs]int64
	typeDelta typeCounts
	size      int64
	deadlines int
	ready     int
	events    int
	touched   int
	journal   int
	nextOID   uint64
	garbage   int64
}

// save returns the applier's state now; the journal keeps growing from
// here, so a savepoint inside a command (one command of an EXEC) can be
// rolled back alone, and the command around it can still be rolled back
// as a whole.
func (a *applier) save() savepoint {
	return savepoint{keyDelta: a.keyDelta, expDelta: a.expDelta, typeDelta: a.typeDelta, size: a.layer.size, deadlines: len(a.out.Deadlines), ready: len(a.out.Ready),
		events: len(a.out.Events), touched: len(a.out.Touched), journal: len(a.journal), nextOID: a.nextOID, garbage: a.garbageDelta}
}

// rollback undoes every change since sp, newest first.
func (a *applier) rollback(sp savepoint) {
	l := a.layer
	for i := len(a.journal) - 1; i >= sp.journal; i-- {
		ch := &a.journal[i]
		switch ch.kind {
		case changeRec:
			if ch.had {
				l.recs[ch.key] = ch.rec
			} else {
				delete(l.recs, ch.key)
			}
		case changeIndex:
			if ch.had {
				l.index[ch.key] = ch.idx
			} else {
				delete(l.index, ch.key)
			}
		case changeElem:
			if ch.had {
				l.elems.ReplaceOrInsert(ch.elem)
			} else {
				l.elems.Delete(elemItem{key: ch.key})
			}
			// What the key reads as now (the restored record, or an
			// older layer's or disk's) may be live.
			a.db.hints.noteLive(ch.key)
		case changeGarbage:
			if ch.had {
				l.garbage[ch.oid] = ch.count
			} else {
				delete(l.garbage, ch.oid)
			}
		case changeSys:
			if ch.had {
				l.sys[ch.key] = ch.rec
			} else {
				delete(l.sys, ch.key)
			}
			a.notifyLoaded = false
		case changeClear:
			for k, v := range ch.recs {
				l.recs[k] = v
			}
			for k, v := range ch.index {
				l.index[k] = v
			}
			l.cleared[ch.db] = ch.cleared
		}
	}
	a.journal = a.journal[:sp.journal]
	a.keyDelta, a.expDelta, a.typeDelta = sp.keyDelta, sp.expDelta, sp.typeDelta
	a.nextOID, a.garbageDelta = sp.nextOID, sp.garbage
	l.size = sp.size
	a.out.Deadlines = a.out.Deadlines[:sp.deadlines]
	a.out.Ready = a.out.Ready[:sp.ready]
	a.out.Events = a.out.Events[:sp.events]
	a.out.Touched = a.out.Touched[:sp.touched]
}

// abort ends the current command with err: its changes are rolled back
// (see safeCmd). For conditions found deep inside a command, such as a key
// too long to store.
func (a *applier) abort(err error) { panic(aborted{err}) }

type aborted struct{ err error }

// setRec writes key's record (nil: deleted) to the active layer.
func (a *applier) setRec(db uint8, key, rec []byte) {
	if rec != nil && len(key) > MaxKeyLen {
		a.abort(ErrKeyTooLong)
	}
	if a.db.testHook != nil {
		a.db.testHook(a.op)
	}
	mk := memKey(db, key)
	old, had := a.layer.recs[mk]
	a.journal = append(a.journal, change{kind: changeRec, key: mk, had: had, rec: old})
	a.layer.setRec(mk, rec)
	if rec != nil && (!had || old == nil) { // deletions need no filing: see fileForScan
		a.layer.fileForScan(mk)
	}
}

// setIndex records whether the expiry index holds k.
func (a *applier) setIndex(k []byte, t Type) {
	old, had := a.layer.index[string(k)]
	a.journal = append(a.journal, change{kind: changeIndex, key: string(k), had: had, idx: old})
	a.layer.setIndex(k, t)
}

// clearDB empties database db as of this point of the active layer.
func (a *applier) clearDB(db uint8) {
	if a.db.testHook != nil {
		a.db.testHook(a.op)
	}
	ch := change{kind: changeClear, db: db, recs: map[string][]byte{}, index: map[string]Type{}, cleared: a.layer.cleared[db]}
	a.layer.clear(db, ch.recs, ch.index)
	a.journal = append(a.journal, ch)
}

// safeCmd applies one command; a panic inside it rolls the command back
// and becomes an ErrInternal result.
func (a *applier) safeCmd(c *Cmd, index uint64) (res Result) {
	a.journal = a.journal[:0]
	return a.guardedCmd(c, index)
}

// guardedCmd applies one command, rolling it alone back if it panics.
func (a *applier) guardedCmd(c *Cmd, index uint64) (res Result) {
	sp := a.save()
	outer, outerTouched := a.op, a.touchedBefore
	a.op, a.touchedBefore = c.Op, len(a.out.Touched)
	defer func() { a.op, a.touchedBefore = outer, outerTouched }()
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		a.rollback(sp)
		if ab, ok := v.(aborted); ok {
			res = errResult(ab.err)
			return
		}
		a.db.panics.Add(1)
		a.db.opts.OnApplyPanic(ApplyPanic{Index: index, Op: c.Op, Value: v, Stack: debug.Stack()})
		res = errResult(fmt.Errorf("%w: %s at log index %d was rolled back", ErrInternal, c.Op, index))
	}()
	return a.cmd(c)
}

// ApplyPanics returns how many commands panicked in apply and were rolled
// back since the DB was opened.
func (db *DB) ApplyPanics() int64 { return db.panics.Load() }
