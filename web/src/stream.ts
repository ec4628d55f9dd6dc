// EventStream follows a run's SSE stream with fetch, resuming after the last
// seq it has applied. It does not use EventSource: EventSource sends
// Last-Event-ID only on its own reconnects, gives up for good on a non-200,
// and cannot tell us when it is between connections.

import { SSEParser } from "./sseparse.js";
import type { TSEvent } from "./types.js";
import { isTerminal } from "./types.js";

export type ConnState = "connecting" | "live" | "reconnecting" | "resumed" | "ended" | "gone";

export interface StreamOptions {
  /** url returns the events URL that resumes after seq `after`. */
  url(after: number): string;
  /** lastSeq is the highest seq the consumer has applied. */
  lastSeq(): number;
  onEvent(ev: TSEvent): void;
  onState(s: ConnState, detail?: string): void;
  /** onGap is called when the server says events before from_seq are gone. */
  onGap?(from: number): void;
}

const idleTimeoutMs = 45_000; // servers send a comment about every 15 s

export class EventStream {
  private ctl?: AbortController;
  private stopped = false;
  private attempt = 0;
  private wake?: () => void;

  constructor(private o: StreamOptions) {}

  start(): void {
    this.stopped = false;
    void this.loop();
    if (typeof window !== "undefined") window.addEventListener("online", this.onOnline);
  }

  stop(): void {
    this.stopped = true;
    this.ctl?.abort();
    this.wake?.();
    if (typeof window !== "undefined") window.removeEventListener("online", this.onOnline);
  }

  private onOnline = () => this.wake?.();

  private async loop() {
    let backoff = 250;
    while (!this.stopped) {
      const ended = await this.connect();
      if (ended || this.stopped) return;
      this.o.onState("reconnecting");
      await new Promise<void>((res) => {
        const t = setTimeout(res, backoff);
        this.wake = () => {
          clearTimeout(t);
          res();
        };
      });
      this.wake = undefined;
      backoff = Math.min(backoff * 2, 4000);
      if (this.attempt === 0) backoff = 250;
    }
  }

  /** connect runs one connection; it returns true when the stream is over for good. */
  private async connect(): Promise<boolean> {
    const ctl = new AbortController();
    this.ctl = ctl;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const kick = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(), idleTimeoutMs);
    };
    const reconnect = this.attempt > 0;
    this.attempt++;
    let sawTerminal = false;
    try {
      if (!reconnect) this.o.onState("connecting");
      kick();
      const resp = await fetch(this.o.url(this.o.lastSeq()), {
        headers: { Accept: "text/event-stream" },
        cache: "no-store",
        signal: ctl.signal,
      });
      if (resp.status === 204) {
        this.o.onState("ended");
        return true;
      }
      if (resp.status === 404 || resp.status === 410) {
        this.o.onState("gone", `HTTP ${resp.status}`);
        return true;
      }
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      const parser = new SSEParser((f) => {
        if (f.event === "stream.open") {
          let open: TSEvent | undefined;
          try {
            open = JSON.parse(f.data);
          } catch {}
          this.attempt = 1;
          // "resumed" is about this client: the server also says resumed
          // for a first connection that starts after a snapshot.
          this.o.onState(reconnect ? "resumed" : "live");
          if (open?.gap && this.o.onGap) this.o.onGap(open.from_seq || 0);
          return;
        }
        if (!f.data) return;
        let ev: TSEvent;
        try {
          ev = JSON.parse(f.data);
        } catch {
          return;
        }
        if (!ev.type) ev.type = f.event;
        if (ev.seq === undefined && f.id) ev.seq = parseInt(f.id, 10) || 0;
        this.o.onEvent(ev);
        if (isTerminal(ev.type)) sawTerminal = true;
      });
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        kick();
        parser.push(value);
      }
      parser.end();
    } catch {
      // network error, abort or idle timeout: reconnect below
    } finally {
      clearTimeout(idle);
    }
    if (sawTerminal) {
      this.o.onState("ended");
      return true;
    }
    return this.stopped;
  }
}
