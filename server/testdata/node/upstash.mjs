// @upstash/redis, unchanged, against keepkv's HTTP front end (the Upstash
// REST protocol). Usage: node upstash.mjs <base-url> <token>
// Prints {"ran": N, "fails": [...]} as JSON; server/http_test.go checks it.
import { Redis, errors } from "@upstash/redis";

const [url, token] = process.argv.slice(2);
const fails = [];
let ran = 0;

// sortKeys orders an object's keys, so hashes compare whatever order the
// server lists their fields in.
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

function check(what, got, want) {
  ran++;
  got = sortKeys(got);
  want = sortKeys(want);
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fails.push(`${what}: got ${g}, want ${w}`);
}

async function rejects(what, fn, test) {
  ran++;
  try {
    const v = await fn();
    fails.push(`${what}: resolved ${JSON.stringify(v)}, want an UpstashError`);
  } catch (e) {
    if (!(e instanceof errors.UpstashError) || !test(e.message)) {
      fails.push(`${what}: threw ${e && e.name}: ${e && e.message}`);
    }
  }
}

async function scenario(label, redis) {
  const k = `upstash:${label}:`;
  // A session: SET … EX 604800, read back (the SDK JSON-encodes objects).
  const session = { user: "ann", roles: ["admin"], n: 1 };
  check(`${label} set ex`, await redis.set(k + "session", session, { ex: 604800 }), "OK");
  check(`${label} get`, await redis.get(k + "session"), session);
  const ttl = await redis.ttl(k + "session");
  check(`${label} ttl`, ttl > 604700 && ttl <= 604800, true);
  check(`${label} expire`, await redis.expire(k + "session", 60), 1);
  const ttl2 = await redis.ttl(k + "session");
  check(`${label} ttl after expire`, ttl2 > 50 && ttl2 <= 60, true);
  check(`${label} plain string`, await redis.set(k + "s", "héllo wörld ✓"), "OK");
  check(`${label} get plain string`, await redis.get(k + "s"), "héllo wörld ✓");
  check(`${label} get missing`, await redis.get(k + "missing"), null);
  check(`${label} incr`, await redis.incr(k + "n"), 1);
  check(`${label} del`, await redis.del(k + "session", k + "missing"), 1);
  check(`${label} exists after del`, await redis.exists(k + "session"), 0);
  check(`${label} ping`, await redis.ping(), "PONG");

  // Hashes: per-user session indexes.
  check(`${label} hset`, await redis.hset(k + "user", { name: "ann", age: 41 }), 2);
  check(`${label} hgetall`, await redis.hgetall(k + "user"), { name: "ann", age: 41 });
  check(`${label} hget`, await redis.hget(k + "user", "name"), "ann");
  check(`${label} sadd`, await redis.sadd(k + "sessions", "s1", "s2"), 2);
  check(`${label} smembers`, (await redis.smembers(k + "sessions")).sort(), ["s1", "s2"]);

  // Pipeline: one request, per-command results.
  const p = redis.pipeline();
  p.set(k + "p1", "a");
  p.get(k + "p1");
  p.incr(k + "pn");
  p.hgetall(k + "user");
  check(`${label} pipeline`, await p.exec(), ["OK", "a", 1, { name: "ann", age: 41 }]);

  // Transaction: atomic, one response.
  const tx = redis.multi();
  tx.set(k + "t", "x");
  tx.incr(k + "tn");
  tx.incr(k + "tn");
  tx.get(k + "t");
  check(`${label} multi`, await tx.exec(), ["OK", 1, 2, "x"]);

  // Errors surface as UpstashError with Redis's words.
  await rejects(`${label} WRONGTYPE`, () => redis.get(k + "user"), (m) => m.includes("WRONGTYPE Operation against a key holding the wrong kind of value"));
  const bad = redis.pipeline();
  bad.set(k + "ok", "1");
  bad.incr(k + "user");
  await rejects(`${label} WRONGTYPE in a pipeline`, () => bad.exec(), (m) => m.includes("WRONGTYPE"));
  check(`${label} pipeline keepErrors`, await redis.pipeline().set(k + "ok2", "1").hget(k + "ok2", "f").exec({ keepErrors: true }).then((r) => r.map((x) => x.error ? x.error.split(" ")[0] : x.result)), ["OK", "WRONGTYPE"]);

  // Lua through the REST API.
  check(`${label} eval`, await redis.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", [k + "lua"], [5]), 5);
}

try {
  await scenario("b64", new Redis({ url, token }));
  await scenario("plain", new Redis({ url, token, responseEncoding: false }));
  await scenario("fetch", new Redis({ url, token, readYourWrites: false }));
  await new Redis({ url, token }).hset("upstash:user:1", { name: "ann" });

  // A wrong token is refused: 401, an UpstashError.
  const wrong = new Redis({ url, token: "not-the-token", retry: false });
  await rejects("wrong token", () => wrong.get("upstash:b64:s"), (m) => m.startsWith("Unauthorized"));
  await rejects("wrong token, pipeline", () => wrong.pipeline().get("x").exec(), (m) => m.startsWith("Unauthorized"));

  // readYourWrites: the client keeps the sync token the server sends.
  const ryw = new Redis({ url, token });
  await ryw.set("upstash:ryw", "1");
  const tok = ryw.client.upstashSyncToken;
  check("sync token kept", typeof tok === "string" && /^[0-9]+$/.test(tok) && Number(tok) > 0, true);
} catch (e) {
  fails.push(`unexpected: ${e && e.stack}`);
}
console.log(JSON.stringify({ ran, fails }));
