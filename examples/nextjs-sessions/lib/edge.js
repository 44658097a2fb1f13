// The per-request session check, over HTTP: @upstash/redis, unchanged,
// pointed at keepkv's Upstash-compatible REST API. This is the code path of
// edge functions and workers that cannot open a TCP socket.
import { Redis } from "@upstash/redis";
import { isSessionId, sessionKey } from "./config.js";
import { retryTransient } from "./retry.js";

let client;

function redis() {
  client ??= new Redis({
    url:
      process.env.KEEPKV_HTTP_URL ??
      process.env.UPSTASH_REDIS_REST_URL ??
      "http://127.0.0.1:8079",
    token:
      process.env.KEEPKV_HTTP_TOKEN ?? process.env.UPSTASH_REDIS_REST_TOKEN ?? "",
    // Ride out a keepkv restart or a leader election (a few seconds).
    retry: { retries: 8, backoff: (n) => Math.min(50 * 2 ** n, 2000) },
  });
  return client;
}

// lookupSession returns the session object, or null when there is none.
// Errors (keepkv unreachable) propagate: the caller must not mistake an
// outage for a logout.
export async function lookupSession(id) {
  if (!isSessionId(id)) return null;
  // @upstash/redis parses the stored JSON.
  return retryTransient(() => redis().get(sessionKey(id)));
}
