import { test } from "node:test";
import assert from "node:assert/strict";
import { RunModel } from "../src/model.js";
import type { TSEvent } from "../src/types.js";

let seq = 0;
const ev = (type: string, f: Partial<TSEvent> = {}): TSEvent => ({ seq: ++seq, t: seq * 10, type, ...f });

function script(): TSEvent[] {
  seq = 0;
  return [
    ev("run.started"),
    ev("step", { index: 1 }),
    ev("thinking", { text: "First, ", step: 1 }),
    ev("thinking", { text: "note $x^2$.\n\n", step: 1 }),
    ev("step", { index: 2 }),
    ev("thinking", { text: "Now code:\n", step: 2 }),
    ev("code", { text: "```python\nprint(1)\n```\n", lang: "python", block: 1, channel: "thinking", step: 2 }),
    ev("annotation", { annotation: { step: 1, note: "key" } }),
    ev("answer", { text: "So the answer is " }),
    ev("code", { text: "```python\nx=1\n```\n", lang: "python", block: 2, channel: "answer" }),
    ev("answer", { text: "$\\boxed{42}$" }),
    ev("result", { answer: "42" }),
    ev("stats", { stats: { tokens: 20, thinking_tokens: 12, tokens_per_s: 100, elapsed_ms: 200, viewers: 2 } }),
    ev("run.completed", { state: "completed", usage: { prompt_tokens: 1, completion_tokens: 20, reasoning_tokens: 12 } }),
  ];
}

test("folds events into steps, answer and result", () => {
  const m = new RunModel();
  for (const e of script()) m.apply(e);
  assert.equal(m.steps.length, 2);
  assert.equal(m.steps[0].src, "First, note $x^2$.\n\n");
  assert.ok(m.steps[0].done && m.steps[1].done);
  assert.equal(m.steps[1].src, "Now code:\n```python\nprint(1)\n```\n");
  assert.equal(m.answer, "So the answer is ```python\nx=1\n```\n$\\boxed{42}$");
  assert.equal(m.result, "42");
  assert.equal(m.state, "completed");
  assert.equal(m.viewers, 2);
  assert.deepEqual(m.steps[0].annotations, [{ step: 1, note: "key" }]);
  assert.equal(m.thinkEndT, 90);
  assert.equal(m.lastSeq, 14);
});

test("replayed or duplicated events are ignored (resume never duplicates)", () => {
  const all = script();
  const a = new RunModel();
  for (const e of all) a.apply(e);
  const b = new RunModel();
  for (const e of all.slice(0, 6)) b.apply(e);
  // a reconnect that re-sends from an older seq
  for (const e of all.slice(3)) b.apply(e);
  assert.equal(b.thinking, a.thinking);
  assert.equal(b.answer, a.answer);
});

test("coalesced frames advance lastSeq to the last covered seq", () => {
  const m = new RunModel();
  m.apply({ seq: 5, from: 2, t: 1, type: "thinking", text: "abc", step: 1 });
  assert.equal(m.lastSeq, 5);
  assert.equal(m.apply({ seq: 4, t: 1, type: "thinking", text: "c", step: 1 }), false);
  assert.equal(m.thinking, "abc");
});

test("changes report only what changed, and finished steps once", () => {
  const m = new RunModel();
  const all = script();
  for (const e of all.slice(0, 4)) m.apply(e);
  let c = m.takeChanges();
  assert.deepEqual(c.steps, [1]);
  assert.deepEqual(c.finished, []);
  m.apply(all[4]);
  c = m.takeChanges();
  assert.deepEqual(c.finished, [1]);
  assert.deepEqual(c.steps, [1, 2]);
  c = m.takeChanges();
  assert.deepEqual(c.steps, []);
  assert.equal(c.meta, false);
});

test("annotations are deduplicated and attach to steps created later", () => {
  const m = new RunModel();
  m.addAnnotation({ step: 3, note: "n" });
  m.addAnnotation({ step: 3, note: "n" });
  m.apply({ seq: 1, t: 0, type: "step", index: 3 });
  assert.equal(m.annotations.length, 1);
  assert.equal(m.step(3)!.annotations.length, 1);
});

test("failed run keeps its error", () => {
  const m = new RunModel();
  m.apply({ seq: 1, t: 0, type: "run.failed", state: "failed", error: { code: "engine", message: "boom", retryable: true } });
  assert.equal(m.state, "failed");
  assert.equal(m.terminalError?.message, "boom");
  assert.ok(m.ended);
});

test("fromDetail: a finished run's snapshot resumes after next_seq and keeps the run's usage and result", () => {
  const evs = script().filter((e) => !["annotation", "result", "stats", "run.completed"].includes(e.type));
  const m = RunModel.fromDetail({
    run: { id: "r", state: "completed", problem: "p", params: {}, usage: { prompt_tokens: 1, completion_tokens: 9 } } as never,
    snapshot: { events: evs, result: "42", annotations: [{ step: 1, note: "key" }] },
    next_seq: 40,
    viewers: 3,
  });
  assert.equal(m.ended, true);
  assert.equal(m.lastSeq, 39);
  assert.equal(m.viewers, 3);
  assert.equal(m.usage?.completion_tokens, 9);
  assert.equal(m.result, "42", "the snapshot's result, the result event being missing");
  assert.equal(m.step(1)?.annotations.length, 1);

  const live = RunModel.fromDetail({ run: { id: "r", state: "running", problem: "p", params: {} } as never, snapshot: { events: [] }, next_seq: 0, viewers: 0 });
  assert.equal(live.ended, false);
  assert.equal(live.state, "running");
  assert.equal(live.lastSeq, 0);
});
