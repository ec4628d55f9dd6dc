// The parts of a run view that follow the run's state rather than its text:
// the header badges, owner controls, the result card, the error list and
// the thinking label. Rendered whenever the view marks its meta dirty.

import type { Announcer } from "./announcer.js";
import type { ApiError } from "./api.js";
import { h, setText, show } from "./dom.js";
import { errorBox, outcome, renderProblem, statsLine, thinkStatsLine } from "./header.js";
import { typeset } from "./markdown.js";
import type { RunModel } from "./model.js";
import { formatDuration } from "./util.js";

export type Mode = "idle" | "live" | "finished" | "replay";

/** MetaState is what the view knows beyond its model. */
export interface MetaState {
  model: RunModel;
  mode: Mode;
  /** loadFailed: why the run could not be loaded ("not found", "error"). */
  loadFailed?: string;
  /** page: owner controls are offered; owner: this browser started the run. */
  page: boolean;
  owner: boolean;
  canRetry: boolean;
  viewPaused: boolean;
  /** notices are messages about the reader's own actions, listed after the run's errors. */
  notices: HTMLElement[];
  hasRun: boolean;
  /** lastEventWall: performance.now() of the last event, to run the thinking clock between events. */
  lastEventWall: number;
}

/** renderMeta brings el's state-dependent parts up to date with s. */
export function renderMeta(el: Record<string, HTMLElement>, s: MetaState, announcer: Announcer): void {
  const m = s.model;
  const run = m.run;
  const e = el;
  if (run) {
    show(e.sim, !!run.simulated);
    if (e.problem.dataset.for !== run.id) {
      e.problem.dataset.for = run.id;
      renderProblem(e.problem, run);
    }
  }
  const state = s.loadFailed ? "failed" : s.mode === "replay" ? "replay" : String(m.state);
  e.state.dataset.state = state;
  setText(e.state, s.loadFailed || (state === "unknown" ? "loading" : state));
  show(e.queue, m.state === "queued" && m.queuePosition !== undefined);
  if (m.queuePosition !== undefined) setText(e.queue, `position ${m.queuePosition} in queue`);
  // Nobody watches a finished run live: its last count would stay forever.
  show(e.viewers, m.viewers > 0 && !m.ended);
  setText(e.viewers, `${m.viewers} watching`);
  e.viewers.setAttribute("aria-label", `${m.viewers} ${m.viewers === 1 ? "viewer" : "viewers"} watching`);
  setText(e.stats, statsLine(m));
  setText(e.thinkStats, thinkStatsLine(m));
  renderThinkLabel(e.thinkToggle, s);

  // Owner controls.
  const liveRun = s.mode === "live" && !m.ended;
  show(e.pauseGen, s.page && s.owner && liveRun && e.pauseGen.dataset.unsupported !== "1");
  setText(e.pauseGen, m.state === "paused" ? "Resume generation" : "Pause generation");
  show(e.cancel, s.page && s.owner && liveRun);
  show(e.replay, s.hasRun && (s.mode === "finished" || s.mode === "replay"));
  show(e.pauseView, s.mode !== "finished" || s.viewPaused);

  // Result card.
  if (m.result !== undefined && m.result !== "" && e.result.dataset.answer !== m.result) {
    e.result.dataset.answer = m.result;
    e.resultMath.replaceChildren();
    const box = h("div", { class: "ts-result-box" });
    e.resultMath.append(box);
    typeset(`\\boxed{${m.result}}`, box, true);
    show(e.result, true);
    // The answer is the news: steps still waiting to be announced are not.
    announcer.final(`Final answer: ${m.result}.`);
  }

  // Errors: non-terminal ones first, then the terminal outcome.
  const errs: HTMLElement[] = [];
  m.errors.forEach((er, i) => {
    if (m.terminalError && i === m.errors.length - 1 && er.code === m.terminalError.code) return;
    errs.push(errorBox(er.message, er.retryable ? "The server is retrying; the stream continues here by itself." : "The run may stop; you can start it again.", er.code));
  });
  if (m.ended && m.state !== "completed") {
    const te = m.terminalError;
    const { what, next } = outcome(m);
    errs.push(errorBox(what, next, te?.code, s.page && s.canRetry && !!run));
  }
  errs.push(...s.notices);
  if (errs.length || e.errors.childElementCount) e.errors.replaceChildren(...errs);
  show(e.end, m.ended && m.state === "completed");
  if (m.ended && m.state === "completed") {
    const total = m.timings?.total_ms;
    setText(e.end, `Completed${total ? ` in ${formatDuration(total)}` : ""}.`);
  }
}

function thinkingMs(s: MetaState): { ms: number; live: boolean } {
  const m = s.model;
  const start = m.startT ?? m.steps[0]?.startT;
  if (start === undefined) return { ms: 0, live: false };
  if (m.thinkEndT !== undefined) return { ms: m.timings?.thinking_ms ?? m.thinkEndT - start, live: false };
  if (m.ended) return { ms: m.lastT - start, live: false };
  let now = m.lastT;
  if (s.mode === "live" && !s.viewPaused && s.lastEventWall && m.state === "running") now += Math.min(performance.now() - s.lastEventWall, 60_000);
  return { ms: now - start, live: true };
}

/** renderThinkLabel sets the thinking toggle's "Thinking… 12s" / "Thought for 40s". */
export function renderThinkLabel(toggle: HTMLElement, s: MetaState): void {
  const { ms, live } = thinkingMs(s);
  const m = s.model;
  let label: string;
  if (!m.steps.length && !live) label = m.ended ? "No reasoning" : "Waiting for the model…";
  else if (live) label = `Thinking… ${formatDuration(ms)}`;
  else label = `Thought for ${formatDuration(ms)}`;
  setText(toggle, label);
}

/** loadErrorNotice says why a run could not be loaded; failed is the badge ("not found", "error"). */
export function loadErrorNotice(e: ApiError | undefined, page: boolean): { box: HTMLElement; failed: string } {
  const gone = e?.status === 404;
  const msg = gone ? "This run does not exist on this server (it may have been deleted, or the link is mistyped)." : `Could not load the run: ${e?.message || "unknown error"}.`;
  const retry = gone ? null : h("button", { type: "button", class: "ts-btn", "data-action": "reload" }, "Try again");
  const box = h("div", { class: "ts-error" }, h("p", { class: "ts-error-what", text: msg }), retry, page ? h("a", { href: "/", class: "ts-btn", "data-nav": "" }, "Start a new run") : null);
  return { box, failed: gone ? "not found" : "error" };
}
