package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The session store's collection scenarios through real client libraries,
// unchanged: issue 14's "Done when". The JavaScript and Python scenarios
// live in testdata/node/types.mjs and testdata/python/sessions.py.

func TestJavaScriptClientsUseCollections(t *testing.T) {
	node := nodeClients(t)
	s := startServer(t, nil)
	_, port := splitAddr(t, s.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "types.mjs", port)
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("types.mjs: %v\n%s", err, out)
	}
	var res map[string][]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("types.mjs printed %q: %v", out, err)
	}
	for _, name := range []string{"node-redis 4 (RESP2)", "node-redis 5 (RESP2)", "node-redis 5 (RESP3)", "ioredis 5"} {
		fails, ok := res[name]
		if !ok {
			t.Errorf("%s: did not run", name)
		}
		for _, f := range fails {
			t.Errorf("%s: %s", name, f)
		}
	}
}

// TestRedisPyUsesCollections needs Debian's python3-redis (redis-py 4) for
// /usr/bin/python3: .ci/run installs it; the test fails without it.
func TestRedisPyUsesCollections(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import redis").Run(); err != nil {
		t.Fatalf("redis-py not importable by %s (%v): apt-get install python3-redis", py, err)
	}
	s := startServer(t, nil)
	_, port := splitAddr(t, s.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/python/sessions.py", port).CombinedOutput()
	if err != nil {
		t.Fatalf("sessions.py: %v\n%s", err, out)
	}
	var fails []string
	if err := json.Unmarshal(out, &fails); err != nil {
		t.Fatalf("sessions.py printed %q: %v", out, err)
	}
	for _, f := range fails {
		t.Error("redis-py: " + f)
	}
}

func TestGoRedisUsesCollections(t *testing.T) {
	s := startServer(t, nil)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			c := client(t, s.Addr().String(), proto)
			ctx := context.Background()
			p := "go" + strconv.Itoa(proto) + ":"
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %#v, want %#v", what, got, want)
				}
			}
			sess := p + "spring:session:sessions:abc"
			check("hset", c.HSet(ctx, sess, "creationTime", "1700000000000", "sessionAttr:user", "alice").Val(), int64(2))
			check("hincrby", c.HIncrBy(ctx, sess, "hits", 5).Val(), int64(5))
			check("hgetall", c.HGetAll(ctx, sess).Val(), map[string]string{"creationTime": "1700000000000", "sessionAttr:user": "alice", "hits": "5"})
			user := p + "user:alice:sessions"
			check("sadd", c.SAdd(ctx, user, "s1", "s2", "s3").Val(), int64(3))
			check("srem", c.SRem(ctx, user, "s2").Val(), int64(1))
			members := c.SMembers(ctx, user).Val()
			sort.Strings(members)
			check("smembers", members, []string{"s1", "s3"})
			seen := p + "sessions:lastseen"
			check("zadd", c.ZAdd(ctx, seen, redis.Z{Score: 1700000000, Member: "s1"}, redis.Z{Score: 1700000100, Member: "s3"}, redis.Z{Score: 1700000050, Member: "s9"}).Val(), int64(3))
			check("zrangebyscore", c.ZRangeByScore(ctx, seen, &redis.ZRangeBy{Min: "1700000040", Max: "+inf"}).Val(), []string{"s9", "s3"})
			check("zrange withscores", c.ZRangeWithScores(ctx, seen, 0, -1).Val(), []redis.Z{{Score: 1700000000, Member: "s1"}, {Score: 1700000050, Member: "s9"}, {Score: 1700000100, Member: "s3"}})
			events := p + "user:alice:events"
			check("lpush", c.LPush(ctx, events, "login", "view", "logout").Val(), int64(3))
			check("lrange", c.LRange(ctx, events, 0, -1).Val(), []string{"logout", "view", "login"})
			check("type", c.Type(ctx, seen).Val(), "zset")
			check("del", c.Del(ctx, user, events).Val(), int64(2))
			check("exists", c.Exists(ctx, user, events).Val(), int64(0))
		})
	}
}

// TestGoRedisTransactions: go-redis's TxPipelined and Watch, unchanged.
func TestGoRedisTransactions(t *testing.T) {
	s := startServer(t, nil)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			c := client(t, s.Addr().String(), proto)
			other := client(t, s.Addr().String(), proto)
			ctx := context.Background()
			p := "gotx" + strconv.Itoa(proto) + ":"
			sess, user := p+"session", p+"user:sessions"
			cmds, err := c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.HSet(ctx, sess, "lastAccessedTime", "1700000000999")
				pipe.Expire(ctx, sess, 30*time.Minute)
				pipe.SAdd(ctx, user, "s7")
				pipe.HGet(ctx, sess, "lastAccessedTime")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := cmds[3].(*redis.StringCmd).Val(); got != "1700000000999" || cmds[0].(*redis.IntCmd).Val() != 1 || !cmds[1].(*redis.BoolCmd).Val() {
				t.Fatalf("TxPipelined replies: %v", cmds)
			}
			if ttl := c.TTL(ctx, sess).Val(); ttl <= 29*time.Minute || ttl > 30*time.Minute {
				t.Fatalf("ttl %v", ttl)
			}
			// A runtime error inside EXEC fails that command only.
			cmds, err = c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Incr(ctx, sess) // WRONGTYPE
				pipe.Incr(ctx, p+"n")
				return nil
			})
			if err == nil || cmds[0].Err() == nil || cmds[1].(*redis.IntCmd).Val() != 1 {
				t.Fatalf("runtime error: err %v, cmds %v", err, cmds)
			}
			// Watch: optimistic increments; a change by another client
			// between WATCH and EXEC aborts with TxFailedErr.
			counter := p + "counter"
			incr := func(meddle bool) error {
				return c.Watch(ctx, func(tx *redis.Tx) error {
					n, err := tx.Get(ctx, counter).Int()
					if err != nil && err != redis.Nil {
						return err
					}
					if meddle {
						other.Set(ctx, counter, 100, 0)
					}
					_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
						pipe.Set(ctx, counter, n+1, 0)
						return nil
					})
					return err
				}, counter)
			}
			if err := incr(false); err != nil {
				t.Fatal(err)
			}
			if err := incr(true); err != redis.TxFailedErr {
				t.Fatalf("a meddled watch: %v, want TxFailedErr", err)
			}
			if err := incr(false); err != nil {
				t.Fatal(err)
			}
			if v := c.Get(ctx, counter).Val(); v != "101" {
				t.Fatalf("counter %s, want 101", v)
			}
		})
	}
}
