// From the simulator to a real model on the home page (issue 10): the
// server offers VibeThinker's download, the reader picks a quantization by
// its size, watches progress with rate and time left, cancels, downloads
// again (it continues where it stopped), and the server switches to the
// embedded engine without a restart. The hub is a loopback stand-in
// speaking the Hugging Face API, serving the repository's tiny real qwen2
// test model under VibeThinker's file names.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, waitFor, getRun, waitRunEnded, repoRoot, outDir } from "./harness.mjs";

const repo = "mradermacher/VibeThinker-1.5B-GGUF";
const model = readFileSync(join(repoRoot, "engine", "local", "testdata", "tiny-qwen2-f16.gguf"));
const files = {
  "VibeThinker-1.5B.Q4_K_M.gguf": model,
  // Listed with its size, never downloaded.
  "VibeThinker-1.5B.Q8_0.gguf": Buffer.alloc(3 << 20, 7),
};

/** startHub serves the hub's model info, tree and (Range-aware) downloads; slow downloads trickle. */
function startHub() {
  const hub = { ranges: [], slow: true };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path === `/api/models/${repo}`) {
      res.setHeader("Content-Type", "application/json");
      return res.end(JSON.stringify({ id: repo, siblings: [{ rfilename: "README.md" }, ...Object.keys(files).map((f) => ({ rfilename: f }))] }));
    }
    if (path === `/api/models/${repo}/tree/main`) {
      res.setHeader("Content-Type", "application/json");
      const tree = Object.entries(files).map(([name, b]) => ({ type: "file", path: name, size: b.length, lfs: { oid: createHash("sha256").update(b).digest("hex"), size: b.length } }));
      return res.end(JSON.stringify(tree));
    }
    const prefix = `/${repo}/resolve/main/`;
    if (path.startsWith(prefix) && files[path.slice(prefix.length)]) {
      const b = files[path.slice(prefix.length)];
      const range = req.headers.range || "";
      hub.ranges.push(range);
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(range);
      if (m) {
        start = Number(m[1]);
        res.writeHead(206, { "Content-Length": b.length - start, "Content-Range": `bytes ${start}-${b.length - 1}/${b.length}` });
      } else res.writeHead(200, { "Content-Length": b.length });
      if (!hub.slow) return res.end(b.subarray(start));
      // 64 KiB every 50 ms (about 1.3 MB/s): slow enough to watch and cancel.
      let at = start;
      const timer = setInterval(() => {
        if (at >= b.length) {
          clearInterval(timer);
          return res.end();
        }
        res.write(b.subarray(at, at + (64 << 10)));
        at += 64 << 10;
      }, 50);
      res.on("close", () => clearInterval(timer));
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":"Repository not found"}');
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ hub, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) })));
}

const cleanups = [];
let srv, browser, hub;
before(async () => {
  const h = await startHub();
  hub = h.hub;
  cleanups.push(h.close);
  srv = await startServer({ env: { HF_ENDPOINT: h.url } });
  cleanups.push(() => srv.cleanup());
  browser = await launchBrowser();
  cleanups.push(() => browser.close());
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test("download VibeThinker from the home page: sizes, progress, cancel, resume, and the engine switch", async () => {
  const page = await newPage(browser);
  await page.goto(srv.url + "/");
  const panel = page.locator(".ts-download");
  await panel.waitFor();
  assert.equal(await page.locator(".ts-engine").getAttribute("data-simulated"), "true");

  await panel.getByRole("button", { name: /Download VibeThinker-1\.5B/ }).click();
  const quant = panel.getByRole("combobox", { name: "Quantization" });
  await quant.waitFor();
  const options = await quant.locator("option").allTextContents();
  assert.deepEqual(options, ["Q4_K_M — 9.0 MiB", "Q8_0 — 3.0 MiB"]);
  assert.equal(await quant.inputValue(), "Q4_K_M", "the default quantization is preselected");

  await panel.getByRole("button", { name: "Download", exact: true }).click();
  const status = panel.locator(".ts-dl-status");
  await waitFor(async () => /of 9\.0 MiB · .*\/s · about .* left/.test(await status.textContent()), { message: "progress with rate and time left" });
  assert.equal(await panel.locator("progress").isVisible(), true);
  await page.screenshot({ path: join(outDir, "download-progress.png") });

  await panel.getByRole("button", { name: "Cancel download" }).click();
  await waitFor(async () => (await panel.getAttribute("data-state")) === "cancelled", { message: "cancelled" });
  assert.match(await status.textContent(), /Download cancelled at .* of 9\.0 MiB/);
  assert.equal(await page.locator(".ts-engine").getAttribute("data-simulated"), "true", "a cancelled download switches nothing");

  // Again, at full speed: it continues from the bytes kept.
  hub.slow = false;
  await panel.getByRole("button", { name: "Download again…" }).click();
  await quant.waitFor();
  assert.match((await quant.locator("option").allTextContents())[0], /^Q4_K_M — 9\.0 MiB \(.* already here, continues\)$/);
  await panel.getByRole("button", { name: "Download", exact: true }).click();
  await waitFor(async () => (await panel.getAttribute("data-state")) === "ready", { timeout: 60_000, message: "download ready" });
  assert.match(await status.textContent(), /VibeThinker-1\.5B \(Q4_K_M\) is loaded/);
  assert.equal(hub.ranges.length, 2);
  assert.equal(hub.ranges[0], "");
  assert.match(hub.ranges[1], /^bytes=[1-9]\d*-$/, "the second download resumed");

  // The page says what answers now, and a run from the form goes to it.
  await waitFor(async () => (await page.locator(".ts-engine").getAttribute("data-simulated")) === "false", { message: "engine line updated" });
  assert.match(await page.locator(".ts-engine").textContent(), /Answers come from/);
  await page.screenshot({ path: join(outDir, "download-ready.png") });
  await page.locator("#problem").fill("What is 2+2?");
  await page.locator("#max_tokens").fill("8");
  await page.locator("#temperature").fill("0");
  await page.getByRole("button", { name: "Start thinking" }).click();
  await page.waitForURL(/\/r\//);
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
  const d = await getRun(srv.url, id);
  assert.equal(d.run.engine, "local");
  assert.equal(d.run.simulated, false);
  await waitRunEnded(srv.url, id);
  await page.locator(".ts-end").waitFor();
  assert.equal(await page.locator(".ts-sim").isVisible(), false, "no simulator banner on the real model's run");
});
