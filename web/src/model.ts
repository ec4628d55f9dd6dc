// RunModel folds a run's events into what the view shows. It is pure (no
// DOM) so it can be tested in node, and it records what changed since the
// view last looked so rendering work stays proportional to new text.

import type { Annotation, Run, RunDetail, RunError, RunState, Stats, TSEvent, Timings, Usage } from "./types.js";
import { isTerminal, isTerminalState } from "./types.js";
import { isReasoning } from "./reasoning.js";

export interface Step {
  index: number;
  /** Markdown source: thinking text and code blocks (fences included) in order. */
  src: string;
  done: boolean;
  startT: number;
  endT?: number;
  annotations: Annotation[];
}

export interface Changes {
  /** Steps whose text changed or that were created, in index order. */
  steps: number[];
  /** Steps that finished since the last look. */
  finished: number[];
  answer: boolean;
  meta: boolean;
  annotations: boolean;
}

export class RunModel {
  /** fromDetail folds a run's snapshot (GET /v1/runs/{id}) into a model that resumes at next_seq. */
  static fromDetail(d: RunDetail): RunModel {
    const m = new RunModel();
    m.run = d.run;
    m.state = d.run.state;
    m.viewers = d.viewers || 0;
    for (const ev of d.snapshot?.events || []) m.apply(ev);
    for (const a of d.snapshot?.annotations || []) m.addAnnotation(a);
    if (d.next_seq > 0 && m.lastSeq < d.next_seq - 1) m.lastSeq = d.next_seq - 1;
    if (d.run.state && !isTerminalState(m.state)) m.state = d.run.state;
    if (isTerminalState(d.run.state)) {
      m.ended = true;
      m.usage ??= d.run.usage;
      m.timings ??= d.run.timings;
      if (d.run.error) m.terminalError ??= d.run.error;
      if (m.result === undefined && d.snapshot?.result) m.result = d.snapshot.result;
    }
    return m;
  }

  run?: Run;
  state: RunState | "paused" | "unknown" = "unknown";
  steps: Step[] = [];
  answer = "";
  result?: string;
  stats?: Stats;
  usage?: Usage;
  timings?: Timings;
  queuePosition?: number;
  /** Non-terminal errors (run.error) and the terminal one, newest last. */
  errors: RunError[] = [];
  terminalError?: RunError;
  lastSeq = 0;
  lastT = 0;
  startT?: number;
  thinkEndT?: number;
  ended = false;
  viewers = 0;
  annotations: Annotation[] = [];
  private annKeys = new Set<string>();
  private changedSteps = new Set<number>();
  private finishedSteps: number[] = [];
  private answerChanged = false;
  private metaChanged = false;
  private annChanged = false;

  /**
   * apply folds one event in. It returns false for an event it has already
   * seen (seq at or below lastSeq), so a resumed stream never duplicates.
   * Frames without seq (viewers) are always applied.
   */
  apply(ev: TSEvent): boolean {
    if (ev.seq > 0) {
      if (ev.seq <= this.lastSeq) return false;
      this.lastSeq = ev.seq;
    }
    if (typeof ev.t === "number" && ev.t > this.lastT) this.lastT = ev.t;
    switch (ev.type) {
      case "run.created":
        if (ev.run) this.run = ev.run;
        if (this.state === "unknown") this.state = "queued";
        this.metaChanged = true;
        break;
      case "run.queued":
        this.state = "queued";
        this.queuePosition = ev.position;
        this.metaChanged = true;
        break;
      case "run.started":
        this.state = "running";
        this.queuePosition = undefined;
        if (this.startT === undefined) this.startT = ev.t;
        this.metaChanged = true;
        break;
      case "run.paused":
        this.state = "paused";
        this.metaChanged = true;
        break;
      case "run.resumed":
        this.state = "running";
        this.metaChanged = true;
        break;
      case "step":
        this.openStep(ev.index || this.steps.length + 1, ev.t);
        break;
      case "thinking":
        this.appendThinking(ev.text || "", ev.step, ev.t);
        break;
      case "code":
        if (isReasoning(ev.type, ev.channel)) this.appendThinking(ev.text || "", ev.step, ev.t);
        else this.appendAnswer(ev.text || "", ev.t);
        break;
      case "answer":
        this.appendAnswer(ev.text || "", ev.t);
        break;
      case "result":
        this.endThinking(ev.t);
        this.result = ev.answer ?? "";
        this.metaChanged = true;
        break;
      case "stats":
        if (ev.stats) {
          this.stats = ev.stats;
          if (ev.stats.viewers) this.viewers = ev.stats.viewers;
        }
        this.metaChanged = true;
        break;
      case "viewers":
        this.viewers = ev.viewers || 0;
        this.metaChanged = true;
        break;
      case "annotation":
        if (ev.annotation) this.addAnnotation(ev.annotation);
        break;
      case "run.error":
        if (ev.error) this.errors.push(ev.error);
        this.metaChanged = true;
        break;
      default:
        if (isTerminal(ev.type)) {
          this.endThinking(ev.t);
          this.ended = true;
          this.state = (ev.state as RunState) || (ev.type.slice(4) as RunState);
          if (ev.usage) this.usage = ev.usage;
          if (ev.timings) this.timings = ev.timings;
          if (ev.error) {
            this.terminalError = ev.error;
          }
          if (this.run) this.run = { ...this.run, state: this.state as RunState };
          this.metaChanged = true;
        }
    }
    return true;
  }

