// Markdown, math and code rendering for model output.
//
// Model output is untrusted. markdown-it runs with html:false (raw HTML is
// shown as text) and its default validateLink (javascript:, vbscript:,
// file: and most data: links are dropped). Math is parsed into placeholder
// elements carrying the TeX in a data attribute; renderMath then typesets
// them with katex.render, which builds DOM nodes and sets styles through
// CSSOM, so the page keeps a strict style-src CSP without 'unsafe-inline'.
// KaTeX runs with trust:false (\href, \url, \htmlClass … are refused).

import MarkdownIt from "markdown-it";
import type { MarkdownIt as MD } from "markdown-it";
import type { StateInline, StateBlock } from "markdown-it";
import katex from "katex";
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import cpp from "highlight.js/lib/languages/cpp";
import c from "highlight.js/lib/languages/c";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import typescript from "highlight.js/lib/languages/typescript";
import go from "highlight.js/lib/languages/go";
import rust from "highlight.js/lib/languages/rust";
import bash from "highlight.js/lib/languages/bash";
import json from "highlight.js/lib/languages/json";
import plaintext from "highlight.js/lib/languages/plaintext";

hljs.registerLanguage("python", python);
hljs.registerLanguage("cpp", cpp);
hljs.registerLanguage("c", c);
hljs.registerLanguage("java", java);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("go", go);
hljs.registerLanguage("rust", rust);
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("json", json);
hljs.registerLanguage("plaintext", plaintext);

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** highlightCode returns highlighted HTML for code in lang (escaped text when unknown). */
export function highlightCode(code: string, lang: string): string {
  const l = lang && hljs.getLanguage(lang) ? lang : "";
  if (!l) return escapeHtml(code);
  try {
    return hljs.highlight(code, { language: l, ignoreIllegals: true }).value;
  } catch {
    return escapeHtml(code);
  }
}

function mathPlaceholder(tex: string, display: boolean, open = false): string {
  const tag = display ? "div" : "span";
  const cls = (display ? "ts-math ts-math-display" : "ts-math") + (open ? " ts-math-open" : "");
  const text = open ? tex : display ? `$$${tex}$$` : `$${tex}$`;
  return `<${tag} class="${cls}" data-tex="${escapeHtml(tex)}">${escapeHtml(text)}</${tag}>`;
}

// Inline math: $…$ (pandoc rules: no space after the opener or before the
// closer, closer not followed by a digit), $$…$$, \(…\) and \[…\].
function mathInline(state: StateInline, silent: boolean): boolean {
  const src = state.src;
  const pos = state.pos;
  const ch = src.charCodeAt(pos);
  let open = "";
  let close = "";
  if (ch === 0x24 /* $ */) {
    open = src.startsWith("$$", pos) ? "$$" : "$";
    close = open;
  } else if (ch === 0x5c /* \ */) {
    const n = src.charCodeAt(pos + 1);
    if (n === 0x28 /* ( */) {
      open = "\\(";
      close = "\\)";
    } else if (n === 0x5b /* [ */) {
      open = "\\[";
      close = "\\]";
    } else return false;
  } else return false;
  const start = pos + open.length;
  if (open === "$") {
    const next = src.charCodeAt(start);
    if (isNaN(next) || next === 0x20 || next === 0x09 || next === 0x0a) return false;
  }
  let end = start;
  for (;;) {
    end = src.indexOf(close, end);
    if (end < 0) return openMath(state, silent, open, start);
    if (src.charCodeAt(end - 1) === 0x5c /* escaped \$ */ && open === "$") {
      end++;
      continue;
    }
    if (open === "$") {
      const before = src.charCodeAt(end - 1);
      const after = src.charCodeAt(end + 1);
      if (before === 0x20 || before === 0x09 || before === 0x0a || (after >= 0x30 && after <= 0x39)) {
        end++;
        continue;
      }
    }
    break;
  }
  if (end === start) return false;
  if (!silent) {
    const tok = state.push("math_inline", "math", 0);
    tok.content = src.slice(start, end);
    tok.markup = open;
    tok.meta = { display: open === "$$" || open === "\\[" };
  }
  state.pos = end + close.length;
  return true;
}

