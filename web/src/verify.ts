// snapshotDisagrees decides whether a view must start over from the
// server's snapshot after a reconnect. A server that crashed can come back
// with fewer events than its viewers saw (the tail was sent but not yet
// stored), and then reuse those seqs: resuming by seq alone would keep text
// the server no longer has and drop what it sends next. The snapshot is the
// record, so when they disagree the view starts over from it.

import type { RunDetail } from "./types.js";
import { isTerminalState } from "./types.js";

export interface Seen {
  thinking: string;
  answer: string;
  lastSeq: number;
}

/** final: the stream has ended, so the texts must now be equal, not just prefixes. */
export function snapshotDisagrees(d: RunDetail, seen: Seen, final: boolean): boolean {
  const thinking = d.snapshot?.thinking ?? seen.thinking;
  const answer = d.snapshot?.answer ?? seen.answer;
  // The snapshot may be a little older than what the stream already gave
  // us, so "behind" only counts once the server will send nothing more.
  const behind = isTerminalState(d.run.state) && d.next_seq - 1 < seen.lastSeq;
  const prefix = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
  const diverged = !prefix(thinking, seen.thinking) || !prefix(answer, seen.answer);
  const differs = final && (thinking !== seen.thinking || answer !== seen.answer);
  return behind || diverged || differs;
}
