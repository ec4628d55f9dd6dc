import { test } from "node:test";
import assert from "node:assert/strict";
import { snapshotDisagrees } from "../src/verify.js";
import type { RunDetail } from "../src/types.js";

const detail = (state: string, thinking: string, answer: string, nextSeq: number) =>
  ({ run: { id: "r", state }, snapshot: { thinking, answer }, next_seq: nextSeq, viewers: 0 }) as unknown as RunDetail;

test("snapshot vs what a view saw after a reconnect", () => {
  const seen = { thinking: "abc", answer: "", lastSeq: 10 };
  const cases: [string, RunDetail, boolean, boolean][] = [
    ["older snapshot of a live run", detail("running", "ab", "", 8), false, false],
    ["newer snapshot", detail("running", "abcd", "", 12), false, false],
    ["diverged text", detail("running", "abX", "", 12), false, true],
    ["server lost the tail of a finished run", detail("completed", "abc", "", 9), false, true],
    ["finished, equal", detail("completed", "abc", "", 11), true, false],
    ["finished, stream ended short", detail("completed", "abcd", "", 11), true, true],
  ];
  for (const [name, d, final, want] of cases) assert.equal(snapshotDisagrees(d, seen, final), want, name);
});
