// End-to-end: a real browser (Debian's chromium via playwright-core) logs in
// to the built Next.js app, whose login writes sessions to keepkv over RESP
// (ioredis) and whose proxy checks them over HTTP (@upstash/redis), while
// keepkv nodes are killed, restarted and fail over. Run it with e2e/run.sh.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  SCREENSHOT_DIR,
  Scenario,
  launchBrowser,
  leaderOf,
  newToken,
  pollUntil,
  startApp,
  startCluster,
  startNode,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

// scenario runs fn with a fresh Scenario; on failure it screenshots every
// open page and keeps the logs.
function scenario(name, fn) {
  test(name, { timeout: 150000 }, async () => {
    const s = new Scenario(name);
    try {
      await fn(s);
    } catch (err) {
      s.failed = true;
      const shots = await s.screenshotAll("failure");
      if (shots.length) console.error(`[${name}] screenshots:\n  ${shots.join("\n  ")}`);
      throw err;
    } finally {
      await s.close();
    }
  });
}

async function sessionCookie(ctx) {
  const c = (await ctx.cookies()).find((c) => c.name === "sid");
  return c;
}

// login drives the login form and returns the session id from the cookie.
async function login(page, appUrl, user) {
  await page.goto(`${appUrl}/dashboard`);
  assert.match(new URL(page.url()).pathname, /^\/login$/, "without a session the proxy sends us to /login");
  await page.fill("#user", user);
  await page.click("button[type=submit]");
  await page.waitForURL(`${appUrl}/dashboard`);
  await expectDashboard(page, user);
  const c = await sessionCookie(page.context());
  assert.ok(c, "login set the sid cookie");
  assert.equal(c.httpOnly, true, "sid is httpOnly");
  assert.equal(c.sameSite, "Lax", "sid is SameSite=Lax");
  return c.value;
}

async function expectDashboard(page, user) {
  assert.equal(new URL(page.url()).pathname, "/dashboard");
  assert.equal(await page.textContent("[data-testid=user]"), user);
}

// reload reloads and requires a 200 page (a 503 "store unavailable" fails).
async function reload(page) {
  const res = await page.reload();
  assert.equal(res.status(), 200, `reload answered ${res.status()}: ${await res.text()}`);
}

async function expectLogin(page) {
  assert.equal(new URL(page.url()).pathname, "/login", `expected /login, at ${page.url()}`);
  await page.waitForSelector("#user");
}