// openMath takes a formula that is still being written: in the open tail
// of a streaming step (env.open), an opener whose formula runs to the very
// end of what has arrived is typeset as far as it goes instead of showing
// as raw TeX until its closer comes. Anywhere else an unclosed opener is
// text ("it costs $5").
function openMath(state: StateInline, silent: boolean, open: string, start: number): boolean {
  const env = state.env as { open?: boolean; src?: string } | undefined;
  const rest = state.src.slice(start);
  if (!env?.open || !rest.trim() || !env.src?.trimEnd().endsWith(rest.trimEnd())) return false;
  if (!silent) {
    const tok = state.push("math_inline", "math", 0);
    tok.content = rest.trimEnd();
    tok.markup = open;
    tok.meta = { display: open === "$$" || open === "\\[", open: true };
  }
  state.pos = state.posMax;
  return true;
}

// Block math: a line starting with $$ or \[ up to a line ending in $$ or \].
function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  let pos = state.bMarks[startLine] + state.tShift[startLine];
  let max = state.eMarks[startLine];
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const first = state.src.slice(pos, max);
  let close: string;
  if (first.startsWith("$$")) close = "$$";
  else if (first.startsWith("\\[")) close = "\\]";
  else return false;
  let rest = first.slice(2);
  let content = "";
  let line = startLine;
  let found = false;
  const ci = rest.trimEnd().lastIndexOf(close);
  if (ci >= 0 && rest.trimEnd().endsWith(close)) {
    content = rest.trimEnd().slice(0, ci);
    found = true;
  } else {
    const parts = [rest];
    while (++line < endLine) {
      pos = state.bMarks[line] + state.tShift[line];
      max = state.eMarks[line];
      const l = state.src.slice(pos, max);
      if (pos < max && state.sCount[line] < state.blkIndent) break;
      const t = l.trimEnd();
      if (t.endsWith(close)) {
        parts.push(t.slice(0, t.length - close.length));
        found = true;
        break;
      }
      parts.push(l);
    }
    content = parts.join("\n");
    if (!found) line = endLine - 1; // unterminated (still streaming): take the rest
  }
  if (silent) return true;
  state.line = line + 1;
  const tok = state.push("math_block", "math", 0);
  tok.block = true;
  tok.content = content.trim();
  tok.map = [startLine, state.line];
  tok.markup = close;
  return true;
}

function createMarkdown(): MD {
  const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
  md.inline.ruler.before("escape", "math_inline", mathInline);
  md.block.ruler.before("fence", "math_block", mathBlock, { alt: ["paragraph", "reference", "blockquote", "list"] });
  md.renderer.rules.math_inline = (tokens, idx) => mathPlaceholder(tokens[idx].content, !!tokens[idx].meta?.display, !!tokens[idx].meta?.open);
  md.renderer.rules.math_block = (tokens, idx) => mathPlaceholder(tokens[idx].content, true) + "\n";
  md.renderer.rules.fence = (tokens, idx) => {
    const tok = tokens[idx];
    const info = (tok.info || "").trim().split(/\s+/)[0].toLowerCase();
    const lang = langAlias[info] || info;
    const label = info || "code";
    const body = highlightCode(tok.content, lang);
    const cls = lang && hljs.getLanguage(lang) ? ` class="hljs language-${escapeHtml(lang)}"` : ` class="hljs"`;
    return (
      `<div class="ts-code"><div class="ts-code-bar"><span class="ts-code-lang">${escapeHtml(label)}</span>` +
      `<button type="button" class="ts-copy" data-action="copy-code" aria-label="Copy ${escapeHtml(label)} code">Copy</button></div>` +
      `<pre tabindex="0"><code${cls}>${body}</code></pre></div>\n`
    );
  };
  const defaultLink = md.renderer.rules.link_open || ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow");
    tokens[idx].attrSet("target", "_blank");
    return defaultLink(tokens, idx, options, env, self);
  };
  return md;
}

const langAlias: Record<string, string> = {
  py: "python", python3: "python", "c++": "cpp", cc: "cpp", cxx: "cpp", h: "c", js: "javascript",
  ts: "typescript", golang: "go", rs: "rust", sh: "bash", shell: "bash", console: "bash", text: "plaintext", txt: "plaintext",
};

let mdInstance: MD | undefined;

/**
 * markdownToHtml renders untrusted markdown to HTML with math placeholders.
 * open: src is the open tail of streaming text, whose last formula may not
 * be closed yet (see openMath).
 */
