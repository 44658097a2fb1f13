// types.mjs PORT
//
// Runs the session store's collection scenarios — a Spring-Session-style
// hash, a per-user set of session ids ("log out everywhere"), a sorted set
// of sessions by last seen, and a list of recent events — through
// node-redis 4 (RESP2), node-redis 5 (RESP2 and RESP3) and ioredis 5,
// unchanged, against 127.0.0.1:PORT, and prints one JSON object:
// client → list of failures (empty when every check held).
// Run by server/clients_test.go (TestJavaScriptClientsUseCollections).
import { createClient as createClient4 } from 'redis';
import { createClient as createClient5 } from 'redis5';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node types.mjs PORT');
  process.exit(2);
}
setTimeout(() => {
  console.error('types.mjs: timed out');
  process.exit(3);
}, 60_000).unref();

// Objects compare by their sorted entries: a hash has no field order.
const norm = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).sort() : v);
const eq = (a, b) => JSON.stringify(norm(a)) === JSON.stringify(norm(b));

// Each client is adapted to one small interface, written as that client's
// own users write it.
function nodeRedis(c) {
  return {
    hset: (k, obj) => c.hSet(k, obj),
    hgetall: async (k) => ({ ...(await c.hGetAll(k)) }),
    hincrby: (k, f, n) => c.hIncrBy(k, f, n),
    hdel: (k, f) => c.hDel(k, f),
    sadd: (k, ms) => c.sAdd(k, ms),
    srem: (k, m) => c.sRem(k, m),
    smembers: (k) => c.sMembers(k),
    sismember: async (k, m) => Boolean(await c.sIsMember(k, m)),
    zadd: (k, pairs) => c.zAdd(k, pairs.map(([score, value]) => ({ score, value }))),
    zrangebyscore: (k, min, max) => c.zRangeByScore(k, min, max),
    zrangewithscores: async (k) => (await c.zRangeWithScores(k, 0, -1)).map((e) => [e.value, Number(e.score)]),
    lpush: (k, vs) => c.lPush(k, vs),
    lrange: (k, a, b) => c.lRange(k, a, b),
    set: (k, v, ex) => c.set(k, v, { EX: ex }),
    get: (k) => c.get(k),
    del: (k) => c.del(k),
    ttl: (k) => c.ttl(k),
    type: (k) => c.type(k),
    // A transaction: MULTI, the session's fields and TTL and its place in
    // the user's set, EXEC.
    tx: async (k, user, id) => (await c.multi().hSet(k, { lastAccessedTime: '1700000000999' }).expire(k, 1800).sAdd(user, id).hGet(k, 'lastAccessedTime').exec()).map((v) => String(v === true ? 1 : v)), // node-redis 4 turns EXPIRE's 1 into true
    // WATCH, a change to the watched key, then MULTI/EXEC: aborted.
    watchAborts: async (k) => {
      await c.watch(k);
      await c.set(k, 'changed');
      try {
        await c.multi().set(k, 'lost').exec();
        return false;
      } catch (e) {
        return e?.constructor?.name === 'WatchError';
      }
    },
    quit: () => c.quit(),
  };
}

function ioredis(c) {
  return {
    hset: (k, obj) => c.hset(k, obj),
    hgetall: (k) => c.hgetall(k),
    hincrby: (k, f, n) => c.hincrby(k, f, n),
    hdel: (k, f) => c.hdel(k, f),
    sadd: (k, ms) => c.sadd(k, ...ms),
    srem: (k, m) => c.srem(k, m),
    smembers: (k) => c.smembers(k),
    sismember: async (k, m) => (await c.sismember(k, m)) === 1,
    zadd: (k, pairs) => c.zadd(k, ...pairs.flat()),
    zrangebyscore: (k, min, max) => c.zrangebyscore(k, min, max),
    zrangewithscores: async (k) => {
      const flat = await c.zrange(k, 0, -1, 'WITHSCORES');
      const out = [];
      for (let i = 0; i < flat.length; i += 2) out.push([flat[i], Number(flat[i + 1])]);
      return out;
    },
    lpush: (k, vs) => c.lpush(k, ...vs),
    lrange: (k, a, b) => c.lrange(k, a, b),
    set: (k, v, ex) => c.set(k, v, 'EX', ex),
    get: (k) => c.get(k),
    del: (k) => c.del(k),
    ttl: (k) => c.ttl(k),
    type: (k) => c.type(k),
    tx: async (k, user, id) => (await c.multi().hset(k, { lastAccessedTime: '1700000000999' }).expire(k, 1800).sadd(user, id).hget(k, 'lastAccessedTime').exec()).map(([err, v]) => (err ? `error: ${err.message}` : String(v))),
    watchAborts: async (k) => {
      await c.watch(k);
      await c.set(k, 'changed');
      return (await c.multi().set(k, 'lost').exec()) === null;
    },
    quit: () => c.quit(),
  };
}

