// RunView renders one run: live, late-joined, or replayed. The page and the
// <thinkstream-view> element both use it, so a run looks the same anywhere.
//
// Rendering cost follows new text, not total text: events update a RunModel,
// and once per animation frame the view renders only what changed. A step's
// markdown is cut at blank lines outside code and display math; the part
// before the last cut is rendered once into its own chunk, and only the open
// tail is re-rendered. A finished step is never rendered again. Work left
// when a frame's budget is spent continues on the next frame, so catching up
// (late join, resume after pause view, instant replay) never blocks input.

import { Api, ApiError, ownerToken } from "./api.js";
import { copyText, h, setText, show } from "./dom.js";
import { Announcer } from "./announcer.js";
import { newBlock, renderBlock, type MdBlock } from "./block.js";
import { markForm } from "./markform.js";
import { typeset } from "./markdown.js";
import { RunModel, type Step } from "./model.js";
import { Speaker, type SpeechMode } from "./speech.js";
import { speechControls } from "./speechui.js";
import { Follower } from "./follow.js";
import { errorBox, outcome, renderProblem, statsLine, thinkStatsLine } from "./header.js";
import { fetchAllEvents, ReplayClock } from "./replay.js";
import { EventStream, type ConnState } from "./stream.js";
import type { RunDetail, TSEvent } from "./types.js";
import { isTerminal, isTerminalState } from "./types.js";
import { formatDuration } from "./util.js";
import { snapshotDisagrees } from "./verify.js";

export interface ViewOptions {
  api: Api;
  /** page: the view scrolls the window and shows owner controls. */
  page?: boolean;
  /** onRetry is offered after a failure ("Try again"); page only. */
  onRetry?: (detail: RunDetail["run"]) => void;
  /** shareLink makes a read-only share link for Share to copy (undefined: copy the run's own link). */
  shareLink?: (runId: string) => Promise<string | undefined>;
}

interface StepView extends MdBlock {
  li: HTMLElement;
  head: HTMLElement;
  marks: HTMLElement;
  markBtn: HTMLButtonElement;
}

const frameBudgetMs = 10;
const groupSize = 24;

type Mode = "idle" | "live" | "finished" | "replay";

export class RunView {
  readonly root: HTMLElement;
  model = new RunModel();
  runId?: string;
  private src?: string;
  private stream?: EventStream;
  private conn: ConnState | "replay" | "snapshot" = "connecting";
  private mode: Mode = "idle";
  private frame = 0;
  private stepViews = new Map<number, StepView>();
  private pendingSteps = new Set<number>();
  private answerBlock!: MdBlock;
  private answerDirty = false;
  private metaDirty = true;
  private viewPaused = false;
  private follower!: Follower;
  private thinkingOpen = true;
  private lastEventWall = 0;
  private tick?: ReturnType<typeof setInterval>;
  private resumedTimer?: ReturnType<typeof setTimeout>;
  private speaker = new Speaker();
  private destroyed = false;
  /** loadFailed: why the run could not be loaded ("not found", "error"). */
  private loadFailed?: string;
  /** reconnected: this view lost its stream at least once (see verify). */
  private reconnected = false;
  /** Messages about the reader's own actions (failed highlight, 501 pause…), shown until dismissed. */
  private notices: HTMLElement[] = [];
  // replay
  private replayEvents?: TSEvent[];
  private clock?: ReplayClock;

  // elements
  private el: Record<string, HTMLElement> = {};
  private stepsList!: HTMLElement;
  /** Steps sit in groups of groupSize; a finished group is skipped by layout when off screen. */
  private groups = new Map<number, HTMLElement>();
  private stepSelect!: HTMLSelectElement;
  private live!: HTMLElement;
  private announcer!: Announcer;

  constructor(private o: ViewOptions) {
    this.root = this.build();
    this.root.addEventListener("click", this.onClick);
    this.follower = new Follower(o.page ? undefined : this.el.scroll, () => this.updateJump());
  }

  // ---------------------------------------------------------------- DOM

