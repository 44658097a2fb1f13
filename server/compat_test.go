package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// compatScripts run against redis-server and keepkv; every reply, value or
// error text, must be identical. Each script starts on an empty keyspace.
var compatScripts = [][][]any{
	// strings
	{{"SET", "k", "v"}, {"GET", "k"}, {"SET", "k", "v2", "NX"}, {"SET", "k", "v2", "XX", "GET"}, {"GET", "k"}, {"SET", "n", "1", "XX"}, {"SET", "n", "1", "NX", "GET"}},
	{{"SET", "k", "v", "NX", "XX"}, {"SET", "k", "v", "EX", "0"}, {"SET", "k", "v", "EX", "-5"}, {"SET", "k", "v", "EX", "abc"}, {"SET", "k", "v", "EX", "10", "PX", "100"}, {"SET", "k", "v", "KEEPTTL", "EX", "10"}, {"SET", "k", "v", "EX"}, {"SET", "k", "v", "FOO"}, {"SET", "k"}, {"GET"}, {"GET", "a", "b"}, {"SET", "k", "v", "EX", "9223372036854775807"}, {"SET", "k", "v", "PXAT", "1"}, {"GET", "k"}},
	{{"SET", "k", "v", "EX", "100"}, {"SET", "k", "w", "KEEPTTL"}, {"TTL", "k"}, {"SET", "k", "x"}, {"TTL", "k"}, {"SET", "k", "v", "get", "ex", "100"}, {"TTL", "k"}},
	{{"SETNX", "k", "1"}, {"SETNX", "k", "2"}, {"GET", "k"}, {"SETEX", "e", "0", "v"}, {"SETEX", "e", "x", "v"}, {"SETEX", "e", "100", "v"}, {"TTL", "e"}, {"PSETEX", "p", "-1", "v"}, {"PSETEX", "p", "100000", "v"}, {"GETSET", "k", "3"}, {"GETSET", "nokey", "1"}},
	{{"MSET", "a", "1", "b", "2"}, {"MGET", "a", "b", "c"}, {"MSET", "a"}, {"MSET", "a", "1", "b"}, {"MSETNX", "a", "1", "z", "2"}, {"MSETNX", "y", "1", "z", "2"}, {"MGET", "y", "z"}, {"MSET", "a", "1", "a", "2"}, {"GET", "a"}},
	{{"INCR", "n"}, {"INCRBY", "n", "10"}, {"DECR", "n"}, {"DECRBY", "n", "5"}, {"INCRBY", "n", "abc"}, {"INCRBY", "n", "1.5"}, {"DECRBY", "n", "-9223372036854775808"}, {"SET", "n", "9223372036854775807"}, {"INCR", "n"}, {"SET", "n", "-9223372036854775808"}, {"DECR", "n"}, {"SET", "s", "abc"}, {"INCR", "s"}, {"SET", "z", "01"}, {"INCR", "z"}, {"SET", "z", " 1"}, {"INCR", "z"}},
	{{"INCRBYFLOAT", "f", "10.5"}, {"INCRBYFLOAT", "f", "0.1"}, {"INCRBYFLOAT", "f", "-0.6"}, {"SET", "f", "5.0e3"}, {"INCRBYFLOAT", "f", "2.0e2"}, {"INCRBYFLOAT", "f", "abc"}, {"INCRBYFLOAT", "f", ""}, {"SET", "g", "0.1"}, {"INCRBYFLOAT", "g", "0.2"}, {"SET", "h", "abc"}, {"INCRBYFLOAT", "h", "1"}, {"INCRBYFLOAT", "i", "1e308"}, {"INCRBYFLOAT", "i", "1e308"}, {"INCRBYFLOAT", "j", "3"}, {"INCRBYFLOAT", "j", "-3"}, {"INCRBYFLOAT", "t", "1000000E-00000202000000"}, {"INCRBYFLOAT", "t", "1e-5000"}, {"INCRBYFLOAT", "t", "1e5000"}, {"INCRBYFLOAT", "t", "0e-99999999"}, {"INCRBYFLOAT", "t", "1e-4950"}, {"INCRBYFLOAT", "t", "3.6e-4951"}, {"SET", "u", "1e-5000"}, {"INCRBYFLOAT", "u", "1"}, {"HINCRBYFLOAT", "hu", "f", "1e-5000"}, {"HINCRBYFLOAT", "hu", "f", "1e300000000"}, {"BLPOP", "kb", "1e5000"}, {"BLPOP", "kb", "1e-5000"}},
	{{"APPEND", "a", "hello"}, {"APPEND", "a", " world"}, {"GET", "a"}, {"STRLEN", "a"}, {"STRLEN", "none"}, {"GETRANGE", "a", "0", "4"}, {"GETRANGE", "a", "-5", "-1"}, {"GETRANGE", "a", "5", "2"}, {"GETRANGE", "a", "-1", "-5"}, {"GETRANGE", "a", "0", "100"}, {"GETRANGE", "a", "x", "1"}, {"GETRANGE", "none", "0", "1"}, {"GETRANGE", "a", "-100", "-50"}},
	{{"SETRANGE", "r", "5", "hi"}, {"GET", "r"}, {"SETRANGE", "r", "0", "HE"}, {"GET", "r"}, {"SETRANGE", "r", "-1", "x"}, {"SETRANGE", "r", "x", "x"}, {"SETRANGE", "none", "3", ""}, {"EXISTS", "none"}, {"SETRANGE", "r", "1", ""}, {"SETRANGE", "r", "536870912", "x"}},
	{{"SET", "k", "v"}, {"GETDEL", "k"}, {"GETDEL", "k"}, {"SET", "k", "v"}, {"GETEX", "k"}, {"GETEX", "k", "EX", "100"}, {"TTL", "k"}, {"GETEX", "k", "PERSIST"}, {"TTL", "k"}, {"GETEX", "k", "EX", "0"}, {"GETEX", "k", "FOO"}, {"GETEX", "k", "EX"}, {"GETEX", "k", "PX", "100", "PERSIST"}, {"GETEX", "none", "EX", "10"}, {"GETEX", "k", "EXAT", "1"}, {"GET", "k"}},
	// keys
	{{"MSET", "a", "1", "b", "2", "c", "3"}, {"DEL", "a", "b", "x"}, {"UNLINK", "c"}, {"EXISTS", "a", "c"}, {"SET", "d", "1"}, {"EXISTS", "d", "d", "x"}, {"TOUCH", "d", "x"}, {"TYPE", "d"}, {"TYPE", "x"}, {"DEL"}},
	{{"SET", "a", "1"}, {"RENAME", "a", "b"}, {"GET", "b"}, {"RENAME", "x", "y"}, {"RENAME", "b", "b"}, {"RENAMENX", "b", "b"}, {"SET", "c", "2"}, {"RENAMENX", "b", "c"}, {"RENAMENX", "b", "d"}, {"EXISTS", "b", "d"}, {"RENAMENX", "x", "y"}},
	{{"SET", "e", "v", "EX", "100"}, {"RENAME", "e", "f"}, {"TTL", "f"}, {"SET", "f2", "v"}, {"RENAME", "f2", "f"}, {"TTL", "f"}},
	{{"MSET", "user:1", "a", "user:2", "b", "session:x", "c", "u?", "d", "u[", "e"}, {"KEYS", "user:*"}, {"KEYS", "*"}, {"KEYS", "user:[12]"}, {"KEYS", "user:[^1]"}, {"KEYS", "u\\?"}, {"KEYS", "?????????"}, {"KEYS", "[a-t]*"}, {"KEYS", "nomatch"}},
	{{"SCAN", "abc"}, {"SCAN", "0", "COUNT", "0"}, {"SCAN", "0", "COUNT", "x"}, {"SCAN", "0", "FOO", "1"}, {"SCAN", "0", "MATCH"}, {"SCAN", "-1"}, {"RANDOMKEY"}, {"SET", "only", "1"}, {"RANDOMKEY"}, {"DBSIZE"}},
	// expiry
	{{"SET", "k", "v"}, {"TTL", "k"}, {"PTTL", "none"}, {"EXPIRE", "k", "100"}, {"TTL", "k"}, {"EXPIRE", "k", "50", "GT"}, {"EXPIRE", "k", "200", "GT"}, {"TTL", "k"}, {"EXPIRE", "k", "300", "LT"}, {"EXPIRE", "k", "150", "LT"}, {"TTL", "k"}, {"EXPIRE", "k", "10", "NX"}, {"EXPIRE", "k", "10", "XX"}, {"TTL", "k"}, {"PERSIST", "k"}, {"PERSIST", "k"}, {"EXPIRE", "k", "10", "XX"}, {"EXPIRE", "k", "10", "GT"}, {"EXPIRE", "k", "10", "LT"}, {"TTL", "k"}},
	{{"SET", "k", "v"}, {"EXPIRE", "k", "10", "NX", "XX"}, {"EXPIRE", "k", "10", "GT", "LT"}, {"EXPIRE", "k", "10", "NX", "GT"}, {"EXPIRE", "k", "10", "FOO"}, {"EXPIRE", "k", "abc"}, {"EXPIRE", "k", "9223372036854775807"}, {"PEXPIRE", "k", "9223372036854775807"}, {"EXPIRE", "none", "10"}, {"EXPIRE", "k", "-1"}, {"EXISTS", "k"}, {"SET", "k", "v"}, {"PEXPIREAT", "k", "1"}, {"EXISTS", "k"}, {"SET", "k", "v"}, {"EXPIREAT", "k", "4102444800"}, {"EXPIRETIME", "k"}, {"PEXPIRETIME", "k"}, {"EXPIRETIME", "none"}, {"SET", "p", "v"}, {"EXPIRETIME", "p"}},
	// type errors are impossible without other types; connection and server
	{{"PING"}, {"PING", "hi"}, {"PING", "a", "b"}, {"ECHO", "x"}, {"ECHO"}, {"SELECT", "16"}, {"SELECT", "-1"}, {"SELECT", "abc"}, {"SELECT", "1"}, {"SET", "in1", "v"}, {"DBSIZE"}, {"SELECT", "0"}, {"DBSIZE"}, {"EXISTS", "in1"}, {"FLUSHDB", "FOO"}, {"FLUSHDB", "ASYNC"}, {"FLUSHALL", "SYNC", "X"}, {"FLUSHALL", "SYNC"}},
	{{"NOSUCH"}, {"NOSUCH", "a", "b"}, {"nosuch", "x"}, {"AUTH", "pw"}, {"AUTH", "default", "pw"}, {"AUTH", "someone", "pw"}, {"HELLO", "4"}, {"HELLO", "abc"}, {"HELLO", "2", "FOO"}, {"HELLO", "2", "AUTH", "default"}, {"CLIENT", "SETNAME", "a b"}, {"CLIENT", "SETNAME", "ok-name"}, {"CLIENT", "GETNAME"}, {"CLIENT", "FOO"}, {"CLIENT", "GETNAME", "x"}, {"CONFIG", "GET", "databases"}, {"CONFIG", "GET", "maxmemory-policy"}, {"CONFIG", "FOO"}, {"COMMAND", "INFO", "nosuch"}, {"COMMAND", "FOO"}},
	{{"COMMAND", "GETKEYS", "SET", "a", "b"}, {"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"}, {"COMMAND", "GETKEYS", "DEL", "a", "b", "c"}, {"COMMAND", "GETKEYS", "PING"}, {"COMMAND", "GETKEYS", "PING", "x"}, {"COMMAND", "GETKEYS", "NOSUCH", "x"}, {"COMMAND", "GETKEYS", "GET", "a", "b"}, {"COMMAND", "GETKEYS"}, {"COMMAND", "COUNT", "x"}, {"COMMAND", "LIST", "x"}, {"CLIENT", "NO-EVICT", "maybe"}, {"CLIENT", "NO-EVICT", "on"}, {"CLIENT", "LIST", "TYPE", "bogus"}, {"CLIENT", "LIST", "ID", "abc"}, {"CLIENT", "LIST", "x"}, {"SCAN", ""}, {"INCRBYFLOAT", "hx", "0x10"}, {"INCRBYFLOAT", "hx", "-0x1.8p1"}, {"INCRBYFLOAT", "hx", "0x"}, {"SHUTDOWN", "ABORT"}, {"SHUTDOWN", "SAVE", "NOSAVE"}, {"SHUTDOWN", "BOGUS"}},
}

