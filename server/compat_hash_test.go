package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Hash scripts whose replies are deterministic in Redis too: fields are
// inserted in sorted order, so a small (listpack) hash lists them in the
// order keepkv keeps them, and random commands meet hashes of one field.
var hashScripts = [][][]any{
	{{"HSET", "h", "a", "1", "b", "2"}, {"HSET", "h", "b", "3", "c", "4"}, {"HGET", "h", "b"}, {"HGET", "h", "zz"}, {"HGET", "none", "a"}, {"HMGET", "h", "a", "zz", "c"}, {"HMGET", "none", "a", "b"}, {"HLEN", "h"}, {"HLEN", "none"}, {"HEXISTS", "h", "a"}, {"HEXISTS", "h", "zz"}, {"HEXISTS", "none", "a"}, {"HSTRLEN", "h", "c"}, {"HSTRLEN", "h", "zz"}, {"HSTRLEN", "none", "a"}, {"HGETALL", "h"}, {"HKEYS", "h"}, {"HVALS", "h"}, {"HGETALL", "none"}, {"HKEYS", "none"}, {"HVALS", "none"}, {"TYPE", "h"}, {"DBSIZE"}},
	{{"HSET", "h", "a"}, {"HSET", "h", "a", "1", "b"}, {"HSET", "h"}, {"HMSET", "h", "a", "1", "b"}, {"HMSET", "h", "a", "1", "b", "2"}, {"HGETALL", "h"}, {"HSETNX", "h", "a", "x"}, {"HSETNX", "h", "n", "x"}, {"HGET", "h", "n"}, {"HSETNX", "h", "a"}, {"HSETNX", "h2", "f", "v"}, {"HGETALL", "h2"}, {"HGET", "h"}, {"HDEL", "h"}, {"HMGET", "h"}, {"HLEN"}, {"HGETALL", "h", "x"}, {"HEXISTS", "h"}, {"HSTRLEN", "h", "a", "b"}, {"HINCRBY", "h", "a"}, {"HINCRBYFLOAT", "h", "a"}, {"HRANDFIELD"}, {"HSCAN", "h"}},
	{{"HSET", "h", "a", "1", "b", "2"}, {"HDEL", "h", "a", "zz", "a"}, {"HGETALL", "h"}, {"HDEL", "h", "b"}, {"EXISTS", "h"}, {"TYPE", "h"}, {"HLEN", "h"}, {"HDEL", "h", "b"}, {"HDEL", "none", "a"}, {"HSET", "h", "x", "1"}, {"HGETALL", "h"}, {"DBSIZE"}},
	{{"SET", "s", "v"}, {"HSET", "s", "a", "1"}, {"HSETNX", "s", "a", "1"}, {"HMSET", "s", "a", "1"}, {"HGET", "s", "a"}, {"HMGET", "s", "a"}, {"HDEL", "s", "a"}, {"HEXISTS", "s", "a"}, {"HLEN", "s"}, {"HSTRLEN", "s", "a"}, {"HKEYS", "s"}, {"HVALS", "s"}, {"HGETALL", "s"}, {"HINCRBY", "s", "a", "1"}, {"HINCRBYFLOAT", "s", "a", "1"}, {"HRANDFIELD", "s"}, {"HRANDFIELD", "s", "2"}, {"HRANDFIELD", "s", "0"}, {"HSCAN", "s", "0"}, {"GET", "s"},
		{"HSET", "h", "a", "1"}, {"GET", "h"}, {"INCR", "h"}, {"APPEND", "h", "x"}, {"STRLEN", "h"}, {"GETRANGE", "h", "0", "1"}, {"SETRANGE", "h", "0", "x"}, {"MGET", "h", "s"}, {"GETSET", "h", "v"}, {"HGET", "h", "a"}, {"TYPE", "h"}, {"SCAN", "0", "TYPE", "hash"}, {"SCAN", "0", "TYPE", "string"}},
	{{"HINCRBY", "h", "n", "5"}, {"HINCRBY", "h", "n", "-10"}, {"HINCRBY", "h", "n", "x"}, {"HINCRBY", "h", "n", "1.5"}, {"HINCRBY", "h", "n", "99999999999999999999"}, {"HGET", "h", "n"}, {"HSET", "h", "big", "9223372036854775806"}, {"HINCRBY", "h", "big", "1"}, {"HINCRBY", "h", "big", "1"}, {"HINCRBY", "h", "neg", "-9223372036854775808"}, {"HINCRBY", "h", "neg", "-1"}, {"HINCRBY", "h", "neg", "0"}, {"HSET", "h", "s", "abc"}, {"HINCRBY", "h", "s", "1"}, {"HSET", "h", "sp", " 1"}, {"HINCRBY", "h", "sp", "1"}, {"HSET", "h", "z", "01"}, {"HINCRBY", "h", "z", "1"}, {"HINCRBY", "h2", "f", "-3"}, {"HGETALL", "h2"}},
	{{"HINCRBYFLOAT", "h", "f", "10.5"}, {"HINCRBYFLOAT", "h", "f", "0.1"}, {"HINCRBYFLOAT", "h", "f", "-5"}, {"HINCRBYFLOAT", "h", "f", "1e3"}, {"HINCRBYFLOAT", "h", "f", "abc"}, {"HINCRBYFLOAT", "h", "f", ""}, {"HINCRBYFLOAT", "h", "f", "inf"}, {"HINCRBYFLOAT", "h", "f", "-inf"}, {"HINCRBYFLOAT", "h", "f", "nan"}, {"HGET", "h", "f"}, {"HSET", "h", "s", "abc"}, {"HINCRBYFLOAT", "h", "s", "1"}, {"HINCRBYFLOAT", "h", "g", "1e308"}, {"HINCRBYFLOAT", "h", "g", "1e308"}, {"HINCRBYFLOAT", "h", "i", "5.0e3"}, {"HINCRBYFLOAT", "h", "i", "2.0e2"}, {"HINCRBYFLOAT", "h", "j", "3"}, {"HINCRBYFLOAT", "h", "j", "-3"}, {"HINCRBYFLOAT", "h", "k", "0.1"}, {"HINCRBYFLOAT", "h", "k", "0.2"}, {"HSET", "h", "n", "5"}, {"HINCRBYFLOAT", "h", "n", "1.5"}, {"HINCRBY", "h", "n", "1"}, {"HSET", "h", "e", "1e400"}, {"HINCRBYFLOAT", "h", "e", "1"}},
	{{"HRANDFIELD", "none"}, {"HRANDFIELD", "none", "5"}, {"HRANDFIELD", "none", "-5", "WITHVALUES"}, {"HRANDFIELD", "none", "x"}, {"HSET", "h", "a", "1"}, {"HRANDFIELD", "h"}, {"HRANDFIELD", "h", "5"}, {"HRANDFIELD", "h", "-3"}, {"HRANDFIELD", "h", "5", "WITHVALUES"}, {"HRANDFIELD", "h", "-2", "WITHVALUES"}, {"HRANDFIELD", "h", "0"}, {"HRANDFIELD", "h", "0", "WITHVALUES"}, {"HRANDFIELD", "h", "x"}, {"HRANDFIELD", "h", "x", "FOO"}, {"HRANDFIELD", "h", "1", "FOO"}, {"HRANDFIELD", "h", "1", "WITHVALUES", "x"}, {"HRANDFIELD", "h", "-9223372036854775808"}, {"HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"}, {"HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"}, {"HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"}, {"HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"}, {"HRANDFIELD", "h", "9223372036854775808"},
		{"HSET", "h2", "a", "1", "b", "2", "c", "3"}, {"HRANDFIELD", "h2", "3"}, {"HRANDFIELD", "h2", "10", "WITHVALUES"}},
	{{"HSET", "h", "a", "1", "b", "2", "c", "3"}, {"HSCAN", "h", "0"}, {"HSCAN", "h", "0", "COUNT", "1"}, {"HSCAN", "h", "0", "MATCH", "a*"}, {"HSCAN", "h", "0", "MATCH", "*"}, {"HSCAN", "h", "0", "count", "1", "match", "*b"}, {"HSCAN", "h", "123"}, {"HSCAN", "h", "x"}, {"HSCAN", "h", "-1"}, {"HSCAN", "h", "18446744073709551616"}, {"HSCAN", "h", "0", "COUNT", "0"}, {"HSCAN", "h", "0", "COUNT", "x"}, {"HSCAN", "h", "0", "COUNT", "-1"}, {"HSCAN", "h", "0", "FOO", "bar"}, {"HSCAN", "h", "0", "MATCH"}, {"HSCAN", "h", "0", "NOVALUES"}, {"HSCAN", "none", "0", "COUNT", "0"}, {"HSCAN", "none", "x"}, {"HSCAN", "h", "0", "COUNT", "1", "COUNT", "2", "MATCH", "x", "MATCH", "*"}},
	{{"HSET", "h", "a", "1"}, {"EXPIRE", "h", "100"}, {"HSET", "h", "b", "2"}, {"HINCRBY", "h", "c", "1"}, {"HDEL", "h", "c"}, {"TTL", "h"}, {"HDEL", "h", "a", "b"}, {"TTL", "h"}, {"EXISTS", "h"}, {"HSET", "h", "a", "1"}, {"TTL", "h"}, {"RENAME", "h", "h2"}, {"HGET", "h2", "a"}, {"TYPE", "h2"}, {"EXISTS", "h"}, {"DEL", "h2"}, {"HGET", "h2", "a"}, {"HSET", "h", "a", "1"}, {"SET", "h", "v"}, {"GET", "h"}, {"HSET", "h", "a", "1", "b", "2"}, {"PEXPIREAT", "h", "1"}, {"HGETALL", "h"}, {"DBSIZE"}},
	{{"HSET", "h", "", ""}, {"HGET", "h", ""}, {"HSTRLEN", "h", ""}, {"HEXISTS", "h", ""}, {"HLEN", "h"}, {"HSET", "h", "b\x00in", "\x00\xff"}, {"HGET", "h", "b\x00in"}, {"HGETALL", "h"}, {"HSETNX", "h", "", "x"}, {"HMSET", "h", "", "y"}, {"HGET", "h", ""}},
}

