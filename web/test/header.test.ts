import { test } from "node:test";
import assert from "node:assert/strict";
import { outcome, statsLine, thinkStatsLine } from "../src/header.js";
import { RunModel } from "../src/model.js";
import type { TSEvent } from "../src/types.js";

test("header lines and the outcome of a run that did not complete", () => {
  const m = new RunModel();
  m.apply({ seq: 1, t: 0, type: "run.started" } as TSEvent);
  m.apply({ seq: 2, t: 1, type: "step", index: 1 } as TSEvent);
  m.apply({ seq: 3, t: 2, type: "stats", stats: { tokens: 1234, thinking_tokens: 1000, tokens_per_s: 41.26, elapsed_ms: 3, viewers: 1 } } as TSEvent);
  assert.equal(statsLine(m), "1,234 tokens · 41.3 tokens/s");
  assert.equal(thinkStatsLine(m), "1 step · 1,000 tokens");
  m.apply({ seq: 4, t: 3, type: "run.cancelled", state: "cancelled" } as TSEvent);
  assert.match(outcome(m).what, /cancelled/);
});
