// Accessibility: axe-core (WCAG 2.x A and AA rules) on the home page and on
// a finished run, in light and dark themes, desktop and phone sizes.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { startServer, launchBrowser, waitFor, createRun, waitRunEnded } from "./harness.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
let srv, browser, runId;
before(async () => {
  srv = await startServer({ simRate: 4000 });
  browser = await launchBrowser();
  const run = await createRun(srv.url, { problem: "Given an array of integers, find the largest sum of a non-empty contiguous subarray. Example: [-2, 1, -3, 4, -1, 2, 1, -5, 4].", profile: "code" });
  await waitRunEnded(srv.url, run.id);
  runId = run.id;
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

async function axe(path, { colorScheme, viewport }) {
  // Injecting axe needs script the page's CSP would refuse: a context that
  // bypasses CSP is used for this audit only.
  const context = await browser.newContext({ bypassCSP: true, colorScheme, viewport });
  const page = await context.newPage();
  await page.goto(srv.url + path);
  await waitFor(() => page.locator(path === "/" ? ".ts-run-item" : ".ts-result .katex").first().count(), { message: "page rendered" });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] }),
  );
  await context.close();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}

for (const colorScheme of ["light", "dark"]) {
  for (const [name, viewport] of [["desktop", { width: 1200, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    test(`no serious axe violations: ${colorScheme}, ${name}`, async () => {
      assert.deepEqual(await axe("/", { colorScheme, viewport }), [], "home");
      assert.deepEqual(await axe(`/r/${runId}`, { colorScheme, viewport }), [], "run");
    });
  }
}