async function scenario(r, p) {
  const fail = [];
  const check = (what, got, want) => {
    if (!eq(got, want)) fail.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  // Spring Session keeps a session as a hash.
  const sess = `${p}spring:session:sessions:abc`;
  check('hset', Number(await r.hset(sess, { creationTime: '1700000000000', maxInactiveInterval: '1800', 'sessionAttr:user': 'alice' })), 3);
  check('hincrby', Number(await r.hincrby(sess, 'hits', 5)), 5);
  check('hgetall', await r.hgetall(sess), { creationTime: '1700000000000', maxInactiveInterval: '1800', 'sessionAttr:user': 'alice', hits: '5' });
  check('hdel', Number(await r.hdel(sess, 'hits')), 1);
  check('type hash', await r.type(sess), 'hash');
  // A user's sessions, for "log out everywhere".
  const user = `${p}user:alice:sessions`;
  check('sadd', Number(await r.sadd(user, ['s1', 's2', 's3'])), 3);
  check('srem', Number(await r.srem(user, 's2')), 1);
  check('smembers', (await r.smembers(user)).sort(), ['s1', 's3']);
  check('sismember', await r.sismember(user, 's3'), true);
  // Sessions by last seen.
  const seen = `${p}sessions:lastseen`;
  check('zadd', Number(await r.zadd(seen, [[1700000000, 's1'], [1700000100, 's3'], [1700000050, 's9']])), 3);
  check('zrangebyscore', await r.zrangebyscore(seen, 1700000040, '+inf'), ['s9', 's3']);
  check('zrange withscores', await r.zrangewithscores(seen), [['s1', 1700000000], ['s9', 1700000050], ['s3', 1700000100]]);
  // Recent events, newest first.
  const events = `${p}user:alice:events`;
  check('lpush', Number(await r.lpush(events, ['login', 'view', 'logout'])), 3);
  check('lrange', await r.lrange(events, 0, -1), ['logout', 'view', 'login']);
  check('lrange 0 1', await r.lrange(events, 0, 1), ['logout', 'view']);
  // The session itself, JSON with a TTL; logging out everywhere.
  check('set', await r.set(`${p}session:s1`, '{"user":"alice"}', 604800), 'OK');
  check('get', await r.get(`${p}session:s1`), '{"user":"alice"}');
  const ttl = Number(await r.ttl(`${p}session:s1`));
  if (!(ttl > 604700 && ttl <= 604800)) fail.push(`ttl: ${ttl}`);
  check('del', Number(await r.del(user)), 1);
  check('smembers after del', await r.smembers(user), []);
  // MULTI/EXEC and WATCH, as the clients' own transaction APIs send them.
  check('multi exec', await r.tx(sess, user, 's7'), ['1', '1', '1', '1700000000999']);
  const ttl2 = Number(await r.ttl(sess));
  if (!(ttl2 > 1700 && ttl2 <= 1800)) fail.push(`ttl after multi: ${ttl2}`);
  check('smembers after multi', await r.smembers(user), ['s7']);
  check('watch aborts', await r.watchAborts(`${p}watched`), true);
  check('watched value', await r.get(`${p}watched`), 'changed');
  return fail;
}

const out = {};
const clients = [
  ['node-redis 4 (RESP2)', async () => nodeRedis(await createClient4({ url: `redis://127.0.0.1:${port}` }).connect())],
  ['node-redis 5 (RESP2)', async () => nodeRedis(await createClient5({ url: `redis://127.0.0.1:${port}` }).connect())],
  ['node-redis 5 (RESP3)', async () => nodeRedis(await createClient5({ url: `redis://127.0.0.1:${port}`, RESP: 3 }).connect())],
  ['ioredis 5', async () => ioredis(new Redis({ port, host: '127.0.0.1', lazyConnect: false }))],
];
let i = 0;
for (const [name, make] of clients) {
  let r;
  try {
    r = await make();
    out[name] = await scenario(r, `js${i++}:`);
  } catch (e) {
    out[name] = [`error: ${e?.message ?? e}`];
  } finally {
    if (r) await r.quit().catch(() => {});
  }
}
console.log(JSON.stringify(out));
