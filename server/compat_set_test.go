package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keepkv/keepkv/storage"
	"github.com/redis/go-redis/v9"
)

// Set scripts whose replies are deterministic in Redis too: no reply
// lists more than one member of a set with several (those are compared in
// setUnordered), except sets of small integers, which Redis keeps sorted
// (an intset) as keepkv does.
var setScripts = [][][]any{
	{{"SADD", "s", "a", "b", "c"}, {"SADD", "s", "a", "d", "d"}, {"SCARD", "s"}, {"SISMEMBER", "s", "a"}, {"SISMEMBER", "s", "z"}, {"SISMEMBER", "none", "a"}, {"SMISMEMBER", "s", "a", "z", "d"}, {"SMISMEMBER", "none", "a", "b"}, {"SREM", "s", "a", "z", "a"}, {"SREM", "none", "a"}, {"SCARD", "s"}, {"SCARD", "none"}, {"TYPE", "s"}, {"DBSIZE"},
		{"SADD", "s"}, {"SREM", "s"}, {"SISMEMBER", "s"}, {"SMISMEMBER", "s"}, {"SCARD"}, {"SMEMBERS"}, {"SPOP"}, {"SRANDMEMBER"}, {"SINTER"}, {"SUNION"}, {"SDIFF"}, {"SINTERSTORE", "d"}, {"SUNIONSTORE", "d"}, {"SDIFFSTORE", "d"}, {"SINTERCARD", "1"}, {"SSCAN", "s"}, {"SMOVE", "s", "t"}},
	{{"SADD", "s", "a"}, {"SREM", "s", "a"}, {"EXISTS", "s"}, {"SMEMBERS", "s"}, {"SPOP", "s"}, {"SPOP", "s", "3"}, {"SRANDMEMBER", "s"}, {"SRANDMEMBER", "s", "3"}, {"SRANDMEMBER", "s", "-3"}, {"SRANDMEMBER", "s", "0"},
		{"SADD", "s", "x"}, {"SPOP", "s"}, {"EXISTS", "s"}, {"SADD", "s", "y"}, {"SPOP", "s", "5"}, {"EXISTS", "s"}, {"SADD", "s", "z"}, {"SPOP", "s", "0"}, {"SRANDMEMBER", "s"}, {"SRANDMEMBER", "s", "-3"}, {"SRANDMEMBER", "s", "3"}, {"SRANDMEMBER", "s", "0"}, {"SMEMBERS", "s"}, {"SSCAN", "s", "0"}, {"DBSIZE"}},
	{{"SADD", "s", "a", "b"}, {"SPOP", "s", "-1"}, {"SPOP", "s", "x"}, {"SPOP", "s", "1", "2"}, {"SPOP", "none", "x"}, {"SRANDMEMBER", "s", "1", "2"}, {"SRANDMEMBER", "s", "x"}, {"SRANDMEMBER", "s", "1.5"}, {"SRANDMEMBER", "s", "-9223372036854775808"}, {"SRANDMEMBER", "none", "-9223372036854775807"}, {"SRANDMEMBER", "s", "9223372036854775807", "WITHSCORES"}, {"SCARD", "s"}},
	{{"SET", "str", "v"}, {"SADD", "str", "a"}, {"SREM", "str", "a"}, {"SMEMBERS", "str"}, {"SISMEMBER", "str", "a"}, {"SMISMEMBER", "str", "a"}, {"SCARD", "str"}, {"SPOP", "str"}, {"SPOP", "str", "1"}, {"SPOP", "str", "0"}, {"SRANDMEMBER", "str"}, {"SRANDMEMBER", "str", "1"}, {"SRANDMEMBER", "str", "0"}, {"SSCAN", "str", "0"}, {"SSCAN", "str", "x"},
		{"SADD", "s", "a"}, {"SMOVE", "str", "s", "a"}, {"SMOVE", "s", "str", "a"}, {"SMOVE", "s", "str", "zz"}, {"SMOVE", "none", "str", "a"}, {"SINTER", "s", "str"}, {"SINTER", "none", "str"}, {"SINTER", "str", "none"}, {"SUNION", "str"}, {"SDIFF", "s", "str"}, {"SDIFF", "none", "str"},
		{"SINTERSTORE", "d", "s", "str"}, {"SUNIONSTORE", "d", "str"}, {"SDIFFSTORE", "d", "s", "str"}, {"SINTERCARD", "2", "s", "str"}, {"SINTERCARD", "2", "none", "str"}, {"EXISTS", "d"},
		{"HSET", "h", "a", "1"}, {"SADD", "h", "a"}, {"SMEMBERS", "h"}, {"SCARD", "h"}, {"HGET", "s", "a"}, {"HLEN", "s"}, {"GET", "s"}, {"TYPE", "s"}, {"SCAN", "0", "TYPE", "set"}},
	{{"SADD", "a", "x", "y"}, {"SMOVE", "a", "b", "x"}, {"SMOVE", "a", "b", "x"}, {"SMOVE", "a", "a", "y"}, {"SMOVE", "a", "a", "q"}, {"SMOVE", "none", "b", "x"}, {"SMOVE", "none", "none", "x"}, {"SADD", "c", "y"}, {"SMOVE", "a", "c", "y"}, {"EXISTS", "a"}, {"SMEMBERS", "b"}, {"SMEMBERS", "c"}, {"SMOVE", "b", "c", "x"}, {"EXISTS", "b"}, {"SCARD", "c"}, {"SMOVE", "a"}, {"SMOVE", "c", "c", "x"}, {"DBSIZE"}},
	{{"SADD", "a", "1", "2", "3", "4"}, {"SADD", "b", "3", "4", "5"}, {"SINTERCARD", "2", "a", "b"}, {"SINTERCARD", "2", "a", "b", "LIMIT", "1"}, {"SINTERCARD", "2", "a", "b", "LIMIT", "0"}, {"SINTERCARD", "2", "a", "b", "limit", "5"}, {"SINTERCARD", "1", "a"}, {"SINTERCARD", "3", "a", "b", "none"}, {"SINTERCARD", "2", "a", "a"},
		{"SINTERCARD", "0", "a"}, {"SINTERCARD", "3", "a", "b"}, {"SINTERCARD", "x", "a"}, {"SINTERCARD", "-1", "a"}, {"SINTERCARD", "1", "a", "LIMIT", "-1"}, {"SINTERCARD", "1", "a", "LIMIT", "x"}, {"SINTERCARD", "1", "a", "FOO"}, {"SINTERCARD", "1", "a", "LIMIT"}, {"SINTERCARD", "1", "a", "LIMIT", "1", "LIMIT", "0"}, {"SINTERCARD", "2", "a"}, {"SINTERCARD", "9223372036854775807", "a"}, {"SINTERCARD", "1", "none"}},
	{{"SADD", "a", "1", "2", "3", "4"}, {"SADD", "b", "3", "4", "5"}, {"SINTERSTORE", "d", "a", "b"}, {"SMEMBERS", "d"}, {"SUNIONSTORE", "u", "a", "b", "none"}, {"SMEMBERS", "u"}, {"SDIFFSTORE", "df", "a", "b"}, {"SMEMBERS", "df"}, {"SDIFFSTORE", "df", "none", "a"}, {"EXISTS", "df"},
		{"SINTER", "a", "b"}, {"SUNION", "a", "b"}, {"SDIFF", "a", "b"}, {"SDIFF", "b", "a", "none"}, {"SINTER", "a"}, {"SINTER", "a", "none"}, {"SUNION", "none"}, {"SDIFF", "a", "a"},
		{"SET", "str", "v", "EX", "100"}, {"SINTERSTORE", "str", "a", "b"}, {"TYPE", "str"}, {"TTL", "str"}, {"SADD", "t", "9"}, {"EXPIRE", "t", "100"}, {"SUNIONSTORE", "t", "t", "b"}, {"TTL", "t"}, {"SMEMBERS", "t"},
		{"SUNIONSTORE", "a", "a", "b"}, {"SMEMBERS", "a"}, {"SINTERSTORE", "x", "a", "none"}, {"EXISTS", "x"}, {"SET", "x", "v"}, {"SINTERSTORE", "x", "a", "none"}, {"EXISTS", "x"}, {"SDIFFSTORE", "a", "a", "a"}, {"EXISTS", "a"}, {"DBSIZE"}},
	{{"SADD", "s", "1", "2", "3"}, {"SSCAN", "s", "0"}, {"SSCAN", "s", "0", "MATCH", "2"}, {"SSCAN", "s", "5"}, {"SSCAN", "s", "x"}, {"SSCAN", "s", "-1"}, {"SSCAN", "none", "0", "COUNT", "0"}, {"SSCAN", "s", "0", "COUNT", "0"}, {"SSCAN", "s", "0", "FOO", "x"}, {"SSCAN", "s", "0", "MATCH"}, {"SMEMBERS", "s"}, {"SRANDMEMBER", "s", "5"}, {"SPOP", "s", "3"}, {"EXISTS", "s"}},
	{{"SADD", "s", "a"}, {"EXPIRE", "s", "100"}, {"SADD", "s", "b"}, {"SREM", "s", "a"}, {"SPOP", "s", "0"}, {"TTL", "s"}, {"SMOVE", "s", "t", "b"}, {"EXISTS", "s"}, {"TTL", "t"}, {"SADD", "t", "c"}, {"RENAME", "t", "u"}, {"SCARD", "u"}, {"TYPE", "u"}, {"SADD", "v", "1", "2"}, {"PEXPIREAT", "v", "1"}, {"SCARD", "v"}, {"SADD", "v", "3"}, {"SMEMBERS", "v"},
		{"SADD", "e", ""}, {"SISMEMBER", "e", ""}, {"SCARD", "e"}, {"SADD", "e", "b\x00in"}, {"SISMEMBER", "e", "b\x00in"}, {"SREM", "e", "", "b\x00in"}, {"EXISTS", "e"}, {"DBSIZE"}},
}