  private build(): HTMLElement {
    const e = this.el;
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
    this.stepSelect = h("select", { class: "ts-select", "aria-label": "Jump to step", "data-action": "jump-step" }, h("option", { value: "", text: "Jump to step…" }));
    this.stepSelect.addEventListener("change", () => {
      const n = parseInt(this.stepSelect.value, 10);
      this.stepSelect.value = "";
      if (n) this.jumpToStep(n);
    });
    e.speech = this.buildSpeech();
    const toolbar = h("div", { class: "ts-toolbar", role: "toolbar", "aria-label": "Run controls" }, e.pauseView, e.pauseGen, e.cancel, e.share, e.replay, this.stepSelect, e.speech);

    e.errors = h("div", { class: "ts-errors", role: "alert" });
    e.thinkToggle = h("button", { type: "button", class: "ts-think-toggle", "aria-expanded": "true", "aria-controls": "", "data-action": "toggle-thinking" }, "Thinking…");
    e.thinkStats = h("span", { class: "ts-think-stats" });
    this.stepsList = h("div", { class: "ts-steps", role: "list", "aria-label": "Reasoning steps" });
    e.thinking = h("section", { class: "ts-thinking", "aria-label": "Reasoning" }, h("div", { class: "ts-think-head" }, e.thinkToggle, e.thinkStats), this.stepsList);
    e.answer = h("div", { class: "ts-answer-body" });
    this.answerBlock = newBlock(e.answer);
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
    this.live = h("div", { class: "ts-sr", "aria-live": "polite", "aria-atomic": "true" });
    this.announcer = new Announcer(this.live);
    const root = h("div", { class: "ts-root ts-view" }, h("header", { class: "ts-run-head" }, e.sim, e.problem, meta, toolbar), e.scroll, e.jump, this.live);
    const id = `ts-steps-${Math.random().toString(36).slice(2, 8)}`;
    this.stepsList.id = id;
    e.thinkToggle.setAttribute("aria-controls", id);
    return root;
  }

  private buildSpeech(): HTMLElement {
    const c = speechControls(this.speaker, (mode) => {
      if (this.speaker.active) this.startSpeech(mode);
    });
    if (c.mode) this.el.speechMode = c.mode;
    if (c.button) this.el.speakBtn = c.button;
    return c.root;
  }


  // ---------------------------------------------------------------- loading

  /** load shows run id: snapshot first, then the live stream from next_seq. */
  async load(id: string): Promise<void> {
    this.stopAll();
    this.loadFailed = undefined;
    this.notices = [];
    this.runId = id;
    this.setConn("connecting");
    let d: RunDetail;
    try {
      d = await this.o.api.getRun(id);
    } catch (err) {
      this.showLoadError(err);
      return;
    }
    if (this.destroyed) return;
    this.applySnapshot(d);
    if (isTerminalState(d.run.state)) {
      this.mode = "finished";
      this.setConn("snapshot");
    } else {
      this.mode = "live";
      this.follower.following = true;
      this.openStream((after) => this.o.api.eventsURL(id, after));
    }
    this.metaDirty = true;
    this.schedule();
  }

  /** follow streams an events URL directly (the element's src attribute). */
  followSrc(src: string): void {
    this.stopAll();
    this.src = src;
    const m = /\/v1\/runs\/([^/]+)\/events/.exec(new URL(src, location.href).pathname);
    if (m) this.runId = decodeURIComponent(m[1]);
    this.mode = "live";
    this.openStream((after) => {
      const u = new URL(src, location.href);
      u.searchParams.set("after", String(after));
      return u.toString();
    });
  }

  private applySnapshot(d: RunDetail) {
    this.model = new RunModel();
    this.model.run = d.run;
    this.model.state = d.run.state;
    this.model.viewers = d.viewers || 0;
    for (const ev of d.snapshot?.events || []) this.model.apply(ev);
    for (const a of d.snapshot?.annotations || []) this.model.addAnnotation(a);
    if (d.next_seq > 0 && this.model.lastSeq < d.next_seq - 1) this.model.lastSeq = d.next_seq - 1;
    if (d.run.state && !isTerminalState(this.model.state)) this.model.state = d.run.state;
    if (isTerminalState(d.run.state)) {
      this.model.ended = true;
      this.model.usage ??= d.run.usage;
      this.model.timings ??= d.run.timings;
      if (d.run.error) this.model.terminalError ??= d.run.error;
      if (this.model.result === undefined && d.snapshot?.result) this.model.result = d.snapshot.result;
    }
    this.resetDom();
    this.queueAll();
  }

  private openStream(url: (after: number) => string) {
    this.stream = new EventStream({
      url,
      lastSeq: () => this.model.lastSeq,
      onEvent: (ev) => this.onEvent(ev),
      onState: (s) => this.setConn(s),
      onGap: () => {
        // Events we have not seen are gone from the stream: start over from the snapshot.
        if (this.runId) void this.load(this.runId);
      },
    });
    this.stream.start();
    this.startTick();
  }

