// scan.mjs PORT [N] [PREFIX]
//
// Writes N keys named PREFIX<i> (and N/3 others that MATCH must filter out)
// to the Redis-compatible server on 127.0.0.1:PORT, then iterates them with
// node-redis 4's scanIterator and with ioredis 5's scanStream, COUNT 50, and
// prints one JSON object: for each client, how many keys it saw, how many
// distinct, how many more than once, how many never; and the raw cursors
// the server sent, to check that each is exact as a JavaScript Number.
// Run by server/node_test.go (TestNodeClientsScanEachKeyOnce).
import { createClient } from 'redis';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const n = Number(process.argv[3] ?? 3000);
const prefix = process.argv[4] ?? 'jsscan:';
if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(n) || n <= 0) {
  console.error('usage: node scan.mjs PORT [N] [PREFIX]');
  process.exit(2);
}

// Never hang the Go test: give up loudly after a minute.
setTimeout(() => {
  console.error('scan.mjs: timed out');
  process.exit(3);
}, 60_000).unref();

const match = `${prefix}*`;
const want = [];
for (let i = 0; i < n; i++) want.push(`${prefix}${i}`);

function tally(seen) {
  const counts = new Map();
  for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
  let duplicates = 0;
  for (const c of counts.values()) if (c > 1) duplicates += c - 1;
  let missing = 0;
  for (const k of want) if (!counts.has(k)) missing++;
  let foreign = 0;
  for (const k of counts.keys()) if (!k.startsWith(prefix)) foreign++;
  return { seen: seen.length, distinct: counts.size, duplicates, missing, foreign };
}

const nr = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 10_000, reconnectStrategy: false } });
nr.on('error', (err) => {
  console.error('node-redis:', err);
  process.exit(4);
});
await nr.connect();

// Write the keys, 500 commands in flight at a time (node-redis pipelines them).
const others = Math.floor(n / 3);
for (let i = 0; i < n + others; i += 500) {
  const batch = [];
  for (let j = i; j < Math.min(i + 500, n + others); j++) {
    batch.push(j < n ? nr.set(want[j], 'v') : nr.set(`other:${prefix}${j}`, 'v'));
  }
  await Promise.all(batch);
}

// The raw cursors, as strings, exactly as the server sent them.
const cursors = [];
let inexact = 0;
let cursor = '0';
do {
  const [next] = await nr.sendCommand(['SCAN', cursor, 'MATCH', match, 'COUNT', '50']);
  cursor = String(next);
  cursors.push(cursor);
  if (String(Number(cursor)) !== cursor) inexact++;
} while (cursor !== '0' && cursors.length < 100_000);

// node-redis 4: scanIterator holds the cursor as a Number.
const nodeRedisSeen = [];
for await (const key of nr.scanIterator({ MATCH: match, COUNT: 50 })) nodeRedisSeen.push(key);
await nr.quit();

// ioredis 5: scanStream emits arrays of keys.
const io = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
io.on('error', (err) => {
  console.error('ioredis:', err);
  process.exit(5);
});
await io.connect();
const ioredisSeen = [];
await new Promise((resolve, reject) => {
  const stream = io.scanStream({ match, count: 50 });
  stream.on('data', (keys) => ioredisSeen.push(...keys));
  stream.on('end', resolve);
  stream.on('error', reject);
});
await io.quit();

let maxCursor = '0';
for (const c of cursors) if (BigInt(c) > BigInt(maxCursor)) maxCursor = c;
console.log(JSON.stringify({
  keys: n,
  nodeRedis: tally(nodeRedisSeen),
  ioredis: tally(ioredisSeen),
  cursors: { pages: cursors.length, inexact, max: maxCursor },
}));
