// Restart the server mid-run (kill, then start again on the same port and
// data dir): the page shows "reconnecting", then resumes, and its text ends
// up exactly the server's transcript: nothing lost, nothing twice.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, createRun, waitRunEnded, transcript, assertClean, outDir, fullShot } from "./harness.mjs";

const problem = "Given an array of integers, find the largest sum of a non-empty contiguous subarray. Example: [-2, 1, -3, 4, -1, 2, 1, -5, 4].";
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test("server restart mid-run: reconnecting, resumed, transcript exact", async () => {
  const srv = await startServer({ simRate: 120 });
  cleanups.push(() => srv.cleanup());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const run = await createRun(srv.url, { problem, profile: "code" });
  const page = await newPage(browser);
  await page.goto(`${srv.url}/r/${run.id}`);
  await waitFor(async () => (await page.locator(".ts-step").count()) >= 3, { message: "three steps" });
  const before = await transcript(page);
  assert.ok(before.thinking.length > 0);

  await srv.kill();
  await waitFor(() => page.locator(".ts-conn[data-conn=reconnecting]").count(), { timeout: 60_000, message: "reconnecting state" });
  await page.screenshot({ path: join(outDir, "restart-reconnecting.png") });
  // Text received before the restart stays on the page (more may have come
  // in between reading it and the kill).
  assert.ok((await transcript(page)).thinking.startsWith(before.thinking), "text kept while reconnecting");

  const srv2 = await startServer({ dataDir: srv.dataDir, port: srv.port, simRate: 120 });
  cleanups.push(() => srv2.stop());
  await waitFor(() => page.locator(".ts-conn[data-conn=resumed], .ts-conn[data-conn=ended]").count(), { timeout: 30_000, message: "resumed" });
  const d = await waitRunEnded(srv2.url, run.id);
  // The page ends up with exactly the server's record (given time to catch up).
  await waitFor(
    async () => {
      const t = await transcript(page);
      return t.thinking === d.snapshot.thinking && t.answer === d.snapshot.answer;
    },
    { timeout: 15_000, message: "page text to equal the server's transcript" },
  ).catch(() => {});
  const t = await transcript(page);
  const conn = await page.locator(".ts-conn").getAttribute("data-conn");
  const info = `page lastSeq ${t.lastSeq} (before the restart ${before.lastSeq}), server last_seq ${d.run.last_seq}, connection ${conn}`;
  assert.equal(t.thinking, d.snapshot.thinking, `thinking equals the server transcript; ${info}`);
  assert.equal(t.answer, d.snapshot.answer, "answer equals the server transcript");
  // The run ended one way or another, and the page says what to do next.
  const state = d.run.state;
  await waitFor(() => page.locator(`.ts-badge[data-state=${state}]`).count(), { message: `badge ${state}` });
  if (state !== "completed") await page.locator(".ts-error .ts-error-next").first().waitFor();
  await fullShot(page, join(outDir, "restart-after.png"));
  await assertClean(page, assert);
});
