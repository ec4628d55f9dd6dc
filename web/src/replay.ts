// Replay of a finished run in the page: the run's whole event stream is
// read once (fetchAllEvents), then ReplayClock re-applies it on the
// original clock scaled by a speed. Pacing here rather than with the
// server's ?pace=original keeps speed changes, pause and jump-to-step
// instant and free for the server (see docs/web.md).

import { SSEParser } from "./sseparse.js";
import type { TSEvent } from "./types.js";
import { isTerminal } from "./types.js";

/** fetchAllEvents reads a run's full, uncoalesced event stream up to its terminal event. */
export async function fetchAllEvents(url: string): Promise<TSEvent[]> {
  const resp = await fetch(url, { headers: { Accept: "text/event-stream" }, cache: "no-store" });
  if (resp.status === 204) return [];
  if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
  const out: TSEvent[] = [];
  let done = false;
  const p = new SSEParser((f) => {
    if (!f.data || f.event === "stream.open" || f.event === "viewers") return;
    try {
      const ev = JSON.parse(f.data) as TSEvent;
      out.push(ev);
      if (isTerminal(ev.type)) done = true;
    } catch {}
  });
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  while (!done) {
    const { value, done: eof } = await reader.read();
    if (eof) break;
    p.push(value);
  }
  void reader.cancel().catch(() => {});
  out.sort((a, b) => a.seq - b.seq);
  return out;
}

export interface ReplayHooks {
  /** apply shows one event (annotations and viewer counts are not replayed). */
  apply(ev: TSEvent): void;
  /** tick follows each batch of applied events. */
  tick(): void;
  /** done is called once the last event is applied. */
  done(): void;
}

/** ReplayClock paces events by their recorded times: speed 1, 2, 4…; 0 = at once. */
export class ReplayClock {
  private idx = 0;
  private speed = 1;
  private t0 = 0;
  private wall0 = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private pausedAt?: number;
  private running = false;

  constructor(
    readonly events: TSEvent[],
    private hooks: ReplayHooks,
  ) {}

  start(speed: number): void {
    this.stop();
    this.speed = speed;
    this.idx = 0;
    this.t0 = this.events[0]?.t ?? 0;
    this.wall0 = performance.now();
    this.running = true;
    this.step();
  }

  get paused(): boolean {
    return this.pausedAt !== undefined;
  }

  pause(): void {
    if (this.paused) return;
    this.pausedAt = performance.now();
    clearTimeout(this.timer);
  }

  resume(): void {
    if (this.pausedAt === undefined) return;
    this.wall0 += performance.now() - this.pausedAt;
    this.pausedAt = undefined;
    this.step();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pausedAt = undefined;
    this.running = false;
  }

  /**
   * fastForward applies everything up to the start of step n when the
   * replay has not reached it, and moves the clock there so the pacing goes
   * on from the step's own time. It reports false when step n is not ahead.
   * Call proceed() once the jump is shown.
   */
  fastForward(n: number): boolean {
    const evs = this.events;
    let target = -1;
    for (let i = this.idx; i < evs.length; i++) {
      if (evs[i].type === "step" && evs[i].index === n) {
        target = i;
        break;
      }
    }
    if (target < 0) return false;
    while (this.idx <= target) this.applyOne(evs[this.idx++]);
    const speed = this.speed || 1;
    this.wall0 = performance.now() - (evs[target].t - this.t0) / speed;
    if (this.pausedAt !== undefined) this.pausedAt = performance.now();
    clearTimeout(this.timer);
    return true;
  }

  /** proceed continues a fast-forwarded replay (unless paused). */
  proceed(): void {
    if (this.running && this.pausedAt === undefined) this.timer = setTimeout(this.step, 0);
  }

  private applyOne(ev: TSEvent) {
    if (ev.type !== "annotation" && ev.type !== "viewers") this.hooks.apply(ev);
  }

  private step = () => {
    if (!this.running) return;
    const evs = this.events;
    const now = this.speed ? (performance.now() - this.wall0) * this.speed + this.t0 : Infinity;
    while (this.idx < evs.length && evs[this.idx].t <= now) this.applyOne(evs[this.idx++]);
    this.hooks.tick();
    if (this.idx >= evs.length) {
      this.running = false;
      this.timer = undefined;
      this.hooks.done();
      return;
    }
    const wait = (evs[this.idx].t - now) / this.speed;
    this.timer = setTimeout(this.step, Math.max(0, Math.min(wait, 1000)));
  };
}

/** ReplayTarget is the view a Replayer plays into. */
export interface ReplayTarget extends ReplayHooks {
  /** loading: the events are being read (the first replay only). */
  loading(): void;
  failed(err: Error): void;
  /** begin empties the view for a replay of events at speed. */
  begin(events: TSEvent[], speed: number): void;
}

/**
 * Replayer is a view's replay: it reads the run's events once, keeps them
 * for the next replay, and drives a ReplayClock into the target. The
 * pause button reads "Resume replay" while a replay is paused.
 */
export class Replayer {
  private events?: TSEvent[];
  private clock?: ReplayClock;

  constructor(
    private pauseBtn: HTMLElement,
    private target: ReplayTarget,
  ) {}

  async start(url: string, speed: number): Promise<void> {
    this.stop();
    if (!this.events) {
      this.target.loading();
      try {
        this.events = await fetchAllEvents(url);
      } catch (err) {
        this.target.failed(err as Error);
        return;
      }
    }
    this.target.begin(this.events, speed);
    this.clock = new ReplayClock(this.events, this.target);
    this.clock.start(speed);
  }

  /** togglePause pauses or resumes the replay; it returns true when it paused. */
  togglePause(): boolean {
    const b = this.pauseBtn;
    const c = this.clock;
    if (!c) return false;
    if (!c.paused) {
      c.pause();
      b.textContent = "Resume replay";
      b.setAttribute("aria-pressed", "true");
      return true;
    }
    b.textContent = "Pause view";
    b.setAttribute("aria-pressed", "false");
    c.resume();
    return false;
  }

  /**
   * fastForward applies everything up to step n at once, if the replay has
   * not reached it; then render and call proceed. It reports whether it did.
   */
  fastForward(n: number): boolean {
    return !!this.clock?.fastForward(n);
  }

  proceed(): void {
    this.clock?.proceed();
  }

  stop(): void {
    this.clock?.stop();
    this.clock = undefined;
    if (this.pauseBtn.textContent !== "Pause view") this.pauseBtn.textContent = "Pause view";
  }

  /** forget drops the events read (another run is shown). */
  forget(): void {
    this.events = undefined;
  }
}
