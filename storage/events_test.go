package storage

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// Keyspace notifications, as Redis 7.0 emits them.
//
// Every expectation in eventCases was recorded from a real redis-server
// 7.0.15 (Debian's /usr/bin/redis-server, "Redis server v=7.0.15"): with
// notify-keyspace-events "KEAn", one client PSUBSCRIBEd to
// __keyspace@*__:* and a marker channel while another ran the command
// named in the case after the case's setup, followed by a PUBLISH to the
// marker channel that closed the command's events; the class of each
// event came from running the same commands again with each class letter
// alone ("Kg", "K$", "Kl", "Ks", "Kh", "Kz", "Kx", "Kn"). Where Redis
// source decides (bitops.c: BITFIELD reports "setbit" when a write that
// was done changed a field or grew the string) the observation agreed.
//
// An expectation is "name class key", with "@db" after the key for a
// database other than 0.

const (
	evNow    = 10_000    // the entries' now
	evFuture = 1_000_000 // a deadline after it
	evPast   = 5_000     // a deadline before it
	// evSetupNow is the setup entries' now: a deadline of evPast+1 is
	// still ahead when the setup sets it, and passed for the command.
	evSetupNow = evPast
)

type eventCase struct {
	redis string // the Redis command observed (after the setup)
	setup []Cmd  // applied first, in an entry of their own
	cmd   Cmd
	want  []string
}

func evCmd(op Op, keys string, vals ...string) Cmd {
	c := Cmd{Op: op}
	for _, k := range strings.Fields(keys) {
		c.Keys = append(c.Keys, []byte(k))
	}
	for _, v := range vals {
		c.Vals = append(c.Vals, []byte(v))
	}
	return c
}

func withFlags(c Cmd, f Flag) Cmd     { c.Flags |= f; return c }
func withDeadline(c Cmd, d int64) Cmd { c.Deadline = d; return c }
func inDB(c Cmd, db uint8) Cmd        { c.DB = db; return c }

// evZAdd is zadd with integer scores allowed.
func evZAdd(key string, pairs ...any) Cmd {
	for i := 0; i < len(pairs); i += 2 {
		if n, ok := pairs[i].(int); ok {
			pairs[i] = float64(n)
		}
	}
	return zadd(key, pairs...)
}

func zincr(key string, s float64, m string) Cmd {
	c := evZAdd(key, s, m)
	c.Int = ZAddIncr
	return c
}

func zrem(key string, from, to int64, by ZBy) Cmd {
	z := ZRange{By: by, Start: from, Stop: to, Count: -1}
	if by == ZByScore {
		z.Min, z.Max = ZBound{Score: float64(from)}, ZBound{Score: float64(to)}
	}
	if by == ZByLex {
		z.Min, z.Max = ZBound{Inf: -1, Excl: true}, ZBound{Inf: 1, Excl: true}
	}
	return zrangeCmd(OpZRemRange, []string{key}, z)
}

func zpop(key string, n int64, max bool) Cmd {
	c := withInt(evCmd(OpZPop, key), n)
	if max {
		c.Flags = FlagGT
	}
	return c
}

func zstoreCmd(op Op, keys string) Cmd {
	c := evCmd(op, keys)
	if op == OpZRangeStore {
		ZRange{By: ZByRank, Start: 0, Stop: 1, Count: -1}.Put(&c)
	}
	return c
}

func bf(op BitfieldOpcode, off, v int64, ow BitfieldOverflow) Bitfield {
	return Bitfield{Op: op, Bits: 8, Offset: off, Value: v, Overflow: ow}
}