  private onEvent(ev: TSEvent) {
    this.lastEventWall = performance.now();
    if (!this.model.apply(ev)) return;
    if (ev.type === "viewers" || ev.type === "stats") this.metaDirty = true;
    if (isTerminal(ev.type)) {
      this.mode = "finished";
      this.metaDirty = true;
    }
    this.schedule();
  }

  private showLoadError(err: unknown) {
    const e = err as ApiError;
    const status = e?.status;
    this.setConn(status === 404 ? "gone" : "reconnecting");
    const msg =
      status === 404
        ? "This run does not exist on this server (it may have been deleted, or the link is mistyped)."
        : `Could not load the run: ${e?.message || "unknown error"}.`;
    const retry = status === 404 ? null : h("button", { type: "button", class: "ts-btn", "data-action": "reload" }, "Try again");
    this.notices = [h("div", { class: "ts-error" }, h("p", { class: "ts-error-what", text: msg }), retry, this.o.page ? h("a", { href: "/", class: "ts-btn", "data-nav": "" }, "Start a new run") : null)];
    this.loadFailed = status === 404 ? "not found" : "error";
    this.metaDirty = true;
    this.schedule();
  }

  private resetDom() {
    this.stepViews.clear();
    this.pendingSteps.clear();
    this.stepsList.replaceChildren();
    this.groups.clear();
    this.stepSelect.replaceChildren(h("option", { value: "", text: "Jump to step…" }));
    this.stepOptions.clear();
    this.el.answer.replaceChildren();
    this.answerBlock = newBlock(this.el.answer);
    this.answerDirty = false;
    this.el.errors.replaceChildren();
    this.notices = [];
    // The result card belongs to the model being shown: a replay starts
    // without it and reaches it at the end.
    show(this.el.result, false);
    delete this.el.result.dataset.answer;
    this.el.resultMath.replaceChildren();
    this.metaDirty = true;
  }

  private queueAll() {
    this.model.takeChanges();
    for (const s of this.model.steps) this.pendingSteps.add(s.index);
    this.answerDirty = true;
    this.metaDirty = true;
  }

  // ---------------------------------------------------------------- rendering

  private schedule() {
    if (this.frame || this.destroyed) return;
    this.frame = requestAnimationFrame(this.render);
  }

  private render = () => {
    this.frame = 0;
    if (this.viewPaused) return;
    const start = performance.now();
    const c = this.model.takeChanges();
    for (const i of c.steps) this.pendingSteps.add(i);
    if (c.answer) this.answerDirty = true;
    if (c.meta || c.annotations) this.metaDirty = true;
    if (c.annotations) for (const sv of this.stepViews.keys()) this.updateMarks(sv);
    for (const i of c.finished) {
      const s = this.model.step(i);
      if (s) {
        if (!(this.model.ended && this.model.result)) this.announcer.step(i);
        this.speaker.step(i, s.src);
      }
    }

    let more = false;
    // Steps in order. While the thinking is collapsed they stay pending and
    // are rendered when it opens.
    const order = [...this.pendingSteps].sort((a, b) => a - b);
    for (const i of order) {
      const s = this.model.step(i);
      if (!s) {
        this.pendingSteps.delete(i);
        continue;
      }
      const sv = this.stepView(s);
      if (!this.thinkingOpen) continue;
      if (performance.now() - start > frameBudgetMs) {
        more = true;
        break;
      }
      if (renderBlock(sv, s.src, s.done)) this.pendingSteps.delete(i);
      else more = true; // throttled tail: look again next frame
    }
    if (c.finished.length || order.length > 1) this.closeGroups();
    const tSteps = performance.now();
    if (this.model.ended && !this.answerBlock.final) this.answerDirty = true;
    if (this.answerDirty && performance.now() - start > frameBudgetMs) more = true;
    else if (this.answerDirty) {
      const done = this.model.ended;
      show(this.el.answerSec, !!this.model.answer);
      if (renderBlock(this.answerBlock, this.model.answer, done)) this.answerDirty = false;
      else more = true;
      if (done && this.model.answer) this.speaker.answer(this.model.answer, this.model.result);
    }
    const tAnswer = performance.now();
    if (this.metaDirty) {
      this.metaDirty = false;
      this.renderMeta();
    }
    const tMeta = performance.now();
    if (this.follower.following && this.conn !== "snapshot") this.follower.scrollToEnd();
    this.updateJump();
    if (more) this.schedule();
    const took = performance.now() - start;
    const prof = (window as unknown as { __tsProfile?: unknown[] }).__tsProfile;
    if (prof && took > 16) prof.push({ at: Math.round(start), ms: Math.round(took), stepsMs: Math.round(tSteps - start), answerMs: Math.round(tAnswer - tSteps), metaMs: Math.round(tMeta - tAnswer), scrollMs: Math.round(performance.now() - tMeta), steps: order.length, finished: c.finished.length, answer: c.answer, ended: this.model.ended });
  };

