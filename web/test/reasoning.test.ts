import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isReasoning } from "../src/reasoning.js";
import { RunModel } from "../src/model.js";
import type { TSEvent } from "../src/types.js";

// The server's thinkstream.IsReasoning is tested against the same table
// (event_test.go): npm test runs in web/, the table is at the repo root.
const table = JSON.parse(readFileSync(join(process.cwd(), "..", "testdata", "reasoning.json"), "utf8")) as {
  rows: { type: string; channel: string; reasoning: boolean }[];
};

test("isReasoning follows the shared table", () => {
  assert.ok(table.rows.length > 10);
  for (const r of table.rows) {
    assert.equal(isReasoning(r.type, r.channel), r.reasoning, `${r.type} / ${JSON.stringify(r.channel)}`);
  }
});

test("a code block of no known channel is shown as answer, not hidden in the reasoning", () => {
  const m = new RunModel();
  m.apply({ seq: 1, t: 0, type: "step", index: 1 } as TSEvent);
  m.apply({ seq: 2, t: 1, type: "code", text: "```py\nA\n```\n", channel: "thinking" } as TSEvent);
  m.apply({ seq: 3, t: 2, type: "code", text: "```py\nB\n```\n" } as TSEvent);
  assert.match(m.thinking, /A/);
  assert.doesNotMatch(m.thinking, /B/);
  assert.match(m.answer, /B/);
});
