package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// keys2Scripts cover COPY, MOVE, SWAPDB and OBJECT, and the generic key
// commands on every type (compared with redis-server by
// TestCompatibilityWithRedisServer). SCAN and RANDOMKEY are asked only
// where one key can answer, since their order is the store's own.
var keys2Scripts = [][][]any{
	// COPY: errors, strings, TTL, REPLACE, DB.
	{{"SET", "a", "1"}, {"COPY", "a", "a"}, {"COPY", "a", "a", "DB", "0"}, {"COPY", "a", "b", "DB", "16"}, {"COPY", "a", "b", "DB", "-1"},
		{"COPY", "a", "b", "DB", "x"}, {"COPY", "a", "b", "DB", "4294967296"}, {"COPY", "a", "b", "DB"}, {"COPY", "a", "b", "foo"}, {"COPY", "a"},
		{"COPY", "nokey", "b", "DB", "99"}, {"COPY", "a", "a", "DB", "99"}, {"COPY", "nokey", "nokey"}, {"COPY", "nokey", "b"}, {"EXISTS", "b"},
		{"COPY", "a", "b", "replace", "replace"}, {"GET", "b"}, {"SET", "a", "2", "EX", "100"}, {"COPY", "a", "b"}, {"GET", "b"},
		{"COPY", "a", "b", "REPLACE"}, {"GET", "b"}, {"TTL", "b"}, {"COPY", "a", "a", "DB", "1"}, {"COPY", "a", "a", "db", "1", "replace"},
		{"SELECT", "1"}, {"GET", "a"}, {"TTL", "a"}, {"COPY", "a", "a", "DB", "0"}, {"COPY", "a", "z", "DB", "0", "REPLACE"}, {"SELECT", "0"},
		{"GET", "z"}, {"TTL", "z"}, {"DBSIZE"}, {"OBJECT", "ENCODING", "z"}},
	// COPY of every collection type keeps each element, the TTL, and
	// makes an independent copy.
	{{"HSET", "h", "a", "1", "b", "2"}, {"EXPIRE", "h", "100"}, {"COPY", "h", "h2"}, {"HLEN", "h2"}, {"HGET", "h2", "b"}, {"TTL", "h2"}, {"TYPE", "h2"},
		{"COPY", "h", "h2"}, {"HSET", "h", "c", "3"}, {"COPY", "h", "h2", "REPLACE"}, {"HSET", "h2", "d", "4"}, {"HDEL", "h", "a"}, {"HLEN", "h"}, {"HLEN", "h2"}, {"HGET", "h2", "a"},
		{"COPY", "h", "h", "DB", "1"}, {"SELECT", "1"}, {"HLEN", "h"}, {"TTL", "h"}, {"SELECT", "0"},
		{"SET", "s", "str"}, {"COPY", "s", "h2", "REPLACE"}, {"TYPE", "h2"}, {"GET", "h2"}, {"COPY", "h", "s", "REPLACE"}, {"TYPE", "s"}, {"HGET", "s", "c"}, {"TTL", "s"},
		{"SADD", "set", "x", "y", "z"}, {"COPY", "set", "set2"}, {"SREM", "set", "x"}, {"SCARD", "set2"}, {"SISMEMBER", "set2", "x"}, {"TYPE", "set2"},
		{"ZADD", "zs", "1", "a", "2", "b", "-inf", "c"}, {"COPY", "zs", "zs2"}, {"ZREM", "zs", "a"}, {"ZRANGE", "zs2", "0", "-1", "WITHSCORES"}, {"ZSCORE", "zs2", "a"}, {"ZCARD", "zs"},
		{"DEL", "h", "set", "zs"}, {"HLEN", "s"}, {"SCARD", "set2"}, {"ZCARD", "zs2"}},
	{{"RPUSH", "l", "a", "b", "c"}, {"LPUSH", "l", "z"}, {"COPY", "l", "l2"}, {"LPOP", "l"}, {"LRANGE", "l2", "0", "-1"}, {"LRANGE", "l", "0", "-1"}, {"RPUSH", "l2", "d"}, {"LINDEX", "l2", "-1"}, {"LLEN", "l"}},
	// MOVE.
	{{"SET", "a", "1"}, {"MOVE", "a", "0"}, {"MOVE", "a", "16"}, {"MOVE", "a", "-1"}, {"MOVE", "a", "x"}, {"MOVE", "a", "99999999999"}, {"MOVE", "a", "-99999999999"}, {"MOVE", "a", "2147483647"}, {"MOVE", "nokey", "0"},
		{"MOVE", "nokey", "1"}, {"MOVE", "a"}, {"EXPIRE", "a", "100"}, {"MOVE", "a", "1"}, {"EXISTS", "a"}, {"MOVE", "a", "1"}, {"SELECT", "1"}, {"GET", "a"}, {"TTL", "a"},
		{"SET", "b", "mine"}, {"MOVE", "a", "0"}, {"SELECT", "0"}, {"SET", "b", "theirs"}, {"SELECT", "1"}, {"MOVE", "b", "0"}, {"GET", "b"}, {"DBSIZE"}, {"SELECT", "0"}, {"DBSIZE"}, {"GET", "a"}},
	{{"HSET", "h", "f", "v", "g", "w"}, {"PEXPIRE", "h", "100000"}, {"MOVE", "h", "3"}, {"TYPE", "h"}, {"SELECT", "3"}, {"HGETALL", "h"}, {"HSET", "h", "x", "y"}, {"HLEN", "h"},
		{"TTL", "h"}, {"SADD", "s", "1", "2"}, {"MOVE", "s", "4"}, {"SELECT", "4"}, {"SMEMBERS", "s"}, {"OBJECT", "ENCODING", "s"}},
	// SWAPDB: validation (swapping two databases is not supported).
	{{"SWAPDB", "x", "1"}, {"SWAPDB", "1", "x"}, {"SWAPDB", "x", "y"}, {"SWAPDB", "0", "-1"}, {"SWAPDB", "16", "0"}, {"SWAPDB", "0", "4294967296"}, {"SWAPDB", "0", "0"}, {"SWAPDB", "0"}, {"SWAPDB", "0", "1", "2"}},
	// OBJECT.
	{{"SET", "i", "123"}, {"SET", "big", "10000"}, {"SET", "neg", "-1"}, {"SET", "lz", "0123"}, {"SET", "e44", strings.Repeat("x", 44)}, {"SET", "r45", strings.Repeat("x", 45)},
		{"SET", "max", "9223372036854775807"}, {"SET", "over", "9223372036854775808"}, {"SET", "mz", "-0"}, {"SET", "f", "1.5"}, {"SET", "empty", ""},
		{"OBJECT", "ENCODING", "i"}, {"OBJECT", "ENCODING", "big"}, {"OBJECT", "ENCODING", "neg"}, {"OBJECT", "ENCODING", "lz"}, {"OBJECT", "ENCODING", "e44"},
		{"OBJECT", "ENCODING", "r45"}, {"OBJECT", "ENCODING", "max"}, {"OBJECT", "ENCODING", "over"}, {"OBJECT", "ENCODING", "mz"}, {"OBJECT", "ENCODING", "f"},
		{"OBJECT", "ENCODING", "empty"}, {"INCR", "n"}, {"OBJECT", "encoding", "n"}, {"INCRBY", "n", "100000"}, {"OBJECT", "Encoding", "n"},
		{"OBJECT", "REFCOUNT", "i"}, {"OBJECT", "REFCOUNT", "big"}, {"OBJECT", "REFCOUNT", "neg"}, {"OBJECT", "REFCOUNT", "e44"}, {"OBJECT", "REFCOUNT", "nokey"},
		{"OBJECT", "IDLETIME", "nokey"}, {"OBJECT", "FREQ", "i"}, {"OBJECT", "FREQ", "nokey"}, {"OBJECT", "ENCODING", "nokey"},
		{"OBJECT"}, {"OBJECT", "ENCODING"}, {"OBJECT", "ENCODING", "a", "b"}, {"OBJECT", "FOO"}, {"OBJECT", "FOO", "x"}, {"OBJECT", "HELP", "x"}, {"OBJECT", "help"}, {"OBJECT", "REFCOUNT"}},
	{{"HSET", "h", "f", strings.Repeat("v", 64)}, {"OBJECT", "ENCODING", "h"}, {"HSET", "h2", "f", strings.Repeat("v", 65)}, {"OBJECT", "ENCODING", "h2"},
		{"HSET", "h3", strings.Repeat("f", 65), "v"}, {"OBJECT", "ENCODING", "h3"}, wideHSet("h4", 512), {"OBJECT", "ENCODING", "h4"}, wideHSet("h5", 513), {"OBJECT", "ENCODING", "h5"},
		{"SADD", "s", "1", "-2", "300"}, {"OBJECT", "ENCODING", "s"}, {"SADD", "s2", "1", "a"}, {"OBJECT", "ENCODING", "s2"}, wideSAdd("s3", 512), {"OBJECT", "ENCODING", "s3"},
		wideSAdd("s4", 513), {"OBJECT", "ENCODING", "s4"},
		{"ZADD", "z", "1", "a"}, {"OBJECT", "ENCODING", "z"}, {"ZADD", "z2", "1", strings.Repeat("m", 65)}, {"OBJECT", "ENCODING", "z2"}, wideZAdd("z3", 129), {"OBJECT", "ENCODING", "z3"},
		{"RPUSH", "l", "a"}, {"OBJECT", "ENCODING", "l"}, {"OBJECT", "REFCOUNT", "h"}, {"OBJECT", "REFCOUNT", "s"}, {"OBJECT", "FREQ", "z"}},
	// The generic key commands on every type.
	{{"HSET", "h", "f", "v"}, {"SADD", "s", "m"}, {"ZADD", "z", "1", "m"}, {"RPUSH", "l", "e"}, {"SET", "str", "v"},
		{"TYPE", "h"}, {"TYPE", "s"}, {"TYPE", "z"}, {"TYPE", "l"}, {"TYPE", "str"}, {"EXISTS", "h", "s", "z", "l", "str", "none"}, {"DBSIZE"},
		{"SCAN", "0", "TYPE", "hash", "COUNT", "1000"}, {"SCAN", "0", "TYPE", "set", "COUNT", "1000"}, {"SCAN", "0", "TYPE", "zset", "COUNT", "1000"},
		{"SCAN", "0", "TYPE", "list", "COUNT", "1000"}, {"SCAN", "0", "TYPE", "string", "COUNT", "1000"}, {"SCAN", "0", "TYPE", "stream", "COUNT", "1000"},
		{"EXPIRE", "h", "100"}, {"TTL", "h"}, {"PEXPIRE", "s", "100000", "NX"}, {"EXPIRETIME", "z"}, {"PERSIST", "h"}, {"TTL", "h"}, {"PERSIST", "h"},
		{"RENAME", "h", "h2"}, {"HGET", "h2", "f"}, {"TYPE", "h"}, {"RENAME", "str", "h2"}, {"TYPE", "h2"}, {"RENAMENX", "s", "z"}, {"RENAME", "s", "z"}, {"TYPE", "z"}, {"SMEMBERS", "z"},
		{"GET", "z"}, {"HGET", "l", "f"}, {"LPUSH", "z", "x"}, {"SADD", "l", "x"}, {"ZADD", "h2", "1", "x"}, {"APPEND", "l", "x"}, {"INCR", "z"}, {"STRLEN", "l"}, {"GETRANGE", "z", "0", "1"},
		{"DEL", "z", "none"}, {"UNLINK", "l", "h2"}, {"DBSIZE"}, {"RANDOMKEY"}, {"ZADD", "only", "1", "m"}, {"RANDOMKEY"}, {"EXPIRE", "only", "0"}, {"EXISTS", "only"}, {"DBSIZE"}},
	// Empty collections vanish, for every generic command.
	{{"HSET", "h", "f", "v"}, {"HDEL", "h", "f"}, {"EXISTS", "h"}, {"TYPE", "h"}, {"SADD", "s", "m"}, {"SREM", "s", "m"}, {"SCAN", "0", "TYPE", "set"}, {"DBSIZE"},
		{"COPY", "h", "h2"}, {"MOVE", "s", "1"}, {"OBJECT", "ENCODING", "h"}},
}

