// The original article's page (fixtures/article.html: `new EventSource('/infer')`,
// one <div> per message) against the real server, unchanged: a bare /infer
// shows the demo run one reasoning step per line and the result last, two
// people opening it watch one run, and a dropped connection reconnects
// (Last-Event-ID) into the same run, losing and repeating nothing.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launchBrowser, newPage, waitFor, outDir } from "./harness.mjs";

const fixture = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "fixtures", "article.html"));
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * articleSite serves the article's page at / and passes every other
 * request to the thinkstream server, the way the article's Flask app would
 * sit in front of it. cutAfter > 0 drops the first /infer connection after
 * that many messages, as a flaky network would.
 */
async function articleSite(upstream, { cutAfter = 0 } = {}) {
  const seen = []; // the Last-Event-ID header of each /infer request ("" if none)
  const statuses = [];
  let cuts = 0;
  const server = http.createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end(fixture);
    }
    if (req.url.startsWith("/infer")) seen.push(req.headers["last-event-id"] || "");
    const up = http.request(upstream + req.url, { method: req.method, headers: req.headers }, (ur) => {
      if (req.url.startsWith("/infer")) statuses.push(ur.statusCode);
      res.writeHead(ur.statusCode, ur.headers);
      let msgs = 0;
      const cut = cutAfter > 0 && cuts === 0 && req.url.startsWith("/infer");
      if (cut) cuts++;
      ur.on("data", (chunk) => {
        res.write(chunk);
        if (!cut) return;
        msgs += chunk.toString().split('\ndata: {"event"').length - 1;
        if (msgs >= cutAfter) {
          ur.destroy();
          res.destroy();
        }
      });
      ur.on("end", () => res.end());
      ur.on("error", () => res.destroy());
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  server.closeAllConnections && cleanups.push(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${server.address().port}`, seen, statuses };
}

/** lines reads the page's output: one {cls, text} per message div. */
const lines = (page) => page.evaluate(() => [...document.querySelectorAll("#output > div")].map((d) => ({ cls: d.className, text: d.textContent })));

test("the article's page, unchanged: one line per step, the result last, one shared run, reconnect continues", async () => {
  const srv = await startServer({ simRate: 150 });
  cleanups.push(() => srv.cleanup());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const plain = await articleSite(srv.url);
  const flaky = await articleSite(srv.url, { cutAfter: 3 });

  const a = await newPage(browser);
  const b = await newPage(browser);
  await a.goto(plain.url + "/");
  await b.goto(flaky.url + "/");

  const done = (page) => waitFor(async () => (await lines(page)).some((l) => l.cls === "result"), { timeout: 60_000, message: "the result line" });
  await done(a);
  await done(b);
  const la = await lines(a);
  const lb = await lines(b);
  await a.screenshot({ path: join(outDir, "article-page.png"), fullPage: true });

  // The demo run, at the article's granularity: whole steps as `thinking`
  // lines, then the written answer, then the result.
  assert.equal(la.at(-1).cls, "result");
  assert.equal(la.at(-1).text, "10");
  const thinking = la.filter((l) => l.cls === "thinking");
  assert.ok(thinking.length >= 8, `${thinking.length} thinking lines`);
  assert.ok(thinking.every((l) => l.text.trim() === l.text && l.text.length > 0));
  assert.ok(thinking.some((l) => /Okay, let me figure out how many ways there are to pick a committee of 3 people/.test(l.text)), "a step is one whole line");
  assert.deepEqual([...new Set(la.map((l) => l.cls))].sort(), ["answer", "result", "thinking"]);
  for (const l of la) {
    assert.doesNotMatch(l.text, /^[0-9a-f]{8}-[0-9a-f]{4}-/, "no run ids among the lines");
    assert.doesNotMatch(l.text, /tokens\/s|^Step \d+$|^(running|completed)$/, "no stats or markers among the lines");
  }

  // Both people watched one run; the one whose connection broke got every
  // line exactly once after EventSource reconnected with Last-Event-ID.
  const runs = await fetch(srv.url + "/v1/runs").then((r) => r.json());
  assert.equal(runs.runs.length, 1, "one run for both viewers and the reconnect");
  assert.deepEqual(lb, la, "the reconnected page has the same lines");
  assert.ok(flaky.seen.length >= 2, `flaky site saw ${flaky.seen.length} /infer requests`);
  assert.equal(flaky.seen[0], "");
  assert.ok(flaky.seen[1].startsWith(runs.runs[0].id + ":"), `reconnect Last-Event-ID ${flaky.seen[1]}`);

  // After the end, EventSource's own reconnect gets 204 and stops for good:
  // the page neither starts a run nor repeats its lines.
  await waitFor(() => a.evaluate(() => eventSource.readyState === EventSource.CLOSED), { timeout: 15_000, message: "EventSource closed" });
  assert.equal(plain.statuses.at(-1), 204);
  assert.deepEqual(await lines(a), la);
  assert.equal((await fetch(srv.url + "/v1/runs").then((r) => r.json())).runs.length, 1);

  // Opening the page again with nothing live starts the demo anew.
  const c = await newPage(browser);
  await c.goto(plain.url + "/");
  await done(c);
  assert.equal((await fetch(srv.url + "/v1/runs").then((r) => r.json())).runs.length, 2);
});