  private stepView(s: Step): StepView {
    let sv = this.stepViews.get(s.index);
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
    const after = [...this.stepViews.keys()].filter((k) => k > s.index).sort((a, b2) => a - b2)[0];
    const group = this.group(s.index);
    const next = after !== undefined ? this.stepViews.get(after)!.li : null;
    if (next && next.parentElement === group) group.insertBefore(li, next);
    else group.append(li);
    this.stepViews.set(s.index, sv);
    this.addStepOption(s.index);
    this.updateMarks(s.index);
    return sv;
  }

  private stepOptions = new Set<number>();

  private addStepOption(index: number) {
    if (this.stepOptions.has(index)) return;
    this.stepOptions.add(index);
    this.stepSelect.append(h("option", { value: String(index), text: `Step ${index}` }));
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
    if (later !== undefined) this.stepsList.insertBefore(el, this.groups.get(later)!);
    else this.stepsList.append(el);
    this.groups.set(g, el);
    return el;
  }

  /** closeGroups marks groups whose steps are all finished. */
  private closeGroups() {
    const open = this.model.openStepIndex;
    const last = this.model.steps.length ? this.model.steps[this.model.steps.length - 1].index : 0;
    for (const [g, el] of this.groups) {
      if (el.classList.contains("ts-done")) continue;
      const end = (g + 1) * groupSize; // last step index of the group
      const finished = open === undefined ? true : end < open;
      if (finished && (end <= last || this.model.thinkEndT !== undefined)) el.classList.add("ts-done");
    }
  }

  private updateMarks(index: number) {
    const sv = this.stepViews.get(index);
    const s = this.model.step(index);
    if (!sv || !s) return;
    const anns = s.annotations;
    if (sv.marks.childElementCount === anns.length) return;
    sv.marks.replaceChildren(...anns.map((a) => h("mark", { class: "ts-ann", title: a.by ? `by ${a.by}` : "" }, "★ ", a.note || "key step")));
    sv.li.classList.toggle("ts-key", anns.length > 0);
    sv.markBtn.textContent = anns.length ? "★" : "☆";
    if (anns.length) this.announcer.say(`Step ${index} highlighted: ${anns[anns.length - 1].note || "key step"}.`);
  }

  private renderMeta() {
    const m = this.model;
    const run = m.run;
    const e = this.el;
    if (run) {
      show(e.sim, !!run.simulated);
      if (e.problem.dataset.for !== run.id) {
        e.problem.dataset.for = run.id;
        renderProblem(e.problem, run);
      }
    }
    const state = this.loadFailed ? "failed" : this.mode === "replay" ? "replay" : String(m.state);
    e.state.dataset.state = state;
    setText(e.state, this.loadFailed || (state === "unknown" ? "loading" : state));
    show(e.queue, m.state === "queued" && m.queuePosition !== undefined);
    if (m.queuePosition !== undefined) setText(e.queue, `position ${m.queuePosition} in queue`);
    // Nobody watches a finished run live: its last count would stay forever.
    show(e.viewers, m.viewers > 0 && !m.ended);
    setText(e.viewers, `${m.viewers} watching`);
    e.viewers.setAttribute("aria-label", `${m.viewers} ${m.viewers === 1 ? "viewer" : "viewers"} watching`);
    this.renderStats();
    this.renderThinkLabel();

    // Owner controls.
    const owner = this.runId ? ownerToken(this.runId) : undefined;
    const liveRun = this.mode === "live" && !m.ended;
    show(e.pauseGen, !!(this.o.page && owner && liveRun && e.pauseGen.dataset.unsupported !== "1"));
    setText(e.pauseGen, m.state === "paused" ? "Resume generation" : "Pause generation");
    show(e.cancel, !!(this.o.page && owner && liveRun));
    show(e.replay, !!this.runId && (this.mode === "finished" || this.mode === "replay"));
    show(e.pauseView, this.mode !== "finished" || this.viewPaused);

    // Result card.
    if (m.result !== undefined && m.result !== "" && e.result.dataset.answer !== m.result) {
      e.result.dataset.answer = m.result;
      e.resultMath.replaceChildren();
      const box = h("div", { class: "ts-result-box" });
      e.resultMath.append(box);
      typeset(`\\boxed{${m.result}}`, box, true);
      show(e.result, true);
      // The answer is the news: steps still waiting to be announced are not.
      this.announcer.final(`Final answer: ${m.result}.`);
    }

    // Errors: non-terminal ones first, then the terminal outcome.
    const errs: HTMLElement[] = [];
    m.errors.forEach((er, i) => {
      if (m.terminalError && i === m.errors.length - 1 && er.code === m.terminalError.code) return;
      errs.push(this.errorBox(er.message, er.retryable ? "The server is retrying; the stream continues here by itself." : "The run may stop; you can start it again.", er.code));
    });
    if (m.ended && m.state !== "completed") {
      const te = m.terminalError;
      const { what, next } = outcome(m);
      errs.push(this.errorBox(what, next, te?.code, this.o.page && !!this.o.onRetry && !!run));
    }
    errs.push(...this.notices);
    if (errs.length || this.el.errors.childElementCount) this.el.errors.replaceChildren(...errs);
    show(e.end, m.ended && m.state === "completed");
    if (m.ended && m.state === "completed") {
      const total = m.timings?.total_ms;
      setText(e.end, `Completed${total ? ` in ${formatDuration(total)}` : ""}.`);
    }
    if (m.ended) this.stopTick();
  }

