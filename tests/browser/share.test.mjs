// Share links in the browser: on a token-mode server the run's owner
// presses Share, which makes a read-only share link and copies it; a
// second, logged-out browser context opens the link and follows the live
// run, and so does <thinkstream-view share=…> on a page of another origin.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, serverBin, launchBrowser, newPage, waitFor, transcript, assertClean, outDir } from "./harness.mjs";

let srv, browser, token, site, shareURL, runID;
const shareRe = /\/s\/[0-9a-f]{16}[A-Za-z0-9_-]{43}$/;

before(async () => {
  // The course page's site: another origin, which embeds the element.
  site = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course page</title>
<script src="${srv.url}/assets/thinkstream-view.js" defer></script></head>
<body><h1>Today's problem</h1><thinkstream-view share="${u.searchParams.get("share")}"></thinkstream-view></body></html>`);
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  const siteOrigin = `http://127.0.0.1:${site.address().port}`;
  site.origin = siteOrigin;

  const dataDir = mkdtempSync(join(tmpdir(), "thinkstream-browser-share-"));
  token = execFileSync(serverBin(), ["token", "create", "--data-dir", dataDir, "--name", "alice", "--scope", "create,watch,annotate"], { encoding: "utf8" }).trim();
  // 40 tokens/s: the run is still live while the other contexts open it.
  srv = await startServer({ dataDir, simRate: 40, extraArgs: ["--access", "token", "--cors-origins", siteOrigin] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
  await new Promise((r) => site?.close(r));
});

// grows waits until the page's element has received more text than it had.
async function grows(page, what) {
  const seq = async () => (await transcript(page))?.lastSeq || 0;
  const first = await waitFor(seq, { message: `${what}: some events` });
  await waitFor(async () => (await seq()) > first, { message: `${what}: more events (live)` });
}

test("Share copies a share link that a logged-out browser follows live", async () => {
  const owner = await newPage(browser);
  const login = await owner.request.post(srv.url + "/v1/login", { data: { token } });
  assert.equal(login.status(), 200);
  const created = await owner.request.post(srv.url + "/v1/runs", { data: { problem: "sim:long 4000", profile: "math", params: { max_tokens: 40960 } } });
  assert.equal(created.status(), 201, await created.text());
  runID = (await created.json()).id;

  await owner.goto(`${srv.url}/r/${runID}`);
  await owner.locator(".ts-badge[data-state=running]").waitFor({ timeout: 30_000 });
  await owner.click("[data-action=share]");
  shareURL = await waitFor(async () => {
    const clip = await owner.evaluate(() => navigator.clipboard.readText());
    return shareRe.test(clip) ? clip : null;
  }, { message: "a share link on the clipboard" });
  assert.ok(shareURL.startsWith(srv.url + "/s/"), shareURL);
  await assertClean(owner, assert);

  // A second context: no cookie, no token.
  const viewer = await newPage(browser);
  assert.equal((await viewer.context().cookies()).length, 0);
  await viewer.goto(shareURL);
  await viewer.locator(".ts-badge[data-state=running]").waitFor({ timeout: 30_000 });
  await grows(viewer, "share-link viewer");
  assert.equal(await viewer.locator("dialog#login[open]").count(), 0, "the share link asked for a login");
  assert.match(await viewer.locator(".ts-problem").textContent(), /sim:long 4000/);
  // The link opens this run and nothing else.
  const list = await viewer.evaluate(async () => (await fetch("/v1/runs")).status);
  assert.equal(list, 401);
  await assertClean(viewer, assert);
  await viewer.screenshot({ path: join(outDir, "share-viewer.png") });
});

test("the element on another origin follows the run by its share link", async () => {
  assert.ok(shareURL, "needs the share link of the first test");
  const page = await newPage(browser);
  await page.goto(`${site.origin}/?share=${encodeURIComponent(shareURL)}`);
  await page.locator("thinkstream-view .ts-badge[data-state=running]").waitFor({ timeout: 30_000 }).catch(async (e) => {
    throw new Error(`${e.message}\nproblems: ${page.__problems.join("; ")}\nelement: ${(await page.locator("thinkstream-view").innerHTML()).slice(0, 2000)}`);
  });
  await grows(page, "embedded element");
  assert.deepEqual(page.__problems, [], "page errors");
});

test("a revoked link opens nothing", async () => {
  assert.ok(shareURL, "needs the share link of the first test");
  const secret = shareURL.split("/s/")[1];
  const auth = { Authorization: `Bearer ${token}` };
  const list = await fetch(`${srv.url}/v1/runs/${runID}/shares`, { headers: auth }).then((r) => r.json());
  const link = list.shares.find((s) => secret.startsWith(s.id));
  assert.ok(link, `no listed link for ${secret}`);
  const del = await fetch(`${srv.url}/v1/runs/${runID}/shares/${link.id}`, { method: "DELETE", headers: auth });
  assert.equal(del.status, 204);
  const page = await newPage(browser);
  await page.goto(shareURL);
  await page.getByText("This share link is unknown, revoked or expired.").waitFor({ timeout: 10_000 });
  assert.equal(await page.locator("dialog#login[open]").count(), 0);
});