func eventCases() []eventCase {
	h3 := hset("h", "f", "v", "g", "w", "z", "1")
	abc := lcmd(OpRPush, "l", "a", "b", "c")
	zs := evZAdd("z", 1, "a", 2, "b", 3, "c", 4, "d")
	return []eventCase{
		// Strings.
		{"SET k v", nil, set("k", "v", 0), []string{"new n k", "set $ k"}},
		{"SET k v2", []Cmd{set("k", "v", 0)}, set("k", "v2", 0), []string{"set $ k"}},
		{"SET k v EX 100", []Cmd{set("k", "v", 0)}, set("k", "v", evFuture), []string{"set $ k", "expire g k"}},
		{"SET k v PXAT 1 (in the past: the key expires later)", nil, set("k", "v", evPast), []string{"new n k", "set $ k", "expire g k"}},
		{"SET k v PX 100000 GET", []Cmd{set("k", "v", 0)}, withFlags(set("k", "v", evFuture), FlagGet), []string{"set $ k", "expire g k"}},
		{"SET k v GET", []Cmd{set("k", "v", evFuture)}, withFlags(set("k", "v", 0), FlagGet), []string{"set $ k"}},
		{"SET k v KEEPTTL", []Cmd{set("k", "v", evFuture)}, withFlags(set("k", "v", 0), FlagKeepTTL), []string{"set $ k"}},
		{"SET k v NX (exists)", []Cmd{set("k", "v", 0)}, withFlags(set("k", "v", 0), FlagNX), nil},
		{"SETNX k2 v", nil, withFlags(set("k2", "v", 0), FlagNX), []string{"new n k2", "set $ k2"}},
		{"SET nope v XX", nil, withFlags(set("nope", "v", 0), FlagXX), nil},
		{"SET k v XX", []Cmd{set("k", "v", 0)}, withFlags(set("k", "w", 0), FlagXX), []string{"set $ k"}},
		{"SET h v (h a hash)", []Cmd{hset("h", "f", "v")}, set("h", "v", 0), []string{"set $ h"}},
		{"SET k v (k expired)", []Cmd{set("k", "v", evPast+1)}, set("k", "v", 0), []string{"expired x k", "new n k", "set $ k"}},
		{"SET k 1 GET (k a hash)", []Cmd{hset("k", "f", "v")}, withFlags(set("k", "v", 0), FlagGet), nil},
		{"MSET a 1 b 2 a 3", nil, evCmd(OpMSet, "a b a", "1", "2", "3"),
			[]string{"new n a", "set $ a", "new n b", "set $ b", "set $ a"}},
		{"MSETNX a 1 c 2 (a exists)", []Cmd{set("a", "1", 0)}, withFlags(evCmd(OpMSet, "a c", "1", "2"), FlagNX), nil},
		{"MSETNX c 1 d 2", nil, withFlags(evCmd(OpMSet, "c d", "1", "2"), FlagNX),
			[]string{"new n c", "set $ c", "new n d", "set $ d"}},
		{"INCR k", []Cmd{set("k", "1", 0)}, incr("k", 1), []string{"incrby $ k"}},
		{"DECR k (\"incrby\", as Redis)", []Cmd{set("k", "1", 0)}, incr("k", -1), []string{"incrby $ k"}},
		{"INCRBY new 1", nil, incr("new", 1), []string{"new n new", "incrby $ new"}},
		{"INCRBY n 0", []Cmd{set("n", "5", 0)}, incr("n", 0), []string{"incrby $ n"}},
		{"INCR k (not an integer)", []Cmd{set("k", "abc", 0)}, incr("k", 1), nil},
		{"INCRBYFLOAT k 1", []Cmd{set("k", "1.5", 0)}, evCmd(OpIncrByFloat, "k", "1"), []string{"incrbyfloat $ k"}},
		{"INCRBYFLOAT k 1 (not a float)", []Cmd{set("k", "abc", 0)}, evCmd(OpIncrByFloat, "k", "1"), nil},
		{"APPEND k xy", []Cmd{set("k", "v", 0)}, evCmd(OpAppend, "k", "xy"), []string{"append $ k"}},
		{"APPEND k \"\"", []Cmd{set("k", "v", 0)}, evCmd(OpAppend, "k", ""), []string{"append $ k"}},
		{"APPEND new \"\"", nil, evCmd(OpAppend, "new", ""), []string{"new n new", "append $ new"}},
		{"SETRANGE k 1 z", []Cmd{set("k", "abc", 0)}, withInt(evCmd(OpSetRange, "k", "z"), 1), []string{"setrange $ k"}},
		{"SETRANGE k 1 \"\"", []Cmd{set("k", "abc", 0)}, withInt(evCmd(OpSetRange, "k", ""), 1), nil},
		{"SETRANGE nope 1 \"\"", nil, withInt(evCmd(OpSetRange, "nope", ""), 1), nil},
		{"SETRANGE new 2 z", nil, withInt(evCmd(OpSetRange, "new", "z"), 2), []string{"new n new", "setrange $ new"}},
		{"GETDEL k", []Cmd{set("k", "v", 0)}, evCmd(OpGetDel, "k"), []string{"del g k"}},
		{"GETDEL k (missing)", nil, evCmd(OpGetDel, "k"), nil},
		{"GETEX k", []Cmd{set("k", "v", evFuture)}, evCmd(OpGetEx, "k"), nil},
		{"GETEX k PERSIST", []Cmd{set("k", "v", evFuture)}, withFlags(evCmd(OpGetEx, "k"), FlagPersist), []string{"persist g k"}},
		{"GETEX k PERSIST (no TTL)", []Cmd{set("k", "v", 0)}, withFlags(evCmd(OpGetEx, "k"), FlagPersist), nil},
		{"GETEX k EX 200", []Cmd{set("k", "v", 0)}, withDeadline(evCmd(OpGetEx, "k"), evFuture), []string{"expire g k"}},
		{"GETEX k PXAT 1", []Cmd{set("k", "v", 0)}, withDeadline(evCmd(OpGetEx, "k"), evPast), []string{"del g k"}},
		{"GETEX nokey EX 5", nil, withDeadline(evCmd(OpGetEx, "nokey"), evFuture), nil},

		// Generic.
		{"DEL a b nope c", []Cmd{set("a", "1", 0), set("b", "1", 0), sadd("c", "x")}, evCmd(OpDel, "a b nope c"),
			[]string{"del g a", "del g b", "del g c"}},
		{"DEL k (k expired)", []Cmd{set("k", "v", evPast+1)}, evCmd(OpDel, "k"), []string{"expired x k"}},
		{"EXPIRE k 100", []Cmd{set("k", "v", 0)}, withDeadline(evCmd(OpExpire, "k"), evFuture), []string{"expire g k"}},
		{"EXPIRE k 100 NX (has a TTL)", []Cmd{set("k", "v", evFuture)}, withFlags(withDeadline(evCmd(OpExpire, "k"), evFuture+1), FlagNX), nil},
		{"EXPIRE k 200 GT", []Cmd{set("k", "v", evFuture)}, withFlags(withDeadline(evCmd(OpExpire, "k"), evFuture+1), FlagGT), []string{"expire g k"}},
		{"EXPIRE nope 10", nil, withDeadline(evCmd(OpExpire, "nope"), evFuture), nil},
		{"EXPIRE k 0", []Cmd{set("k", "v", 0)}, withDeadline(evCmd(OpExpire, "k"), evNow), []string{"del g k"}},
		{"PEXPIREAT k 1", []Cmd{hset("k", "f", "v")}, withDeadline(evCmd(OpExpire, "k"), evPast), []string{"del g k"}},
		{"PERSIST k", []Cmd{set("k", "v", evFuture)}, evCmd(OpPersist, "k"), []string{"persist g k"}},
		{"PERSIST k (no TTL)", []Cmd{set("k", "v", 0)}, evCmd(OpPersist, "k"), nil},
		{"RENAME k s", []Cmd{set("k", "v", evFuture)}, evCmd(OpRename, "k s"),
			[]string{"new n s", "rename_from g k", "rename_to g s"}},
		{"RENAME k s (s exists)", []Cmd{set("k", "v", evFuture), set("s", "v", 0)}, evCmd(OpRename, "k s"),
			[]string{"new n s", "rename_from g k", "rename_to g s"}},
		{"RENAME h v (a hash onto a hash)", []Cmd{hset("h", "f", "v"), hset("v", "g", "w")}, evCmd(OpRename, "h v"),
			[]string{"new n v", "rename_from g h", "rename_to g v"}},
		{"RENAME s s", []Cmd{set("s", "v", 0)}, evCmd(OpRename, "s s"), nil},
		{"RENAME nope x", nil, evCmd(OpRename, "nope x"), nil},
		{"RENAME k x (k expired)", []Cmd{set("k", "v", evPast+1)}, evCmd(OpRename, "k x"), []string{"expired x k"}},
		{"RENAMENX k s (s exists)", []Cmd{set("k", "v", 0), set("s", "v", 0)}, withFlags(evCmd(OpRename, "k s"), FlagNX), nil},
		{"RENAMENX t u", []Cmd{set("t", "v", 0)}, withFlags(evCmd(OpRename, "t u"), FlagNX),
			[]string{"new n u", "rename_from g t", "rename_to g u"}},
		{"COPY u v", []Cmd{set("u", "v", 0)}, copyCmd("u", "v", 0, false), []string{"new n v", "copy_to g v"}},
		{"COPY u v (v exists)", []Cmd{set("u", "v", 0), set("v", "v", 0)}, copyCmd("u", "v", 0, false), nil},
		{"COPY u v REPLACE", []Cmd{set("u", "v", 0), set("v", "v", 0)}, copyCmd("u", "v", 0, true), []string{"new n v", "copy_to g v"}},
		{"COPY h v REPLACE (a hash)", []Cmd{hset("h", "f", "v"), sadd("v", "x")}, copyCmd("h", "v", 0, true), []string{"new n v", "copy_to g v"}},
		{"COPY u v DB 1", []Cmd{set("u", "v", 0)}, copyCmd("u", "v", 1, false), []string{"new n v@1", "copy_to g v@1"}},
		{"COPY u u", []Cmd{set("u", "v", 0)}, copyCmd("u", "u", 0, false), nil},
		{"COPY nope x", nil, copyCmd("nope", "x", 0, false), nil},
		{"MOVE m 1", []Cmd{set("m", "v", evFuture)}, moveCmd("m", 1), []string{"new n m@1", "move_from g m", "move_to g m@1"}},
		{"SELECT 2; MOVE m 0", []Cmd{inDB(sadd("m", "a"), 2)}, inDB(moveCmd("m", 0), 2), []string{"new n m", "move_from g m@2", "move_to g m"}},
		{"MOVE u 1 (u exists in 1)", []Cmd{set("u", "v", 0), inDB(set("u", "w", 0), 1)}, moveCmd("u", 1), nil},
		{"MOVE nope 1", nil, moveCmd("nope", 1), nil},
		{"FLUSHDB", []Cmd{set("k", "v", 0), hset("h", "f", "v")}, evCmd(OpFlushDB, ""), nil},
		{"FLUSHALL", []Cmd{set("k", "v", 0), inDB(hset("h", "f", "v"), 1)}, evCmd(OpFlushAll, ""), nil},
		{"(active expiry of k)", []Cmd{set("k", "v", evPast+1)}, withDeadline(evCmd(OpExpireIf, "k"), evPast+1), []string{"expired x k"}},
		{"(active expiry of h)", []Cmd{hset("h", "f", "v"), withDeadline(evCmd(OpExpire, "h"), evPast+1)}, withDeadline(evCmd(OpExpireIf, "h"), evPast+1), []string{"expired x h"}},
		{"(active expiry, deadline moved)", []Cmd{set("k", "v", evFuture)}, withDeadline(evCmd(OpExpireIf, "k"), evPast+1), nil},
		{"(garbage collection)", []Cmd{sadd("s", "a"), evCmd(OpDel, "s")}, withInt(evCmd(OpGC, ""), 100), nil},

		// Hashes.
		{"HSET h f v g w", nil, hset("h", "f", "v", "g", "w"), []string{"new n h", "hset h h"}},
		{"HSET h f v (no change)", []Cmd{h3}, hset("h", "f", "v"), []string{"hset h h"}},
		{"HMSET h f y z 1", []Cmd{h3}, hset("h", "f", "y", "z", "1"), []string{"hset h h"}},
		{"HSETNX h f v (exists)", []Cmd{h3}, withFlags(hset("h", "f", "v"), FlagNX), nil},
		{"HSETNX h n v", []Cmd{h3}, withFlags(hset("h", "n", "v"), FlagNX), []string{"hset h h"}},
		{"HSET k f v (k a string)", []Cmd{set("k", "v", 0)}, hset("k", "f", "v"), nil},
		{"HSET k f v (k expired)", []Cmd{set("k", "v", evPast+1)}, hset("k", "f", "v"), []string{"expired x k", "new n k", "hset h k"}},
		{"HDEL h nope", []Cmd{h3}, evCmd(OpHDel, "h", "nope"), nil},
		{"HDEL h nope f", []Cmd{h3}, evCmd(OpHDel, "h", "nope", "f"), []string{"hdel h h"}},
		{"HDEL h f g z", []Cmd{h3}, evCmd(OpHDel, "h", "f", "g", "z"), []string{"hdel h h", "del g h"}},
		{"HDEL nope f", nil, evCmd(OpHDel, "nope", "f"), nil},
		{"HINCRBY h z 2", []Cmd{h3}, withInt(evCmd(OpHIncrBy, "h", "z"), 2), []string{"hincrby h h"}},
		{"HINCRBY h z 0", []Cmd{h3}, withInt(evCmd(OpHIncrBy, "h", "z"), 0), []string{"hincrby h h"}},
		{"HINCRBY h2 z 0", nil, withInt(evCmd(OpHIncrBy, "h2", "z"), 0), []string{"new n h2", "hincrby h h2"}},
		{"HINCRBY h f 1 (not an integer)", []Cmd{h3}, withInt(evCmd(OpHIncrBy, "h", "f"), 1), nil},
		{"HINCRBYFLOAT h z 1.5", []Cmd{h3}, evCmd(OpHIncrByFloat, "h", "z", "1.5"), []string{"hincrbyfloat h h"}},
		{"HINCRBYFLOAT h3 z 0", nil, evCmd(OpHIncrByFloat, "h3", "z", "0"), []string{"new n h3", "hincrbyfloat h h3"}},

		// Sets.
		{"SADD s a b", nil, sadd("s", "a", "b"), []string{"new n s", "sadd s s"}},
		{"SADD s a (a member)", []Cmd{sadd("s", "a", "b")}, sadd("s", "a"), nil},
		{"SADD s c a", []Cmd{sadd("s", "a", "b")}, sadd("s", "c", "a"), []string{"sadd s s"}},
		{"SREM s nope", []Cmd{sadd("s", "a", "b")}, srem("s", "nope"), nil},
		{"SREM s a x", []Cmd{sadd("s", "a", "b")}, srem("s", "a", "x"), []string{"srem s s"}},
		{"SREM s a b", []Cmd{sadd("s", "a", "b")}, srem("s", "a", "b"), []string{"srem s s", "del g s"}},
		{"SPOP s", []Cmd{sadd("s", "a", "b", "c")}, spop("s", -1, 7), []string{"spop s s"}},
		{"SPOP s (last member)", []Cmd{sadd("s", "a")}, spop("s", -1, 7), []string{"spop s s", "del g s"}},
		{"SPOP nope", nil, spop("nope", -1, 7), nil},
		{"SPOP s 0", []Cmd{sadd("s", "a", "b", "c")}, spop("s", 0, 7), nil},
		{"SPOP s 1", []Cmd{sadd("s", "a", "b", "c")}, spop("s", 1, 7), []string{"spop s s"}},
		{"SPOP s 3", []Cmd{sadd("s", "a", "b", "c")}, spop("s", 3, 7), []string{"spop s s", "del g s"}},
		{"SPOP s 5", []Cmd{sadd("s", "a", "b", "c")}, spop("s", 5, 7), []string{"spop s s", "del g s"}},
		{"SMOVE s d a", []Cmd{sadd("s", "a", "b"), sadd("d", "x")}, smove("s", "d", "a"), []string{"srem s s", "sadd s d"}},
		{"SMOVE s d a (s left empty, d new)", []Cmd{sadd("s", "a")}, smove("s", "d", "a"),
			[]string{"srem s s", "del g s", "new n d", "sadd s d"}},
		{"SMOVE s d b (d has b)", []Cmd{sadd("s", "a", "b"), sadd("d", "b")}, smove("s", "d", "b"), []string{"srem s s"}},
		{"SMOVE s d nope", []Cmd{sadd("s", "a", "b")}, smove("s", "d", "nope"), nil},
		{"SMOVE s s a", []Cmd{sadd("s", "a", "b")}, smove("s", "s", "a"), nil},
		{"SMOVE nope d c", nil, smove("nope", "d", "c"), nil},
		{"SINTERSTORE dst s t", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d")}, sstore(OpSInterStore, "dst", "s", "t"),
			[]string{"new n dst", "sinterstore s dst"}},
		{"SINTERSTORE dst s t (dst exists, with a TTL)", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d"), set("dst", "v", evFuture)},
			sstore(OpSInterStore, "dst", "s", "t"), []string{"sinterstore s dst"}},
		{"SINTERSTORE dst s t (dst expired)", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d"), set("dst", "v", evPast+1)},
			sstore(OpSInterStore, "dst", "s", "t"), []string{"expired x dst", "new n dst", "sinterstore s dst"}},
		{"SINTERSTORE s s t", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d")}, sstore(OpSInterStore, "s", "s", "t"),
			[]string{"sinterstore s s"}},
		{"SUNIONSTORE dst s t", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d"), sadd("dst", "x")}, sstore(OpSUnionStore, "dst", "s", "t"),
			[]string{"sunionstore s dst"}},
		{"SDIFFSTORE dst s t", []Cmd{sadd("s", "a", "b", "c"), sadd("t", "b", "c", "d")}, sstore(OpSDiffStore, "dst", "s", "t"),
			[]string{"new n dst", "sdiffstore s dst"}},
		{"SDIFFSTORE dst s s", []Cmd{sadd("s", "a"), sadd("dst", "x")}, sstore(OpSDiffStore, "dst", "s", "s"), []string{"del g dst"}},
		{"SDIFFSTORE dst s s (no dst)", []Cmd{sadd("s", "a")}, sstore(OpSDiffStore, "dst", "s", "s"), nil},
		{"SINTERSTORE dst nope", []Cmd{set("dst", "v", evFuture)}, sstore(OpSInterStore, "dst", "nope"), []string{"del g dst"}},

		// Sorted sets.
		{"ZADD z 1 a 2 b", nil, evZAdd("z", 1, "a", 2, "b"), []string{"new n z", "zadd z z"}},
		{"ZADD z 1 a (same score)", []Cmd{evZAdd("z", 1, "a", 2, "b")}, evZAdd("z", 1, "a"), nil},
		{"ZADD z 3 a", []Cmd{evZAdd("z", 1, "a", 2, "b")}, evZAdd("z", 3, "a"), []string{"zadd z z"}},
		{"ZADD z NX 5 a", []Cmd{evZAdd("z", 1, "a", 2, "b")}, withFlags(evZAdd("z", 5, "a"), FlagNX), nil},
		{"ZADD z XX 5 new", []Cmd{evZAdd("z", 1, "a", 2, "b")}, withFlags(evZAdd("z", 5, "new"), FlagXX), nil},
		{"ZADD z2 XX 1 a", nil, withFlags(evZAdd("z2", 1, "a"), FlagXX), nil},
		{"ZADD z GT 1 a", []Cmd{evZAdd("z", 2, "a")}, withFlags(evZAdd("z", 1, "a"), FlagGT), nil},
		{"ZADD z GT 2 b", []Cmd{evZAdd("z", 1, "a")}, withFlags(evZAdd("z", 2, "b"), FlagGT), []string{"zadd z z"}},
		{"ZADD z CH 7 a 1 c", []Cmd{evZAdd("z", 1, "a", 2, "b")}, withInt(evZAdd("z", 7, "a", 1, "c"), ZAddCH), []string{"zadd z z"}},
		{"ZADD z INCR 1 a", []Cmd{evZAdd("z", 1, "a")}, zincr("z", 1, "a"), []string{"zincr z z"}},
		{"ZINCRBY z 0 a", []Cmd{evZAdd("z", 1, "a")}, zincr("z", 0, "a"), nil},
		{"ZADD z NX INCR 1 a", []Cmd{evZAdd("z", 1, "a")}, withFlags(zincr("z", 1, "a"), FlagNX), nil},
		{"ZINCRBY z4 1 a", nil, zincr("z4", 1, "a"), []string{"new n z4", "zincr z z4"}},
		{"ZADD z INCR -inf a (NaN)", []Cmd{evZAdd("z", math.Inf(1), "a")}, zincr("z", math.Inf(-1), "a"), nil},
		{"ZREM z nope", []Cmd{evZAdd("z", 1, "a", 2, "b")}, zcmd(OpZRem, "z", "nope"), nil},
		{"ZREM z a nope", []Cmd{evZAdd("z", 1, "a", 2, "b")}, zcmd(OpZRem, "z", "a", "nope"), []string{"zrem z z"}},
		{"ZREM z a b", []Cmd{evZAdd("z", 1, "a", 2, "b")}, zcmd(OpZRem, "z", "a", "b"), []string{"zrem z z", "del g z"}},
		{"ZREMRANGEBYSCORE z 10 20", []Cmd{zs}, zrem("z", 10, 20, ZByScore), nil},
		{"ZREMRANGEBYSCORE z 1 1", []Cmd{zs}, zrem("z", 1, 1, ZByScore), []string{"zremrangebyscore z z"}},
		{"ZREMRANGEBYRANK z 0 0", []Cmd{zs}, zrem("z", 0, 0, ZByRank), []string{"zremrangebyrank z z"}},
		{"ZREMRANGEBYLEX z - +", []Cmd{zs}, zrem("z", 0, 0, ZByLex), []string{"zremrangebylex z z", "del g z"}},
		{"ZREMRANGEBYRANK nope 0 0", nil, zrem("nope", 0, 0, ZByRank), nil},
		{"ZPOPMIN z", []Cmd{zs}, zpop("z", 1, false), []string{"zpopmin z z"}},
		{"ZPOPMAX z", []Cmd{zs}, zpop("z", 1, true), []string{"zpopmax z z"}},
		{"ZPOPMIN z 0", []Cmd{zs}, zpop("z", 0, false), nil},
		{"ZPOPMIN nope", nil, zpop("nope", 1, false), nil},
		{"ZPOPMIN z 5", []Cmd{zs}, zpop("z", 5, false), []string{"zpopmin z z", "del g z"}},
		{"BZPOPMAX y z 1 (y missing)", []Cmd{zs}, zpop("y z", 1, true), []string{"zpopmax z z"}},
		{"ZRANGESTORE dst z 0 1", []Cmd{zs}, zstoreCmd(OpZRangeStore, "dst z"), []string{"new n dst", "zrangestore z dst"}},
		{"ZRANGESTORE dst z 0 1 (dst exists)", []Cmd{zs, set("dst", "v", evFuture)}, zstoreCmd(OpZRangeStore, "dst z"), []string{"zrangestore z dst"}},
		{"ZRANGESTORE dst nope 0 1", []Cmd{set("dst", "v", 0)}, zstoreCmd(OpZRangeStore, "dst nope"), []string{"del g dst"}},
		{"ZRANGESTORE dst nope 0 1 (no dst)", nil, zstoreCmd(OpZRangeStore, "dst nope"), nil},
		{"ZUNIONSTORE dst 2 z s", []Cmd{zs, sadd("s", "a", "x")}, zstoreCmd(OpZUnionStore, "dst z s"), []string{"new n dst", "zunionstore z dst"}},
		{"ZINTERSTORE z 2 z y", []Cmd{zs, evZAdd("y", 2, "b", 5, "e")}, zstoreCmd(OpZInterStore, "z z y"), []string{"zinterstore z z"}},
		{"ZDIFFSTORE dst 2 z y", []Cmd{zs, evZAdd("y", 2, "b"), evZAdd("dst", 1, "q")}, zstoreCmd(OpZDiffStore, "dst z y"), []string{"zdiffstore z dst"}},
		{"ZDIFFSTORE dst 2 z z", []Cmd{zs, evZAdd("dst", 1, "q")}, zstoreCmd(OpZDiffStore, "dst z z"), []string{"del g dst"}},
		{"ZUNIONSTORE dst 1 nope", nil, zstoreCmd(OpZUnionStore, "dst nope"), nil},

		// Lists.
		{"LPUSH l a b", nil, lcmd(OpLPush, "l", "a", "b"), []string{"new n l", "lpush l l"}},
		{"RPUSH l c", []Cmd{abc}, lcmd(OpRPush, "l", "c"), []string{"rpush l l"}},
		{"LPUSHX l d", []Cmd{abc}, withFlags(lcmd(OpLPush, "l", "d"), FlagXX), []string{"lpush l l"}},
		{"RPUSHX nope d", nil, withFlags(lcmd(OpRPush, "nope", "d"), FlagXX), nil},
		{"LPOP l", []Cmd{abc}, withInt(lcmd(OpLPop, "l"), -1), []string{"lpop l l"}},
		{"RPOP l", []Cmd{abc}, withInt(lcmd(OpRPop, "l"), -1), []string{"rpop l l"}},
		{"LPOP l 0", []Cmd{abc}, withInt(lcmd(OpLPop, "l"), 0), nil},
		{"LPOP l 2", []Cmd{abc}, withInt(lcmd(OpLPop, "l"), 2), []string{"lpop l l"}},
		{"RPOP l 5", []Cmd{abc}, withInt(lcmd(OpRPop, "l"), 5), []string{"rpop l l", "del g l"}},
		{"LPOP nope", nil, withInt(lcmd(OpLPop, "nope"), -1), nil},
		{"BLPOP nope l 1", []Cmd{abc}, evCmd(OpBLPop, "nope l"), []string{"lpop l l"}},
		{"BRPOP l 1 (last element)", []Cmd{lcmd(OpRPush, "l", "a")}, evCmd(OpBRPop, "l"), []string{"rpop l l", "del g l"}},
		{"BLPOP nope 1", nil, evCmd(OpBLPop, "nope"), nil},
		{"LMOVE l m LEFT RIGHT", []Cmd{abc}, lmoveCmd("l", "m", LMoveToRight), []string{"new n m", "rpush l m", "lpop l l"}},
		{"LMOVE l m RIGHT LEFT", []Cmd{abc, lcmd(OpRPush, "m", "x")}, lmoveCmd("l", "m", LMoveFromRight), []string{"lpush l m", "rpop l l"}},
		{"LMOVE l m LEFT LEFT (last element)", []Cmd{lcmd(OpRPush, "l", "a"), lcmd(OpRPush, "m", "x")}, lmoveCmd("l", "m", 0),
			[]string{"lpush l m", "lpop l l", "del g l"}},
		{"RPOPLPUSH m l (l new)", []Cmd{lcmd(OpRPush, "m", "a", "b")}, lmoveCmd("m", "l", LMoveFromRight), []string{"new n l", "lpush l l", "rpop l m"}},
		{"LMOVE l l LEFT RIGHT", []Cmd{abc}, lmoveCmd("l", "l", LMoveToRight), []string{"rpush l l", "lpop l l"}},
		{"LMOVE one one LEFT LEFT", []Cmd{lcmd(OpRPush, "one", "a")}, lmoveCmd("one", "one", 0), []string{"lpush l one", "lpop l one"}},
		{"LMOVE nope m LEFT LEFT", nil, lmoveCmd("nope", "m", 0), nil},
		{"LSET l 0 x", []Cmd{abc}, withInt(lcmd(OpLSet, "l", "x"), 0), []string{"lset l l"}},
		{"LSET l 0 a (same value)", []Cmd{abc}, withInt(lcmd(OpLSet, "l", "a"), 0), []string{"lset l l"}},
		{"LSET l 9 x", []Cmd{abc}, withInt(lcmd(OpLSet, "l", "x"), 9), nil},
		{"LSET nope 0 x", nil, withInt(lcmd(OpLSet, "nope", "x"), 0), nil},
		{"LINSERT l BEFORE b y", []Cmd{abc}, withInt(lcmd(OpLInsert, "l", "b", "y"), 0), []string{"linsert l l"}},
		{"LINSERT l AFTER c z", []Cmd{abc}, withInt(lcmd(OpLInsert, "l", "c", "z"), 1), []string{"linsert l l"}},
		{"LINSERT l AFTER nope z", []Cmd{abc}, withInt(lcmd(OpLInsert, "l", "nope", "z"), 1), nil},
		{"LINSERT nope AFTER nope z", nil, withInt(lcmd(OpLInsert, "nope", "nope", "z"), 1), nil},
		{"LREM l 0 nope", []Cmd{abc}, lcmd(OpLRem, "l", "nope"), nil},
		{"LREM l 1 b", []Cmd{abc}, withInt(lcmd(OpLRem, "l", "b"), 1), []string{"lrem l l"}},
		{"LREM l 0 a (every element)", []Cmd{lcmd(OpRPush, "l", "a", "a")}, lcmd(OpLRem, "l", "a"), []string{"lrem l l", "del g l"}},
		{"LREM nope 0 y", nil, lcmd(OpLRem, "nope", "y"), nil},
		{"LTRIM l 0 -1", []Cmd{abc}, withLimit(lcmd(OpLTrim, "l"), -1), []string{"ltrim l l"}},
		{"LTRIM l 0 0", []Cmd{abc}, lcmd(OpLTrim, "l"), []string{"ltrim l l"}},
		{"LTRIM l 5 10", []Cmd{abc}, withLimit(withInt(lcmd(OpLTrim, "l"), 5), 10), []string{"ltrim l l", "del g l"}},
		{"LTRIM nope 0 1", nil, withLimit(lcmd(OpLTrim, "nope"), 1), nil},

		// Bits.
		{"SETBIT b 7 1", nil, setBit("b", 7, '1', 0), []string{"new n b", "setbit $ b"}},
		{"SETBIT b 7 1 (already set)", []Cmd{setBit("b", 7, '1', 0)}, setBit("b", 7, '1', 0), nil},
		{"SETBIT b 7 0", []Cmd{setBit("b", 7, '1', 0)}, setBit("b", 7, '0', 0), []string{"setbit $ b"}},
		{"SETBIT b 100 0 (grows)", []Cmd{setBit("b", 7, '1', 0)}, setBit("b", 100, '0', 0), []string{"setbit $ b"}},
		{"SETBIT nb 3 0", nil, setBit("nb", 3, '0', 0), []string{"new n nb", "setbit $ nb"}},
		{"BITOP AND dst x1 x2", []Cmd{set("x1", "abc", 0), set("x2", "abd", 0)}, bitOp(BitAnd, "dst", "x1", "x2"), []string{"new n dst", "set $ dst"}},
		{"BITOP NOT dst x1 (dst exists)", []Cmd{set("x1", "abc", 0), set("dst", "v", evFuture)}, bitOp(BitNot, "dst", "x1"), []string{"set $ dst"}},
		{"BITOP AND dst nope nope2", []Cmd{set("dst", "v", evFuture)}, bitOp(BitAnd, "dst", "nope", "nope2"), []string{"del g dst"}},
		{"BITOP AND dst nope nope2 (no dst)", nil, bitOp(BitAnd, "dst", "nope", "nope2"), nil},
		{"BITFIELD bf GET u8 0", nil, bitField("bf", 0, bf(BitfieldGet, 0, 0, OverflowWrap)), nil},
		{"BITFIELD bf SET u8 0 1", nil, bitField("bf", 0, bf(BitfieldSet, 0, 1, OverflowWrap)), []string{"new n bf", "setbit $ bf"}},
		{"BITFIELD bf SET u8 0 1 (same value)", []Cmd{set("bf", "\x01", 0)}, bitField("bf", 0, bf(BitfieldSet, 0, 1, OverflowWrap)), nil},
		{"BITFIELD bf INCRBY u8 0 0", []Cmd{set("bf", "\x01", 0)}, bitField("bf", 0, bf(BitfieldIncrBy, 0, 0, OverflowWrap)), nil},
		{"BITFIELD bf SET u8 200 0 (grows)", []Cmd{set("bf", "a", 0)}, bitField("bf", 0, bf(BitfieldSet, 200, 0, OverflowWrap)), []string{"setbit $ bf"}},
		{"BITFIELD bf OVERFLOW FAIL INCRBY u8 300 300 (grows, refused)", []Cmd{set("bf", "a", 0)},
			bitField("bf", 0, bf(BitfieldIncrBy, 300, 300, OverflowFail)), nil},
		{"BITFIELD nbf OVERFLOW FAIL INCRBY u8 0 300 (creates, refused)", nil,
			bitField("nbf", 0, bf(BitfieldIncrBy, 0, 300, OverflowFail)), []string{"new n nbf"}},
		{"BITFIELD nbf INCRBY u8 0 0", nil, bitField("nbf", 0, bf(BitfieldIncrBy, 0, 0, OverflowWrap)), []string{"new n nbf", "setbit $ nbf"}},
		{"BITFIELD nbf OVERFLOW FAIL INCRBY u8 0 255 INCRBY u8 0 300", nil,
			bitField("nbf", 0, bf(BitfieldIncrBy, 0, 255, OverflowFail), bf(BitfieldIncrBy, 0, 300, OverflowFail)), []string{"new n nbf", "setbit $ nbf"}},

		// The transaction family: PUBLISH is a message, not a key event;
		// settings and sys entries report nothing; EXEC and SCRIPT are
		// covered with their commands by TestEventsOfExecAndScripts.
		{"PUBLISH ch hi", nil, evCmd(OpPublish, "ch", "hi"), []string{"PUBLISH ch hi"}},
		{"CONFIG SET", nil, evCmd(OpConfigSet, "some-setting", "x"), nil},
		{"SCRIPT LOAD", nil, evCmd(OpSysSet, "s1234", "return 1"), nil},
		{"EXEC (a watched key changed)", []Cmd{set("w", "1", 0)}, execCmd(t0mark("w"), set("k", "v", 0)), nil},
		{"MULTI; SET k v; HSET h f v; EXEC", nil, execCmd(nil, set("k", "v", 0), hset("h", "f", "v")),
			[]string{"new n k", "set $ k", "new n h", "hset h h"}},
		{"EVAL (a script that sets k)", nil, scriptCmd(false, set("k", "v", 0)), []string{"new n k", "set $ k"}},
	}
}

