// StepList owns the DOM of a view's reasoning steps: one element per step,
// the groups they sit in, the "Jump to step" options, the highlight marks
// and the note form. It renders what the RunModel holds; when is the view's
// business (see view.ts).

import { h } from "./dom.js";
import type { Announcer } from "./announcer.js";
import { newBlock, type MdBlock } from "./block.js";
import { markForm } from "./markform.js";
import type { RunModel, Step } from "./model.js";

export interface StepView extends MdBlock {
  li: HTMLElement;
  head: HTMLElement;
  marks: HTMLElement;
  markBtn: HTMLButtonElement;
}

const groupSize = 24;

export class StepList {
  private views = new Map<number, StepView>();
  /** Steps sit in groups of groupSize; a finished group is skipped by layout when off screen. */
  private groups = new Map<number, HTMLElement>();
  private options = new Set<number>();

  constructor(
    readonly list: HTMLElement,
    readonly select: HTMLSelectElement,
    private announcer: Announcer,
  ) {}

  /** reset forgets every step (a new model is shown). */
  reset(): void {
    this.views.clear();
    this.list.replaceChildren();
    this.groups.clear();
    this.select.replaceChildren(h("option", { value: "", text: "Jump to step…" }));
    this.options.clear();
  }

  get(index: number): StepView | undefined {
    return this.views.get(index);
  }

  indexes(): IterableIterator<number> {
    return this.views.keys();
  }

  /** view returns step s's element, creating it in place. */
  view(s: Step, m: RunModel): StepView {
    let sv = this.views.get(s.index);
    if (sv) {
      sv.li.classList.toggle("ts-open", !s.done);
      return sv;
    }
    const body = h("div", { class: "ts-step-body" });
    const num = h("span", { class: "ts-step-num", text: `Step ${s.index}` });
    const markBtn = h("button", { type: "button", class: "ts-mark", "data-action": "mark", "data-step": String(s.index), "aria-label": `Highlight step ${s.index}`, title: "Highlight this step with a note" }, "☆");
    const marks = h("span", { class: "ts-marks" });
    const head = h("div", { class: "ts-step-head" }, num, markBtn, marks);
    const li = h("div", { class: "ts-step", role: "listitem", id: `step-${s.index}`, "data-step": String(s.index), tabindex: "-1" }, head, body);
    const b = newBlock(body);
    sv = { ...b, li, head, marks, markBtn };
    li.classList.toggle("ts-open", !s.done);
    // Steps arrive in order almost always; insert in place otherwise.
    const after = [...this.views.keys()].filter((k) => k > s.index).sort((a, b2) => a - b2)[0];
    const group = this.group(s.index);
    const next = after !== undefined ? this.views.get(after)!.li : null;
    if (next && next.parentElement === group) group.insertBefore(li, next);
    else group.append(li);
    this.views.set(s.index, sv);
    this.addOption(s.index);
    this.updateMarks(s.index, m);
    return sv;
  }

  /** addOption offers step index in "Jump to step" (a replay offers steps it has not reached). */
  addOption(index: number): void {
    if (this.options.has(index)) return;
    this.options.add(index);
    this.select.append(h("option", { value: String(index), text: `Step ${index}` }));
  }

  /**
   * group returns the element holding step index. Hundreds of sibling steps
   * make every layout walk them all; groups of groupSize steps, each skipped
   * by layout and paint once finished and off screen (content-visibility),
   * keep a frame's layout work near constant however long the run.
   */
  private group(index: number): HTMLElement {
    const g = Math.floor((index - 1) / groupSize);
    let el = this.groups.get(g);
    if (el) return el;
    el = h("div", { class: "ts-group", role: "none", "data-group": String(g) });
    const later = [...this.groups.keys()].filter((k) => k > g).sort((a, b) => a - b)[0];
    if (later !== undefined) this.list.insertBefore(el, this.groups.get(later)!);
    else this.list.append(el);
    this.groups.set(g, el);
    return el;
  }

  /** closeGroups marks groups whose steps are all finished. */
  closeGroups(m: RunModel): void {
    const open = m.openStepIndex;
    const last = m.steps.length ? m.steps[m.steps.length - 1].index : 0;
    for (const [g, el] of this.groups) {
      if (el.classList.contains("ts-done")) continue;
      const end = (g + 1) * groupSize; // last step index of the group
      const finished = open === undefined ? true : end < open;
      if (finished && (end <= last || m.thinkEndT !== undefined)) el.classList.add("ts-done");
    }
  }

  updateMarks(index: number, m: RunModel): void {
    const sv = this.views.get(index);
    const s = m.step(index);
    if (!sv || !s) return;
    const anns = s.annotations;
    if (sv.marks.childElementCount === anns.length) return;
    sv.marks.replaceChildren(...anns.map((a) => h("mark", { class: "ts-ann", title: a.by ? `by ${a.by}` : "" }, "★ ", a.note || "key step")));
    sv.li.classList.toggle("ts-key", anns.length > 0);
    sv.markBtn.textContent = anns.length ? "★" : "☆";
    if (anns.length) this.announcer.say(`Step ${index} highlighted: ${anns[anns.length - 1].note || "key step"}.`);
  }

  /** openMarkForm opens step's note form (or focuses the open one); onNote gets the note. */
  openMarkForm(step: number, onNote: (note: string) => void): void {
    const sv = this.views.get(step);
    if (!sv) return;
    if (sv.head.querySelector("form")) {
      sv.head.querySelector("input")?.focus();
      return;
    }
    const { form, input } = markForm(step, onNote);
    sv.head.append(form);
    input.focus();
  }

  /** neighbour is the step after (+1) or before (-1) the focused one, or else the one in view. */
  neighbour(dir: 1 | -1): number | undefined {
    const items = [...this.views.values()].map((s) => s.li);
    if (!items.length) return undefined;
    // From the step that has focus (the last j/k's), not from what is in
    // view: the smooth scroll to it may still be under way, and reading
    // the position then would land on the same step again.
    const focused = items.findIndex((li) => li.contains(document.activeElement));
    if (focused >= 0) {
      const next = Math.max(0, Math.min(items.length - 1, focused + dir));
      return parseInt(items[next].dataset.step || "1", 10);
    }
    const top = 80;
    let cur = items.findIndex((li) => li.getBoundingClientRect().bottom > top);
    if (cur < 0) cur = items.length - 1;
    const curTop = items[cur].getBoundingClientRect().top;
    let next = cur + (dir > 0 ? (curTop > top + 4 ? 0 : 1) : -1);
    next = Math.max(0, Math.min(items.length - 1, next));
    return parseInt(items[next].dataset.step || "1", 10);
  }
}
