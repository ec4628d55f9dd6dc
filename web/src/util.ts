// Small pure helpers shared by the page and the element.

/** formatDuration renders ms as "42 s", "3 min 12 s" or "1 h 4 min". */
export function formatDuration(ms: number): string {
  if (!isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return ms < 1000 && ms > 0 ? `${(ms / 1000).toFixed(1)} s` : `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** formatBytes renders a byte count as "512 B", "1.5 MiB" or "1.1 GiB". */
export function formatBytes(n: number): string {
  if (!isFinite(n) || n < 1024) return `${Math.max(0, Math.round(n || 0))} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** formatCount renders 12345 as "12,345". */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

const nonEnglishWords = new Set(
  (
    "el la los las que del por para una con est les des une dans pour pas sur qui " +
    "der die das und ist nicht mit von ein eine auf zu den dem sich wie " +
    "il di che non per della sono um uma não com são se como também qual quanto cuál cuántos " +
    "combien quel quelle wie viele welche wieviel"
  ).split(" "),
);
const englishWords = new Set("the and is of to in that for with what how many find let if are be it".split(" "));

/**
 * looksNonEnglish guesses whether a problem is written in a language other
 * than English: mostly non-Latin letters, or more common function words of
 * Spanish, French, German, Italian or Portuguese than of English. Math and
 * code are ignored because they are mostly symbols.
 */
export function looksNonEnglish(text: string): boolean {
  const prose = text.replace(/\$[^$]*\$/g, " ").replace(/```[\s\S]*?```/g, " ");
  let latin = 0;
  let other = 0;
  for (const ch of prose) {
    if (/[A-Za-z]/.test(ch)) latin++;
    else if (/\p{L}/u.test(ch)) {
      // Accented Latin letters count as Latin.
      if (/\p{Script=Latin}/u.test(ch)) latin++;
      else other++;
    }
  }
  if (other >= 2 && other > (latin + other) * 0.2) return true;
  let foreign = 0;
  let english = 0;
  for (const w of prose.toLowerCase().split(/[^\p{L}]+/u)) {
    if (nonEnglishWords.has(w)) foreign++;
    else if (englishWords.has(w)) english++;
  }
  return foreign >= 2 && foreign > english;
}

/**
 * stableBoundary returns the offset just after the last blank line of src
 * (from `from` on) that sits outside a fenced code block and outside display
 * math: everything before it is complete markdown blocks that later text
 * cannot change, so it can be rendered once. `from` must itself be such a
 * boundary (or 0). Returns `from` when there is none.
 */
export function stableBoundary(src: string, from: number): number {
  let fence = ""; // the opening fence while inside a code block
  let math = false; // inside $$ … $$ or \[ … \]
  let boundary = from;
  let pos = from;
  while (pos < src.length) {
    const nl = src.indexOf("\n", pos);
    if (nl < 0) break; // the last line is not complete yet
    const line = src.slice(pos, nl);
    const trimmed = line.trim();
    if (fence) {
      if (trimmed.startsWith(fence) && trimmed.slice(fence.length).trim() === "" ) fence = "";
    } else {
      const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (m) {
        fence = m[1];
      } else if (math) {
        if (trimmed.endsWith("$$") || trimmed.endsWith("\\]")) math = false;
      } else if (trimmed.startsWith("$$") || trimmed.startsWith("\\[")) {
        const rest = trimmed.slice(2);
        if (!(rest.endsWith("$$") || rest.endsWith("\\]"))) math = true;
      } else if (trimmed === "" && pos > from) {
        boundary = nl + 1;
      }
    }
    pos = nl + 1;
  }
  return boundary;
}

/** speakable turns markdown with LaTeX into plain text for speech synthesis. */
export function speakable(md: string): string {
  let s = md.replace(/(^|\n)\s*(`{3,}|~{3,})[^\n]*\n[\s\S]*?(\n\s*\2[^\n]*|$)/g, "$1(code omitted)\n");
  s = s.replace(/\\boxed\{([^{}]*)\}/g, "the answer is $1");
  s = s.replace(/\\(?:d|t)?frac\{([^{}]*)\}\{([^{}]*)\}/g, "$1 over $2");
  s = s.replace(/\\sqrt\{([^{}]*)\}/g, "square root of $1");
  s = s.replace(/\\(cdot|times)/g, " times ").replace(/\\le(q)?\b/g, " at most ").replace(/\\ge(q)?\b/g, " at least ");
  s = s.replace(/\\neq?\b/g, " not equal to ").replace(/\^\{?2\}?/g, " squared").replace(/\^\{([^{}]*)\}/g, " to the power $1");
  s = s.replace(/\\[a-zA-Z]+/g, " ").replace(/[{}$\\]/g, " ");
  s = s.replace(/`([^`]*)`/g, "$1").replace(/[*_#>|]+/g, " ");
  s = s.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  return s.replace(/[ \t]+/g, " ").replace(/\s*\n\s*/g, "\n").trim();
}

/** excerpt shortens text to n characters on a word boundary. */
export function excerpt(text: string, n: number): string {
  const t = text.replace(/\s+/g, " ").trim();
  if (t.length <= n) return t;
  const cut = t.lastIndexOf(" ", n);
  return t.slice(0, cut > n / 2 ? cut : n) + "…";
}
