// A live run from the home page: steps, code, math and the result render,
// the page's text equals the server's transcript, and nothing breaks the CSP.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, getRun, waitRunEnded, transcript, assertClean, outDir, fullShot } from "./harness.mjs";

const problem = "Given an array of integers, find the largest sum of a non-empty contiguous subarray. Example: [-2, 1, -3, 4, -1, 2, 1, -5, 4].";
let srv, browser;

before(async () => {
  srv = await startServer({ simRate: 300 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
});

test("live run renders steps, code, math and the result", async () => {
  const page = await newPage(browser);
  await page.goto(srv.url + "/");
  await page.getByLabel("Problem", { exact: true }).fill(problem);
  await page.getByLabel("Code").check();
  await page.getByRole("button", { name: "Start thinking" }).click();
  await page.waitForURL(/\/r\/[^/]+$/);
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());

  // While live: the connection says live, steps appear one by one, and the
  // thinking header counts seconds.
  await waitFor(() => page.locator(".ts-conn[data-conn=live]").count(), { message: "live connection" });
  await waitFor(async () => (await page.locator(".ts-step").count()) >= 2, { message: "two steps" });
  const liveLabel = await page.locator(".ts-think-toggle").textContent();
  assert.match(liveLabel, /Thinking… \d|Thought for/);
  await page.locator(".ts-sim").waitFor({ state: "visible" });

  await page.locator(".ts-result .katex").waitFor({ timeout: 60_000 });
  const d = await waitRunEnded(srv.url, id);
  await waitFor(() => page.locator(".ts-badge[data-state=completed]").count(), { message: "completed badge" });
  assert.match(await page.locator(".ts-think-toggle").textContent(), /^Thought for /);

  // Math, code (highlighted, with a copy button) and the boxed result.
  assert.ok((await page.locator(".ts-step-body .katex").count()) > 0, "math in steps");
  assert.ok((await page.locator(".ts-code code.language-python .hljs-keyword").count()) > 0, "highlighted python");
  assert.ok((await page.locator(".ts-code .ts-copy").count()) > 0, "copy button");
  assert.ok((await page.locator(".ts-result .katex .fbox").count()) > 0, "boxed result");
  const steps = await page.locator(".ts-step").count();
  assert.ok(steps >= 3, `steps: ${steps}`);

  // The page's text is exactly the server's.
  const t = await transcript(page);
  assert.equal(t.thinking, d.snapshot.thinking, "thinking equals the server transcript");
  assert.equal(t.answer, d.snapshot.answer, "answer equals the server transcript");
  assert.equal(t.result ?? "", d.snapshot.result ?? "");

  // Copy code puts the code on the clipboard.
  await page.locator(".ts-code .ts-copy").first().click();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(clip, /def |import /);

  await fullShot(page, join(outDir, "live-desktop.png"));
  await assertClean(page, assert);

  // Collapse the thinking as a whole.
  await page.locator(".ts-think-toggle").click();
  assert.equal(await page.locator(".ts-think-toggle").getAttribute("aria-expanded"), "false");
  assert.equal(await page.locator(".ts-steps").isVisible(), false);
  await page.keyboard.press("t");
  assert.equal(await page.locator(".ts-think-toggle").getAttribute("aria-expanded"), "true");
  await page.context().close();
});

test("finished run opened fresh: phone size, dark theme, home list", async () => {
  const list = await (await fetch(srv.url + "/v1/runs?limit=5")).json();
  const id = list.runs[0].id;
  const page = await newPage(browser, { viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  await page.goto(`${srv.url}/r/${id}`);
  await page.locator(".ts-result .katex").waitFor();
  const d = await getRun(srv.url, id);
  assert.equal((await transcript(page)).thinking, d.snapshot.thinking);
  // Nothing wider than the phone screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `horizontal overflow ${overflow}px`);
  await page.screenshot({ path: join(outDir, "finished-phone-dark.png"), fullPage: false });

  await page.goto(srv.url + "/");
  await page.locator(".ts-run-item").first().waitFor();
  assert.match(await page.locator(".ts-run-item").first().textContent(), /completed/);
  await page.getByLabel("Problem", { exact: true }).fill("Quelle est la somme des entiers de 1 à 100 ? Trouvez le nombre exact.");
  await page.locator("#lang-hint").waitFor({ state: "visible" });
  await fullShot(page, join(outDir, "home-phone-dark.png"));
  await assertClean(page, assert);
  await page.context().close();
});

test("validation errors are shown in place", async () => {
  const page = await newPage(browser);
  await page.goto(srv.url + "/");
  await page.getByLabel("Problem", { exact: true }).fill("What is 1+1?");
  await page.getByLabel("Max tokens").fill("99999999");
  await page.getByRole("button", { name: "Start thinking" }).click();
  await page.locator(".ts-form-error .ts-error-what").waitFor();
  assert.equal(new URL(page.url()).pathname, "/");
  assert.ok((await page.locator("[aria-invalid=true]").count()) > 0 || (await page.locator(".ts-form-error").textContent()).includes("max_tokens"));
  await page.context().close();
});