scenario("1-login", async (s) => {
  const token = newToken();
  const node = await startNode(s, token);
  const app = await startApp(s, { KEEPKV_REDIS_URL: node.redisUrl, KEEPKV_HTTP_URL: node.httpUrl, KEEPKV_HTTP_TOKEN: token });
  const page = await (await s.newContext(browser)).newPage();
  const id = await login(page, app.url, "alice");

  // The session is in keepkv as the app's pattern says.
  const r = s.redis(node.port);
  assert.deepEqual(JSON.parse(await r.get(`session:${id}`)).user, "alice");
  const ttl = await r.ttl(`session:${id}`);
  assert.ok(ttl > 604700 && ttl <= 604800, `SET … EX 604800, TTL is ${ttl}`);
  assert.deepEqual(await r.smembers("user:alice:sessions"), [id]);
  assert.equal(await page.textContent("[data-testid=sessions]"), "1");

  // The proxy itself asks keepkv over HTTP: a well-formed id that keepkv
  // does not know is redirected and its cookie cleared before any page runs.
  const res = await fetch(`${app.url}/dashboard`, {
    redirect: "manual",
    headers: { cookie: `sid=${randomUUID()}` },
  });
  assert.equal(res.status, 307);
  assert.equal(new URL(res.headers.get("location"), app.url).pathname, "/login");
  assert.match(res.headers.get("set-cookie") ?? "", /^sid=;/, "the proxy cleared the unknown cookie");

  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const shot = join(SCREENSHOT_DIR, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard screenshot: ${shot}`);
});

scenario("2-sigkill-restart", async (s) => {
  const token = newToken();
  const node = await startNode(s, token);
  const app = await startApp(s, { KEEPKV_REDIS_URL: node.redisUrl, KEEPKV_HTTP_URL: node.httpUrl, KEEPKV_HTTP_TOKEN: token });
  const page = await (await s.newContext(browser)).newPage();
  const id = await login(page, app.url, "bob");

  await node.sigkill();
  // While the only node is down the proxy says the store is unavailable;
  // it does not log anyone out.
  const down = await page.request.get(`${app.url}/dashboard`, { maxRedirects: 0 });
  assert.equal(down.status(), 503, "an outage is not a logout");
  assert.ok(await sessionCookie(page.context()), "cookie kept during the outage");

  const t0 = Date.now();
  node.start(); // same data dir and ports
  await node.waitServing();
  await reload(page);
  console.log(`[2-sigkill-restart] restart to logged-in reload: ${Date.now() - t0} ms`);
  await expectDashboard(page, "bob");
  const ttl = await s.redis(node.port).ttl(`session:${id}`);
  assert.ok(ttl > 604700, `the restart kept the deadline (TTL ${ttl})`);
});

scenario("3-cluster-leader-kill", async (s) => {
  const token = newToken();
  const nodes = await startCluster(s, token, 3);
  const leader = await leaderOf(s, nodes, nodes[0]);
  const [f1, f2] = nodes.filter((n) => n !== leader);
  // ioredis on one follower, @upstash/redis on the other: every write and
  // every default read is forwarded to the leader.
  const app = await startApp(s, { KEEPKV_REDIS_URL: f1.redisUrl, KEEPKV_HTTP_URL: f2.httpUrl, KEEPKV_HTTP_TOKEN: token });
  const ctx = await s.newContext(browser);
  const page = await ctx.newPage();
  const id = await login(page, app.url, "carol");

  await leader.sigkill();
  const t0 = Date.now();
  await reload(page);
  await expectDashboard(page, "carol");
  console.log(`[3-cluster-leader-kill] reload right after SIGKILL of leader ${leader.id}: ${Date.now() - t0} ms`);
  const next = await leaderOf(s, nodes.filter((n) => n !== leader), f1);
  assert.notEqual(next.id, leader.id, "a new leader was elected");
  assert.equal(JSON.parse(await s.redis(f2.port).get(`session:${id}`)).user, "carol");

  // Logins (writes) work through the followers under the new leader.
  const page2 = await (await s.newContext(browser)).newPage();
  await login(page2, app.url, "carol");
  await reload(page2);
  assert.equal(await page2.textContent("[data-testid=sessions]"), "2");
});

scenario("4-ttl-expiry", async (s) => {
  const token = newToken();
  const node = await startNode(s, token);
  const app = await startApp(s, {
    KEEPKV_REDIS_URL: node.redisUrl,
    KEEPKV_HTTP_URL: node.httpUrl,
    KEEPKV_HTTP_TOKEN: token,
    SESSION_TTL_SECONDS: "3",
  });
  const ctx = await s.newContext(browser);
  const page = await ctx.newPage();
  const id = await login(page, app.url, "dave");
  const r = s.redis(node.port);
  const ttl = await r.ttl(`session:${id}`);
  assert.ok(ttl > 0 && ttl <= 3, `short test TTL, got ${ttl}`);

  await pollUntil("the session to expire", async () => (await r.exists(`session:${id}`)) === 0, {
    timeoutMs: 15000,
  });
  // The cookie is still there: the redirect comes from keepkv's expiry.
  assert.equal((await sessionCookie(ctx))?.value, id);
  await page.reload();
  await expectLogin(page);
  assert.equal(await sessionCookie(ctx), undefined, "the proxy cleared the dead cookie");
});

scenario("5-logout", async (s) => {
  const token = newToken();
  const node = await startNode(s, token);
  const app = await startApp(s, { KEEPKV_REDIS_URL: node.redisUrl, KEEPKV_HTTP_URL: node.httpUrl, KEEPKV_HTTP_TOKEN: token });
  const r = s.redis(node.port);

  // Log out: the saved cookie of that session no longer works anywhere.
  const ctxA = await s.newContext(browser);
  const pageA = await ctxA.newPage();
  const id = await login(pageA, app.url, "erin");
  const saved = await ctxA.cookies();
  await pageA.getByRole("button", { name: "Log out", exact: true }).click();
  await pageA.waitForURL(`${app.url}/login`);
  assert.equal(await r.exists(`session:${id}`), 0, "logout deleted the key");
  assert.equal(await r.sismember("user:erin:sessions", id), 0);

  const ctxB = await s.newContext(browser);
  await ctxB.addCookies(saved);
  const pageB = await ctxB.newPage();
  await pageB.goto(`${app.url}/dashboard`);
  await expectLogin(pageB);

  // Log out everywhere: two browsers of frank, and one of grace.
  const frank1 = await (await s.newContext(browser)).newPage();
  const frank2 = await (await s.newContext(browser)).newPage();
  const grace = await (await s.newContext(browser)).newPage();
  const f1 = await login(frank1, app.url, "frank");
  const f2 = await login(frank2, app.url, "frank");
  await login(grace, app.url, "grace");
  await reload(frank1);
  assert.equal(await frank1.textContent("[data-testid=sessions]"), "2");
  assert.deepEqual((await r.smembers("user:frank:sessions")).sort(), [f1, f2].sort());

  await frank2.getByRole("button", { name: "Log out everywhere", exact: true }).click();
  await frank2.waitForURL(`${app.url}/login`);
  assert.equal(await r.exists(`session:${f1}`, `session:${f2}`, "user:frank:sessions"), 0);
  await frank1.reload();
  await expectLogin(frank1);
  await reload(grace);
  await expectDashboard(grace, "grace");
});
