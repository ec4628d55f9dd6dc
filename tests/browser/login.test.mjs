// Token mode in the browser: the page asks for a token once, trades it for
// the HttpOnly login cookie, and then works (runs list, a run's live
// stream) with no token in the page's scripts or URLs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, serverBin, launchBrowser, newPage, waitFor, outDir } from "./harness.mjs";

let srv, browser, token;
before(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "thinkstream-browser-login-"));
  token = execFileSync(serverBin(), ["token", "create", "--data-dir", dataDir, "--name", "alice", "--scope", "create,watch"], { encoding: "utf8" }).trim();
  srv = await startServer({ dataDir, simRate: 2000, extraArgs: ["--access", "token"] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

test("the page asks for a token, logs in with a cookie and works", async () => {
  const page = await newPage(browser);
  await page.goto(srv.url + "/");
  const dialog = page.locator("dialog#login");
  await dialog.waitFor({ state: "visible" });
  await page.fill("#login-token", "tst_0000000000000000_wrong");
  await page.click("dialog#login button[type=submit]");
  await page.locator(".ts-login-error").waitFor({ state: "visible" });
  assert.match(await page.locator(".ts-login-error").textContent(), /unknown, revoked or expired/);

  await page.fill("#login-token", token);
  await Promise.all([page.waitForEvent("load"), page.click("dialog#login button[type=submit]")]);
  const cookies = await page.context().cookies();
  const c = cookies.find((c) => c.name === "thinkstream_token");
  assert.ok(c && c.httpOnly && c.sameSite === "Strict", `login cookie ${JSON.stringify(c)}`);
  assert.equal(await page.evaluate(() => document.cookie.includes("tst_")), false, "the token is readable by scripts");

  // Logged in: start a run from the page and watch it to its end.
  await page.locator("dialog#login").waitFor({ state: "detached", timeout: 5_000 }).catch(() => {});
  assert.equal(await page.locator("dialog#login[open]").count(), 0, "login dialog shown again after logging in");
  await page.fill("textarea", "What is 2+2?");
  await page.click("button[type=submit]");
  await page.waitForURL(/\/r\//);
  await page.locator(".ts-badge[data-state=completed]").waitFor({ timeout: 60_000 });
  assert.doesNotMatch(page.url(), /tst_/);
  await page.screenshot({ path: join(outDir, "login.png") });
});

test("without logging in nothing is shown", async () => {
  const page = await newPage(browser);
  const resp = await page.request.get(srv.url + "/v1/runs");
  assert.equal(resp.status(), 401);
  await page.goto(srv.url + "/");
  await page.locator("dialog#login").waitFor({ state: "visible" });
  await waitFor(async () => (await page.locator(".ts-run-item").count()) === 0, { message: "no runs listed" });
});
