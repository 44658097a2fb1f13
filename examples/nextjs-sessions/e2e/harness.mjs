// Processes and browser for the end-to-end test: keepkv nodes (the real
// binary, own ports and data dirs), the built Next.js app (`next start`),
// and Debian's chromium through playwright-core. Nothing here knows keepkv's
// internals: it talks RESP (ioredis) and HTTP like any client.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Redis from "ioredis";
import { chromium } from "playwright-core";

export const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SCREENSHOT_DIR = resolve(
  process.env.E2E_SCREENSHOT_DIR ?? join(APP_DIR, "e2e", "screenshots"),
);
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function keepkvBinary() {
  const bin = process.env.KEEPKV_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error(
      `KEEPKV_BIN must name a built keepkv binary (got ${bin ?? "nothing"}); e2e/run.sh builds one`,
    );
  }
  return bin;
}

// pollUntil calls fn until it returns a truthy value or the deadline passes.
// For state owned by another process (a leader election, a key's expiry):
// there is no event to wait on from here.
export async function pollUntil(what, fn, { timeoutMs = 20000, everyMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// freePort asks the kernel for an unused loopback port. Ports handed out
// here are remembered so one run never reuses one.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const port = await new Promise((res, rej) => {
      const srv = createServer();
      srv.once("error", rej);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address();
        srv.close(() => res(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

// A Scenario owns everything one test starts: a temp dir (data dirs and
// logs), processes, browser contexts. close() stops them all; the temp dir
// is kept (and its path printed) when the scenario failed.
export class Scenario {
  constructor(name) {
    this.name = name;
    this.dir = mkdtempSync(join(tmpdir(), `keepkv-e2e-${name}-`));
    this.procs = [];
    this.clients = [];
    this.contexts = [];
    this.failed = false;
  }

  track(p) {
    this.procs.push(p);
    return p;
  }

  redis(port) {
    const c = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 3, lazyConnect: false });
    c.on("error", () => {}); // reconnects are expected while nodes are killed
    this.clients.push(c);
    return c;
  }

  async newContext(browser) {
    const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
    ctx.setDefaultTimeout(20000);
    this.contexts.push(ctx);
    return ctx;
  }

  // screenshotAll saves every open page; used when a scenario fails.
  async screenshotAll(label) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const paths = [];
    let i = 0;
    for (const ctx of this.contexts) {
      for (const page of ctx.pages()) {
        const p = join(SCREENSHOT_DIR, `${this.name}-${label}-${i++}.png`);
        try {
          await page.screenshot({ path: p, fullPage: true });
          paths.push(p);
        } catch {
          // a closed page has nothing to show
        }
      }
    }
    return paths;
  }

  async close() {
    for (const ctx of this.contexts) await ctx.close().catch(() => {});
    for (const c of this.clients) c.disconnect();
    await Promise.all(this.procs.map((p) => p.stop()));
    if (this.failed) {
      console.error(`[${this.name}] kept logs and data dirs in ${this.dir}`);
      for (const p of this.procs) console.error(`--- tail of ${p.logPath}\n${p.tail(40)}`);
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// Every started process group, so that none outlives this test process
// even when it is killed by a timeout or interrupted.
const live = new Set();
function killAll() {
  for (const pid of live) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
}
process.once("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

// Proc is one child process with its output in a log file.
class Proc {
  constructor(name, cmd, args, { env, cwd, logPath }) {
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.env = env;
    this.cwd = cwd;
    this.logPath = logPath;
    this.child = null;
  }

  start() {
    const fd = openSync(this.logPath, "a");
    this.child = spawn(this.cmd, this.args, {
      cwd: this.cwd,
      env: this.env,
      stdio: ["ignore", fd, fd],
      detached: true, // its own process group: stop() reaches its children too
    });
    closeSync(fd); // the child has its own copy
    const pid = this.child.pid;
    live.add(pid);
    this.exited = new Promise((res) =>
      this.child.once("exit", (code, sig) => {
        live.delete(pid);
        res({ code, sig });
      }),
    );
    this.child.once("error", (err) => console.error(`${this.name}: ${err.message}`));
    return this;
  }

  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  // kill sends sig to the process group and waits for the exit.
  async kill(sig = "SIGKILL") {
    if (!this.running) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      return;
    }
    await this.exited;
  }

  async stop() {
    if (!this.running) return;
    const t = setTimeout(() => {
      try {
        process.kill(-this.child.pid, "SIGKILL");
      } catch {}
    }, 5000);
    await this.kill("SIGTERM");
    clearTimeout(t);
    try {
      process.kill(-this.child.pid, "SIGKILL"); // children left in the group (next-server)
    } catch {}
  }

  log() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  tail(n) {
    return this.log().split("\n").slice(-n).join("\n");
  }
}

// KeepkvNode is one keepkv process: RESP, Raft and HTTP ports of its own
// and a data dir that survives restarts.
export class KeepkvNode {
  constructor(scenario, { id, token }) {
    this.scenario = scenario;
    this.id = id;
    this.token = token;
    this.dataDir = join(scenario.dir, id);
  }

  async init() {
    this.port = await freePort();
    this.raftPort = await freePort();
    this.httpPort = await freePort();
    return this;
  }

  get raftAddr() {
    return `127.0.0.1:${this.raftPort}`;
  }
  get redisUrl() {
    return `redis://127.0.0.1:${this.port}`;
  }
  get httpUrl() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  // start runs the binary; join names a member's Raft address (else the
  // node bootstraps, or restarts from its data dir).
  start({ join: joinAddr } = {}) {
    const args = [
      "--node-id", this.id,
      "--dir", this.dataDir,
      "--addr", `127.0.0.1:${this.port}`,
      "--raft-addr", this.raftAddr,
      "--http-addr", `127.0.0.1:${this.httpPort}`,
    ];
    if (joinAddr) args.push("--join", joinAddr);
    this.proc = new Proc(`keepkv ${this.id}`, keepkvBinary(), args, {
      cwd: this.scenario.dir,
      env: { ...process.env, KEEPKV_HTTP_TOKEN: this.token },
      logPath: join(this.scenario.dir, `${this.id}.log`),
    }).start();
    this.scenario.track(this.proc);
    return this;
  }

  // waitServing waits until this node answers a linearizable read over
  // RESP and a command over HTTP (both need a known leader).
  async waitServing() {
    const c = this.scenario.redis(this.port);
    try {
      await pollUntil(`${this.id} serving RESP`, async () => {
        if (!this.proc.running) throw new Error(`${this.id} exited; log: ${this.proc.logPath}`);
        await c.get("e2e:probe");
        return true;
      });
      await pollUntil(`${this.id} serving HTTP`, async () => {
        const r = await fetch(this.httpUrl, {
          method: "POST",
          headers: { authorization: `Bearer ${this.token}` },
          body: JSON.stringify(["GET", "e2e:probe"]),
        });
        return r.ok;
      });
    } finally {
      c.disconnect();
    }
  }

  async sigkill() {
    await this.proc.kill("SIGKILL");
  }
}

// startNode starts one bootstrapped node and waits until it serves.
export async function startNode(scenario, token, id = "n1") {
  const n = await new KeepkvNode(scenario, { id, token }).init();
  n.start();
  await n.waitServing();
  return n;
}

// startCluster starts n1 (bootstrap) and joins n2..nN through it, then
// waits until the leader lists every member as a voter.
export async function startCluster(scenario, token, size = 3) {
  const nodes = [];
  for (let i = 1; i <= size; i++) {
    const n = await new KeepkvNode(scenario, { id: `n${i}`, token }).init();
    n.start(i === 1 ? {} : { join: nodes[0].raftAddr });
    await n.waitServing();
    nodes.push(n);
  }
  const c = scenario.redis(nodes[0].port);
  await pollUntil(`${size} voters`, async () => {
    const members = await c.call("RAFT", "MEMBERS");
    return members.length === size && members.every((m) => m[2] === "voter");
  });
  return nodes;
}

// leaderOf asks a node which member leads.
export async function leaderOf(scenario, nodes, via) {
  const c = scenario.redis(via.port);
  return pollUntil("a leader", async () => {
    const v = await c.call("RAFT", "LEADER");
    return v && nodes.find((n) => n.raftAddr === v[1]);
  });
}

// startApp runs the built app (`next start`) on a free port against keepkv.
export async function startApp(scenario, env) {
  const port = await freePort();
  const proc = new Proc(
    "next",
    process.execPath,
    [join(APP_DIR, "node_modules", "next", "dist", "bin", "next"), "start", "-H", "127.0.0.1", "-p", String(port)],
    {
      cwd: APP_DIR,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production", ...env },
      logPath: join(scenario.dir, `next-${port}.log`),
    },
  ).start();
  scenario.track(proc);
  const url = `http://127.0.0.1:${port}`;
  await pollUntil("next start", async () => {
    if (!proc.running) throw new Error(`next exited; log: ${proc.logPath}`);
    return (await fetch(`${url}/login`)).ok;
  });
  return { url, proc };
}

export function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export const newToken = () => randomBytes(16).toString("hex");
