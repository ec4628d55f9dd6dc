// Shared helpers for the browser tests: build and run the real server,
// launch Debian's chromium through playwright-core, wait on conditions.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const outDir = join(repoRoot, "test-output", "browser");
mkdirSync(outDir, { recursive: true });

let builtBin;

/** serverBin returns $THINKSTREAM_BIN, or builds ./cmd/thinkstream once per process. */
export function serverBin() {
  if (process.env.THINKSTREAM_BIN) return process.env.THINKSTREAM_BIN;
  if (builtBin) return builtBin;
  const bin = join(tmpdir(), "thinkstream-browser-tests", "thinkstream");
  mkdirSync(dirname(bin), { recursive: true });
  execFileSync("go", ["build", "-o", bin, "./cmd/thinkstream"], { cwd: repoRoot, stdio: "inherit" });
  builtBin = bin;
  return bin;
}

/**
 * startServer runs `thinkstream serve` on 127.0.0.1 (port 0 unless given)
 * with a data dir (a fresh temp one unless given) and waits for its
 * "listening on URL" line.
 */
export async function startServer({ dataDir, port = 0, simRate = 500, simTtft = "50ms", extraArgs = [], env = {} } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), "thinkstream-browser-data-"));
  const args = ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dir, "--sim-rate", String(simRate), "--sim-ttft", simTtft, ...extraArgs];
  // An empty models directory of its own unless env names one: a model
  // the machine's user pulled must not answer the tests.
  const models = env.THINKSTREAM_MODELS ? {} : { THINKSTREAM_MODELS: join(dir, "models") };
  const proc = spawn(serverBin(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...models, ...env } });
  let log = "";
  proc.stderr.on("data", (d) => {
    log += d;
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const exited = new Promise((res) => proc.once("exit", (code, sig) => res({ code, sig })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its URL within 30 s; stderr:\n${log}`)), 30_000);
    const rl = createInterface({ input: proc.stdout });
    rl.on("line", (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
    exited.then(({ code, sig }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? sig}) before listening; stderr:\n${log}`));
    });
  });
  const home = await fetch(url + "/").then((r) => r.text()).catch(() => "");
  if (!home.includes('<div id="app">')) {
    proc.kill("SIGKILL");
    throw new Error(`${url}/ does not serve the web UI: mount web.Handler() for "/", "/r/{id}", "/assets/" and "/embed-example.html" in cmd/thinkstream`);
  }
  const srv = {
    url,
    port: Number(new URL(url).port),
    dataDir: dir,
    proc,
    log: () => log,
    /** kill stops the server abruptly (SIGKILL) and waits for it to exit. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    /** stop stops it politely (SIGTERM), then abruptly after 10 s. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
    async cleanup() {
      await srv.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return srv;
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/**
 * newPage opens a page that records CSP violations, page errors and
 * console errors into page.__problems.
 */
export async function newPage(browser, { viewport = { width: 1200, height: 900 }, colorScheme = "light", initScripts = [] } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, permissions: ["clipboard-read", "clipboard-write"] });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ""}`));
  });
  for (const s of initScripts) await context.addInitScript(s);
  const page = await context.newPage();
  page.__problems = [];
  page.on("pageerror", (e) => page.__problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|net::ERR/.test(m.text())) page.__problems.push(`console: ${m.text()}`);
  });
  return page;
}

/** waitFor polls fn until it returns a truthy value, or throws after timeout ms. */
export async function waitFor(fn, { timeout = 30_000, interval = 50, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${message}${last instanceof Error ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function createRun(url, body) {
  const resp = await fetch(`${url}/v1/runs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (resp.status !== 201) throw new Error(`POST /v1/runs: ${resp.status} ${await resp.text()}`);
  return resp.json();
}

export async function getRun(url, id) {
  const resp = await fetch(`${url}/v1/runs/${id}`);
  if (!resp.ok) throw new Error(`GET /v1/runs/${id}: ${resp.status}`);
  return resp.json();
}

/**
 * runAction pauses or resumes a run as its owner: tests hold a run live
 * with it where they need it live, since on a slow machine a short run can
 * end before a page has even loaded.
 */
export async function runAction(url, run, action) {
  const resp = await fetch(`${url}/v1/runs/${run.id}/${action}`, { method: "POST", headers: { "X-Thinkstream-Owner": run.owner_token } });
  if (resp.status !== 202) throw new Error(`POST ${action}: ${resp.status} ${await resp.text()}`);
}

/** waitFirstStep waits until the run's log holds its first step. */
export async function waitFirstStep(url, id) {
  return waitFor(async () => (await getRun(url, id)).snapshot.events.some((e) => e.type === "step"), { interval: 50, message: `run ${id}'s first step` });
}

/** waitRunEnded waits until the run is in a terminal state and returns its detail. */
export async function waitRunEnded(url, id, timeout = 60_000) {
  return waitFor(
    async () => {
      const d = await getRun(url, id);
      return ["completed", "cancelled", "failed", "interrupted"].includes(d.run.state) ? d : null;
    },
    { timeout, interval: 200, message: `run ${id} to end` },
  );
}

/** transcript reads what the page's <thinkstream-view> has received. */
export function transcript(page) {
  return page.evaluate(() => document.querySelector("thinkstream-view")?.transcript());
}

export async function assertClean(page, assert) {
  const csp = await page.evaluate(() => window.__csp);
  assert.deepEqual(csp, [], "CSP violations");
  assert.deepEqual(page.__problems, [], "page errors");
}

/**
 * fullShot takes a full-page screenshot with every step painted: finished
 * steps use content-visibility: auto, which skips painting off screen.
 */
export async function fullShot(page, path) {
  await page.evaluate(() => {
    for (const el of document.querySelectorAll(".ts-group")) el.style.contentVisibility = "visible";
  });
  await page.screenshot({ path, fullPage: true });
}