func init() { compatScripts = append(compatScripts, hashScripts...) }

// Replies whose order or content Redis leaves unspecified (big hashes and
// sets, random picks, SCAN pages) are compared after normalisation, per
// command, by compareUnordered. A command's first element may name the
// normalisation:
//
//	"~sorted"  a list's elements sorted (a map is printed sorted anyway)
//	"~pairs"   a flat list of pairs (RESP2 HGETALL), sorted by pair
//	"~shape"   types and lengths only (random picks)
//	"~scan"    HSCAN/SSCAN iterated from cursor 0 to the end: the sorted
//	           elements (pairs) returned, each once
//
// Commands without one are compared exactly.
type unorderedScript [][]any

var hashUnordered = []unorderedScript{
	func() unorderedScript {
		s := unorderedScript{bigHSet("big", 200)}
		return append(s, unorderedScript{{"HLEN", "big"}, {"~pairs", "HGETALL", "big"}, {"~sorted", "HKEYS", "big"}, {"~sorted", "HVALS", "big"},
			{"~scan", "HSCAN", "big"}, {"~scan", "HSCAN", "big", "MATCH", "f1*"}, {"~scan", "HSCAN", "big", "COUNT", "7"}, {"~scan", "HSCAN", "big", "COUNT", "1000"},
			{"~shape", "HRANDFIELD", "big"}, {"~shape", "HRANDFIELD", "big", "5"}, {"~shape", "HRANDFIELD", "big", "-300"}, {"~shape", "HRANDFIELD", "big", "3", "WITHVALUES"}, {"~shape", "HRANDFIELD", "big", "-3", "WITHVALUES"},
			{"~sorted", "HRANDFIELD", "big", "300"}, {"~pairs", "HRANDFIELD", "big", "300", "WITHVALUES"},
			{"HDEL", "big", "f000", "f001", "zz"}, {"HLEN", "big"}, {"~scan", "HSCAN", "big", "MATCH", "f00*"}}...)
	}(),
	{{"HSET", "h", "c", "3", "a", "1", "b", "2"}, {"~pairs", "HGETALL", "h"}, {"~sorted", "HKEYS", "h"}, {"~sorted", "HVALS", "h"}, {"~scan", "HSCAN", "h"}, {"~shape", "HRANDFIELD", "h", "2"}, {"~shape", "HRANDFIELD", "h", "-5", "WITHVALUES"}, {"~sorted", "HRANDFIELD", "h", "3"}, {"~shape", "HRANDFIELD", "h"}},
	{{"HSET", "long", "a", strings.Repeat("x", 100), "b", "2"}, {"~pairs", "HGETALL", "long"}, {"~scan", "HSCAN", "long"}, {"HSTRLEN", "long", "a"}},
}