// t0mark is a WATCH mark of key taken at index 0, before any write: an
// EXEC carrying it is aborted once the key was written.
func t0mark(key string) []WatchMark {
	return []WatchMark{{Key: []byte(key), Index: 0, Live: false}}
}

// execCmd is an OpExec of cmds, each one an encoded Entry for evExec.
func execCmd(marks []WatchMark, cmds ...Cmd) Cmd {
	keys, val := EncodeWatchMarks(marks)
	c := Cmd{Op: OpExec, Keys: keys, Vals: [][]byte{val}}
	for _, x := range cmds {
		e := Entry{Cmds: []Cmd{x}}
		c.Vals = append(c.Vals, e.Encode())
	}
	return c
}

// scriptCmd is an OpScript that runs cmds and, with fail, then fails and
// rolls them back (a script raising an error after its writes).
func scriptCmd(fail bool, cmds ...Cmd) Cmd {
	c := Cmd{Op: OpScript}
	if fail {
		c.Int = 1
	}
	for _, x := range cmds {
		e := Entry{Cmds: []Cmd{x}}
		c.Vals = append(c.Vals, e.Encode())
	}
	return c
}

// evExec is the test's command engine: OpExec runs Vals[1:], OpScript
// runs Vals and with Int 1 rolls them back.
func evExec(t *Txn, c *Cmd) Result {
	vals := c.Vals
	if c.Op == OpExec {
		vals = vals[1:]
	}
	sp := t.Save()
	var out []Result
	for _, v := range vals {
		e, err := DecodeEntry(v)
		if err != nil {
			return errResult(err)
		}
		out = append(out, t.Apply(e.Cmds[0]))
	}
	if c.Op == OpScript && c.Int == 1 {
		t.RollbackTo(sp)
		return errResult(CmdError("ERR script failed"))
	}
	return arrayResult(out)
}

