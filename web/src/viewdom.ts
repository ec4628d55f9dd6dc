// The fixed skeleton of a run view: header, toolbar, thinking, answer,
// result card and the live region. Built once per view; what fills it is
// rendered by view.ts, steplist.ts and meta.ts.

import { h, setText } from "./dom.js";

export interface ViewDom {
  root: HTMLElement;
  /** el holds the named parts (sim, problem, state, conn, toolbar buttons, answer, result…). */
  el: Record<string, HTMLElement>;
  stepsList: HTMLElement;
  stepSelect: HTMLSelectElement;
  /** live is the polite live region the Announcer speaks through. */
  live: HTMLElement;
}

/** buildViewDom builds the skeleton around the read-aloud controls speech. */
export function buildViewDom(speech: HTMLElement): ViewDom {
  const e: Record<string, HTMLElement> = {};
  e.sim = h("p", { class: "ts-sim", role: "note", hidden: true }, h("strong", { text: "Simulated output." }), " This run uses the simulation engine: the text below is generated to test the interface, not written by a model.");
  e.problem = h("div", { class: "ts-problem" });
  e.state = h("span", { class: "ts-badge", "data-state": "unknown", text: "loading" });
  e.conn = h("span", { class: "ts-conn", "data-conn": "connecting", text: "connecting" });
  e.viewers = h("span", { class: "ts-viewers", hidden: true });
  e.stats = h("span", { class: "ts-stats" });
  e.queue = h("span", { class: "ts-queue", hidden: true });
  const meta = h("div", { class: "ts-meta" }, e.state, e.conn, e.queue, e.viewers, e.stats);

  e.pauseView = h("button", { type: "button", class: "ts-btn", "data-action": "pause-view", "aria-pressed": "false", title: "Freeze the view; events keep arriving (p)" }, "Pause view");
  e.pauseGen = h("button", { type: "button", class: "ts-btn", "data-action": "pause-gen", hidden: true }, "Pause generation");
  e.cancel = h("button", { type: "button", class: "ts-btn ts-danger", "data-action": "cancel", hidden: true }, "Cancel run");
  e.share = h("button", { type: "button", class: "ts-btn", "data-action": "share", title: "Copy the link to this run (s)" }, "Share");
  e.replay = h(
    "div",
    { class: "ts-replay", role: "group", "aria-label": "Replay", hidden: true },
    h("span", { class: "ts-label", text: "Replay" }),
    h("button", { type: "button", class: "ts-btn", "data-action": "replay", "data-speed": "1" }, "1×"),
    h("button", { type: "button", class: "ts-btn", "data-action": "replay", "data-speed": "2" }, "2×"),
    h("button", { type: "button", class: "ts-btn", "data-action": "replay", "data-speed": "4" }, "4×"),
    h("button", { type: "button", class: "ts-btn", "data-action": "replay", "data-speed": "0" }, "Instant"),
  );
  const stepSelect = h("select", { class: "ts-select", "aria-label": "Jump to step", "data-action": "jump-step" }, h("option", { value: "", text: "Jump to step…" }));
  e.speech = speech;
  const toolbar = h("div", { class: "ts-toolbar", role: "toolbar", "aria-label": "Run controls" }, e.pauseView, e.pauseGen, e.cancel, e.share, e.replay, stepSelect, e.speech);

  e.errors = h("div", { class: "ts-errors", role: "alert" });
  e.thinkToggle = h("button", { type: "button", class: "ts-think-toggle", "aria-expanded": "true", "aria-controls": "", "data-action": "toggle-thinking" }, "Thinking…");
  e.thinkStats = h("span", { class: "ts-think-stats" });
  const stepsList = h("div", { class: "ts-steps", role: "list", "aria-label": "Reasoning steps" });
  e.thinking = h("section", { class: "ts-thinking", "aria-label": "Reasoning" }, h("div", { class: "ts-think-head" }, e.thinkToggle, e.thinkStats), stepsList);
  e.answer = h("div", { class: "ts-answer-body" });
  e.answerSec = h("section", { class: "ts-answer", "aria-label": "Answer", hidden: true }, h("h2", { class: "ts-h", text: "Answer" }), e.answer);
  e.resultMath = h("div", { class: "ts-result-math" });
  e.result = h(
    "section",
    { class: "ts-result", "aria-label": "Final result", hidden: true },
    h("div", { class: "ts-result-head" }, h("span", { class: "ts-h", text: "Final answer" }), h("button", { type: "button", class: "ts-btn ts-small", "data-action": "copy-result" }, "Copy")),
    e.resultMath,
  );
  e.end = h("p", { class: "ts-end", hidden: true });
  e.scroll = h("div", { class: "ts-scroll" }, e.errors, e.thinking, e.answerSec, e.result, e.end);
  e.jump = h("button", { type: "button", class: "ts-jump", "data-action": "jump-latest", hidden: true }, "Jump to latest ↓");
  const live = h("div", { class: "ts-sr", "aria-live": "polite", "aria-atomic": "true" });
  const root = h("div", { class: "ts-root ts-view" }, h("header", { class: "ts-run-head" }, e.sim, e.problem, meta, toolbar), e.scroll, e.jump, live);
  const id = `ts-steps-${Math.random().toString(36).slice(2, 8)}`;
  stepsList.id = id;
  e.thinkToggle.setAttribute("aria-controls", id);
  return { root, el: e, stepsList, stepSelect, live };
}

const connLabels: Record<string, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  resumed: "resumed",
  ended: "finished",
  gone: "unavailable",
  replay: "replay",
  snapshot: "finished",
};

/** showConn puts connection state s on the header's badge. */
export function showConn(el: HTMLElement, s: string): void {
  const label = connLabels[s] || s;
  el.dataset.conn = s;
  setText(el, label);
  el.setAttribute("aria-label", `Connection: ${label}`);
}
