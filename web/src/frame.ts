// Frame is a run view's rendering schedule (see view.ts for why rendering
// cost follows new text): once per animation frame it takes the model's
// changes, renders the steps that changed (in order, within a time
// budget), then the answer, then — when marked — the header. Work left
// when the budget is spent continues next frame.

import type { Announcer } from "./announcer.js";
import { newBlock, renderBlock, type MdBlock } from "./block.js";
import { show } from "./dom.js";
import type { RunModel } from "./model.js";
import type { Speaker } from "./speech.js";
import type { StepList } from "./steplist.js";

const frameBudgetMs = 10;

/** FrameHost is the view a Frame renders for. */
export interface FrameHost {
  model(): RunModel;
  /** paused: the reader froze the view; nothing renders until resumed. */
  paused(): boolean;
  /** thinkingOpen: collapsed steps stay pending until the thinking opens. */
  thinkingOpen(): boolean;
  /** renderMeta renders the state-dependent parts (header, result card, errors). */
  renderMeta(): void;
  /** rendered runs at the end of every frame (scroll following, jump button). */
  rendered(): void;
}

export class Frame {
  private raf = 0;
  private pending = new Set<number>();
  private answer: MdBlock;
  private answerDirty = false;
  private metaDirty = true;
  private stopped = false;

  constructor(
    private el: Record<string, HTMLElement>,
    private steps: StepList,
    private announcer: Announcer,
    private speaker: Speaker,
    private host: FrameHost,
  ) {
    this.answer = newBlock(el.answer);
  }

  schedule(): void {
    if (this.raf || this.stopped) return;
    this.raf = requestAnimationFrame(this.render);
  }

  /** meta marks the header for rendering and schedules a frame. */
  meta(): void {
    this.metaDirty = true;
    this.schedule();
  }

  /** reset forgets what was rendered: a new model is shown. */
  reset(): void {
    this.steps.reset();
    this.pending.clear();
    this.el.answer.replaceChildren();
    this.answer = newBlock(this.el.answer);
    this.answerDirty = false;
    this.el.errors.replaceChildren();
    // The result card belongs to the model being shown: a replay starts
    // without it and reaches it at the end.
    show(this.el.result, false);
    delete this.el.result.dataset.answer;
    this.el.resultMath.replaceChildren();
    this.metaDirty = true;
  }

  /** queueAll marks everything the model holds for rendering (after a snapshot). */
  queueAll(): void {
    const m = this.host.model();
    m.takeChanges();
    for (const s of m.steps) this.pending.add(s.index);
    this.answerDirty = true;
    this.metaDirty = true;
  }

  /** reopen queues the steps not yet rendered in full (the thinking opened). */
  reopen(): void {
    for (const s of this.host.model().steps) {
      const sv = this.steps.get(s.index);
      if (!sv || !sv.final) this.pending.add(s.index);
    }
    this.schedule();
  }

  /** idle reports whether everything received so far is rendered. */
  idle(): boolean {
    return !this.raf && this.pending.size === 0 && !this.answerDirty && !this.host.paused();
  }

  stop(): void {
    this.stopped = true;
    cancelAnimationFrame(this.raf);
    this.raf = 0;
  }

  render = (): void => {
    this.raf = 0;
    if (this.host.paused()) return;
    const m = this.host.model();
    const start = performance.now();
    const c = m.takeChanges();
    for (const i of c.steps) this.pending.add(i);
    if (c.answer) this.answerDirty = true;
    if (c.meta || c.annotations) this.metaDirty = true;
    if (c.annotations) for (const i of this.steps.indexes()) this.steps.updateMarks(i, m);
    for (const i of c.finished) {
      const s = m.step(i);
      if (s) {
        if (!(m.ended && m.result)) this.announcer.step(i);
        this.speaker.step(i, s.src);
      }
    }

    let more = false;
    // Steps in order. While the thinking is collapsed they stay pending and
    // are rendered when it opens.
    const order = [...this.pending].sort((a, b) => a - b);
    const open = this.host.thinkingOpen();
    for (const i of order) {
      const s = m.step(i);
      if (!s) {
        this.pending.delete(i);
        continue;
      }
      const sv = this.steps.view(s, m);
      if (!open) continue;
      if (performance.now() - start > frameBudgetMs) {
        more = true;
        break;
      }
      if (renderBlock(sv, s.src, s.done)) this.pending.delete(i);
      else more = true; // throttled tail: look again next frame
    }
    if (c.finished.length || order.length > 1) this.steps.closeGroups(m);
    const tSteps = performance.now();
    if (m.ended && !this.answer.final) this.answerDirty = true;
    if (this.answerDirty && performance.now() - start > frameBudgetMs) more = true;
    else if (this.answerDirty) {
      const done = m.ended;
      show(this.el.answerSec, !!m.answer);
      if (renderBlock(this.answer, m.answer, done)) this.answerDirty = false;
      else more = true;
      if (done && m.answer) this.speaker.answer(m.answer, m.result);
    }
    const tAnswer = performance.now();
    if (this.metaDirty) {
      this.metaDirty = false;
      this.host.renderMeta();
    }
    const tMeta = performance.now();
    this.host.rendered();
    if (more) this.schedule();
    const took = performance.now() - start;
    const prof = (window as unknown as { __tsProfile?: unknown[] }).__tsProfile;
    if (prof && took > 16) prof.push({ at: Math.round(start), ms: Math.round(took), stepsMs: Math.round(tSteps - start), answerMs: Math.round(tAnswer - tSteps), metaMs: Math.round(tMeta - tAnswer), scrollMs: Math.round(performance.now() - tMeta), steps: order.length, finished: c.finished.length, answer: c.answer, ended: m.ended });
  };
}
