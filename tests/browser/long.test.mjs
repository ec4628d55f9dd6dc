// Long run: `sim:long N` at R tokens/s, watched live, then opened fresh.
// Records the longest main-thread task after load, the JS heap, and how long
// a fresh open of the finished run takes to render completely. Targets: no
// task over 50 ms after load, heap under 100 MB, fresh open under 1.5 s.
//
// The full-size run (40,000 tokens at 200 tokens/s, about 4 minutes) runs
// with THINKSTREAM_LONG=1 and writes docs/benchmarks-web.md; without it a
// 6,000-token run at 400 tokens/s checks the same targets in ~20 s.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, createRun, waitRunEnded, transcript, assertClean, outDir, repoRoot } from "./harness.mjs";

const full = process.env.THINKSTREAM_LONG === "1";
const tokens = Number(process.env.THINKSTREAM_LONG_TOKENS) || (full ? 40000 : 6000);
const rate = Number(process.env.THINKSTREAM_LONG_RATE) || (full ? 200 : 400);

let srv, browser;
before(async () => {
  srv = await startServer({ simRate: rate });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

const longTaskRecorder = () => {
  window.__longtasks = [];
  window.__tsProfile = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longtasks.push({ start: Math.round(e.startTime), ms: Math.round(e.duration) });
    }).observe({ type: "longtask", buffered: true });
  } catch {}
};

async function heapMB(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = await cdp.send("Runtime.getHeapUsage");
  await cdp.detach();
  return usedSize / 1048576;
}

