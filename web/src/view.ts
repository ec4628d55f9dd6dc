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

import { RunActions, type ControlAction } from "./actions.js";
import { Api, ApiError, ownerToken } from "./api.js";
import { h, setText, show } from "./dom.js";
import { Announcer } from "./announcer.js";
import { Frame } from "./frame.js";
import { loadErrorNotice, renderMeta, renderThinkLabel, type MetaState, type Mode } from "./meta.js";
import { RunModel } from "./model.js";
import { Speaker } from "./speech.js";
import { SpeechToggle } from "./speechui.js";
import { StepList } from "./steplist.js";
import { Follower } from "./follow.js";
import { errorBox } from "./header.js";
import { Replayer, type ReplayTarget } from "./replay.js";
import { EventStream, type ConnState } from "./stream.js";
import type { RunDetail, TSEvent } from "./types.js";
import { isTerminal, isTerminalState } from "./types.js";
import { snapshotDisagrees } from "./verify.js";
import { buildViewDom, showConn } from "./viewdom.js";

export interface ViewOptions {
  api: Api;
  /** page: the view scrolls the window and shows owner controls. */
  page?: boolean;
  /** onRetry is offered after a failure ("Try again"); page only. */
  onRetry?: (detail: RunDetail["run"]) => void;
  /** shareLink makes a read-only share link for Share to copy (undefined: copy the run's own link). */
  shareLink?: (runId: string) => Promise<string | undefined>;
}

const frameBudgetMs = 10;

export class RunView {
  readonly root: HTMLElement;
  model = new RunModel();
  runId?: string;
  private src?: string;
  private stream?: EventStream;
  private conn: ConnState | "replay" | "snapshot" = "connecting";
  private mode: Mode = "idle";
  private frame: Frame;
  private viewPaused = false;
  private follower: Follower;
  private thinkingOpen = true;
  private lastEventWall = 0;
  private tick?: ReturnType<typeof setInterval>;
  private resumedTimer?: ReturnType<typeof setTimeout>;
  private speaker = new Speaker();
  private speech: SpeechToggle;
  private destroyed = false;
  /** loadFailed: why the run could not be loaded ("not found", "error"). */
  private loadFailed?: string;
  /** reconnected: this view lost its stream at least once (see verify). */
  private reconnected = false;
  /** Messages about the reader's own actions (failed highlight, 501 pause…), shown until dismissed. */
  private notices: HTMLElement[] = [];
  private replayer: Replayer;

  // elements
  private el: Record<string, HTMLElement>;
  private steps: StepList;
  private announcer: Announcer;
  private actions: RunActions;

  constructor(private o: ViewOptions) {
    this.speech = new SpeechToggle(this.speaker, () => this.model);
    const d = buildViewDom(this.speech.controls.root);
    this.root = d.root;
    this.el = d.el;
    this.announcer = new Announcer(d.live);
    this.steps = new StepList(d.stepsList, d.stepSelect, this.announcer);
    this.frame = new Frame(this.el, this.steps, this.announcer, this.speaker, {
      model: () => this.model,
      paused: () => this.viewPaused,
      thinkingOpen: () => this.thinkingOpen,
      renderMeta: () => this.renderMeta(),
      rendered: () => {
        if (this.follower.following && this.conn !== "snapshot") this.follower.scrollToEnd();
        this.updateJump();
      },
    });
    this.replayer = new Replayer(this.el.pauseView, this.replayTarget());
    this.actions = new RunActions(o.api, this.announcer, (box) => this.notice(box), o.shareLink);
    d.stepSelect.addEventListener("change", () => {
      const n = parseInt(d.stepSelect.value, 10);
      d.stepSelect.value = "";
      if (n) this.jumpToStep(n);
    });
    this.root.addEventListener("click", this.onClick);
    this.follower = new Follower(o.page ? undefined : this.el.scroll, () => this.updateJump());
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
    this.frame.meta();
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
    this.model = RunModel.fromDetail(d);
    this.resetDom();
    this.frame.queueAll();
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
    if (isTerminal(ev.type)) this.mode = "finished";
    if (ev.type === "viewers" || ev.type === "stats" || isTerminal(ev.type)) this.frame.meta();
    else this.frame.schedule();
  }

  private showLoadError(err: unknown) {
    const { box, failed } = loadErrorNotice(err as ApiError, !!this.o.page);
    this.setConn(failed === "not found" ? "gone" : "reconnecting");
    this.notices = [box];
    this.loadFailed = failed;
    this.frame.meta();
  }

  private resetDom() {
    this.frame.reset();
    this.notices = [];
  }

  private metaState(): MetaState {
    return {
      model: this.model,
      mode: this.mode,
      loadFailed: this.loadFailed,
      page: !!this.o.page,
      owner: !!(this.runId && ownerToken(this.runId)),
      canRetry: !!this.o.onRetry,
      viewPaused: this.viewPaused,
      notices: this.notices,
      hasRun: !!this.runId,
      lastEventWall: this.lastEventWall,
    };
  }

  private renderMeta() {
    renderMeta(this.el, this.metaState(), this.announcer);
    if (this.model.ended) this.stopTick();
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
    this.frame.meta();
  }
  private startTick() {
    this.stopTick();
    this.tick = setInterval(() => {
      if (!this.viewPaused) renderThinkLabel(this.el.thinkToggle, this.metaState());
    }, 1000);
  }

