// Incremental parser for the text/event-stream format (WHATWG HTML,
// "Server-sent events"): feed it decoded text chunks as they arrive and it
// calls onFrame for every dispatched frame. Lines end in CRLF, LF or a lone
// CR; a CR at the very end of a chunk may be the first half of a CRLF, so it
// is held until the next chunk.

export interface SSEFrame {
  /** The `id:` of this frame, or undefined when the frame had none. */
  id?: string;
  /** The `event:` name, "message" when absent. */
  event: string;
  data: string;
  /** `retry:` in ms when the frame carried a valid one. */
  retry?: number;
}

export class SSEParser {
  private buf = "";
  private pendingCR = false;
  private data: string[] = [];
  private hasData = false;
  private event = "";
  private id: string | undefined;
  private retry: number | undefined;
  private first = true;

  constructor(private onFrame: (f: SSEFrame) => void) {}

  push(chunk: string): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let text = this.buf + chunk;
    this.buf = "";
    let start = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.charCodeAt(0) === 10) start = 1; // the LF of a split CRLF
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(text.slice(start, i));
      if (c === 13) {
        if (i + 1 === text.length) {
          this.pendingCR = true;
        } else if (text.charCodeAt(i + 1) === 10) {
          i++;
        }
      }
      start = i + 1;
    }
    this.buf = text.slice(start);
  }

  /** end flushes nothing: a frame without its blank line is not dispatched. */
  end(): void {
    this.buf = "";
    this.reset();
  }

  private reset() {
    this.data = [];
    this.hasData = false;
    this.event = "";
    this.id = undefined;
    this.retry = undefined;
  }

  private line(line: string) {
    if (line === "") {
      if (this.hasData) {
        const f: SSEFrame = { event: this.event || "message", data: this.data.join("\n") };
        if (this.id !== undefined) f.id = this.id;
        if (this.retry !== undefined) f.retry = this.retry;
        this.onFrame(f);
      } else if (this.id !== undefined || this.retry !== undefined) {
        // Empty data: not dispatched, but id and retry still count.
        this.onFrame({ id: this.id, event: "", data: "", retry: this.retry });
      }
      this.reset();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (value.indexOf("\0") < 0) this.id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = parseInt(value, 10);
        break;
    }
  }
}