test(`long run: sim:long ${tokens} at ${rate} tokens/s`, { timeout: full ? 900_000 : 180_000 }, async () => {
  const run = await createRun(srv.url, { problem: `sim:long ${tokens}`, profile: "math", params: { max_tokens: 40960 } });
  const page = await newPage(browser, { initScripts: [longTaskRecorder] });
  await page.goto(`${srv.url}/r/${run.id}`);
  await page.locator(".ts-step").first().waitFor({ timeout: 30_000 });
  // Count what the polite live region says: step completions come in ranges, not one by one.
  await page.evaluate(() => {
    window.__said = [];
    const live = document.querySelector(".ts-view [aria-live=polite]");
    new MutationObserver(() => live.textContent && window.__said.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
  });
  const liveStart = Date.now();
  // "After load": from the first rendered step on. Long tasks are measured
  // twice: wall-clock (PerformanceObserver; inflated when other processes
  // take the CPU, as on a shared 2-core machine) and main-thread CPU time
  // per task (the trace's thread duration), which preemption does not change.
  const loadedAt = await page.evaluate(() => performance.now());
  await browser.startTracing(page, { categories: ["toplevel"] });
  let peakHeap = 0;
  const d = await waitFor(
    async () => {
      const r = await waitRunEnded(srv.url, run.id, 1).catch(() => null);
      return r;
    },
    { timeout: (tokens / rate) * 1000 * 3 + 60_000, interval: 2000, message: "long run to finish" },
  );
  await page.locator(".ts-result, .ts-error").first().waitFor({ timeout: 30_000 });
  await waitFor(() => page.evaluate(() => document.querySelector("thinkstream-view").view.idle()), { message: "render idle" });
  // Long tasks first: the forced GC of the heap measurement is one itself.
  const tasks = await page.evaluate((t0) => window.__longtasks.filter((x) => x.start >= t0), loadedAt);
  const cpu = mainThreadTasks(JSON.parse((await browser.stopTracing()).toString("utf8")));
  const prof = await page.evaluate(() => window.__tsProfile);
  peakHeap = Math.max(peakHeap, await heapMB(page));
  const longest = tasks.reduce((m, x) => Math.max(m, x.ms), 0);
  const t = await transcript(page);
  assert.equal(t.thinking, d.snapshot.thinking, "live transcript exact");
  const liveSteps = t.steps;
  const said = await page.evaluate(() => window.__said);
  const liveSecs = (Date.now() - liveStart) / 1000;
  assert.ok(said.length <= liveSecs / 3 + 10, `${said.length} live-region announcements in ${liveSecs.toFixed(0)} s for ${liveSteps} steps`);
  await page.screenshot({ path: join(outDir, "long-live-end.png") });
  await assertClean(page, assert);
  await page.context().close();

  // Open the finished run fresh and time a complete render.
  const fresh = await newPage(browser, { initScripts: [longTaskRecorder] });
  await fresh.goto(`${srv.url}/r/${run.id}`);
  const openMs = await waitFor(
    () =>
      fresh.evaluate(() => {
        const el = document.querySelector("thinkstream-view");
        const v = el && el.view;
        if (!v || !v.model.ended || !v.idle() || !document.querySelector(".ts-result .katex, .ts-error")) return 0;
        return performance.now();
      }),
    { interval: 10, timeout: 30_000, message: "fresh open rendered" },
  );
  const freshTasks = await fresh.evaluate(() => window.__longtasks);
  const freshHeap = await heapMB(fresh);
  const freshLongest = freshTasks.reduce((m, x) => Math.max(m, x.ms), 0);
  assert.equal((await transcript(fresh)).thinking, d.snapshot.thinking, "fresh transcript exact");
  await fresh.context().close();

  const chars = d.snapshot.thinking.length + d.snapshot.answer.length;
  const { loadavg } = await import("node:os");
  const summary = {
    tokens,
    rate,
    steps: liveSteps,
    announcements: said.length,
    chars,
    longestTaskAfterLoadMs: longest,
    longTasksOver50: tasks.filter((x) => x.ms > 50).length,
    longestTaskCpuMs: cpu.longestCpuMs,
    tasksOver50Cpu: cpu.over50,
    mainThreadTasks: cpu.count,
    mainThreadBusyPct: cpu.busyPct,
    heapMB: Math.round(peakHeap * 10) / 10,
    freshOpenMs: Math.round(openMs),
    freshLongestTaskMs: freshLongest,
    freshHeapMB: Math.round(freshHeap * 10) / 10,
    load: loadavg()[0].toFixed(1),
  };
  console.log(JSON.stringify(summary), JSON.stringify(tasks), JSON.stringify(freshTasks), JSON.stringify(prof));
  writeFileSync(join(outDir, `long-${tokens}.json`), JSON.stringify(summary, null, 2));
  if (full) writeBenchmarks(summary);

  // The target is on the page's own work: main-thread CPU time per task.
  assert.ok(cpu.longestCpuMs <= 50, `longest task after load: ${cpu.longestCpuMs} ms of main-thread CPU (${longest} ms wall-clock)`);
  assert.ok(peakHeap < 100, `heap ${peakHeap} MB`);
  // The 1.5 s target is wall time, which other work on the machine moves
  // (1.1 s in CI runs, once 1.8 s): it is held in the benchmark run
  // (THINKSTREAM_LONG=1, numbers in docs/benchmarks-web.md); the test run
  // only catches a gross regression.
  const openLimit = full ? 1500 : 5000;
  assert.ok(openMs < openLimit, `fresh open took ${openMs} ms (limit ${openLimit} ms)`);
});

/**
 * mainThreadTasks reads a Chrome trace: the renderer main thread's top-level
 * tasks, with their CPU time (tdur) and wall time (dur), in µs.
 */
function mainThreadTasks(trace) {
  const events = trace.traceEvents || trace;
  const mains = new Set();
  for (const e of events) if (e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain") mains.add(`${e.pid}:${e.tid}`);
  let longestCpu = 0;
  let over50 = 0;
  let count = 0;
  let busy = 0;
  let first = Infinity;
  let last = 0;
  for (const e of events) {
    if (e.ph !== "X" || (e.name !== "RunTask" && e.name !== "ThreadControllerImpl::RunTask")) continue;
    if (!mains.has(`${e.pid}:${e.tid}`)) continue;
    const cpu = (e.tdur ?? e.dur) / 1000;
    count++;
    busy += cpu;
    first = Math.min(first, e.ts);
    last = Math.max(last, e.ts + e.dur);
    if (cpu > longestCpu) longestCpu = cpu;
    if (cpu > 50) over50++;
  }
  const span = (last - first) / 1000;
  return { longestCpuMs: Math.round(longestCpu), over50, count, busyPct: span > 0 ? Math.round((busy / span) * 1000) / 10 : 0 };
}

function writeBenchmarks(s) {
  const md = `# Web UI benchmarks

Measured by \`tests/browser/long.test.mjs\` with \`THINKSTREAM_LONG=1\`
(\`cd tests/browser && npm ci && THINKSTREAM_LONG=1 node --test long.test.mjs\`):
a \`sim:long ${s.tokens}\` run streamed at ${s.rate} tokens/s to headless Debian
chromium on the 2-core development machine, then the finished run opened
fresh in a new page. The machine was shared with other builds and benchmarks
(1-minute load average ${s.load} on 2 cores as the run ended): wall-clock task lengths
there include time the page's thread was preempted, so the target is checked
on each task's main-thread CPU time from a Chrome trace.

| measure | target | result |
| --- | --- | --- |
| reasoning tokens / steps / characters | | ${s.tokens} / ${s.steps} / ${s.chars} |
| longest main-thread task after load, live, CPU time | ≤ 50 ms | ${s.longestTaskCpuMs} ms (${s.tasksOver50Cpu} of ${s.mainThreadTasks} tasks over 50 ms) |
| same, wall-clock (PerformanceObserver longtask) | | ${s.longTasksOver50 ? `${s.longestTaskAfterLoadMs} ms (${s.longTasksOver50} over 50 ms)` : "none over 50 ms"} |
| main thread busy while streaming | | ${s.mainThreadBusyPct} % |
| JS heap after the run (after GC) | < 100 MB | ${s.heapMB} MB |
| fresh open of the finished run, navigation to complete render | < 1.5 s | ${s.freshOpenMs} ms |
| fresh open: longest task | | ${s.freshLongestTaskMs} ms |
| fresh open: JS heap | | ${s.freshHeapMB} MB |

How the page keeps these: events update a plain model; rendering happens at
most once per animation frame, only for what changed. A step's markdown is cut
at blank lines outside code fences and display math; text before the last cut
is rendered once into its own chunk and never again, so only the open tail
re-renders while tokens arrive (at most once per animation frame and about
15 times a second, less when a render is slow). KaTeX layouts of recent
formulas are cached for those re-renders. Steps sit in groups of 24; a
finished group uses \`content-visibility: auto\`, so off-screen steps cost
no style, layout or paint work and a frame's layout stays near constant
however long the run gets. Catching up (late join, resume after
"pause view", instant replay) renders in slices of about 10 ms per frame.
Re-renders of the open tail reuse the formulas already typeset instead of
typesetting them again, to make less garbage for the browser's collector.

History of this measurement (same run size, same machine): before finished
steps were skipped by layout (\`content-visibility\`), over 300 long tasks up
to 555 ms; before steps were grouped, 109–124 wall-clock long tasks and a
per-step layout cost that grew with the run; since then 1–3 wall-clock long
tasks per run. The occasional remaining task over 50 ms of CPU was, where it
could be traced, not one of the page's render frames (those stay ≤ ~32 ms)
but garbage collection or other browser-internal work; Chrome's GC trace
(\`--js-flags=--trace-gc\`) showed incremental mark-compact steps of up to
48 ms before the open tail's re-render rate was capped at ~15 a second and
its formulas reused, and ≤ 13 ms after.
`;
  writeFileSync(join(repoRoot, "docs", "benchmarks-web.md"), md);
}
