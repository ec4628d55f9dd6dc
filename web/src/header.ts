// The run header's parts that depend only on the run and the model: the
// problem title and its settings line, the stats lines, how a run that did
// not complete ended, and the error box every message of the view uses.

import { h } from "./dom.js";
import { markdownToHtml, renderMath } from "./markdown.js";
import type { RunModel } from "./model.js";
import type { Run } from "./types.js";
import { formatCount } from "./util.js";

/** renderProblem fills el with the run's problem (folded when long) and its settings. */
export function renderProblem(el: HTMLElement, run: Run): void {
  el.replaceChildren(h("h1", { class: "ts-problem-title" }));
  const t = el.firstElementChild as HTMLElement;
  t.innerHTML = markdownToHtml(run.problem || "");
  renderMath(t);
  if ((run.problem || "").length > 240) {
    // A long problem reads as text, folded to a few lines until asked for.
    t.classList.add("ts-long", "ts-folded");
    const more = h("button", { type: "button", class: "ts-btn ts-small ts-more", "aria-expanded": "false" }, "Show the whole problem");
    more.addEventListener("click", () => {
      const folded = t.classList.toggle("ts-folded");
      more.setAttribute("aria-expanded", String(!folded));
      more.textContent = folded ? "Show the whole problem" : "Show less";
    });
    el.append(more);
  }
  const p = run.params || {};
  const bits = [run.profile || "math", run.model || run.engine, p.temperature !== undefined ? `temperature ${p.temperature}` : "", p.max_tokens ? `max ${formatCount(p.max_tokens)} tokens` : ""];
  el.append(h("p", { class: "ts-sub", text: bits.filter(Boolean).join(" · ") }));
}

/** statsLine is the header's "N tokens · X tokens/s". */
export function statsLine(m: RunModel): string {
  const parts: string[] = [];
  const tokens = m.stats?.tokens ?? m.usage?.completion_tokens;
  if (tokens !== undefined) parts.push(`${formatCount(tokens)} tokens`);
  let tps = m.stats?.tokens_per_s;
  if (m.ended && m.timings?.predicted_per_second) tps = m.timings.predicted_per_second;
  if (tps) parts.push(`${tps.toFixed(1)} tokens/s`);
  return parts.join(" · ");
}

/** thinkStatsLine is the thinking section's "N steps · M tokens". */
export function thinkStatsLine(m: RunModel): string {
  const thinkTok = m.stats?.thinking_tokens ?? m.usage?.reasoning_tokens;
  return [m.steps.length ? `${m.steps.length} step${m.steps.length === 1 ? "" : "s"}` : "", thinkTok ? `${formatCount(thinkTok)} tokens` : ""].filter(Boolean).join(" · ");
}

/** outcome says how a run that did not complete ended, and what to do next. */
export function outcome(m: RunModel): { what: string; next: string } {
  const te = m.terminalError;
  if (m.state === "cancelled") return { what: "This run was cancelled.", next: "Start a new run from the home page, or replay what was generated." };
  if (m.state === "interrupted") return { what: "This run was interrupted (the server stopped before it finished).", next: "Start it again to get a complete answer." };
  return {
    what: `This run failed${te ? `: ${te.message}` : "."}`,
    next: te?.retryable ? "This is usually temporary: try again in a moment." : "Try again, perhaps with a shorter problem or fewer max tokens.",
  };
}

export function errorBox(what: string, next: string, code?: string, retry = false): HTMLElement {
  return h(
    "div",
    { class: "ts-error" },
    h("p", { class: "ts-error-what", text: what }),
    h("p", { class: "ts-error-next", text: next }),
    code ? h("p", { class: "ts-error-code", text: `code: ${code}` }) : null,
    retry ? h("button", { type: "button", class: "ts-btn", "data-action": "retry" }, "Try again") : null,
  );
}
