// Rough edges a newcomer hit (issue 10), each checked where it showed:
// the final answer card during an early replay, the viewer count of a
// finished run, the screen-reader announcement after a reload, raw TeX of
// a formula still being written, and the home page naming its engine.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, waitFor, createRun, waitRunEnded, runAction } from "./harness.mjs";

const problem = "In how many ways can a committee of 3 be chosen from 5 people?";
const cleanups = [];
let srv, browser;
before(async () => {
  srv = await startServer({ simRate: 150 });
  cleanups.push(() => srv.cleanup());
  browser = await launchBrowser();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const view = (page, fn) => page.evaluate(fn);
const saidRecorder = () => {
  window.__said = [];
  document.addEventListener("DOMContentLoaded", () => {
    const watch = () => {
      const live = document.querySelector(".ts-sr");
      if (!live) return setTimeout(watch, 10);
      new MutationObserver(() => live.textContent && window.__said.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
    };
    watch();
  });
};

test("replay: no final answer card while the replay is at an early step", async () => {
  const run = await createRun(srv.url, { problem });
  await waitRunEnded(srv.url, run.id);
  const page = await newPage(browser);
  await page.goto(`${srv.url}/r/${run.id}`);
  await page.locator(".ts-result .katex").waitFor();
  await page.locator('.ts-replay [data-speed="1"]').click();
  await waitFor(() => page.locator(".ts-conn[data-conn=replay]").count(), { message: "replay starts" });
  await waitFor(() => page.locator(".ts-step").count(), { message: "the replay's first step" });
  const early = await view(page, () => ({ steps: document.querySelectorAll(".ts-step").length, result: !document.querySelector(".ts-result").hidden }));
  assert.ok(early.steps < 8, `replay at step ${early.steps}`);
  assert.equal(early.result, false, "final answer card shown at an early step of the replay");
  await page.locator('.ts-replay [data-speed="0"]').click();
  await waitFor(async () => (await page.locator(".ts-conn").textContent()) === "replay finished", { message: "instant replay" });
  assert.equal(await page.locator(".ts-result").isVisible(), true, "card back at the end of the replay");
});

test("a finished run's page does not keep its viewer count", async () => {
  const run = await createRun(srv.url, { problem });
  await runAction(srv.url, run, "pause"); // live until both pages count
  const a = await newPage(browser);
  const b = await newPage(browser);
  await a.goto(`${srv.url}/r/${run.id}`);
  await b.goto(`${srv.url}/r/${run.id}`);
  await waitFor(async () => (await a.locator(".ts-viewers").textContent()) === "2 watching" && a.locator(".ts-viewers").isVisible(), { message: "2 watching" });
  await runAction(srv.url, run, "resume");
  await waitRunEnded(srv.url, run.id);
  for (const p of [a, b]) {
    await p.locator(".ts-end").waitFor();
    await waitFor(async () => !(await p.locator(".ts-viewers").isVisible()), { timeout: 5_000, message: "viewer count gone after the end" });
  }
});

test("after a reload the live region ends at the answer, not at a step", async () => {
  const run = await createRun(srv.url, { problem });
  const page = await newPage(browser, { initScripts: [saidRecorder] });
  await page.goto(`${srv.url}/r/${run.id}`);
  await waitFor(() => page.locator(".ts-step").count(), { message: "a step" });
  await page.reload();
  await waitRunEnded(srv.url, run.id);
  // Everything received is rendered and no announcement is still due.
  await waitFor(
    () =>
      view(page, () => {
        const v = document.querySelector("thinkstream-view")?.view;
        return v && v.model.ended && v.idle() && !v.announcing();
      }),
    { message: "view idle with nothing left to announce" },
  );
  const said = await view(page, () => window.__said);
  assert.equal(said.at(-1), "Final answer: 10.", `announcements: ${JSON.stringify(said)}`);
});

test("the home page says which engine answers, and takes the profiles' defaults from the server", async () => {
  const { writeFileSync, mkdtempSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const file = join(mkdtempSync(join(tmpdir(), "ts-profiles-")), "profiles.json");
  writeFileSync(
    file,
    JSON.stringify({
      default: "math",
      profiles: { math: { temperature: 0.85, max_tokens: 8000 }, code: { system: "You are a competitive programming assistant.", temperature: 0.35, max_tokens: 6000 } },
    }),
  );
  const own = await startServer({ extraArgs: ["--profiles", file] });
  cleanups.push(() => own.cleanup());
  const page = await newPage(browser);
  await page.goto(own.url + "/");
  await waitFor(async () => (await page.locator(".ts-engine").getAttribute("data-simulated")) === "true", { message: "engine line" });
  assert.match(await page.locator(".ts-engine").textContent(), /simulator/);
  assert.doesNotMatch(await page.locator(".ts-home-ask").textContent(), /Ask VibeThinker/);
  assert.equal(await page.locator("#temperature").inputValue(), "0.85");
  assert.equal(await page.locator("#max_tokens").inputValue(), "8000");
  await page.locator("#profile-code").check();
  assert.equal(await page.locator("#temperature").inputValue(), "0.35");
  assert.equal(await page.locator("#max_tokens").inputValue(), "6000");
  // What the reader typed stays.
  await page.locator("#temperature").fill("0.5");
  await page.locator("#profile-math").check();
  assert.equal(await page.locator("#temperature").inputValue(), "0.5");
});

test("a formula still being written shows typeset (or quietly), never as raw TeX", async () => {
  const slow = await startServer({ simRate: 12 });
  cleanups.push(() => slow.cleanup());
  const text = "<think>Three people can be ordered in $3! = 3 \\times 2 \\times 1 = 6 = 1 + 2 + 3 = 2 \\cdot 3 = \\frac{12}{2} = \\sqrt{36}$ ways, and a few more words follow.</think>So $\\boxed{6}$.";
  const run = await createRun(slow.url, { problem: `sim:echo ${JSON.stringify(text)}` });
  const rawSeen = () => {
    window.__raw = [];
    window.__openSeen = 0;
    const check = () => {
      for (const tail of document.querySelectorAll(".ts-step .ts-tail")) {
        const c = tail.cloneNode(true);
        for (const m of c.querySelectorAll(".katex, .ts-math-pending")) m.remove();
        if (c.textContent.includes("$3")) window.__raw.push(c.textContent);
        if (tail.querySelector(".ts-math-open .katex")) window.__openSeen++;
      }
    };
    new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
  };
  const page = await newPage(browser, { initScripts: [rawSeen] });
  await page.goto(`${slow.url}/r/${run.id}`);
  await page.locator(".ts-result .katex").waitFor({ timeout: 30_000 });
  const { raw, open } = await page.evaluate(() => ({ raw: window.__raw, open: window.__openSeen }));
  assert.deepEqual(raw.slice(0, 3), [], "raw TeX of the open formula was on screen");
  assert.ok(open > 0, "the open formula was typeset while it was being written");
  // Once closed it is an ordinary formula.
  assert.equal(await page.locator(".ts-step .ts-math-open").count(), 0);
  assert.ok((await page.locator(".ts-step .katex").count()) >= 1);
});
