import { test } from "node:test";
import assert from "node:assert/strict";
import { EventStream, type ConnState } from "../src/stream.js";
import { RunModel } from "../src/model.js";

// A scripted server: each connection gets the chunks of one entry; a
// chunk of null makes that connection fail mid-stream.
function fakeFetch(conns: { status?: number; chunks: (string | null)[] }[], urls: string[]) {
  let i = 0;
  return async (url: string) => {
    urls.push(url);
    const c = conns[Math.min(i++, conns.length - 1)];
    if (c.status && c.status !== 200) return new Response(null, { status: c.status });
    const enc = new TextEncoder();
    let k = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (k >= c.chunks.length) return ctl.close();
        const ch = c.chunks[k++];
        if (ch === null) return ctl.error(new Error("connection reset"));
        ctl.enqueue(enc.encode(ch));
      },
    });
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  };
}

const frame = (seq: number, type: string, extra: object = {}, from?: number) =>
  `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify({ seq, t: seq, type, ...(from ? { from } : {}), ...extra })}\n\n`;
const open = (from: number, resumed: boolean) => `event: stream.open\ndata: ${JSON.stringify({ type: "stream.open", from_seq: from, resumed, gap: false })}\n\n`;

test("resumes after the last applied seq, never duplicating text", async () => {
  const urls: string[] = [];
  const g = globalThis as { fetch: unknown };
  const saved = g.fetch;
  g.fetch = fakeFetch(
    [
      { chunks: [open(1, false), frame(1, "step", { index: 1 }), frame(3, "thinking", { text: "ab", step: 1 }, 2), "id: 4\nevent: thin", null] },
      // The server resends an overlapping frame, then new text and the end.
      { chunks: [open(4, true), frame(3, "thinking", { text: "ab", step: 1 }, 2), frame(4, "thinking", { text: "c", step: 1 }), frame(5, "answer", { text: "42" }), frame(6, "run.completed", { state: "completed" })] },
    ],
    urls,
  );
  try {
    const m = new RunModel();
    const states: ConnState[] = [];
    await new Promise<void>((resolve) => {
      const s = new EventStream({
        url: (after) => `/v1/runs/x/events?after=${after}&coalesce=1`,
        lastSeq: () => m.lastSeq,
        onEvent: (ev) => m.apply(ev),
        onState: (st) => {
          states.push(st);
          if (st === "ended") {
            s.stop();
            resolve();
          }
        },
      });
      s.start();
    });
    assert.deepEqual(urls, ["/v1/runs/x/events?after=0&coalesce=1", "/v1/runs/x/events?after=3&coalesce=1"]);
    assert.equal(m.thinking, "abc");
    assert.equal(m.answer, "42");
    assert.deepEqual(states, ["connecting", "live", "reconnecting", "resumed", "ended"]);
  } finally {
    g.fetch = saved;
  }
});

test("204 ends the stream for good", async () => {
  const urls: string[] = [];
  const g = globalThis as { fetch: unknown };
  const saved = g.fetch;
  g.fetch = fakeFetch([{ status: 204, chunks: [] }], urls);
  try {
    const states: ConnState[] = [];
    await new Promise<void>((resolve) => {
      const s = new EventStream({
        url: (after) => `/e?after=${after}`,
        lastSeq: () => 7,
        onEvent: () => {},
        onState: (st) => {
          states.push(st);
          if (st === "ended") resolve();
        },
      });
      s.start();
    });
    assert.deepEqual(urls, ["/e?after=7"]);
    assert.deepEqual(states, ["connecting", "ended"]);
  } finally {
    g.fetch = saved;
  }
});