func init() { compatScripts = append(compatScripts, setScripts...) }

var setUnordered = []unorderedScript{
	{{"SADD", "s", "a", "b", "c", "d", "e"}, {"SADD", "t", "d", "e", "f"}, {"~sorted", "SMEMBERS", "s"}, {"~sorted", "SINTER", "s", "t"}, {"~sorted", "SUNION", "s", "t", "none"}, {"~sorted", "SDIFF", "s", "t"}, {"~sorted", "SDIFF", "t", "s"},
		{"SINTERSTORE", "i", "s", "t"}, {"~sorted", "SMEMBERS", "i"}, {"SUNIONSTORE", "u", "s", "t"}, {"~sorted", "SMEMBERS", "u"}, {"SDIFFSTORE", "d", "s", "t"}, {"~sorted", "SMEMBERS", "d"},
		{"~shape", "SRANDMEMBER", "s"}, {"~shape", "SRANDMEMBER", "s", "2"}, {"~shape", "SRANDMEMBER", "s", "-9"}, {"~sorted", "SRANDMEMBER", "s", "10"}, {"~sorted", "SRANDMEMBER", "s", "5"},
		{"~scan", "SSCAN", "s"}, {"~scan", "SSCAN", "s", "MATCH", "[a-c]"}, {"~scan", "SSCAN", "s", "COUNT", "1"},
		{"~shape", "SPOP", "s"}, {"~shape", "SPOP", "s", "2"}, {"SCARD", "s"}, {"~shape", "SPOP", "s", "5"}, {"EXISTS", "s"}},
	func() unorderedScript {
		s := unorderedScript{bigSAdd("big", 300), bigSAdd("odd", 300)[:2+150]}
		return append(s, unorderedScript{{"SCARD", "big"}, {"SCARD", "odd"}, {"~sorted", "SMEMBERS", "big"}, {"~sorted", "SINTER", "big", "odd"}, {"SINTERCARD", "2", "big", "odd"}, {"SINTERCARD", "2", "big", "odd", "LIMIT", "10"},
			{"~sorted", "SDIFF", "big", "odd"}, {"~sorted", "SUNION", "odd", "big"},
			{"~scan", "SSCAN", "big"}, {"~scan", "SSCAN", "big", "COUNT", "7"}, {"~scan", "SSCAN", "big", "MATCH", "m1*"}, {"~scan", "SSCAN", "big", "COUNT", "1000"},
			{"~shape", "SRANDMEMBER", "big", "20"}, {"~shape", "SRANDMEMBER", "big", "-500"}, {"~sorted", "SRANDMEMBER", "big", "300"},
			{"~shape", "SPOP", "big", "100"}, {"SCARD", "big"}, {"~shape", "SPOP", "big", "150"}, {"SCARD", "big"}, {"~shape", "SPOP", "big", "1000"}, {"EXISTS", "big"},
			{"SUNIONSTORE", "u", "odd", "odd"}, {"SCARD", "u"}, {"SMOVE", "u", "v", "m000"}, {"SCARD", "u"}, {"SCARD", "v"}}...)
	}(),
	// Small integer sets: Redis keeps an intset (sorted, one SSCAN page).
	{{"SADD", "n", "3", "1", "2", "10", "-5"}, {"~sorted", "SMEMBERS", "n"}, {"~scan", "SSCAN", "n"}, {"SISMEMBER", "n", "10"}, {"SISMEMBER", "n", "010"}, {"~sorted", "SUNION", "n"}},
}