// bigHSet is HSET key f000 v000 f001 v001 ...: more than a listpack holds.
func bigHSet(key string, n int) []any {
	c := []any{"HSET", key}
	for i := range n {
		c = append(c, fmt.Sprintf("f%03d", i), fmt.Sprintf("v%03d", i))
	}
	return c
}

func TestCompatHashUnorderedWithRedisServer(t *testing.T) {
	compareUnordered(t, hashUnordered)
}

// compareUnordered runs scripts against redis-server and keepkv in RESP2
// and RESP3 and compares the normalised replies.
func compareUnordered(t *testing.T, scripts []unorderedScript) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			rc := client(t, redisAddr, proto).Conn()
			defer rc.Close()
			kc := client(t, kk.Addr().String(), proto).Conn()
			defer kc.Close()
			for i, script := range scripts {
				want := runUnordered(t, rc, script)
				got := runUnordered(t, kc, script)
				for j := range script {
					if want[j] != got[j] {
						t.Errorf("script %d, %v:\n redis:  %s\n keepkv: %s", i, script[j], want[j], got[j])
					}
				}
			}
		})
	}
}

func runUnordered(t *testing.T, c *redis.Conn, script unorderedScript) []string {
	ctx := context.Background()
	if err := c.Do(ctx, "FLUSHALL").Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, args := range script {
		mode := ""
		if m, ok := args[0].(string); ok && strings.HasPrefix(m, "~") {
			mode, args = m, args[1:]
		}
		if mode == "~scan" {
			out = append(out, scanAllPages(ctx, c, args))
			continue
		}
		v, err := c.Do(ctx, args...).Result()
		if err != nil && err != redis.Nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		switch mode {
		case "~sorted":
			v = sortedList(v)
		case "~pairs":
			if list, ok := v.([]any); ok {
				v = sortedPairs(list)
			}
		case "~shape":
			v = shapeOf(v)
		}
		out = append(out, normalise(args, v, nil))
	}
	return out
}

