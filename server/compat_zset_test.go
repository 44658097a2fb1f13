package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func init() { compatScripts = append(compatScripts, zsetScripts...) }

// zsetScripts cover the sorted-set family, reply for reply against
// redis-server, in RESP2 and RESP3. Replies whose order Redis leaves
// unspecified (ZRANDMEMBER samples, ZSCAN of a big set) are kept out, or
// made deterministic (a sample as big as the set comes in score order).
var zsetScripts = [][][]any{
	// ZADD: options, counts, CH, INCR, and its errors.
	{{"ZADD", "z", "1", "a", "2", "b", "3", "c"}, {"ZADD", "z", "10", "a", "4", "d"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
		{"ZADD", "z", "CH", "11", "a", "5", "e", "4", "d"}, {"ZADD", "z", "NX", "100", "a", "6", "f"}, {"ZSCORE", "z", "a"},
		{"ZADD", "z", "XX", "100", "a", "7", "g"}, {"ZSCORE", "z", "a"}, {"ZSCORE", "z", "g"}, {"ZADD", "z", "XX", "CH", "101", "a", "7", "g"},
		{"ZADD", "z", "GT", "CH", "50", "a", "200", "b"}, {"ZADD", "z", "LT", "CH", "50", "a", "300", "b", "1", "new"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
		{"ZADD", "z", "XX", "GT", "CH", "0", "a", "1000", "b"}, {"ZCARD", "z"}, {"ZADD", "z", "1", "dup", "2", "dup"}, {"ZSCORE", "z", "dup"}, {"ZADD", "z", "CH", "3", "dup", "3", "dup"},
		{"ZADD", "fresh", "1", "d", "2", "d", "0", "e", "3", "d"}, {"ZRANGE", "fresh", "0", "-1", "WITHSCORES"}, {"ZADD", "fresh2", "INCR", "-0", "m"}, {"ZSCORE", "fresh2", "m"}},
	{{"ZADD", "z", "NX", "XX", "1", "a"}, {"ZADD", "z", "GT", "LT", "1", "a"}, {"ZADD", "z", "NX", "GT", "1", "a"}, {"ZADD", "z", "NX", "LT", "1", "a"},
		{"ZADD", "z", "INCR", "1", "a", "2", "b"}, {"ZADD", "z", "1"}, {"ZADD", "z", "1", "a", "2"}, {"ZADD", "z", "NX"}, {"ZADD", "z", "x", "a"},
		{"ZADD", "z", "nan", "a"}, {"ZADD", "z", "", "a"}, {"ZADD", "z", " 1", "a"}, {"ZADD", "z", "1 ", "a"}, {"ZADD", "z", "1e400", "a"}, {"ZADD", "z", "1e-400", "a"},
		{"ZADD", "z", "1", "a", "x", "b"}, {"EXISTS", "z"}, {"ZADD", "z", "FOO", "1", "a"}, {"ZADD", "z", "1", "a", "NX"}, {"ZADD"}, {"ZADD", "z"}, {"ZADD", "z", "1"},
		{"ZADD", "z", "XX", "1", "a"}, {"EXISTS", "z"}, {"ZADD", "z", "XX", "INCR", "1", "a"}, {"EXISTS", "z"}},
	// Score syntax and float formatting.
	{{"ZADD", "z", "0x10", "hex", "1e3", "e", "-0", "negzero", "+5", "plus", ".5", "dot", "5.", "trail", "1.5e-3", "small", "1e-310", "denormal", "123456789012345678", "big"},
		{"ZADD", "z", "inf", "i1", "+inf", "i2", "-inf", "i3", "INFINITY", "i4", "-Infinity", "i5", "3.0000000000000004", "f"},
		{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"ZSCORE", "z", "negzero"}, {"ZMSCORE", "z", "f", "i3", "nosuch", "hex"},
		{"ZADD", "z", "0x", "x"}, {"ZADD", "z", "0x1p", "x"}, {"ZADD", "z", "1e", "x"}, {"ZADD", "z", "inff", "x"}, {"ZADD", "z", "1_0", "x"}, {"ZADD", "z", "--1", "x"}, {"ZADD", "z", "0x1p3", "x"}, {"ZSCORE", "z", "x"}},
	{{"ZINCRBY", "z", "0.1", "m"}, {"ZINCRBY", "z", "0.2", "m"}, {"ZSCORE", "z", "m"}, {"ZINCRBY", "z", "-0.3", "m"}, {"ZINCRBY", "z", "1e20", "m"}, {"ZINCRBY", "z", "1", "m"},
		{"ZINCRBY", "z", "inf", "m"}, {"ZINCRBY", "z", "1", "m"}, {"ZINCRBY", "z", "-inf", "m"}, {"ZSCORE", "z", "m"}, {"ZADD", "z", "INCR", "-inf", "m"}, {"ZSCORE", "z", "m"},
		{"ZINCRBY", "z", "abc", "m"}, {"ZINCRBY", "z", "nan", "m"}, {"ZINCRBY", "z", "NX", "m"}, {"ZINCRBY", "z", "1", "NX"}, {"ZSCORE", "z", "NX"}, {"ZINCRBY", "z", "-0", "zero"}, {"ZSCORE", "z", "zero"}},
	{{"ZADD", "z", "INCR", "5", "m"}, {"ZADD", "z", "INCR", "NX", "1", "m"}, {"ZADD", "z", "INCR", "XX", "1", "m"}, {"ZADD", "z", "INCR", "XX", "1", "other"},
		{"ZADD", "z", "GT", "INCR", "1", "m"}, {"ZADD", "z", "GT", "INCR", "-1", "m"}, {"ZADD", "z", "LT", "INCR", "-2", "m"}, {"ZADD", "z", "LT", "INCR", "2", "m"}, {"ZADD", "z", "LT", "INCR", "0", "m"},
		{"ZADD", "z", "GT", "INCR", "3", "fresh"}, {"ZADD", "z", "CH", "INCR", "1", "m"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}},
	// ZREM, ZCARD, empty sets vanish, WRONGTYPE.
	{{"ZADD", "z", "1", "a", "2", "b"}, {"ZREM", "z", "a", "x", "a"}, {"ZCARD", "z"}, {"ZREM", "z", "b"}, {"EXISTS", "z"}, {"TYPE", "z"}, {"ZCARD", "z"}, {"ZREM", "z", "b"}, {"ZREM", "nokey", "a"}, {"ZREM", "z"}},
	{{"SET", "s", "v"}, {"ZADD", "s", "1", "a"}, {"ZINCRBY", "s", "1", "a"}, {"ZREM", "s", "a"}, {"ZSCORE", "s", "a"}, {"ZMSCORE", "s", "a"}, {"ZCARD", "s"}, {"ZCOUNT", "s", "0", "1"},
		{"ZLEXCOUNT", "s", "-", "+"}, {"ZRANGE", "s", "0", "-1"}, {"ZRANGEBYSCORE", "s", "0", "1"}, {"ZRANGEBYLEX", "s", "-", "+"}, {"ZREVRANGE", "s", "0", "1"}, {"ZRANK", "s", "a"}, {"ZREVRANK", "s", "a"},
		{"ZREMRANGEBYSCORE", "s", "0", "1"}, {"ZREMRANGEBYRANK", "s", "0", "1"}, {"ZREMRANGEBYLEX", "s", "-", "+"}, {"ZPOPMIN", "s"}, {"ZPOPMAX", "s", "0"}, {"ZRANDMEMBER", "s"}, {"ZRANDMEMBER", "s", "1"},
		{"ZRANGESTORE", "d", "s", "0", "-1"}, {"ZUNIONSTORE", "d", "1", "s"}, {"ZINTERSTORE", "d", "1", "s"}, {"ZDIFFSTORE", "d", "1", "s"}, {"ZUNION", "1", "s"}, {"ZINTER", "1", "s"}, {"ZDIFF", "1", "s"},
		{"ZINTERCARD", "1", "s"}, {"ZSCAN", "s", "0"}, {"HSET", "h", "f", "v"}, {"ZADD", "h", "1", "a"}, {"ZADD", "z", "1", "a"}, {"GET", "z"}, {"LPUSH", "z", "x"}, {"SADD", "z", "x"}, {"HSET", "z", "f", "v"}, {"TYPE", "z"}},
	// ZSCORE, ZMSCORE, ZCARD on missing keys and members.
	{{"ZSCORE", "nokey", "a"}, {"ZMSCORE", "nokey", "a", "b"}, {"ZCARD", "nokey"}, {"ZADD", "z", "1.5", "a"}, {"ZSCORE", "z", "nosuch"}, {"ZMSCORE", "z", "nosuch", "a"}, {"ZMSCORE", "z"}, {"ZSCORE", "z"}},
	// ZRANGE by rank: negative indexes, out of range, REV, WITHSCORES.
	{{"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"}, {"ZRANGE", "z", "0", "-1"}, {"ZRANGE", "z", "1", "3", "WITHSCORES"}, {"ZRANGE", "z", "-2", "-1"}, {"ZRANGE", "z", "-100", "1"},
		{"ZRANGE", "z", "3", "100"}, {"ZRANGE", "z", "5", "10"}, {"ZRANGE", "z", "3", "1"}, {"ZRANGE", "z", "-1", "-2"}, {"ZRANGE", "z", "0", "0", "REV"}, {"ZRANGE", "z", "1", "-2", "REV", "WITHSCORES"},
		{"ZREVRANGE", "z", "0", "1"}, {"ZREVRANGE", "z", "0", "-1", "WITHSCORES"}, {"ZREVRANGE", "z", "-2", "-1"}, {"ZREVRANGE", "z", "10", "20"}, {"ZRANGE", "nokey", "0", "-1"}, {"ZREVRANGE", "nokey", "0", "-1", "WITHSCORES"},
		{"ZRANGE", "z", "9223372036854775807", "-9223372036854775808"}, {"ZRANGE", "z", "-9223372036854775808", "9223372036854775807"}},
	{{"ZADD", "z", "1", "a"}, {"ZRANGE", "z", "a", "1"}, {"ZRANGE", "z", "0", "1.5"}, {"ZRANGE", "z", "0", "1", "FOO"}, {"ZRANGE", "z", "0", "1", "LIMIT", "0", "1"}, {"ZRANGE", "z", "0", "1", "LIMIT", "0", "-1"},
		{"ZRANGE", "z", "0", "1", "LIMIT", "0"}, {"ZRANGE", "z", "0", "1", "REV", "REV"}, {"ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"}, {"ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"},
		{"ZRANGE", "z", "0", "1", "WITHSCORES", "WITHSCORES"}, {"ZREVRANGE", "z", "0", "1", "REV"}, {"ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"}, {"ZRANGE", "z", "0", "1", "LIMIT", "x", "1", "BYSCORE"},
		{"ZRANGE", "z", "0", "1", "BYSCORE", "LIMIT", "0", "x"}, {"ZRANGE", "z", "x", "1", "BYSCORE"}, {"ZRANGE", "z", "x", "+", "BYLEX"}, {"ZRANGE", "z"}, {"ZRANGE", "z", "0"}, {"ZREVRANGE", "z", "0", "1", "BYSCORE"}},
	// Ranges by score: exclusive bounds, inf, LIMIT offsets, REV.
	{{"ZADD", "z", "-inf", "ninf", "-1", "neg", "0", "zero", "1", "one", "1", "uno", "2", "two", "3", "three", "inf", "pinf"},
		{"ZRANGEBYSCORE", "z", "-inf", "+inf"}, {"ZRANGEBYSCORE", "z", "(-inf", "(inf", "WITHSCORES"}, {"ZRANGEBYSCORE", "z", "1", "2"}, {"ZRANGEBYSCORE", "z", "(1", "2"}, {"ZRANGEBYSCORE", "z", "1", "(2"},
		{"ZRANGEBYSCORE", "z", "(1", "(1"}, {"ZRANGEBYSCORE", "z", "1", "1"}, {"ZRANGEBYSCORE", "z", "3", "1"}, {"ZRANGEBYSCORE", "z", "-inf", "-inf"}, {"ZRANGEBYSCORE", "z", "inf", "inf", "WITHSCORES"},
		{"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "3"}, {"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "-1"}, {"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "7", "5"},
		{"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "8", "5"}, {"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "5"}, {"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"},
		{"ZRANGEBYSCORE", "z", "0", "10", "WITHSCORES", "LIMIT", "1", "2"}, {"ZREVRANGEBYSCORE", "z", "+inf", "-inf"}, {"ZREVRANGEBYSCORE", "z", "2", "(0", "WITHSCORES"},
		{"ZREVRANGEBYSCORE", "z", "(2", "1"}, {"ZREVRANGEBYSCORE", "z", "1", "2"}, {"ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "2"}, {"ZREVRANGEBYSCORE", "z", "1e400", "-1e400"},
		{"ZRANGE", "z", "1", "2", "BYSCORE"}, {"ZRANGE", "z", "2", "1", "BYSCORE", "REV", "WITHSCORES"}, {"ZRANGE", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "2"}, {"ZRANGE", "z", "+inf", "(1", "REV", "BYSCORE", "LIMIT", "1", "2"},
		{"ZRANGEBYSCORE", "z", "", ""}, {"ZRANGEBYSCORE", "z", "(", "1"}, {"ZRANGEBYSCORE", "z", " 1", " 2"}, {"ZRANGEBYSCORE", "z", "0x1", "0x2"}, {"ZRANGEBYSCORE", "nokey", "-inf", "inf"}},
	{{"ZADD", "z", "1", "a"}, {"ZRANGEBYSCORE", "z", "x", "1"}, {"ZRANGEBYSCORE", "z", "1", "nan"}, {"ZRANGEBYSCORE", "z", "((1", "2"}, {"ZRANGEBYSCORE", "z", "  ", "2"}, {"ZRANGEBYSCORE", "z", "1 ", "2"},
		{"ZRANGEBYSCORE", "z", "0", "1", "REV"}, {"ZRANGEBYSCORE", "z", "0", "1", "BYLEX"}, {"ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "1"}, {"ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "a", "b"}, {"ZRANGEBYSCORE", "z", "0", "1", "WITHSCORE"},
		{"ZCOUNT", "z", "x", "1"}, {"ZCOUNT", "nokey", "x", "1"}, {"ZREMRANGEBYSCORE", "z", "x", "1"}, {"ZREVRANGEBYSCORE", "z", "1", "x"}},
	// Lex ranges (every score equal).
	{{"ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "", "0", "aa"}, {"ZRANGEBYLEX", "z", "-", "+"}, {"ZRANGEBYLEX", "z", "[b", "[d"}, {"ZRANGEBYLEX", "z", "(b", "(d"},
		{"ZRANGEBYLEX", "z", "[a", "(b"}, {"ZRANGEBYLEX", "z", "-", "[a"}, {"ZRANGEBYLEX", "z", "[", "[a"}, {"ZRANGEBYLEX", "z", "(", "+"}, {"ZRANGEBYLEX", "z", "+", "-"}, {"ZRANGEBYLEX", "z", "-", "-"}, {"ZRANGEBYLEX", "z", "+", "+"},
		{"ZRANGEBYLEX", "z", "[d", "[b"}, {"ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "3"}, {"ZRANGEBYLEX", "z", "-", "+", "LIMIT", "6", "10"}, {"ZRANGEBYLEX", "z", "-", "+", "LIMIT", "-1", "1"},
		{"ZREVRANGEBYLEX", "z", "+", "-"}, {"ZREVRANGEBYLEX", "z", "[d", "(a"}, {"ZREVRANGEBYLEX", "z", "-", "+"}, {"ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "2", "2"}, {"ZREVRANGEBYLEX", "z", "(aa", "-"},
		{"ZRANGE", "z", "[b", "[c", "BYLEX"}, {"ZRANGE", "z", "[c", "[b", "BYLEX", "REV"}, {"ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", "0", "2"},
		{"ZLEXCOUNT", "z", "-", "+"}, {"ZLEXCOUNT", "z", "[b", "(d"}, {"ZLEXCOUNT", "z", "+", "-"}, {"ZLEXCOUNT", "nokey", "-", "+"},
		{"ZRANGEBYLEX", "z", "a", "+"}, {"ZRANGEBYLEX", "z", "-", "b"}, {"ZRANGEBYLEX", "z", "", "+"}, {"ZRANGEBYLEX", "z", "-x", "+"}, {"ZRANGEBYLEX", "z", "-", "++"}, {"ZLEXCOUNT", "z", "a", "b"},
		{"ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"}, {"ZREMRANGEBYLEX", "z", "x", "+"}, {"ZRANGEBYLEX", "nokey", "-", "+"}},
	// ZCOUNT.
	{{"ZADD", "z", "1", "a", "2", "b", "3", "c", "inf", "d"}, {"ZCOUNT", "z", "-inf", "+inf"}, {"ZCOUNT", "z", "(1", "3"}, {"ZCOUNT", "z", "(1", "(3"}, {"ZCOUNT", "z", "3", "1"}, {"ZCOUNT", "z", "inf", "inf"},
		{"ZCOUNT", "z", "(inf", "inf"}, {"ZCOUNT", "nokey", "0", "1"}, {"ZCOUNT", "z", "", "5"}},
	// ZRANK, ZREVRANK.
	{{"ZADD", "z", "1", "a", "2", "b", "2", "bb", "3", "c"}, {"ZRANK", "z", "a"}, {"ZRANK", "z", "bb"}, {"ZRANK", "z", "c"}, {"ZREVRANK", "z", "a"}, {"ZREVRANK", "z", "c"}, {"ZREVRANK", "z", "b"},
		{"ZRANK", "z", "nosuch"}, {"ZREVRANK", "z", "nosuch"}, {"ZRANK", "nokey", "a"}, {"ZRANK", "z", "a", "WITHSCORE"}},
	// ZREMRANGEBY*.
	{{"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"}, {"ZREMRANGEBYRANK", "z", "0", "0"}, {"ZREMRANGEBYRANK", "z", "-1", "-1"}, {"ZRANGE", "z", "0", "-1"},
		{"ZREMRANGEBYRANK", "z", "10", "20"}, {"ZREMRANGEBYRANK", "z", "2", "1"}, {"ZREMRANGEBYSCORE", "z", "(2", "4"}, {"ZRANGE", "z", "0", "-1"}, {"ZREMRANGEBYSCORE", "z", "10", "20"},
		{"ZREMRANGEBYRANK", "z", "a", "1"}, {"ZREMRANGEBYRANK", "nokey", "0", "-1"}, {"ZREMRANGEBYSCORE", "nokey", "-inf", "inf"}, {"ZREMRANGEBYLEX", "nokey", "-", "+"},
		{"ZREMRANGEBYRANK", "z", "-100", "100"}, {"EXISTS", "z"},
		{"ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"}, {"ZREMRANGEBYLEX", "l", "(a", "[c"}, {"ZRANGE", "l", "0", "-1"}, {"ZREMRANGEBYLEX", "l", "+", "-"}, {"ZREMRANGEBYLEX", "l", "-", "+"}, {"EXISTS", "l"},
		{"ZADD", "s", "-inf", "a", "0", "b", "inf", "c"}, {"ZREMRANGEBYSCORE", "s", "-inf", "(inf"}, {"ZRANGE", "s", "0", "-1", "WITHSCORES"}, {"ZREMRANGEBYSCORE", "s", "inf", "inf"}, {"EXISTS", "s"}},
	// ZPOPMIN, ZPOPMAX.
	{{"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"}, {"ZPOPMIN", "z"}, {"ZPOPMAX", "z"}, {"ZPOPMIN", "z", "1"}, {"ZPOPMIN", "z", "0"}, {"ZPOPMAX", "z", "10"}, {"EXISTS", "z"}, {"ZPOPMIN", "z"},
		{"ZPOPMIN", "z", "3"}, {"ZPOPMAX", "nokey", "0"}, {"ZPOPMIN", "z", "-1"}, {"ZPOPMIN", "z", "x"}, {"ZPOPMIN", "z", "1", "2"},
		{"ZADD", "y", "1.5", "a", "-inf", "b", "inf", "c"}, {"ZPOPMAX", "y", "2"}, {"ZPOPMIN", "y", "9223372036854775807"}},
	// ZRANGESTORE.
	{{"ZADD", "src", "1", "a", "2", "b", "3", "c", "4", "d"}, {"ZRANGESTORE", "dst", "src", "0", "1"}, {"ZRANGE", "dst", "0", "-1", "WITHSCORES"}, {"ZRANGESTORE", "dst", "src", "(1", "+inf", "BYSCORE", "LIMIT", "1", "5"},
		{"ZRANGE", "dst", "0", "-1", "WITHSCORES"}, {"ZRANGESTORE", "dst", "src", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "2"}, {"ZRANGE", "dst", "0", "-1", "WITHSCORES"},
		{"ZRANGESTORE", "dst", "src", "0", "0", "REV"}, {"ZRANGE", "dst", "0", "-1"}, {"ZRANGESTORE", "dst", "src", "5", "10"}, {"EXISTS", "dst"}, {"SET", "str", "v", "EX", "100"},
		{"ZRANGESTORE", "str", "src", "0", "-1"}, {"TYPE", "str"}, {"TTL", "str"}, {"ZRANGESTORE", "dst", "nokey", "0", "-1"}, {"ZRANGESTORE", "src", "src", "1", "2"}, {"ZRANGE", "src", "0", "-1"},
		{"ZRANGESTORE", "dst", "src", "0", "-1", "WITHSCORES"}, {"ZRANGESTORE", "dst", "src", "0", "-1", "LIMIT", "0", "1"}, {"ZRANGESTORE", "dst", "str", "0", "-1"}, {"ZRANGESTORE", "dst", "src", "x", "1"}, {"ZRANGESTORE", "dst", "src", "0"},
		{"ZADD", "lex", "0", "x", "0", "y", "0", "z"}, {"ZRANGESTORE", "dst", "lex", "[y", "+", "BYLEX"}, {"ZRANGE", "dst", "0", "-1", "WITHSCORES"}},
	// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE: weights, aggregates, sets as inputs.
	{{"ZADD", "a", "1", "x", "2", "y", "3", "z"}, {"ZADD", "b", "10", "y", "20", "z", "30", "w"}, {"SADD", "s", "x", "w", "v"},
		{"ZUNIONSTORE", "u", "2", "a", "b"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"}, {"ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "2", "0.5"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"},
		{"ZUNIONSTORE", "u", "2", "a", "b", "AGGREGATE", "MIN"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"}, {"ZUNIONSTORE", "u", "2", "a", "b", "aggregate", "max", "weights", "1", "-1"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"},
		{"ZINTERSTORE", "i", "2", "a", "b"}, {"ZRANGE", "i", "0", "-1", "WITHSCORES"}, {"ZINTERSTORE", "i", "2", "a", "b", "WEIGHTS", "1", "2", "AGGREGATE", "MAX"}, {"ZRANGE", "i", "0", "-1", "WITHSCORES"},
		{"ZUNIONSTORE", "u", "3", "a", "b", "s"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"}, {"ZINTERSTORE", "i", "2", "a", "s", "WEIGHTS", "1", "5"}, {"ZRANGE", "i", "0", "-1", "WITHSCORES"},
		{"ZDIFFSTORE", "d", "2", "a", "b"}, {"ZRANGE", "d", "0", "-1", "WITHSCORES"}, {"ZDIFFSTORE", "d", "2", "s", "a"}, {"ZRANGE", "d", "0", "-1", "WITHSCORES"}, {"ZDIFFSTORE", "d", "3", "a", "b", "s"},
		{"ZRANGE", "d", "0", "-1", "WITHSCORES"}, {"ZINTERSTORE", "i", "2", "a", "nokey"}, {"EXISTS", "i"}, {"ZUNIONSTORE", "u", "1", "nokey"}, {"EXISTS", "u"}, {"ZDIFFSTORE", "d", "1", "nokey"}, {"EXISTS", "d"},
		{"ZUNIONSTORE", "a", "2", "a", "a"}, {"ZRANGE", "a", "0", "-1", "WITHSCORES"}, {"ZINTERSTORE", "a", "1", "a", "WEIGHTS", "0.1"}, {"ZRANGE", "a", "0", "-1", "WITHSCORES"}},
	{{"ZADD", "a", "inf", "x", "-inf", "y", "1", "z"}, {"ZADD", "b", "-inf", "x", "-inf", "y", "0", "z"}, {"ZUNIONSTORE", "u", "2", "a", "b"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"},
		{"ZINTERSTORE", "i", "2", "a", "b", "WEIGHTS", "0", "1"}, {"ZRANGE", "i", "0", "-1", "WITHSCORES"}, {"ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "inf", "-inf"}, {"ZRANGE", "u", "0", "-1", "WITHSCORES"},
		{"ZINTERSTORE", "i", "2", "a", "b", "AGGREGATE", "MIN"}, {"ZRANGE", "i", "0", "-1", "WITHSCORES"}},
	{{"ZADD", "a", "1", "x"}, {"SET", "str", "v"}, {"ZUNIONSTORE", "u", "0", "a"}, {"ZUNIONSTORE", "u", "-1", "a"}, {"ZUNIONSTORE", "u", "x", "a"}, {"ZUNIONSTORE", "u", "3", "a", "b"},
		{"ZUNIONSTORE", "u", "1", "a", "WEIGHTS"}, {"ZUNIONSTORE", "u", "1", "a", "WEIGHTS", "x"}, {"ZUNIONSTORE", "u", "1", "a", "WEIGHTS", "nan"}, {"ZUNIONSTORE", "u", "1", "a", "WEIGHTS", "1", "2"},
		{"ZUNIONSTORE", "u", "1", "a", "AGGREGATE"}, {"ZUNIONSTORE", "u", "1", "a", "AGGREGATE", "AVG"}, {"ZUNIONSTORE", "u", "1", "a", "WITHSCORES"}, {"ZINTERSTORE", "u", "0", "a"}, {"ZDIFFSTORE", "u", "0", "a"},
		{"ZDIFFSTORE", "u", "1", "a", "WEIGHTS", "1"}, {"ZDIFFSTORE", "u", "1", "a", "AGGREGATE", "SUM"}, {"ZUNIONSTORE", "u", "2", "a", "str"}, {"ZINTERSTORE", "u", "2", "str", "a"}, {"ZDIFFSTORE", "u", "2", "a", "str"},
		{"ZUNIONSTORE", "u", "1"}, {"EXISTS", "u"}},
	// ZUNION, ZINTER, ZDIFF, ZINTERCARD.
	{{"ZADD", "a", "1", "x", "2", "y", "3", "z"}, {"ZADD", "b", "10", "y", "20", "z", "30", "w"}, {"SADD", "s", "x", "w"},
		{"ZUNION", "2", "a", "b"}, {"ZUNION", "2", "a", "b", "WITHSCORES"}, {"ZUNION", "3", "a", "b", "s", "WEIGHTS", "1", "2", "3", "WITHSCORES"}, {"ZUNION", "2", "a", "b", "AGGREGATE", "MAX", "WITHSCORES"},
		{"ZINTER", "2", "a", "b"}, {"ZINTER", "2", "a", "b", "WITHSCORES", "AGGREGATE", "MIN"}, {"ZINTER", "2", "a", "s", "WITHSCORES"}, {"ZINTER", "2", "a", "nokey"},
		{"ZDIFF", "2", "a", "b"}, {"ZDIFF", "2", "a", "b", "WITHSCORES"}, {"ZDIFF", "1", "nokey"}, {"ZDIFF", "2", "s", "a", "WITHSCORES"}, {"ZDIFF", "2", "a", "b", "WEIGHTS", "1", "1"},
		{"ZUNION", "0", "a"}, {"ZUNION", "3", "a", "b"}, {"ZUNION", "1", "a", "WEIGHTS", "x"}, {"ZUNION", "1", "a", "FOO"}, {"ZINTER", "x", "a"}, {"ZDIFF", "-1", "a"},
		{"ZINTERCARD", "2", "a", "b"}, {"ZINTERCARD", "2", "a", "b", "LIMIT", "1"}, {"ZINTERCARD", "2", "a", "b", "LIMIT", "0"}, {"ZINTERCARD", "1", "a", "LIMIT", "2"}, {"ZINTERCARD", "2", "a", "nokey"},
		{"ZINTERCARD", "2", "a", "s"}, {"ZINTERCARD", "0", "a"}, {"ZINTERCARD", "3", "a", "b"}, {"ZINTERCARD", "x", "a"}, {"ZINTERCARD", "1", "a", "LIMIT", "-1"}, {"ZINTERCARD", "1", "a", "LIMIT"},
		{"ZINTERCARD", "1", "a", "FOO", "1"}, {"ZINTERCARD", "1", "a", "LIMIT", "x"}},
	{{"SET", "str", "v"}, {"ZADD", "a", "1", "x"}, {"ZUNION", "2", "a", "str"}, {"ZINTER", "2", "str", "a", "WEIGHTS", "x", "1"}, {"ZDIFF", "2", "a", "str"}, {"ZINTERCARD", "2", "a", "str"}, {"ZINTERCARD", "2", "str", "a", "LIMIT", "x"}},
	// ZRANDMEMBER: only deterministic forms.
	{{"ZRANDMEMBER", "nokey"}, {"ZRANDMEMBER", "nokey", "1"}, {"ZRANDMEMBER", "nokey", "-1", "WITHSCORES"}, {"ZADD", "z", "1.5", "a"}, {"ZRANDMEMBER", "z"}, {"ZRANDMEMBER", "z", "1"}, {"ZRANDMEMBER", "z", "5", "WITHSCORES"},
		{"ZRANDMEMBER", "z", "-3"}, {"ZRANDMEMBER", "z", "-2", "WITHSCORES"}, {"ZRANDMEMBER", "z", "0"}, {"ZRANDMEMBER", "z", "x"}, {"ZRANDMEMBER", "z", "1", "FOO"}, {"ZRANDMEMBER", "z", "1", "WITHSCORES", "x"},
		{"ZRANDMEMBER", "z", "-9223372036854775808"}, {"ZRANDMEMBER", "z", "9223372036854775807", "WITHSCORES"}, {"ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"},
		{"ZADD", "z", "-1", "b", "inf", "c"}, {"ZRANDMEMBER", "z", "3", "WITHSCORES"}, {"ZRANDMEMBER", "z", "100"}},
	// ZSCAN of a small set: everything at once, in score order.
	{{"ZSCAN", "nokey", "0"}, {"ZSCAN", "nokey", "0", "COUNT", "x"}, {"ZADD", "z", "1", "a", "0.1", "b", "-inf", "c", "inf", "d", "1e20", "e", "2.5", "f"}, {"ZSCAN", "z", "0"}, {"ZSCAN", "z", "0", "COUNT", "1"},
		{"ZSCAN", "z", "0", "MATCH", "[a-c]"}, {"ZSCAN", "z", "0", "MATCH", "*"}, {"ZSCAN", "z", "x"}, {"ZSCAN", "z", "0", "COUNT", "0"}, {"ZSCAN", "z", "0", "COUNT", "x"}, {"ZSCAN", "z", "0", "FOO", "1"},
		{"ZSCAN", "z", "0", "MATCH"}, {"ZSCAN", "z", "0", "TYPE", "zset"}, {"ZSCAN", "z", "123"}},
	// Keys of every kind work on sorted sets.
	{{"ZADD", "z", "1", "a", "2", "b"}, {"EXPIRE", "z", "100"}, {"ZADD", "z", "3", "c"}, {"TTL", "z"}, {"RENAME", "z", "y"}, {"ZRANGE", "y", "0", "-1", "WITHSCORES"}, {"TTL", "y"}, {"TYPE", "y"},
		{"ZPOPMIN", "y", "3"}, {"EXISTS", "y"}, {"ZADD", "big", "1", strings.Repeat("m", 100)}, {"ZSCAN", "big", "0"}, {"DEL", "big"}, {"ZCARD", "big"}},
}

// ZSCAN of a set too big to come in one page (keepkv pages it by member
// hash, Redis by its hash table, so the pages cannot be compared): a
// member present for the whole scan comes exactly once, cursors stay
// below 2^53, and a MATCH filters members.
func TestZScanPagesABigSet(t *testing.T) {
	kk := startServer(t, nil)
	ctx := context.Background()
	c := client(t, kk.Addr().String(), 3)
	var members []redis.Z
	for i := range 1000 {
		members = append(members, redis.Z{Score: float64(i % 13), Member: fmt.Sprintf("m%d", i)})
	}
	if err := c.ZAdd(ctx, "z", members...).Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	cursor, pages := uint64(0), 0
	for {
		keys, next, err := c.ZScan(ctx, "z", cursor, "", 50).Result()
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for i := 0; i+1 < len(keys); i += 2 {
			seen[keys[i]]++
			want := "1" // extra members
			if n, err := strconv.Atoi(strings.TrimPrefix(keys[i], "m")); err == nil {
				want = strconv.Itoa(n % 13)
			}
			if keys[i+1] != want {
				t.Fatalf("%s has score %q, want %q", keys[i], keys[i+1], want)
			}
		}
		if next >= 1<<53 || pages > 200 {
			t.Fatalf("cursor %d after %d pages", next, pages)
		}
		if next == 0 {
			break
		}
		cursor = next
		c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: fmt.Sprintf("extra%d", pages)}) // writes between pages
	}
	for _, m := range members {
		if seen[m.Member.(string)] != 1 {
			t.Fatalf("%v returned %d times", m.Member, seen[m.Member.(string)])
		}
	}
	if pages < 10 {
		t.Fatalf("a 1000-member set came in %d pages of COUNT 50", pages)
	}
	keys, _, err := c.ZScan(ctx, "z", 0, "m99*", 100000).Result()
	if err != nil || len(keys) != 2*11 {
		t.Fatalf("MATCH m99* = %d elements, %v", len(keys), err)
	}
}

// ZRANDMEMBER's random forms: distinct members for a positive count,
// repetitions allowed for a negative one, scores that belong to them, and
// RESP3's [member, score] pairs.
func TestZRandMemberSamples(t *testing.T) {
	kk := startServer(t, nil)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		c := client(t, kk.Addr().String(), proto)
		c.Del(ctx, "z")
		scores := map[string]float64{}
		var members []redis.Z
		for i := range 300 {
			m := fmt.Sprintf("m%d", i)
			scores[m] = float64(i) / 4
			members = append(members, redis.Z{Score: scores[m], Member: m})
		}
		c.ZAdd(ctx, "z", members...)
		for _, count := range []int{1, 5, 99, 150, 299, 300, 1000, -1, -7, -600} {
			got, err := c.ZRandMemberWithScores(ctx, "z", count).Result()
			if err != nil {
				t.Fatal(err)
			}
			want := min(count, 300)
			if count < 0 {
				want = -count
			}
			if len(got) != want {
				t.Fatalf("RESP%d ZRANDMEMBER %d WITHSCORES: %d members", proto, count, len(got))
			}
			distinct := map[string]bool{}
			for _, z := range got {
				m := z.Member.(string)
				if s, ok := scores[m]; !ok || s != z.Score {
					t.Fatalf("RESP%d: %v is not a member with its score", proto, z)
				}
				distinct[m] = true
			}
			if count > 0 && len(distinct) != len(got) {
				t.Fatalf("RESP%d ZRANDMEMBER %d repeated a member", proto, count)
			}
			if count == -600 && len(distinct) < 200 {
				t.Fatalf("600 picks with repetitions hit only %d of 300 members", len(distinct))
			}
		}
		if m, err := c.ZRandMember(ctx, "z", 1).Result(); err != nil || len(m) != 1 || scores[m[0]] == 0 && m[0] != "m0" {
			t.Fatalf("ZRANDMEMBER z 1 = %v %v", m, err)
		}
	}
}

// keepkv's own limits: a member bbolt cannot store is refused, and a
// negative ZRANDMEMBER count that would build a reply of more than 2^20
// members is out of range (the limit HRANDFIELD and SRANDMEMBER share).
func TestZSetLimits(t *testing.T) {
	kk := startServer(t, nil)
	ctx := context.Background()
	c := client(t, kk.Addr().String(), 2)
	long := strings.Repeat("m", 40000)
	for _, args := range [][]any{{"ZADD", "z", "1", long}, {"ZINCRBY", "z", "1", long}, {"ZREM", "z", long}} {
		if err := c.Do(ctx, args...).Err(); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Fatalf("%v: %v", args[0], err)
		}
	}
	c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "a"})
	if err := c.Do(ctx, "ZRANDMEMBER", "z", "-100000000").Err(); err == nil || err.Error() != errRandomCount {
		t.Fatalf("huge negative count: %v", err)
	}
	if n, err := c.ZCard(ctx, "z").Result(); err != nil || n != 1 {
		t.Fatalf("ZCARD = %d %v", n, err)
	}
}