  addAnnotation(a: Annotation): void {
    const key = `${a.step}\u0000${a.note || ""}\u0000${a.by || ""}`;
    if (this.annKeys.has(key)) return;
    this.annKeys.add(key);
    this.annotations.push(a);
    const s = this.step(a.step);
    if (s) s.annotations.push(a);
    this.annChanged = true;
  }

  step(index: number): Step | undefined {
    // Steps are created in order, so index i usually sits at i-1.
    const s = this.steps[index - 1];
    if (s && s.index === index) return s;
    return this.steps.find((x) => x.index === index);
  }

  get openStepIndex(): number | undefined {
    const last = this.steps[this.steps.length - 1];
    return last && !last.done ? last.index : undefined;
  }

  /** thinking is the whole reasoning text, steps concatenated. */
  get thinking(): string {
    let s = "";
    for (const st of this.steps) s += st.src;
    return s;
  }

  takeChanges(): Changes {
    const c: Changes = {
      steps: [...this.changedSteps].sort((a, b) => a - b),
      finished: this.finishedSteps,
      answer: this.answerChanged,
      meta: this.metaChanged,
      annotations: this.annChanged,
    };
    this.changedSteps.clear();
    this.finishedSteps = [];
    this.answerChanged = this.metaChanged = this.annChanged = false;
    return c;
  }

  private openStep(index: number, t: number): Step {
    let s = this.step(index);
    if (s) return s;
    const prev = this.steps[this.steps.length - 1];
    if (prev && !prev.done) this.finish(prev, t);
    if (this.startT === undefined) this.startT = t;
    s = { index, src: "", done: false, startT: t, annotations: [] };
    for (const a of this.annotations) if (a.step === index) s.annotations.push(a);
    this.steps.push(s);
    this.changedSteps.add(index);
    this.metaChanged = true;
    return s;
  }

  private appendThinking(text: string, step: number | undefined, t: number) {
    const last = this.steps[this.steps.length - 1];
    const s = step ? this.openStep(step, t) : last && !last.done ? last : this.openStep(this.steps.length + 1, t);
    s.src += text;
    this.changedSteps.add(s.index);
  }

  private appendAnswer(text: string, t: number) {
    this.endThinking(t);
    this.answer += text;
    this.answerChanged = true;
  }

  private finish(s: Step, t: number) {
    s.done = true;
    s.endT = t;
    this.finishedSteps.push(s.index);
    this.changedSteps.add(s.index);
  }

  private endThinking(t: number) {
    if (this.thinkEndT !== undefined) return;
    this.thinkEndT = t;
    const last = this.steps[this.steps.length - 1];
    if (last && !last.done) this.finish(last, t);
    this.metaChanged = true;
  }
}