// eventsText renders events as the cases write them.
func eventsText(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == EventPublish {
			out = append(out, fmt.Sprintf("PUBLISH %s %s", e.Key, e.Payload))
			continue
		}
		s := fmt.Sprintf("%s %c %s", e.Name, e.Class, e.Key)
		if e.DB != 0 {
			s += fmt.Sprintf("@%d", e.DB)
		}
		out = append(out, s)
	}
	return out
}

// eventRunner applies cases to one store: each case after a FLUSHALL that
// sets notify-keyspace-events, its setup in one entry (at evSetupNow, so
// that a deadline between it and evNow expires in between), its command
// in the next.
type eventRunner struct {
	t   *testing.T
	db  *DB
	idx uint64
}

func newEventRunner(t *testing.T) *eventRunner {
	db := mustOpen(t)
	db.SetExec(evExec)
	return &eventRunner{t: t, db: db}
}

func (r *eventRunner) apply(now int64, cmds ...Cmd) Applied {
	r.t.Helper()
	r.idx++
	return mustApply(r.t, r.db, LogEntry{Index: r.idx, Data: entry(now, cmds...)})
}

// run applies c with notify-keyspace-events flags and returns its
// command's events and result.
func (r *eventRunner) run(c eventCase, flags string) ([]Event, Result) {
	r.t.Helper()
	setup := append([]Cmd{{Op: OpFlushAll}, evCmd(OpConfigSet, ConfigNotify, flags)}, c.setup...)
	out := r.apply(evSetupNow, setup...)
	for i, res := range out.Results[0] {
		if res.Kind == ResultErr {
			r.t.Fatalf("%s: setup command %d (%s) failed: %v", c.redis, i, setup[i].Op, res.Err)
		}
	}
	out = r.apply(evNow, c.cmd)
	return out.Events, out.Results[0][0]
}

