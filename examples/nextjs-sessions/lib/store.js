// Server side of the session store: keepkv over RESP with ioredis. Used by
// server actions and server components (Node.js runtime), never by the proxy.
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import {
  isSessionId,
  sessionKey,
  sessionTTLSeconds,
  userSessionsKey,
} from "./config.js";
import { retryTransient } from "./retry.js";

// One client per server process. Created on first use, so `next build`
// never connects. KEEPKV_REDIS_URL (or REDIS_URL) names any keepkv node:
// a follower forwards writes to the leader.
function redis() {
  globalThis.__keepkvRedis ??= new Redis(
    process.env.KEEPKV_REDIS_URL ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    {
      // Commands issued while keepkv restarts or elects a leader wait for
      // the reconnect instead of failing at once.
      maxRetriesPerRequest: 20,
      retryStrategy: (times) => Math.min(times * 100, 1000),
    },
  );
  return globalThis.__keepkvRedis;
}

// MULTI/EXEC reports each command's error in its result; surface them.
// Retried as a whole on a transient cluster error (see retry.js).
async function execOrThrow(build) {
  return retryTransient(async () => {
    const results = await build().exec();
    if (results === null) throw new Error("transaction aborted");
    for (const [err] of results) if (err) throw err;
    return results.map(([, v]) => v);
  });
}

// createSession stores a new session and indexes it under its user, in one
// transaction (one Raft log entry in keepkv: both or neither).
export async function createSession(user) {
  const id = randomUUID();
  const ttl = sessionTTLSeconds();
  const value = JSON.stringify({ user, createdAt: new Date().toISOString() });
  await execOrThrow(() =>
    redis()
      .multi()
      .set(sessionKey(id), value, "EX", ttl)
      .sadd(userSessionsKey(user), id)
      // The index lives as long as the newest session.
      .expire(userSessionsKey(user), ttl),
  );
  return id;
}

// readSession returns {user, createdAt, ttl, sessions} or null.
export async function readSession(id) {
  if (!isSessionId(id)) return null;
  const [raw, ttl] = await execOrThrow(() =>
    redis().multi().get(sessionKey(id)).ttl(sessionKey(id)),
  );
  if (raw === null) return null;
  const session = JSON.parse(raw);
  const sessions = await retryTransient(() => redis().scard(userSessionsKey(session.user)));
  return { ...session, ttl, sessions };
}

// destroySession logs one session out.
export async function destroySession(id) {
  if (!isSessionId(id)) return;
  const raw = await retryTransient(() => redis().get(sessionKey(id)));
  if (raw === null) return;
  await execOrThrow(() =>
    redis()
      .multi()
      .del(sessionKey(id))
      .srem(userSessionsKey(JSON.parse(raw).user), id),
  );
}

// destroyAllSessions logs a user out everywhere: every session in the
// user's set is deleted and leaves the set (an empty set is no key).
// Returns how many sessions were deleted.
export async function destroyAllSessions(user) {
  const ids = (await retryTransient(() => redis().smembers(userSessionsKey(user)))).filter(
    isSessionId,
  );
  if (ids.length === 0) return 0;
  // SREM only the ids read above: a login racing with this keeps its entry.
  const [deleted] = await execOrThrow(() =>
    redis()
      .multi()
      .del(...ids.map(sessionKey))
      .srem(userSessionsKey(user), ...ids),
  );
  return deleted;
}
