// A markdown block that streams: the part before the last stable cut is
// rendered once into its own chunk, only the open tail is re-rendered (see
// view.ts for why rendering cost follows new text).

import { h } from "./dom.js";
import { collectMath, markdownToHtml, renderMath } from "./markdown.js";
import { stableBoundary } from "./util.js";

export interface MdBlock {
  el: HTMLElement;
  chunks: HTMLElement;
  tail: HTMLElement;
  upTo: number;
  tailSrc: string;
  final: boolean;
  /** no tail re-render before this time (performance.now()): see renderBlock */
  nextTail: number;
}

export function newBlock(el: HTMLElement): MdBlock {
  const chunks = h("div", { class: "ts-chunks" });
  const tail = h("div", { class: "ts-tail" });
  el.append(chunks, tail);
  return { el, chunks, tail, upTo: 0, tailSrc: "", final: false, nextTail: 0 };
}

/**
 * renderBlock brings a markdown block up to date with src. It returns false
 * when it put off re-rendering the open tail: a tail that was slow to render
 * is re-rendered at most every few times its cost, so one long paragraph or
 * code block cannot take the whole main thread.
 */
export function renderBlock(b: MdBlock, src: string, done: boolean): boolean {
  if (b.final) return true;
  const t0 = performance.now();
  const cut = done ? src.length : stableBoundary(src, b.upTo);
  // Formulas already typeset in the old tail move to wherever their text
  // is rendered now (the new chunk or the new tail).
  const pool = b.tail.firstChild ? collectMath(b.tail) : undefined;
  let chunked = false;
  if (cut > b.upTo) {
    const chunk = h("div", { class: "ts-chunk" });
    chunk.innerHTML = markdownToHtml(src.slice(b.upTo, cut));
    renderMath(chunk, false, pool);
    b.chunks.append(chunk);
    b.upTo = cut;
    chunked = true;
  }
  const tail = src.slice(b.upTo);
  if (tail !== b.tailSrc) {
    // A throttled tail waits, unless a chunk just took its formulas.
    if (!done && !chunked && t0 < b.nextTail) return false;
    const t1 = performance.now();
    b.tailSrc = tail;
    if (tail) {
      b.tail.innerHTML = markdownToHtml(tail, true);
      renderMath(b.tail, true, pool);
      b.tail.classList.add("ts-cursor");
    } else {
      b.tail.textContent = "";
    }
    const cost = performance.now() - t1;
    // At most ~15 re-renders a second, fewer when a render is slow: each
    // re-render throws away the previous tail's DOM, and that garbage is
    // what makes the browser's (DOM-tracing) garbage collector run.
    b.nextTail = performance.now() + Math.max(66, Math.min(cost * 4, 500));
  }
  if (done) {
    b.final = true;
    b.tail.textContent = "";
    b.tail.classList.remove("ts-cursor");
  } else if (!tail) {
    b.tail.classList.add("ts-cursor");
  }
  return true;
}