func TestKeyspaceEventsMatchRedis(t *testing.T) {
	r := newEventRunner(t)
	for _, c := range eventCases() {
		evs, res := r.run(c, "KEAn")
		if got := eventsText(evs); !slices.Equal(got, c.want) {
			t.Errorf("%s: events %q, want %q (result %s)", c.redis, got, c.want, resultText(res))
		}
		for _, e := range evs {
			if want, _ := ParseNotifyFlags("KEAn"); e.Kind == EventKey && e.Flags != want {
				t.Errorf("%s: event %s carries flags %s, want KEAn", c.redis, e.Name, e.Flags)
			}
		}
		// Without "n" (as "KEA"), the same events less "new".
		evs, _ = r.run(c, "KEA")
		var want []string
		for _, w := range c.want {
			if !strings.Contains(w, " n ") {
				want = append(want, w)
			}
		}
		if got := eventsText(evs); !slices.Equal(got, want) {
			t.Errorf("%s with KEA: events %q, want %q", c.redis, got, want)
		}
	}
}

// Every op storage defines has a case, so that a new write op cannot
// come without its events.
func TestEveryOpHasAnEventCase(t *testing.T) {
	covered := map[Op]bool{}
	for _, c := range eventCases() {
		covered[c.cmd.Op] = true
	}
	for o := Op(1); o < opMax; o++ {
		if strings.HasPrefix(o.String(), "op(") {
			continue // no such op
		}
		if !covered[o] {
			t.Errorf("op %s has no case in eventCases", o)
		}
	}
}