// bigSAdd is SADD key m000 m001 ...: more members than Redis keeps small.
func bigSAdd(key string, n int) []any {
	c := []any{"SADD", key}
	for i := range n {
		c = append(c, fmt.Sprintf("m%03d", i*7%n)) // scrambled: n is prime to 7
	}
	return c
}

func TestCompatSetUnorderedWithRedisServer(t *testing.T) {
	compareUnordered(t, setUnordered)
}

// Random picks are members, distinct where they must be, and spread: checked
// on keepkv alone (Redis picks differently).
func TestSetRandomPicksAreMembers(t *testing.T) {
	kk := startServer(t, nil)
	c := client(t, kk.Addr().String(), 3)
	ctx := context.Background()
	args := []any{"SADD", "s"}
	for i := range 2000 {
		args = append(args, fmt.Sprintf("member:%04d", i))
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	check := func(members []string, distinct bool) {
		t.Helper()
		seen := map[string]bool{}
		for _, m := range members {
			if ok, _ := c.SIsMember(ctx, "s", m).Result(); !ok {
				t.Fatalf("%q is no member", m)
			}
			if distinct && seen[m] {
				t.Fatalf("%q twice", m)
			}
			seen[m] = true
		}
	}
	r, err := c.SRandMemberN(ctx, "s", 50).Result()
	if err != nil || len(r) != 50 {
		t.Fatalf("SRANDMEMBER 50: %d %v", len(r), err)
	}
	check(r, true)
	r, _ = c.SRandMemberN(ctx, "s", -3000).Result()
	if len(r) != 3000 {
		t.Fatalf("SRANDMEMBER -3000: %d", len(r))
	}
	check(r[:200], false)
	spread := map[string]bool{}
	for _, m := range r {
		spread[m[:8]] = true // member:0 .. member:1
	}
	if len(spread) != 2 {
		t.Fatalf("3000 picks from one half only: %v", spread)
	}
	popped, err := c.SPopN(ctx, "s", 700).Result()
	if err != nil || len(popped) != 700 {
		t.Fatalf("SPOP 700: %d %v", len(popped), err)
	}
	seen := map[string]bool{}
	for _, m := range popped {
		if seen[m] {
			t.Fatalf("popped %q twice", m)
		}
		seen[m] = true
		if ok, _ := c.SIsMember(ctx, "s", m).Result(); ok {
			t.Fatalf("popped %q is still a member", m)
		}
	}
	if n, _ := c.SCard(ctx, "s").Result(); n != 1300 {
		t.Fatalf("SCARD after SPOP 700: %d", n)
	}
	// The cap on repeated picks.
	if err := c.Do(ctx, "SRANDMEMBER", "s", fmt.Sprint(-maxRandomCount-1)).Err(); err == nil {
		t.Fatal("SRANDMEMBER past the cap succeeded")
	}
	if err := c.Do(ctx, "HSET", "h", "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "HRANDFIELD", "h", fmt.Sprint(-maxRandomCount-1)).Err(); err == nil {
		t.Fatal("HRANDFIELD past the cap succeeded")
	}
	// A reply of a million fields: under -race, beside the other packages'
	// tests on two cores, it took over client's 10 s read timeout once.
	slow := redis.NewClient(&redis.Options{Addr: kk.Addr().String(), Protocol: 3, DisableIdentity: true,
		MaxRetries: -1, ReadTimeout: 2 * time.Minute})
	defer slow.Close()
	if r, err := slow.Do(ctx, "HRANDFIELD", "h", fmt.Sprint(-maxRandomCount)).Slice(); err != nil || len(r) != maxRandomCount {
		t.Fatalf("HRANDFIELD at the cap: %d %v", len(r), err)
	}
}

// Fields and members become part of a bbolt key: a longer one is refused
// before anything is proposed, and reads simply find nothing under it.
func TestHashSetElementLengthLimit(t *testing.T) {
	kk := startServer(t, nil)
	c := client(t, kk.Addr().String(), 2)
	ctx := context.Background()
	long := strings.Repeat("x", storage.MaxKeyLen+1)
	for _, args := range [][]any{
		{"HSET", "h", "a", "1", long, "v"}, {"HMSET", "h", long, "v"}, {"HSETNX", "h", long, "v"}, {"HDEL", "h", "a", long},
		{"HINCRBY", "h", long, "1"}, {"HINCRBYFLOAT", "h", long, "1"},
		{"SADD", "s", "a", long}, {"SREM", "s", long}, {"SMOVE", "s", "t", long},
	} {
		if err := c.Do(ctx, args...).Err(); err == nil || err.Error() != errKeyTooLong {
			t.Errorf("%v...: %v", args[:2], err)
		}
	}
	if n, _ := c.Exists(ctx, "h", "s", "t").Result(); n != 0 {
		t.Fatalf("a refused command created %d keys", n)
	}
	ok := strings.Repeat("y", storage.MaxKeyLen)
	if err := c.Do(ctx, "HSET", "h", ok, "v").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "SADD", "s", ok).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.HGet(ctx, "h", ok).Result(); v != "v" {
		t.Fatalf("HGET of a %d-byte field: %q", len(ok), v)
	}
	if err := c.HGet(ctx, "h", long).Err(); err != redis.Nil {
		t.Fatalf("HGET of a too long field: %v", err)
	}
	if m, _ := c.SIsMember(ctx, "s", long).Result(); m {
		t.Fatal("SISMEMBER of a too long member")
	}
}

// A SPOP of its own entry picks quickly; one built inside apply (MULTI,
// scripts) does not, so that replaying an EXEC or EVAL entry logged by an
// older keepkv pops what it popped then.
func TestSPopQuickPickOnlyOutsideApply(t *testing.T) {
	args := [][]byte{[]byte("SPOP"), []byte("s")}
	c, errMsg := cmdSPop(&execCtx{}, args)
	if errMsg != "" || c.Flags&storage.FlagQuickPick == 0 {
		t.Fatalf("SPOP of its own entry: flags %b, error %q", c.Flags, errMsg)
	}
	c, errMsg = cmdSPop(&execCtx{txn: &storage.Txn{}}, args)
	if errMsg != "" || c.Flags&storage.FlagQuickPick != 0 {
		t.Fatalf("SPOP inside apply: flags %b, error %q", c.Flags, errMsg)
	}
}
