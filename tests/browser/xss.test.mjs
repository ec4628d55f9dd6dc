// Model output (and problem text) is untrusted: HTML, javascript: links and
// KaTeX \href must render inert. The payloads reach the stream through the
// sim engine, which quotes the problem's first line in its reasoning (and,
// where supported, streams `sim:echo TEXT` verbatim).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, createRun, waitRunEnded, transcript, assertClean, outDir, fullShot } from "./harness.mjs";

const payloads = [
  "<script>window.__pwned='script'</script>",
  '<img src=x onerror="window.__pwned=\'img\'">',
  "[click me](javascript:window.__pwned='link')",
  "<a href=\"javascript:window.__pwned='a'\">a</a>",
  "$\\href{javascript:window.__pwned='href'}{x}$ and $\\url{javascript:window.__pwned='url'}$",
  "<svg onload=\"window.__pwned='svg'\"></svg><iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
  "![pic](javascript:window.__pwned='image') <details open ontoggle=\"window.__pwned='details'\">",
  "$\\sqrt{2}$ and $\\left(\\frac{a}{b}\\right)$ and $\\htmlId{x}{y}$ plus \\(\\includegraphics{x}\\)",
];

let srv, browser;
before(async () => {
  srv = await startServer({ simRate: 4000 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

async function inert(page) {
  await page.locator(".ts-badge[data-state=completed], .ts-badge[data-state=failed]").first().waitFor();
  const found = await page.evaluate(() => {
    const root = document.querySelector("thinkstream-view");
    return {
      pwned: window.__pwned,
      scripts: root.querySelectorAll("script").length,
      imgs: root.querySelectorAll("img, iframe, svg[onload], details:not(.ts-voice-opts)").length,
      handlers: [...root.querySelectorAll("*")].filter((el) => [...el.attributes].some((a) => a.name.startsWith("on"))).length,
      jsLinks: [...root.querySelectorAll("[href], [src]")].filter((el) => /^\s*javascript:/i.test(el.getAttribute("href") || el.getAttribute("src") || "")).length,
    };
  });
  assert.deepEqual(found, { pwned: undefined, scripts: 0, imgs: 0, handlers: 0, jsLinks: 0 });
  // Long unbreakable text wraps instead of widening the page.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page ${overflow}px wider than the window`);
  // Click every link the output produced: none may run script.
  for (const a of await page.locator(".ts-step-body a, .ts-answer-body a, .ts-problem a").all()) {
    await a.click({ modifiers: [], noWaitAfter: true, trial: false }).catch(() => {});
  }
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
}

test("payloads quoted in the reasoning render inert", async () => {
  const page = await newPage(browser);
  for (const p of payloads) {
    const run = await createRun(srv.url, { problem: p, profile: "math" });
    await waitRunEnded(srv.url, run.id);
    await page.goto(`${srv.url}/r/${run.id}`);
    await inert(page);
    const t = await transcript(page);
    // The text is shown as text: the raw payload is in the received thinking.
    assert.ok(t.thinking.includes(p.slice(0, 40).replace(/`/g, "'")), `payload quoted: ${p}`);
  }
  await fullShot(page, join(outDir, "xss-inert.png"));
  await assertClean(page, assert);
  await page.context().close();
});

test("a multi-line problem full of payloads renders inert (title and live stream)", async () => {
  const page = await newPage(browser);
  const run = await createRun(srv.url, { problem: "Solve this.\n\n" + payloads.join("\n\n"), profile: "math" });
  await page.goto(`${srv.url}/r/${run.id}`);
  await inert(page);
  const title = await page.locator(".ts-problem-title").textContent();
  assert.ok(title.includes("<script>"), "raw HTML shown as text");
  await assertClean(page, assert);
  await page.context().close();
});

test("sim:echo streams payloads verbatim and they render inert", async (t) => {
  const probe = await createRun(srv.url, { problem: 'sim:echo "probe-echo-123"', profile: "math" }).catch(() => null);
  const d = probe && (await waitRunEnded(srv.url, probe.id));
  const echoed = d && (d.snapshot.thinking + d.snapshot.answer).includes("probe-echo-123") && !d.snapshot.thinking.includes("simulated output for the problem");
  if (!echoed) {
    t.skip("this server's sim engine has no sim:echo");
    return;
  }
  // Hostile text in the reasoning, in code, in the answer and in the result.
  const text =
    "<think>\n" +
    payloads.join("\n\n") +
    "\n\n```html\n<script>window.__pwned='code'</script>\n```\n</think>\n\n" +
    payloads.join("\n\n") +
    "\n\nSo the answer is $\\boxed{\\href{javascript:window.__pwned='boxed'}{1}}$.";
  const page = await newPage(browser);
  const run = await createRun(srv.url, { problem: "sim:echo " + JSON.stringify(text), profile: "math" });
  await page.goto(`${srv.url}/r/${run.id}`);
  await inert(page);
  const done = await waitRunEnded(srv.url, run.id);
  const got = await transcript(page);
  assert.equal(got.thinking, done.snapshot.thinking);
  assert.equal(got.answer, done.snapshot.answer);
  assert.ok(got.thinking.includes(payloads[0]), "payload streamed verbatim");
  assert.ok((await page.locator(".ts-step-body .ts-code code").allTextContents()).some((c) => c.includes("<script>")), "code shown as text");
  await fullShot(page, join(outDir, "xss-echo.png"));
  await assertClean(page, assert);
  await page.context().close();
});