  /** notice shows a message about something the reader did, with a Dismiss button. */
  private notice(box: HTMLElement) {
    const close = h("button", { type: "button", class: "ts-btn ts-small" }, "Dismiss");
    close.addEventListener("click", () => {
      this.notices = this.notices.filter((n) => n !== box);
      box.remove();
    });
    box.append(close);
    this.notices.push(box);
    this.metaDirty = true;
    this.schedule();
  }

  private errorBox(what: string, next: string, code?: string, retry = false): HTMLElement {
    return errorBox(what, next, code, retry);
  }

  private renderStats() {
    setText(this.el.stats, statsLine(this.model));
    setText(this.el.thinkStats, thinkStatsLine(this.model));
  }

  private thinkingMs(): { ms: number; live: boolean } {
    const m = this.model;
    const start = m.startT ?? m.steps[0]?.startT;
    if (start === undefined) return { ms: 0, live: false };
    if (m.thinkEndT !== undefined) return { ms: m.timings?.thinking_ms ?? m.thinkEndT - start, live: false };
    if (m.ended) return { ms: m.lastT - start, live: false };
    let now = m.lastT;
    if (this.mode === "live" && !this.viewPaused && this.lastEventWall && m.state === "running") now += Math.min(performance.now() - this.lastEventWall, 60_000);
    return { ms: now - start, live: true };
  }

  private renderThinkLabel() {
    const { ms, live } = this.thinkingMs();
    const m = this.model;
    let label: string;
    if (!m.steps.length && !live) label = m.ended ? "No reasoning" : "Waiting for the model…";
    else if (live) label = `Thinking… ${formatDuration(ms)}`;
    else label = `Thought for ${formatDuration(ms)}`;
    setText(this.el.thinkToggle, label);
  }

  private startTick() {
    this.stopTick();
    this.tick = setInterval(() => {
      if (!this.viewPaused) this.renderThinkLabel();
    }, 1000);
  }

  private stopTick() {
    if (this.tick) clearInterval(this.tick);
    this.tick = undefined;
  }

  // ---------------------------------------------------------------- connection

  private setConn(s: ConnState | "replay" | "snapshot") {
    this.conn = s;
    const labels: Record<string, string> = {
      connecting: "connecting…",
      live: "live",
      reconnecting: "reconnecting…",
      resumed: "resumed",
      ended: "finished",
      gone: "unavailable",
      replay: "replay",
      snapshot: "finished",
    };
    this.el.conn.dataset.conn = s;
    setText(this.el.conn, labels[s] || s);
    this.el.conn.setAttribute("aria-label", `Connection: ${labels[s] || s}`);
    if (s === "reconnecting") this.announcer.say("Connection lost, reconnecting.");
    if (s === "reconnecting") this.reconnected = true;
    if (s === "resumed" && this.runId) void this.verify(false);
    if (s === "ended" && this.reconnected && this.runId && this.mode !== "replay") void this.verify(true);
    if (s === "resumed") {
      this.announcer.say("Reconnected; the stream resumed where it left off.");
      clearTimeout(this.resumedTimer);
      this.resumedTimer = setTimeout(() => {
        if (this.conn === "resumed") {
          this.el.conn.dataset.conn = "live";
          setText(this.el.conn, "live · resumed");
        }
      }, 4000);
    }
    if (s === "ended" || s === "gone") {
      this.mode = this.mode === "replay" ? "replay" : "finished";
      this.metaDirty = true;
      this.schedule();
    }
  }

