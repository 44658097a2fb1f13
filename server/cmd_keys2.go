package server

import (
	"fmt"
	"strings"

	"github.com/keepkv/keepkv/storage"
)

// keyCommands2 are the generic key commands that work across types (COPY,
// MOVE, SWAPDB, OBJECT). DUMP and RESTORE are not implemented: keepkv has
// no RDB serialization of its values.
func keyCommands2() []*command {
	return []*command{
		{name: "copy", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 2, step: 1, group: "generic", summary: "Copies the value of a key to a new key.", since: "6.2.0", write: cmdCopy},
		{name: "move", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Moves a key to another database.", since: "1.0.0", write: cmdMove},
		{name: "swapdb", arity: 3, flags: flagWrite | flagFast, group: "server", summary: "Swaps two Redis databases.", since: "4.0.0", local: cmdSwapDB},
		{name: "object", arity: -2, flags: flagRead, firstKey: 2, lastKey: 2, step: 1, group: "generic", summary: "A container for object introspection commands.", since: "2.2.3", read: cmdObject},
	}
}

const (
	errSameObject = "ERR source and destination objects are the same"
	errSwapDB     = "ERR SWAPDB is not supported by keepkv: its databases cannot be swapped in one bounded log entry"
	errNoLFU      = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
)

// dbIndex parses a database number as COPY ... DB and MOVE do: an
// integer (getIntFromObjectOrReply), then a valid database.
func dbIndex(arg []byte) (uint8, string) {
	n, ok := parseInt(arg)
	if !ok {
		return 0, errNotInteger
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, "ERR value is out of range, value must between -2147483648 and 2147483647"
	}
	if n < 0 || n >= storage.NumDBs {
		return 0, errDBIndex
	}
	return uint8(n), ""
}

func cmdCopy(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpCopy, Keys: args[1:3], Int: int64(x.st.db)}
	for j := 3; j < len(args); j++ {
		switch a := args[j]; {
		case eq(a, "replace"):
			c.Limit = 1
		case eq(a, "db") && j+1 < len(args):
			db, e := dbIndex(args[j+1])
			if e != "" {
				return c, e
			}
			c.Int = int64(db)
			j++
		default:
			return c, errSyntax
		}
	}
	if c.Int == int64(x.st.db) && string(args[1]) == string(args[2]) {
		return c, errSameObject
	}
	return c, ""
}

func cmdMove(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpMove, Keys: args[1:2]}
	db, e := dbIndex(args[2])
	if e != "" {
		return c, e
	}
	if db == x.st.db {
		return c, errSameObject
	}
	c.Int = int64(db)
	return c, ""
}

// cmdSwapDB validates as Redis does and swaps a database with itself (a
// no-op). Swapping two databases is not supported: storage keeps each
// database in a bbolt bucket of its own, with its key and expiry counters
// and the expiry index keyed by database number, so a swap would rewrite
// every key of both, an unbounded apply.
func cmdSwapDB(x *execCtx, args [][]byte) {
	a, ok1 := parseInt(args[1])
	if !ok1 || a < -1<<31 || a > 1<<31-1 {
		x.w.Error("ERR invalid first DB index")
		return
	}
	b, ok2 := parseInt(args[2])
	if !ok2 || b < -1<<31 || b > 1<<31-1 {
		x.w.Error("ERR invalid second DB index")
		return
	}
	if a < 0 || a >= storage.NumDBs || b < 0 || b >= storage.NumDBs {
		x.w.Error(errDBIndex)
		return
	}
	if a == b {
		x.w.OK()
		return
	}
	x.w.Error(errSwapDB)
}

var objectHelp = []string{
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
}

// cmdObject answers OBJECT's subcommands with plausible values: keepkv
// keeps no per-object access data (IDLETIME is 0) and runs no LFU policy
// (FREQ fails as in Redis with maxmemory-policy noeviction).
func cmdObject(x *execCtx, r *storage.Reader, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "help":
		if len(args) != 2 {
			x.w.Error(errArity("object|help"))
			return
		}
		x.w.Array(len(objectHelp) + 3)
		x.w.Status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
		for _, l := range objectHelp {
			x.w.Status(l)
		}
		x.w.Status("HELP")
		x.w.Status("    Prints this help.")
		return
	case "encoding", "refcount", "idletime", "freq":
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try OBJECT HELP.", args[1]))
		return
	}
	if len(args) != 3 {
		x.w.Error(errArity("object|" + sub))
		return
	}
	v, ok := r.Get(x.st.db, args[2], x.now)
	if !ok {
		x.w.Null()
		return
	}
	switch sub {
	case "encoding":
		x.w.BulkString(r.Encoding(v))
	case "refcount":
		x.w.Int(r.RefCount(v))
	case "idletime":
		x.w.Int(0)
	case "freq":
		x.w.Error(errNoLFU)
	}
}