func wideHSet(key string, n int) []any {
	c := []any{"HSET", key}
	for i := range n {
		c = append(c, fmt.Sprint("f", i), "v")
	}
	return c
}

func wideSAdd(key string, n int) []any {
	c := []any{"SADD", key}
	for i := range n {
		c = append(c, fmt.Sprint(i))
	}
	return c
}

func wideZAdd(key string, n int) []any {
	c := []any{"ZADD", key}
	for i := range n {
		c = append(c, fmt.Sprint(i), fmt.Sprint("m", i))
	}
	return c
}

func init() { compatScripts = append(compatScripts, keys2Scripts...) }

// INFO keyspace counts keys and TTLs of every type per database, and
// MOVE and COPY keep the counts right (redis-server's avg_ttl differs, so
// this is checked on keepkv alone).
func TestInfoKeyspaceAcrossTypes(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"HSET", "h", "f", "v"}, {"SADD", "s", "m"}, {"ZADD", "z", "1", "m"}, {"SET", "str", "v", "EX", "100"}, {"EXPIRE", "h", "100"},
		{"COPY", "h", "h", "DB", "2"}, {"MOVE", "s", "2"}, {"COPY", "z", "z2"}, {"SETBIT", "b", "9", "1"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"db0:keys=5,expires=2,", "db2:keys=2,expires=1,"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO keyspace %q lacks %q", info, want)
		}
	}
	if n := c.DBSize(ctx).Val(); n != 5 {
		t.Fatalf("DBSIZE %d", n)
	}
	if err := c.Do(ctx, "SWAPDB", "0", "2").Err(); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("SWAPDB 0 2: %v", err)
	}
}