  /**
   * verify compares what this view has with the server's snapshot after a
   * reconnect. A server that crashed can come back with fewer events than
   * its viewers saw (the tail was sent but not yet stored), and then reuse
   * those seqs: resuming by seq alone would keep text the server no longer
   * has and drop what it sends next. The snapshot is the record, so when
   * they disagree the view starts over from it.
   */
  private async verify(final: boolean) {
    const id = this.runId!;
    let d: RunDetail;
    try {
      d = await this.o.api.getRun(id);
    } catch {
      return;
    }
    if (this.destroyed || this.runId !== id || this.mode === "replay") return;
    if (!snapshotDisagrees(d, this.model, final)) return;
    this.announcer.say("The server restarted and lost some recent text; showing what it kept.");
    this.reconnected = false;
    this.stream?.stop();
    this.stream = undefined;
    this.applySnapshot(d);
    if (isTerminalState(d.run.state)) {
      this.mode = "finished";
      this.setConn("ended");
    } else {
      this.mode = "live";
      this.openStream((after) => this.o.api.eventsURL(id, after));
    }
    this.schedule();
  }

  // ---------------------------------------------------------------- scrolling

  private updateJump() {
    const activeRun = this.mode === "live" || this.mode === "replay";
    show(this.el.jump, activeRun && !this.follower.following && !this.follower.atBottom());
  }

  jumpToLatest(): void {
    this.follower.following = true;
    this.follower.scrollToEnd();
    this.updateJump();
  }

  // ---------------------------------------------------------------- actions

  private onClick = (ev: MouseEvent) => {
    const t = (ev.target as HTMLElement).closest<HTMLElement>("[data-action]");
    if (!t || !this.root.contains(t)) return;
    const a = t.dataset.action;
    switch (a) {
      case "copy-code": {
        const code = t.closest(".ts-code")?.querySelector("code")?.textContent || "";
        void copyText(code).then((ok) => this.flash(t, ok ? "Copied" : "Copy failed"));
        break;
      }
      case "copy-result":
        void copyText(this.model.result || "").then((ok) => this.flash(t, ok ? "Copied" : "Copy failed"));
        break;
      case "toggle-thinking":
        this.toggleThinking();
        break;
      case "pause-view":
        this.togglePauseView();
        break;
      case "pause-gen":
        void this.control(this.model.state === "paused" ? "resume" : "pause");
        break;
      case "cancel":
        void this.control("cancel");
        break;
      case "share":
        this.share(t);
        break;
      case "replay":
        void this.replay(parseFloat(t.dataset.speed || "1"));
        break;
      case "jump-latest":
        this.jumpToLatest();
        break;
      case "mark":
        this.openMarkForm(parseInt(t.dataset.step || "0", 10));
        break;
      case "speak":
        this.toggleSpeech();
        break;
      case "reload":
        if (this.runId) void this.load(this.runId);
        break;
      case "retry":
        if (this.model.run && this.o.onRetry) this.o.onRetry(this.model.run);
        break;
    }
  };

  private flash(btn: HTMLElement, text: string) {
    const old = btn.dataset.label || btn.textContent || "";
    btn.dataset.label = old;
    btn.textContent = text;
    this.announcer.say(text);
    setTimeout(() => (btn.textContent = old), 1500);
  }

  toggleThinking(open = !this.thinkingOpen): void {
    this.thinkingOpen = open;
    this.el.thinkToggle.setAttribute("aria-expanded", String(open));
    this.stepsList.hidden = !open;
    this.root.classList.toggle("ts-collapsed", !open);
    if (open) {
      for (const s of this.model.steps) {
        const sv = this.stepViews.get(s.index);
        if (!sv || !sv.final) this.pendingSteps.add(s.index);
      }
      this.schedule();
    }
  }

