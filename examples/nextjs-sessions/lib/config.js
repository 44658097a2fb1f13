// Settings shared by the proxy (HTTP) and the server code (RESP). All come
// from the environment at run time, so one `next build` serves any keepkv.

// Sessions live this long in keepkv (SET … EX). The default is one week;
// the end-to-end test shortens it to watch a session expire.
export function sessionTTLSeconds() {
  const v = Number.parseInt(process.env.SESSION_TTL_SECONDS ?? "", 10);
  return Number.isSafeInteger(v) && v > 0 ? v : 604800;
}

// The cookie only points at the session; keepkv decides whether it is
// still valid, so the cookie may outlive a shortened test TTL.
export const COOKIE_MAX_AGE = 604800;
export const COOKIE_NAME = "sid";

// Secure cookies by default in production; SESSION_COOKIE_SECURE=false
// for plain http beyond localhost.
export function cookieSecure() {
  const v = process.env.SESSION_COOKIE_SECURE;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  return process.env.NODE_ENV === "production";
}

export const sessionKey = (id) => `session:${id}`;
export const userSessionsKey = (user) => `user:${user}:sessions`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isSessionId = (id) => typeof id === "string" && UUID.test(id);

export const USER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
