package server

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/keepkv/keepkv/storage"
)

func keyCommands() []*command {
	return []*command{
		{name: "del", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Deletes one or more keys.", since: "1.0.0", write: cmdDel},
		{name: "unlink", arity: -2, flags: flagWrite | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Asynchronously deletes one or more keys.", since: "4.0.0", write: cmdDel},
		{name: "exists", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Determines whether one or more keys exist.", since: "1.0.0", read: cmdExists},
		{name: "touch", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.", since: "3.2.1", read: cmdExists},
		{name: "type", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Determines the type of value stored at a key.", since: "1.0.0", read: cmdType},
		{name: "keys", arity: 2, flags: flagRead | flagScan, group: "generic", summary: "Returns all key names that match a pattern.", since: "1.0.0", read: cmdKeys},
		{name: "scan", arity: -2, flags: flagRead | flagScan, group: "generic", summary: "Iterates over the key names in the database.", since: "2.8.0", read: cmdScan},
		{name: "randomkey", arity: 1, flags: flagRead | flagScan, group: "generic", summary: "Returns a random key name from the database.", since: "1.0.0", read: cmdRandomKey},
		{name: "rename", arity: 3, flags: flagWrite, firstKey: 1, lastKey: 2, step: 1, group: "generic", summary: "Renames a key and overwrites the destination.", since: "1.0.0", write: cmdRename(false)},
		{name: "renamenx", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 2, step: 1, group: "generic", summary: "Renames a key only when the target key name doesn't exist.", since: "1.0.0", write: cmdRename(true)},
		{name: "dbsize", arity: 1, flags: flagRead | flagFast, group: "server", summary: "Returns the number of keys in the database.", since: "1.0.0", read: cmdDBSize},
		{name: "flushdb", arity: -1, flags: flagWrite | flagAdmin, group: "server", summary: "Remove all keys from the current database.", since: "1.0.0", write: cmdFlush(storage.OpFlushDB)},
		{name: "flushall", arity: -1, flags: flagWrite | flagAdmin, group: "server", summary: "Removes all keys from all databases.", since: "1.0.0", write: cmdFlush(storage.OpFlushAll)},
	}
}

func cmdDel(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpDel, Keys: args[1:]}, ""
}

func cmdExists(x *execCtx, r *storage.Reader, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if _, ok := r.Get(x.st.db, k, x.now); ok {
			n++
		}
	}
	x.w.Int(n)
}

func typeName(t storage.Type) string { return t.String() }

func cmdType(x *execCtx, r *storage.Reader, args [][]byte) {
	v, ok := r.Get(x.st.db, args[1], x.now)
	if !ok {
		x.w.Status("none")
		return
	}
	x.w.Status(typeName(v.Type))
}

// The iterating commands (flagScan) read through the store's iteration
// API, which sees everything applied and never holds up applies for long
// (KEYS reads a checkpointed snapshot, SCAN a page at a time); they get no
// Reader.
func cmdKeys(x *execCtx, _ *storage.Reader, args [][]byte) {
	pattern := args[1]
	all := len(pattern) == 1 && pattern[0] == '*'
	keys, err := x.s.db.Keys(x.ctx, x.st.db, x.now, func(k []byte, _ storage.Value) bool {
		return all || globMatch(pattern, k)
	})
	if err != nil {
		x.iterationFailed(err)
		return
	}
	x.w.Array(len(keys))
	for _, k := range keys {
		x.w.Bulk(k)
	}
}

func cmdScan(x *execCtx, _ *storage.Reader, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		x.w.Error(errInvalidCursor)
		return
	}
	o, e := parseScanOpts(args[2:], true)
	if e != "" {
		x.w.Error(e)
		return
	}
	res, err := x.s.db.ScanKeys(x.ctx, x.st.db, cursor, o.count, x.now, func(k []byte, v storage.Value) bool {
		if o.typ != nil && !eq(o.typ, typeName(v.Type)) {
			return false
		}
		return o.pattern == nil || globMatch(o.pattern, k)
	})
	if err != nil {
		x.iterationFailed(err)
		return
	}
	writeScanPage(x.w, res.Cursor, res.Keys)
}

// writeScanPage writes a SCAN-family reply: the next cursor (a bulk
// string), then the page's items.
func writeScanPage(w *replyWriter, cursor uint64, items [][]byte) {
	w.Array(2)
	w.BulkString(strconv.FormatUint(cursor, 10))
	w.Array(len(items))
	for _, it := range items {
		w.Bulk(it)
	}
}

func cmdRandomKey(x *execCtx, _ *storage.Reader, _ [][]byte) {
	k, ok, err := x.s.db.RandomKey(x.st.db, rand.Uint64(), x.now)
	if err != nil {
		x.iterationFailed(err)
		return
	}
	if !ok {
		x.w.Null()
		return
	}
	x.w.Bulk(k)
}

func cmdRename(nx bool) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: storage.OpRename, Keys: args[1:3]}
		if nx {
			c.Flags = storage.FlagNX
		}
		return c, ""
	}
}