  private stopTick() {
    if (this.tick) clearInterval(this.tick);
    this.tick = undefined;
  }

  // ---------------------------------------------------------------- connection

  private setConn(s: ConnState | "replay" | "snapshot") {
    this.conn = s;
    showConn(this.el.conn, s);
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
      this.frame.meta();
    }
  }

  /** verify starts over from the server's snapshot when it disagrees with this view after a reconnect (see verify.ts). */
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
    this.frame.schedule();
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
      case "copy-code":
        this.actions.copy(t, t.closest(".ts-code")?.querySelector("code")?.textContent || "");
        break;
      case "copy-result":
        this.actions.copy(t, this.model.result || "");
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
        this.actions.share(t, this.runId);
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

  toggleThinking(open = !this.thinkingOpen): void {
    this.thinkingOpen = open;
    this.el.thinkToggle.setAttribute("aria-expanded", String(open));
    this.steps.list.hidden = !open;
    this.root.classList.toggle("ts-collapsed", !open);
    if (open) this.frame.reopen();
  }

  togglePauseView(): void {
    if (this.mode === "replay") {
      if (this.replayer.togglePause()) this.speech.stop();
      return;
    }
    this.viewPaused = !this.viewPaused;
    const b = this.el.pauseView;
    b.setAttribute("aria-pressed", String(this.viewPaused));
    setText(b, this.viewPaused ? "Resume view" : "Pause view");
    this.root.classList.toggle("ts-frozen", this.viewPaused);
    if (this.viewPaused) {
      this.speech.stop();
      this.announcer.say("View paused; new text keeps arriving in the background.");
    } else {
      this.announcer.say("View resumed.");
      this.frame.schedule();
    }
  }

  private async control(action: ControlAction) {
    if (!(await this.actions.control(this.runId, action))) this.el.pauseGen.dataset.unsupported = "1";
  }

  private openMarkForm(step: number) {
    const id = this.runId;
    if (!id) return;
    this.steps.openMarkForm(step, async (note) => {
      // A live stream delivers the annotation event to everyone, us included;
      // without one, show it now.
      if ((await this.actions.annotate(id, step, note)) && this.mode !== "live") {
        this.model.addAnnotation({ step, note });
        this.frame.schedule();
      }
    });
  }

  toggleSpeech(): void {
    this.speech.toggle();
  }

  // ---------------------------------------------------------------- replay

  /** replay re-shows a finished run: speed 1, 2 or 4 (original pacing scaled), 0 = instantly. */
  async replay(speed: number): Promise<void> {
    if (this.runId) await this.replayer.start(this.o.api.eventsURL(this.runId, 0, ""), speed);
  }

  private replayTarget(): ReplayTarget {
    return {
      loading: () => this.setConn("connecting"),
      failed: (err) => {
        this.notice(errorBox(`Could not load the run for replay: ${err.message}`, "Try again."));
        this.setConn("snapshot");
      },
      begin: (events, speed) => {
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
        for (const ev of events) {
          if (ev.type === "annotation" && ev.annotation) this.model.addAnnotation(ev.annotation);
          if (ev.type === "step" && ev.index) this.steps.addOption(ev.index);
        }
        this.mode = "replay";
        this.setConn("replay");
        this.follower.following = true;
        this.announcer.say(speed ? `Replaying at ${speed}×.` : "Replaying instantly.");
      },
      apply: (ev) => this.model.apply(ev),
      tick: () => {
        this.frame.meta();
      },
      done: () => {
        this.mode = "finished";
        this.setConn("snapshot");
        this.el.conn.dataset.conn = "ended";
        setText(this.el.conn, "replay finished");
        this.announcer.say("Replay finished.");
        this.frame.meta();
      },
    };
  }

  /** jumpToStep scrolls to step n; during a replay it first fast-forwards to it. */
  jumpToStep(n: number): void {
    if (this.mode === "replay" && !this.model.step(n) && this.replayer.fastForward(n)) {
      this.follower.following = false;
      this.frame.render();
      this.replayer.proceed();
    }
    const go = () => {
      const sv = this.steps.get(n);
      if (!sv) return;
      this.follower.following = false;
      if (!this.thinkingOpen) this.toggleThinking(true);
      sv.li.scrollIntoView({ block: "start" });
      sv.li.focus({ preventScroll: true });
      // A busy page may not have laid the step out yet (its group is
      // skipped by layout until shown), and then focus() does nothing:
      // try again once the frame that shows it is painted.
      if (document.activeElement !== sv.li) requestAnimationFrame(() => sv.li.focus({ preventScroll: true }));
      this.updateJump();
    };
    if (this.steps.get(n)) go();
    else {
      this.frame.render();
      go();
    }
  }

  /** focusStep moves to the step after (+1) or before (-1) the one in view. */
  stepBy(dir: 1 | -1): void {
    const n = this.steps.neighbour(dir);
    if (n !== undefined) this.jumpToStep(n);
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
    return this.frame.idle();
  }

  get connection(): string {
    return this.conn;
  }

  private stopAll() {
    this.stream?.stop();
    this.stream = undefined;
    this.replayer.stop();
    this.stopTick();
    this.speaker.stop();
    this.replayer.forget();
    this.mode = "idle";
  }

  destroy(): void {
    this.destroyed = true;
    this.announcer.stop();
    this.stopAll();
    this.frame.stop();
    this.follower.detach();
  }
}