// notify-keyspace-events filters by class, and needs K or E; every key
// event is still a modification (WATCH, tracking) whatever the flags.
func TestKeyspaceEventFlagsFilter(t *testing.T) {
	r := newEventRunner(t)
	mixed := eventCase{redis: "MULTI of every family", cmd: execCmd(nil,
		set("k", "v", evFuture), hset("h", "f", "v"), sadd("s", "a"), evZAdd("z", 1, "a"),
		lcmd(OpRPush, "l", "a"), evCmd(OpDel, "k"), set("gone", "v", evPast+1), incr("gone", 1))}
	all, _ := r.run(mixed, "KEAn")
	classes := map[byte]bool{}
	for _, e := range all {
		classes[e.Class] = true
	}
	if len(classes) != 8 { // g $ h s z l x n
		t.Fatalf("KEAn: %q, want events of 8 classes", eventsText(all))
	}
	for _, flags := range []string{"", "K", "E", "A", "Kh", "Eh", "Kg$", "Kx", "Kn", "Ksz", "Kl", "KEA", "KA", "AK", "Ehn"} {
		f, ok := ParseNotifyFlags(flags)
		if !ok {
			t.Fatalf("flags %q refused", flags)
		}
		var want []string
		for _, e := range all {
			if f.has(e.Class) {
				want = append(want, eventsText([]Event{e})[0])
			}
		}
		evs, _ := r.run(mixed, flags)
		got := eventsText(evs)
		if !slices.Equal(got, want) {
			t.Errorf("flags %q: events %q, want %q", flags, got, want)
		}
		for _, e := range evs {
			if e.Flags != f {
				t.Errorf("flags %q: event %s carries %s", flags, e.Name, e.Flags)
			}
		}
		if flags == "Kh" && !slices.Equal(got, []string{"hset h h"}) {
			t.Errorf("Kh: %q, want only the hash event", got)
		}
		if (flags == "" || flags == "A" || flags == "K") && len(got) != 0 {
			t.Errorf("flags %q: %q, want none", flags, got)
		}
	}
	// A key event touches the key whatever the flags: LSET changes no
	// record header, only its event marks the list modified.
	r.run(eventCase{setup: []Cmd{lcmd(OpRPush, "l", "a")}, cmd: evCmd(OpGetDel, "nothing")}, "")
	out := r.apply(evNow, withInt(lcmd(OpLSet, "l", "b"), 0))
	if len(out.Events) != 0 || len(out.Touched) != 1 || string(out.Touched[0].Key) != "l" {
		t.Fatalf("LSET with no flags: events %q touched %+v", eventsText(out.Events), out.Touched)
	}
}