export function markdownToHtml(src: string, open = false): string {
  mdInstance ??= createMarkdown();
  return mdInstance.render(src, open ? { open, src } : {});
}

/**
 * renderMath typesets every math placeholder inside root. With pending (the
 * open tail of a step still streaming) a formula that does not parse yet —
 * usually one that is only half there — stays as quiet raw TeX instead of
 * KaTeX's red error.
 */
export function renderMath(root: ParentNode, pending = false, reuse?: MathPool): void {
  const els = root.querySelectorAll<HTMLElement>(".ts-math[data-tex]");
  for (const el of els) {
    const tex = el.dataset.tex || "";
    const display = el.classList.contains("ts-math-display");
    const key = (display ? "D" : "I") + tex;
    const old = reuse?.get(key)?.pop();
    if (old) {
      // A formula typeset while open is the same formula once closed.
      old.classList.toggle("ts-math-open", el.classList.contains("ts-math-open"));
      el.replaceWith(old);
      continue;
    }
    el.removeAttribute("data-tex");
    if (typeset(tex, el, display, pending)) mathKeys.set(el, key);
  }
}

/** MathPool holds typeset formulas of a re-rendered region, by TeX, for reuse. */
export type MathPool = Map<string, HTMLElement[]>;

const mathKeys = new WeakMap<Element, string>();

/**
 * collectMath gathers the typeset formulas under root. The open tail of a
 * step is re-rendered many times with mostly the same formulas: moving the
 * old formula nodes into the new render instead of typesetting them again
 * makes far less garbage for the browser's DOM-tracing collector.
 */
export function collectMath(root: ParentNode): MathPool {
  const pool: MathPool = new Map();
  for (const el of root.querySelectorAll<HTMLElement>(".ts-math")) {
    const k = mathKeys.get(el);
    if (!k) continue;
    const list = pool.get(k);
    if (list) list.push(el);
    else pool.set(k, [el]);
  }
  return pool;
}

/** katexOptions are the options every formula is typeset with. */
export function katexOptions(display: boolean) {
  return {
    displayMode: display,
    throwOnError: false,
    trust: false,
    strict: "ignore" as const,
    maxExpand: 500,
    maxSize: 20,
    output: "htmlAndMathml" as const,
  };
}

interface VNode {
  attributes?: Record<string, string>;
  children?: VNode[];
  toNode(): Node;
}

// KaTeX sets a few style *attributes* (SVG widths of radicals and stretchy
// delimiters, MathML borders). A strict style-src CSP blocks those, while
// styles set through the CSSOM are allowed. So the virtual tree's style
// attributes are renamed before it becomes DOM, then applied as cssText.
function moveStyleAttrs(n: VNode): void {
  const a = n.attributes;
  if (a && typeof a.style === "string") {
    a["data-ts-style"] = a.style;
    delete a.style;
  }
  if (n.children) for (const c of n.children) moveStyleAttrs(c);
}

// The open step's tail is re-rendered as tokens arrive, with the same
// formulas each time: keep KaTeX's parsed and laid-out trees (not DOM nodes)
// of the most recent formulas.
const treeCache = new Map<string, VNode>();

/** typeset renders TeX into el with the safe options. */
export function typeset(tex: string, el: HTMLElement, display: boolean, pending = false): boolean {
  try {
    const key = (display ? "D" : "I") + tex;
    let tree = treeCache.get(key);
    if (tree) {
      treeCache.delete(key); // refresh its place in the LRU order
    } else {
      tree = (katex as unknown as { __renderToDomTree(t: string, o: object): VNode }).__renderToDomTree(tex, { ...katexOptions(display), throwOnError: pending });
      moveStyleAttrs(tree);
      if (treeCache.size >= 400) treeCache.delete(treeCache.keys().next().value!);
    }
    treeCache.set(key, tree);
    el.replaceChildren(tree.toNode());
    for (const n of el.querySelectorAll<HTMLElement | SVGElement>("[data-ts-style]")) {
      n.style.cssText = n.getAttribute("data-ts-style") || "";
      n.removeAttribute("data-ts-style");
    }
    return true;
  } catch {
    el.textContent = tex;
    if (pending) el.classList.add("ts-math-pending");
    return false;
  }
}

/** renderMarkdownInto replaces el's content with rendered markdown. */
export function renderMarkdownInto(el: HTMLElement, src: string): void {
  el.innerHTML = markdownToHtml(src);
  renderMath(el);
}