func cmdDBSize(x *execCtx, _ *storage.Reader, _ [][]byte) {
	x.w.Int(x.s.db.KeyCount(x.st.db))
}

func cmdFlush(op storage.Op) writeFunc {
	return func(_ *execCtx, args [][]byte) (storage.Cmd, string) {
		c := storage.Cmd{Op: op}
		if len(args) > 2 || (len(args) == 2 && !eq(args[1], "async") && !eq(args[1], "sync")) {
			return c, errSyntax
		}
		return c, ""
	}
}

// parseCursor reads a SCAN cursor as Redis does, with C's strtoul: an
// optional sign, and a negative value wraps around.
//
// Cursors keepkv returns are always below 2^53 (storage.MaxCursor), so that
// JavaScript clients, which hold them as Numbers, read them exactly. Any
// cursor a client makes up at or above 2^53 (a negative one wraps to such a
// value, as does a 64-bit cursor from before this scheme) lies past the
// end of the keyspace: SCAN answers with no keys and cursor 0, ending the
// iteration, and never panics or wraps around to the start.
func parseCursor(b []byte) (uint64, bool) {
	// Redis reads the argument as a C string: it ends at the first NUL,
	// and an empty one is cursor 0.
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, true
	}
	neg := len(b) > 0 && b[0] == '-'
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil || len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// iterationFailed answers an iteration that failed or was cancelled (its
// client went away, or the server is shutting down).
func (x *execCtx) iterationFailed(err error) {
	if errors.Is(err, context.Canceled) {
		x.s.stats.iterationsCancelled.Add(1)
		x.w.Error("ERR command cancelled: the client disconnected or the server is shutting down")
		return
	}
	x.w.Error(clusterError(err))
}

// scanOpts are the options of SCAN and of HSCAN, SSCAN and ZSCAN.
type scanOpts struct {
	count   int    // COUNT, at most 2^30
	pattern []byte // MATCH; nil matches everything (as Redis: MATCH * is no pattern at all, so it also returns the empty key)
	typ     []byte // TYPE (SCAN only); nil: every type
}

// parseScanOpts reads SCAN's options as Redis's scanGenericCommand does.
func parseScanOpts(opts [][]byte, allowType bool) (scanOpts, string) {
	o := scanOpts{count: 10}
	for i := 0; i < len(opts); i += 2 {
		if i+1 >= len(opts) {
			return o, errSyntax
		}
		switch a, v := opts[i], opts[i+1]; {
		case eq(a, "count"):
			n, ok := parseInt(v)
			if !ok {
				return o, errNotInteger
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = int(min(n, 1<<30))
		case eq(a, "match"):
			o.pattern = v
			if len(v) == 1 && v[0] == '*' {
				o.pattern = nil
			}
		case eq(a, "type") && allowType:
			o.typ = v
		default:
			return o, errSyntax
		}
	}
	return o, ""
}
