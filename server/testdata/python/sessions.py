"""sessions.py PORT — the session store's collection scenarios through redis-py.

A Spring-Session-style hash, a per-user set of session ids, a sorted set of
sessions by last seen and a list of recent events, run through redis-py
(Debian's python3-redis) unchanged against 127.0.0.1:PORT. Prints one JSON
list of failures (empty when every check held). Run by server/clients_test.go
(TestRedisPyUsesCollections).
"""
import json
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=30)
fail = []


def check(what, got, want):
    if got != want:
        fail.append(f"{what}: got {got!r}, want {want!r}")


p = "py:"
sess = p + "spring:session:sessions:abc"
check("hset", r.hset(sess, mapping={"creationTime": "1700000000000", "maxInactiveInterval": "1800", "sessionAttr:user": "alice"}), 3)
check("hincrby", r.hincrby(sess, "hits", 5), 5)
check("hgetall", r.hgetall(sess), {"creationTime": "1700000000000", "maxInactiveInterval": "1800", "sessionAttr:user": "alice", "hits": "5"})
check("hdel", r.hdel(sess, "hits"), 1)
check("type", r.type(sess), "hash")
user = p + "user:alice:sessions"
check("sadd", r.sadd(user, "s1", "s2", "s3"), 3)
check("srem", r.srem(user, "s2"), 1)
check("smembers", r.smembers(user), {"s1", "s3"})
check("sismember", r.sismember(user, "s3"), True)
seen = p + "sessions:lastseen"
check("zadd", r.zadd(seen, {"s1": 1700000000, "s3": 1700000100, "s9": 1700000050}), 3)
check("zrangebyscore", r.zrangebyscore(seen, 1700000040, "+inf"), ["s9", "s3"])
check("zrange withscores", r.zrange(seen, 0, -1, withscores=True), [("s1", 1700000000.0), ("s9", 1700000050.0), ("s3", 1700000100.0)])
events = p + "user:alice:events"
check("lpush", r.lpush(events, "login", "view", "logout"), 3)
check("lrange", r.lrange(events, 0, -1), ["logout", "view", "login"])
check("set", r.set(p + "session:s1", '{"user":"alice"}', ex=604800), True)
check("get", r.get(p + "session:s1"), '{"user":"alice"}')
ttl = r.ttl(p + "session:s1")
if not 604700 < ttl <= 604800:
    fail.append(f"ttl: {ttl}")
# redis-py's pipeline is a MULTI/EXEC transaction by default; without one
# it is a plain pipeline.
pipe = r.pipeline(transaction=False)
pipe.sadd(user, "s4")
pipe.smembers(user)
check("pipeline", pipe.execute(), [1, {"s1", "s3", "s4"}])
check("del", r.delete(user), 1)
# The default pipeline: MULTI ... EXEC.
pipe = r.pipeline()
pipe.hset(sess, "lastAccessedTime", "1700000000999")
pipe.expire(sess, 1800)
pipe.sadd(user, "s7")
pipe.hget(sess, "lastAccessedTime")
check("transaction", pipe.execute(), [1, True, 1, "1700000000999"])
if not 1700 < r.ttl(sess) <= 1800:
    fail.append(f"ttl after transaction: {r.ttl(sess)}")
# WATCH: another client changes the key between WATCH and EXEC.
other = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=30)
with r.pipeline() as pipe:
    pipe.watch(p + "counter")
    pipe.multi()
    pipe.incr(p + "counter")
    other.set(p + "counter", "100")
    try:
        pipe.execute()
        fail.append("watch: EXEC ran after the watched key changed")
    except redis.WatchError:
        pass
check("counter after aborted watch", r.get(p + "counter"), "100")
with r.pipeline() as pipe:
    pipe.watch(p + "counter")
    v = int(pipe.get(p + "counter"))
    pipe.multi()
    pipe.set(p + "counter", v + 1)
    check("watch then exec", pipe.execute(), [True])
check("counter", r.get(p + "counter"), "101")
print(json.dumps(fail))