// A command that is rolled back reports nothing: one that panics after
// writes (the journal undoes them), and a script that fails after its
// writes.
func TestRolledBackCommandReportsNoEvents(t *testing.T) {
	r := newEventRunner(t)
	r.run(eventCase{cmd: set("x", "1", 0)}, "KEAn")
	writes := 0
	r.db.testHook = func(op Op) {
		if op == OpMSet {
			if writes++; writes == 3 {
				panic("injected")
			}
		}
	}
	mset := evCmd(OpMSet, "m1 m2 m3", "1", "2", "3")
	out := r.apply(evNow, set("before", "v", 0), mset, hset("after", "f", "v"))
	r.db.testHook = nil
	if res := out.Results[0][1]; res.Kind != ResultErr {
		t.Fatalf("MSET did not fail: %s", resultText(res))
	}
	want := []string{"new n before", "set $ before", "new n after", "hset h after"}
	if got := eventsText(out.Events); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q (the rolled-back MSET's dropped)", got, want)
	}
	if writes != 3 {
		t.Fatalf("the hook saw %d MSET writes, want 3", writes)
	}
	for _, k := range out.Touched {
		if strings.HasPrefix(string(k.Key), "m") {
			t.Fatalf("rolled-back MSET left %s touched", k.Key)
		}
	}

	out = r.apply(evNow, scriptCmd(true, set("k", "v", 0), sadd("s", "a")), set("z", "v", 0))
	if res := out.Results[0][0]; res.Kind != ResultErr {
		t.Fatalf("script did not fail: %s", resultText(res))
	}
	if got, want := eventsText(out.Events), []string{"new n z", "set $ z"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q (the failed script's dropped)", got, want)
	}
}