// normalise makes replies comparable: KEYS order is unspecified.
func normalise(args []any, v any, err error) string {
	if list, ok := v.([]any); ok && strings.EqualFold(fmt.Sprint(args[0]), "keys") {
		s := make([]string, len(list))
		for i := range list {
			s[i] = fmt.Sprint(list[i])
		}
		sort.Strings(s)
		v = s
	}
	if err != nil && err != redis.Nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%T %v", v, v)
}

func runScript(t *testing.T, c *redis.Conn, script [][]any) []string {
	ctx := context.Background()
	if err := c.Do(ctx, "FLUSHALL").Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, args := range script {
		v, err := c.Do(ctx, args...).Result()
		out = append(out, normalise(args, v, err))
	}
	c.Do(ctx, "SELECT", "0")
	return out
}

func TestCompatibilityWithRedisServer(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := context.Background()
			rc := client(t, redisAddr, proto).Conn()
			defer rc.Close()
			kc := client(t, kk.Addr().String(), proto).Conn()
			defer kc.Close()
			for i, script := range compatScripts {
				want := runScript(t, rc, script)
				got := runScript(t, kc, script)
				for j := range script {
					if want[j] != got[j] {
						t.Errorf("script %d, %v:\n redis:  %s\n keepkv: %s", i, script[j], want[j], got[j])
					}
				}
			}
			_ = ctx
		})
	}
}