  togglePauseView(): void {
    if (this.mode === "replay") {
      this.toggleReplayPause();
      return;
    }
    this.viewPaused = !this.viewPaused;
    const b = this.el.pauseView;
    b.setAttribute("aria-pressed", String(this.viewPaused));
    setText(b, this.viewPaused ? "Resume view" : "Pause view");
    this.root.classList.toggle("ts-frozen", this.viewPaused);
    if (this.viewPaused) {
      this.speaker.stop();
      this.setSpeakPressed(false);
      this.announcer.say("View paused; new text keeps arriving in the background.");
    } else {
      this.announcer.say("View resumed.");
      this.schedule();
    }
  }

  private async control(action: "cancel" | "pause" | "resume") {
    const id = this.runId;
    const tok = id && ownerToken(id);
    if (!id || !tok) return;
    if (action === "cancel" && !confirm("Cancel this run? Generation stops and cannot be resumed.")) return;
    try {
      await this.o.api.control(id, action, tok);
      this.announcer.say(action === "cancel" ? "Cancel requested." : action === "pause" ? "Generation paused." : "Generation resumed.");
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 501) {
        this.el.pauseGen.dataset.unsupported = "1";
        this.notice(this.errorBox("This engine cannot pause generation.", "You can pause the view instead, or cancel the run."));
      } else {
        this.notice(this.errorBox(`Could not ${action} the run: ${e.message}`, "Try again in a moment."));
      }
      this.metaDirty = true;
      this.schedule();
    }
  }

  private share(btn: HTMLElement) {
    const url = this.runId ? new URL(`/r/${encodeURIComponent(this.runId)}`, this.o.api.base || location.href).toString() : location.href;
    const link = this.runId && this.o.shareLink ? this.o.shareLink(this.runId).catch(() => undefined) : Promise.resolve(undefined);
    void link.then((shared) => copyText(shared || url).then((ok) => this.flash(btn, ok ? (shared ? "Share link copied" : "Link copied") : "Copy failed")));
  }

  private openMarkForm(step: number) {
    const sv = this.stepViews.get(step);
    if (!sv || !this.runId) return;
    if (sv.head.querySelector("form")) {
      sv.head.querySelector("input")?.focus();
      return;
    }
    const { form, input } = markForm(step, (note) => void this.annotate(step, note));
    sv.head.append(form);
    input.focus();
  }

  private async annotate(step: number, note: string) {
    if (!this.runId) return;
    try {
      await this.o.api.annotate(this.runId, step, note);
      // A live stream delivers the annotation event to everyone, us included;
      // without one, show it now.
      if (this.mode !== "live") {
        this.model.addAnnotation({ step, note });
        this.schedule();
      }
    } catch (err) {
      this.notice(this.errorBox(`Could not highlight step ${step}: ${(err as Error).message}`, "Try again."));
    }
  }

  // ---------------------------------------------------------------- speech

  toggleSpeech(): void {
    if (!Speaker.supported()) return;
    if (this.speaker.active) {
      this.speaker.stop();
      this.setSpeakPressed(false);
      return;
    }
    this.startSpeech(((this.el.speechMode as HTMLSelectElement)?.value as SpeechMode) || "answer");
  }

  private startSpeech(mode: SpeechMode) {
    this.speaker.start(mode);
    this.setSpeakPressed(true);
    const m = this.model;
    if (mode === "thinking") for (const s of m.steps) if (s.done) this.speaker.step(s.index, s.src);
    if (mode === "answer" && m.ended) this.speaker.answer(m.answer, m.result);
  }

  private setSpeakPressed(on: boolean) {
    const b = this.el.speakBtn;
    if (!b) return;
    b.setAttribute("aria-pressed", String(on));
    setText(b, on ? "Stop reading" : "Read aloud");
  }

  // ---------------------------------------------------------------- replay

  /** replay re-shows a finished run: speed 1, 2 or 4 (original pacing scaled), 0 = instantly. */
  async replay(speed: number): Promise<void> {
    if (!this.runId) return;
    this.stopReplay();
    if (!this.replayEvents) {
      this.setConn("connecting");
      try {
        this.replayEvents = await fetchAllEvents(this.o.api.eventsURL(this.runId, 0, ""));
      } catch (err) {
        this.notice(this.errorBox(`Could not load the run for replay: ${(err as Error).message}`, "Try again."));
        this.setConn("snapshot");
        return;
      }
    }
    const run = this.model.run;
    // The snapshot's highlights include those made after the run ended,
    // which the event stream (read up to the terminal event) does not.
    const known = this.model.annotations;
    this.model = new RunModel();
    this.model.run = run;
    this.model.viewers = 0;
    this.resetDom();
    // Highlights persist: show every one from the start. Every step can be
    // jumped to, including those the replay has not reached yet.
    for (const a of known) this.model.addAnnotation(a);
    for (const ev of this.replayEvents) {
      if (ev.type === "annotation" && ev.annotation) this.model.addAnnotation(ev.annotation);
      if (ev.type === "step" && ev.index) this.addStepOption(ev.index);
    }
    this.mode = "replay";
    this.setConn("replay");
    this.follower.following = true;
    this.announcer.say(speed ? `Replaying at ${speed}×.` : "Replaying instantly.");
    this.clock = new ReplayClock(this.replayEvents, {
      apply: (ev) => this.model.apply(ev),
      tick: () => {
        this.metaDirty = true;
        this.schedule();
      },
      done: () => this.finishReplay(),
    });
    this.clock.start(speed);
  }

  private finishReplay() {
    this.mode = "finished";
    this.setConn("snapshot");
    this.el.conn.dataset.conn = "ended";
    setText(this.el.conn, "replay finished");
    this.announcer.say("Replay finished.");
    this.metaDirty = true;
    this.schedule();
  }

  private toggleReplayPause() {
    const b = this.el.pauseView;
    const c = this.clock;
    if (!c) return;
    if (!c.paused) {
      c.pause();
      this.speaker.stop();
      this.setSpeakPressed(false);
      setText(b, "Resume replay");
      b.setAttribute("aria-pressed", "true");
    } else {
      setText(b, "Pause view");
      b.setAttribute("aria-pressed", "false");
      c.resume();
    }
  }

  private stopReplay() {
    this.clock?.stop();
    this.clock = undefined;
    setText(this.el.pauseView, "Pause view");
  }

  /** jumpToStep scrolls to step n; during a replay it first fast-forwards to it. */
  jumpToStep(n: number): void {
    if (this.mode === "replay" && this.clock && !this.model.step(n) && this.clock.fastForward(n)) {
      this.follower.following = false;
      this.render();
      this.clock.proceed();
    }
    const go = () => {
      const sv = this.stepViews.get(n);
      if (!sv) return;
      this.follower.following = false;
      if (!this.thinkingOpen) this.toggleThinking(true);
      sv.li.scrollIntoView({ block: "start" });
      sv.li.focus({ preventScroll: true });
      this.updateJump();
    };
    if (this.stepViews.get(n)) go();
    else {
      this.render();
      go();
    }
  }

  /** focusStep moves to the step after (+1) or before (-1) the one in view. */
  stepBy(dir: 1 | -1): void {
    const items = [...this.stepViews.values()].map((s) => s.li);
    if (!items.length) return;
    // From the step that has focus (the last j/k's), not from what is in
    // view: the smooth scroll to it may still be under way, and reading
    // the position then would land on the same step again.
    const focused = items.findIndex((li) => li.contains(document.activeElement));
    if (focused >= 0) {
      const next = Math.max(0, Math.min(items.length - 1, focused + dir));
      this.jumpToStep(parseInt(items[next].dataset.step || "1", 10));
      return;
    }
    const top = 80;
    let cur = items.findIndex((li) => li.getBoundingClientRect().bottom > top);
    if (cur < 0) cur = items.length - 1;
    const curTop = items[cur].getBoundingClientRect().top;
    let next = cur + (dir > 0 ? (curTop > top + 4 ? 0 : 1) : -1);
    next = Math.max(0, Math.min(items.length - 1, next));
    this.jumpToStep(parseInt(items[next].dataset.step || "1", 10));
  }

  /** transcript is the raw text this view has received (tests compare it with the server's). */
  transcript(): { thinking: string; answer: string; result?: string; lastSeq: number; steps: number } {
    const m = this.model;
    return { thinking: m.thinking, answer: m.answer, result: m.result, lastSeq: m.lastSeq, steps: m.steps.length };
  }

  /** announcing reports whether a step announcement is still due (tests). */
  announcing(): boolean {
    return this.announcer.pending();
  }

  /** idle reports whether everything received so far is rendered. */
  idle(): boolean {
    return !this.frame && this.pendingSteps.size === 0 && !this.answerDirty && !this.viewPaused;
  }

  get connection(): string {
    return this.conn;
  }

  private stopAll() {
    this.stream?.stop();
    this.stream = undefined;
    this.stopReplay();
    this.stopTick();
    this.speaker.stop();
    this.replayEvents = undefined;
    this.mode = "idle";
  }

  destroy(): void {
    this.destroyed = true;
    this.announcer.stop();
    this.stopAll();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.follower.detach();
  }
}
