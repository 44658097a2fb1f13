package storage

// elemHints remember, per collection and kind of element record, where its
// first and last live records are, so that a scan from either end (ZPOPMIN,
// ZPOPMAX, ZRANGE from rank 0) starts there instead of passing every record
// deleted since the last checkpoint: those deletions wait in the memory
// layers in front of the records still on disk, and a queue popped from one
// end would otherwise walk all of them on every pop.
//
// A hint only narrows where a scan starts; it never changes what a scan
// sees. Its invariant: no live record of the collection's kind sorts before
// lo, and none after hi (keys include the oid ‖ kind prefix; "" means
// unknown). Deleting records keeps it true. A record that becomes live
// outside [lo, hi] (written, or restored by a rollback) widens the hint to
// include it (noteLive), which keeps it true. Only the applier reads and
// writes hints (under db.mem); a snapshot install drops them all.
type elemHints map[string]elemHint

type elemHint struct{ lo, hi string }

// maxElemHints bounds the map: hints of collections gone or no longer
// popped are dropped all at once when it fills.
const maxElemHints = 4096

// start returns where a scan of prefix from its start (or, reverse, its
// end) may begin, inclusive; nil: from the very start (end).
func (h elemHints) start(prefix []byte, reverse bool) []byte {
	e, ok := h[string(prefix)]
	switch {
	case !ok:
		return nil
	case reverse && e.hi != "":
		return []byte(e.hi)
	case !reverse && e.lo != "":
		return []byte(e.lo)
	}
	return nil
}

// noteEnd records that key is the first (reverse: the last) live record of
// prefix.
func (db *DB) noteEnd(prefix, key []byte, reverse bool) {
	if db.hints == nil || len(db.hints) >= maxElemHints {
		db.hints = elemHints{}
	}
	e := db.hints[string(prefix)]
	if reverse {
		e.hi = string(key)
	} else {
		e.lo = string(key)
	}
	db.hints[string(prefix)] = e
}

// noteLive widens the hint of key's collection so that it includes key,
// which is live now (or may be).
func (h elemHints) noteLive(key string) {
	if len(h) == 0 || len(key) < 9 {
		return
	}
	e, ok := h[key[:9]]
	if !ok {
		return
	}
	changed := false
	if e.lo != "" && key < e.lo {
		e.lo, changed = key, true
	}
	if e.hi != "" && key > e.hi {
		e.hi, changed = key, true
	}
	if changed {
		h[key[:9]] = e
	}
}
