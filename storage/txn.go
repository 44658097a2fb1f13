package storage

import "fmt"

// The transaction family: commands whose effects are decided in apply by
// the command engine above storage (EXEC, scripts), PUBLISH, and the
// replicated settings.
const (
	// OpExec runs a MULTI/EXEC transaction: Keys are the WATCHed keys and
	// Vals[0] their marks (EncodeWatchMarks); Vals[1:] are the queued
	// commands, opaque to storage. If a watched key changed since its mark
	// the result is a null array and nothing runs; otherwise the Exec hook
	// runs the commands (see Txn) and its result is the command's.
	OpExec Op = opTxnBase + iota
	// OpScript runs a script through the Exec hook; Keys and Vals are
	// the hook's.
	OpScript
	// OpPublish publishes Vals[0] to channel Keys[0]: an EventPublish.
	OpPublish
	// OpConfigSet sets the replicated settings Keys[i] to Vals[i].
	OpConfigSet
	// OpSysSet stores Vals[i] under the sys entries Keys[i], which must be
	// loaded scripts ("s" ‖ sha1) or ACL users ("u" ‖ name), all of one
	// kind; an empty value deletes. Int 1 first deletes every entry with
	// Keys[0]'s first byte as prefix (SCRIPT FLUSH, ACL LOAD); Int 2 does
	// nothing at all if an entry Keys[0] already exists (seeding the ACL
	// users once).
	OpSysSet
	opTxnEnd
)

var txnOpNames = [...]string{"EXEC", "SCRIPT", "PUBLISH", "CONFIGSET", "SYSSET"}

func txnOpName(o Op) string {
	if o >= opTxnBase && o < opTxnEnd {
		return txnOpNames[o-opTxnBase]
	}
	return ""
}

func txnShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	switch c.Op {
	case OpExec:
		if nv < 1 {
			return false
		}
		_, ok := decodeWatchMarks(c.Keys, c.Vals[0])
		return ok
	case OpScript:
		return true
	case OpPublish:
		return nk == 1 && nv == 1
	case OpConfigSet:
		return nk >= 1 && nk == nv
	case OpSysSet:
		for _, k := range c.Keys {
			if len(k) == 0 || len(k) > MaxKeyLen || (k[0] != sysScript && k[0] != sysUser) || k[0] != c.Keys[0][0] {
				return false
			}
		}
		return nk >= 1 && nk == nv && c.Int >= 0 && c.Int <= 2
	}
	return false
}

// ExecFunc runs an OpExec's or OpScript's commands inside apply. It must
// be deterministic: it may read and write only through t, and take the
// time and any randomness from t and the command.
type ExecFunc func(t *Txn, c *Cmd) Result

// SetExec installs the hook that runs OpExec and OpScript commands. Until
// one is installed they fail.
func (db *DB) SetExec(fn ExecFunc) { db.exec.Store(&fn) }

// Txn is the apply-time state an ExecFunc works on: the log entry's time
// and index, reads of everything applied so far (including this entry's
// earlier commands), and writes applied on the spot.
type Txn struct {
	a *applier
}

// Now is the log entry's time (the leader's clock when it was proposed).
func (t *Txn) Now() int64 { return t.a.now }

// Index is the log entry's index.
func (t *Txn) Index() uint64 { return t.a.index }

// Reader reads the state as applied so far. RandomKey and DueBetween see
// only what is checkpointed, so an ExecFunc must not use them.
func (t *Txn) Reader() *Reader {
	return &Reader{bv: t.a.bv, layers: t.a.layers, applied: t.a.index}
}

// Apply applies one write command now. A command that panics is rolled
// back alone and yields ErrInternal, as at top level; an OpExec or
// OpScript is refused (no nesting).
func (t *Txn) Apply(c Cmd) Result {
	if err := c.Validate(); err != nil {
		return errResult(err)
	}
	if c.Op == OpExec || c.Op == OpScript {
		return errResult(fmt.Errorf("%w: %s inside %s", ErrBadEntry, c.Op, t.a.op))
	}
	return t.a.guardedCmd(&c, t.a.index)
}

// Savepoint marks the state now, for RollbackTo.
type Savepoint struct{ sp savepoint }

// Save returns a savepoint.
func (t *Txn) Save() Savepoint { return Savepoint{t.a.save()} }

// RollbackTo undoes every change applied since sp (a script that failed).
func (t *Txn) RollbackTo(sp Savepoint) { t.a.rollback(sp.sp) }

// Sys returns a sys entry's value as applied so far, or nil.
func (t *Txn) Sys(key []byte) []byte { return t.a.sys(string(key)) }

func (a *applier) txnCmd(c *Cmd) Result {
	switch c.Op {
	case OpExec:
		marks, _ := decodeWatchMarks(c.Keys, c.Vals[0])
		if !a.watchHolds(marks) {
			return nullArrayResult()
		}
		return a.runExec(c)
	case OpScript:
		return a.runExec(c)
	case OpPublish:
		a.out.Events = append(a.out.Events, Event{Kind: EventPublish, Key: clone(c.Keys[0]), Payload: clone(c.Vals[0])})
		return intResult(0)
	case OpConfigSet:
		for i := range c.Keys {
			a.setConfig(string(c.Keys[i]), c.Vals[i])
		}
		return okResult()
	case OpSysSet:
		if c.Int == 2 && a.sys(string(c.Keys[0])) != nil {
			return okResult()
		}
		if c.Int == 1 {
			a.clearSys(c.Keys[0][0])
		}
		for i := range c.Keys {
			var v []byte
			if len(c.Vals[i]) > 0 {
				v = clone(c.Vals[i])
			}
			a.setSys(string(c.Keys[i]), v)
		}
		return okResult()
	}
	return errResult(ErrBadEntry)
}

func (a *applier) runExec(c *Cmd) Result {
	fn := a.db.exec.Load()
	if fn == nil {
		return errResult(fmt.Errorf("%w: no command engine for %s", ErrBadEntry, c.Op))
	}
	return (*fn)(&Txn{a: a}, c)
}

// clearSys deletes every sys entry whose key starts with prefix.
func (a *applier) clearSys(prefix byte) {
	seen := map[string]bool{}
	for _, l := range a.layers {
		for k := range l.sys {
			if k[0] == prefix && !seen[k] {
				seen[k] = true
			}
		}
	}
	c := a.bv.sys().Cursor()
	for k, _ := c.Seek([]byte{prefix}); k != nil && k[0] == prefix; k, _ = c.Next() {
		seen[string(k)] = true
	}
	for k := range seen {
		if lookupSys(a.layers, &a.bv, k) != nil {
			a.setSys(k, nil)
		}
	}
}

// Sys returns a sys entry's value, or nil.
func (r *Reader) Sys(key []byte) []byte { return clone(lookupSys(r.layers, &r.bv, string(key))) }
