// ratelimit.mjs PORTS RUN_MS
//
// Drives two rate limiters against a keepkv cluster through every node
// (PORTS: comma-separated client ports), with several ioredis clients per
// node, for RUN_MS milliseconds:
//   - rate-limiter-flexible's RateLimiterRedis (a fixed window: its Lua
//     script SET NX EX, INCRBY, PTTL, sent by ioredis as EVALSHA/EVAL);
//   - a sliding-window log, the ZSET script rate limiters such as
//     @upstash/ratelimit send (ZREMRANGEBYSCORE, ZCARD, ZADD, PEXPIRE),
//     timed by the server's TIME.
// Prints "progress <requests> <allowed> <errors>" lines while it runs and
// one "result <json>" line at the end: every request's outcome, for
// cmd/keepkv/ratelimit_cluster_test.go to check that no window allowed
// more than its limit. Run by TestRateLimitersAcrossLeaderKill.
import Redis from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

const ports = (process.argv[2] || '').split(',').map(Number).filter((p) => p > 0);
const runMs = Number(process.argv[3]);
if (ports.length === 0 || !(runMs > 0)) {
  console.error('usage: node ratelimit.mjs PORTS RUN_MS');
  process.exit(2);
}
setTimeout(() => {
  console.error('ratelimit.mjs: timed out');
  process.exit(3);
}, runMs + 60_000).unref();

const FIXED = { points: 10, duration: 3 }; // 10 requests per 3 s
const SLIDING = { limit: 10, windowMs: 3000 };
const KEYS = ['user:a', 'user:b'];
const WORKERS_PER_NODE = 3;

const slidingScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, now, count + 1}
end
return {0, now, count}
`;

const records = [];
let requests = 0;
let allowed = 0;
let errors = 0;

async function worker(port, id) {
  const c = new Redis({
    port,
    host: '127.0.0.1',
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 50,
    reconnectOnError: () => false,
    lazyConnect: true,
  });
  c.on('error', () => {});
  c.defineCommand('slidingLimit', { numberOfKeys: 1, lua: slidingScript });
  const limiter = new RateLimiterRedis({ storeClient: c, keyPrefix: 'rlflx', ...FIXED });
  try {
    await c.connect();
  } catch {
    // retried by the loop below
  }
  const end = Date.now() + runMs;
  for (let i = 0; Date.now() < end; i++) {
    const key = KEYS[Math.floor(i / 2) % KEYS.length];
    const send = Date.now();
    requests++;
    if (i % 2 === 0) {
      try {
        const res = await limiter.consume(key);
        allowed++;
        records.push({ kind: 'fixed', key, send, recv: Date.now(), ok: true, consumed: res.consumedPoints, ms: res.msBeforeNext });
      } catch (e) {
        if (e instanceof RateLimiterRes) {
          records.push({ kind: 'fixed', key, send, recv: Date.now(), ok: false, consumed: e.consumedPoints, ms: e.msBeforeNext });
        } else {
          errors++;
          records.push({ kind: 'fixed', key, send, recv: Date.now(), error: String(e && e.message) });
        }
      }
    } else {
      try {
        const [ok, now, count] = await c.slidingLimit(`sliding:${key}`, SLIDING.windowMs, SLIDING.limit, `${id}-${i}`);
        if (ok === 1) allowed++;
        records.push({ kind: 'sliding', key, send, recv: Date.now(), ok: ok === 1, now, count });
      } catch (e) {
        errors++;
        records.push({ kind: 'sliding', key, send, recv: Date.now(), error: String(e && e.message) });
      }
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  c.disconnect();
}

const progress = setInterval(() => console.log(`progress ${requests} ${allowed} ${errors}`), 200);
const workers = [];
ports.forEach((port, n) => {
  for (let w = 0; w < WORKERS_PER_NODE; w++) workers.push(worker(port, `n${n}w${w}`));
});
await Promise.all(workers);
clearInterval(progress);
// Exit once the (large) result line is flushed: a pipe is written
// asynchronously, and exiting at once would cut it.
process.stdout.write(`result ${JSON.stringify({ fixed: FIXED, sliding: SLIDING, records })}\n`, () => process.exit(0));
