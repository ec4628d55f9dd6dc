// Owner controls, pause view, auto-scroll with "jump to latest", keyboard,
// landmarks, and the embedding example page.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, createRun, waitRunEnded, transcript, assertClean, outDir, fullShot } from "./harness.mjs";

let srv, browser;
before(async () => {
  srv = await startServer({ simRate: 150 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

const domSteps = (page) => page.locator(".ts-step").count();

test("owner controls, pause view, auto-scroll and jump to latest, keyboard", async () => {
  const page = await newPage(browser, { viewport: { width: 1000, height: 700 } });
  await page.goto(srv.url + "/");
  // Landmarks and labels.
  for (const sel of ["header.ts-top", "nav[aria-label]", "main#main", "footer", "a.ts-skip"]) assert.equal(await page.locator(sel).count(), 1, sel);
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "problem");
  await page.keyboard.type("sim:long 4000");
  await page.keyboard.press("Control+Enter");
  await page.waitForURL(/\/r\//);
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
  await waitFor(async () => (await domSteps(page)) >= 3, { message: "steps" });

  // Unnamed buttons would be unusable with a screen reader.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll("button, select, input, textarea")].filter((el) => el.offsetParent !== null && !(el.getAttribute("aria-label") || el.textContent.trim() || el.labels?.length)).map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);
  assert.equal(await page.locator(".ts-view [aria-live=polite]").count(), 1);

  // Auto-scroll follows while at the bottom…
  const atBottom = () => page.evaluate(() => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 60);
  await waitFor(async () => (await page.evaluate(() => document.documentElement.scrollHeight > window.innerHeight * 1.5)) && atBottom(), { message: "page taller than the window and followed" });
  // …stops when the reader scrolls up, and offers "Jump to latest".
  await page.mouse.move(500, 400);
  await page.mouse.wheel(0, -1500);
  await page.getByRole("button", { name: "Jump to latest ↓" }).waitFor();
  // Wait for the wheel's smooth scroll to settle, then note what the reader sees.
  let prev = -1;
  await waitFor(async () => {
    const y = await page.evaluate(() => window.scrollY);
    const same = y === prev;
    prev = y;
    return same;
  }, { interval: 150, message: "scroll to settle" });
  const seen = () =>
    page.evaluate(() => {
      const el = [...document.querySelectorAll(".ts-step")].find((s) => s.getBoundingClientRect().bottom > 80);
      return el ? { step: el.dataset.step, top: Math.round(el.getBoundingClientRect().top) } : null;
    });
  const before = await seen();
  await waitFor(async () => (await page.evaluate(() => document.documentElement.scrollHeight)) > (await page.evaluate(() => window.innerHeight + window.scrollY)) + 400, { message: "content grows below" });
  const later = await seen();
  assert.equal(later.step, before.step, "same step in view");
  assert.ok(Math.abs(later.top - before.top) < 5, `reader's position kept: ${JSON.stringify({ before, later })}`);
  await page.screenshot({ path: join(outDir, "jump-to-latest.png") });
  await page.getByRole("button", { name: "Jump to latest ↓" }).click();
  assert.ok(await atBottom());
  await page.getByRole("button", { name: "Jump to latest ↓" }).waitFor({ state: "hidden" });

  // Pause view: the DOM freezes while events keep arriving; resume catches up.
  await page.keyboard.press("p");
  assert.equal(await page.getByRole("button", { name: "Resume view" }).getAttribute("aria-pressed"), "true");
  const frozen = await domSteps(page);
  await waitFor(async () => (await transcript(page)).steps >= frozen + 2, { message: "events keep arriving" });
  assert.equal(await domSteps(page), frozen, "DOM frozen");
  await page.keyboard.press("p");
  await waitFor(async () => (await domSteps(page)) === (await transcript(page)).steps, { timeout: 2000, message: "caught up" });

  // Owner: pause generation (the sim engine cannot: 501 → said in place), then cancel.
  // The page follows the live run, so these buttons move while a pointer
  // aims at them (a mouse user scrolls up first, which stops following):
  // use them from the keyboard, as focus holds however the page scrolls.
  const activate = async (name) => {
    await page.getByRole("button", { name }).focus();
    await page.keyboard.press("Enter");
  };
  await activate("Pause generation");
  await waitFor(async () => (await page.locator(".ts-badge[data-state=paused]").count()) || (await page.locator(".ts-error", { hasText: "cannot pause" }).count()), { message: "paused or cannot pause" });
  if (await page.locator(".ts-badge[data-state=paused]").count()) {
    await activate("Resume generation");
    await page.locator(".ts-badge[data-state=running]").waitFor();
  } else {
    await page.getByRole("button", { name: "Pause generation" }).waitFor({ state: "hidden" });
  }
  page.once("dialog", (d) => d.accept());
  await activate("Cancel run");
  await page.locator(".ts-badge[data-state=cancelled]").waitFor();
  await page.locator(".ts-error", { hasText: "cancelled" }).waitFor();
  const d = await waitRunEnded(srv.url, id);
  assert.equal(d.run.state, "cancelled");
  assert.equal((await transcript(page)).thinking, d.snapshot.thinking);

  // Keyboard: thinking toggle, help dialog, theme.
  await page.keyboard.press("t");
  assert.equal(await page.locator(".ts-think-toggle").getAttribute("aria-expanded"), "false");
  await page.keyboard.press("t");
  await page.keyboard.press("?");
  await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await page.keyboard.press("Escape");
  await page.keyboard.press("d");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await page.screenshot({ path: join(outDir, "cancelled-dark.png") });
  await page.keyboard.press("n");
  await page.waitForURL(srv.url + "/");
  await assertClean(page, assert);
  await page.context().close();
});

test("embed example page renders a run with the element", async () => {
  const run = await createRun(srv.url, { problem: "How many ways to choose 3 people out of 5?", profile: "math" });
  await waitRunEnded(srv.url, run.id);
  const page = await newPage(browser);
  await page.goto(`${srv.url}/embed-example.html?run=${run.id}&theme=dark`);
  await page.locator("thinkstream-view .ts-result .katex").waitFor();
  assert.equal(await page.locator("thinkstream-view .ts-root").getAttribute("data-theme"), "dark");
  await fullShot(page, join(outDir, "embed-example.png"));
  await assertClean(page, assert);
  await page.context().close();
});

test("element with a src events URL follows a live run", async () => {
  const run = await createRun(srv.url, { problem: "sim:long 1500", profile: "math" });
  const page = await newPage(browser);
  await page.goto(`${srv.url}/embed-example.html?run=none`);
  // Point the demo element at the events URL instead of a run id.
  await page.evaluate((src) => {
    const el = document.getElementById("demo");
    el.removeAttribute("run");
    el.setAttribute("theme", "light");
    el.setAttribute("src", src);
  }, `${srv.url}/v1/runs/${run.id}/events?coalesce=1`);
  await waitFor(() => page.locator("thinkstream-view .ts-conn[data-conn=live], thinkstream-view .ts-conn[data-conn=ended]").count(), { message: "element live" });
  const d = await waitRunEnded(srv.url, run.id);
  await waitFor(async () => (await transcript(page))?.lastSeq >= d.run.last_seq, { message: "element caught up" });
  const t = await transcript(page);
  assert.equal(t.thinking, d.snapshot.thinking);
  assert.equal(t.answer, d.snapshot.answer);
  await assertClean(page, assert);
  await page.context().close();
});

test("unknown run says so and offers a new run; j/k move between steps", async () => {
  const page = await newPage(browser);
  await page.goto(`${srv.url}/r/no-such-run`);
  await page.locator(".ts-error", { hasText: "does not exist" }).waitFor();
  await page.getByRole("link", { name: "Start a new run" }).click();
  await page.waitForURL(srv.url + "/");

  const run = await createRun(srv.url, { problem: "How many ways to choose 3 people out of 5?", profile: "math" });
  await waitRunEnded(srv.url, run.id);
  await page.goto(`${srv.url}/r/${run.id}`);
  await page.locator(".ts-result .katex").waitFor();
  await page.keyboard.press("j");
  const first = await page.evaluate(() => document.activeElement?.dataset.step);
  assert.ok(first, "a step has focus");
  // Focus moves when the view handles the key, not necessarily before
  // press() returns: wait for it (a lost key still fails at the deadline).
  const focusIs = (step) => page.waitForFunction((s) => document.activeElement?.dataset.step === s, step, { timeout: 5000 });
  await page.keyboard.press("j");
  await focusIs(String(Number(first) + 1));
  await page.keyboard.press("k");
  await focusIs(first);
  await assertClean(page, assert);
  await page.context().close();
});