func sortedList(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	s := make([]string, len(list))
	for i := range list {
		s[i] = fmt.Sprint(list[i])
	}
	sort.Strings(s)
	return s
}

func sortedPairs(list []any) []string {
	var s []string
	for i := 0; i+1 < len(list); i += 2 {
		s = append(s, fmt.Sprint(list[i])+"="+fmt.Sprint(list[i+1]))
	}
	if len(list)%2 == 1 {
		s = append(s, "odd element")
	}
	sort.Strings(s)
	return s
}

// shapeOf describes a reply by its types and lengths alone.
func shapeOf(v any) string {
	switch x := v.(type) {
	case []any:
		kinds := make([]string, len(x))
		for i, e := range x {
			kinds[i] = shapeOf(e)
		}
		sort.Strings(kinds)
		return fmt.Sprintf("list(%d)%v", len(x), kinds)
	case map[any]any:
		return fmt.Sprintf("map(%d)", len(x))
	case nil:
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

// scanAll iterates HSCAN/SSCAN key [options] from cursor 0 to the end and
// returns the sorted elements (field=value for HSCAN), noting repeats and
// cursors that are not numbers below 2^53.
func scanAllPages(ctx context.Context, c *redis.Conn, args []any) string {
	cursor := "0"
	seen := map[string]int{}
	hash := strings.EqualFold(fmt.Sprint(args[0]), "hscan")
	for pages := 0; ; pages++ {
		if pages > 10000 {
			return "error: scan does not end"
		}
		cmd := append([]any{args[0], args[1], cursor}, args[2:]...)
		v, err := c.Do(ctx, cmd...).Result()
		if err != nil {
			return "error: " + err.Error()
		}
		page, ok := v.([]any)
		if !ok || len(page) != 2 {
			return fmt.Sprintf("malformed page %v", v)
		}
		cursor = fmt.Sprint(page[0])
		if n, err := strconv.ParseUint(cursor, 10, 64); err != nil || n >= 1<<53 {
			return "bad cursor " + cursor
		}
		elems, _ := page[1].([]any)
		if hash {
			if len(elems)%2 != 0 {
				return "odd HSCAN page"
			}
			for i := 0; i < len(elems); i += 2 {
				seen[fmt.Sprint(elems[i])+"="+fmt.Sprint(elems[i+1])]++
			}
		} else {
			for _, e := range elems {
				seen[fmt.Sprint(e)]++
			}
		}
		if cursor == "0" {
			break
		}
	}
	var out []string
	for e, n := range seen {
		if n > 1 {
			e += fmt.Sprintf(" (%d times)", n)
		}
		out = append(out, e)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

// RESP3 reply types (set, map, array of pairs, double, null) compared on
// the wire, where go-redis would hide them: each reply is reduced to its
// type signature, elements' signatures sorted.
func TestCompatRESP3TypesHashSet(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	setup := [][]string{{"FLUSHALL"}, {"HSET", "h", "a", "1", "b", "2"}, {"SADD", "s", "a", "b", "c"}, {"SADD", "t", "b", "c", "d"}, {"SADD", "p", "x", "y", "z", "w"}, {"SET", "str", "v"}}
	cmds := [][]string{
		{"HGETALL", "h"}, {"HGETALL", "none"}, {"HKEYS", "h"}, {"HVALS", "none"}, {"HMGET", "h", "a", "zz"}, {"HGET", "h", "zz"},
		{"HRANDFIELD", "h", "2", "WITHVALUES"}, {"HRANDFIELD", "h", "-3", "WITHVALUES"}, {"HRANDFIELD", "h", "1"}, {"HRANDFIELD", "none"}, {"HRANDFIELD", "none", "2"},
		{"HINCRBYFLOAT", "h", "f", "1.5"}, {"HINCRBY", "h", "n", "2"}, {"HSCAN", "h", "0"}, {"HSCAN", "none", "0"}, {"HMSET", "h", "c", "3"}, {"HSETNX", "h", "c", "3"},
		{"SMEMBERS", "s"}, {"SMEMBERS", "none"}, {"SINTER", "s", "t"}, {"SINTER", "s", "none"}, {"SUNION", "s", "t"}, {"SDIFF", "s", "t"}, {"SDIFF", "none"},
		{"SMISMEMBER", "s", "a", "z"}, {"SRANDMEMBER", "s", "2"}, {"SRANDMEMBER", "s", "-5"}, {"SRANDMEMBER", "none", "2"}, {"SRANDMEMBER", "none"},
		{"SPOP", "p", "2"}, {"SPOP", "p"}, {"SPOP", "none"}, {"SPOP", "none", "2"}, {"SPOP", "p", "0"}, {"SPOP", "p", "10"}, {"SSCAN", "s", "0"},
		{"SINTERCARD", "2", "s", "t"}, {"SINTERSTORE", "d", "s", "t"}, {"SMOVE", "s", "t", "a"}, {"SADD", "str", "x"},
	}
	for _, proto := range []string{"2", "3"} {
		sigs := func(addr string) []string {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			do := func(args []string) string {
				fmt.Fprintf(conn, "*%d\r\n", len(args))
				for _, a := range args {
					fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(a), a)
				}
				sig, err := respSignature(br)
				if err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				return sig
			}
			do([]string{"HELLO", proto})
			for _, c := range setup {
				do(c)
			}
			var out []string
			for _, c := range cmds {
				out = append(out, do(c))
			}
			return out
		}
		want, got := sigs(redisAddr), sigs(kk.Addr().String())
		for i := range cmds {
			if want[i] != got[i] {
				t.Errorf("RESP%s %v:\n redis:  %s\n keepkv: %s", proto, cmds[i], want[i], got[i])
			}
		}
	}
}

// respSignature reads one reply and returns its type signature: the type
// byte, integers and errors with their value, aggregates with their
// length and their elements' signatures (sorted), bulk strings without
// their content.
func respSignature(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	typ, rest := line[0], line[1:]
	switch typ {
	case '+', '-', ':', '_', ',', '#':
		if typ == ',' {
			return ",", nil
		}
		return line, nil
	case '$', '=', '!', '(':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return "", err
		}
		if n < 0 {
			return line, nil
		}
		if _, err := br.Discard(n + 2); err != nil {
			return "", err
		}
		return string(typ), nil
	case '*', '~', '%', '>', '|':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return "", err
		}
		if n < 0 {
			return line, nil
		}
		items := n
		if typ == '%' || typ == '|' {
			items *= 2
		}
		var elems []string
		for range items {
			s, err := respSignature(br)
			if err != nil {
				return "", err
			}
			elems = append(elems, s)
		}
		if typ == '|' { // an attribute precedes the reply it annotates
			return respSignature(br)
		}
		sort.Strings(elems)
		return fmt.Sprintf("%c%d[%s]", typ, n, strings.Join(elems, " ")), nil
	}
	return "", fmt.Errorf("unknown reply type %q", line)
}
