import { test } from "node:test";
import assert from "node:assert/strict";
import katex from "katex";
import { katexOptions, markdownToHtml } from "../src/markdown.js";

test("raw HTML is text, not markup", () => {
  const html = markdownToHtml('<script>window.__pwned=1</script>\n\n<img src=x onerror="window.__pwned=1">\n\ninline <b onclick=x>b</b>');
  assert.ok(!html.includes("<script"), html);
  assert.ok(!html.includes("<img"), html);
  assert.ok(!html.includes("<b "), html);
  assert.ok(html.includes("&lt;script&gt;"));
});

test("javascript: and data: links are not links", () => {
  for (const src of ["[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](  javascript:alert(1))", "[x](vbscript:msgbox)", "[x](data:text/html;base64,PHNjcmlwdD4=)", "<javascript:alert(1)>", "![i](javascript:alert(1))"]) {
    const html = markdownToHtml(src);
    assert.ok(!/href="\s*(javascript|vbscript|data):/i.test(html), `${src} -> ${html}`);
    assert.ok(!/src="\s*javascript:/i.test(html), `${src} -> ${html}`);
  }
  const ok = markdownToHtml("[site](https://example.org)");
  assert.match(ok, /href="https:\/\/example.org" rel="noopener noreferrer nofollow" target="_blank"/);
});

test("math becomes placeholders, code gets highlighted with a copy button", () => {
  const html = markdownToHtml("Let $x^2$ and \\(y\\).\n\n$$\n\\frac{a}{b}\n$$\n\n```python\nprint('hi')\n```\n");
  assert.equal((html.match(/class="ts-math"/g) || []).length, 2);
  assert.match(html, /class="ts-math ts-math-display" data-tex="\\frac\{a\}\{b\}"/);
  assert.match(html, /class="hljs language-python"/);
  assert.match(html, /<span class="hljs-built_in">print<\/span>/);
  assert.match(html, /data-action="copy-code"/);
});

test("dollar amounts are not math", () => {
  const html = markdownToHtml("It costs $5 and $10 in total.");
  assert.ok(!html.includes("ts-math"), html);
});

test("unterminated fence and display math while streaming render without throwing", () => {
  assert.match(markdownToHtml("```cpp\nint main() {"), /language-cpp/);
  assert.match(markdownToHtml("$$\n\\sum_{i=1}^n"), /ts-math-display/);
});

test("KaTeX with our options refuses \\href and \\url javascript:", () => {
  for (const tex of ["\\href{javascript:alert(1)}{x}", "\\url{javascript:alert(1)}", "\\htmlId{x}{y}", "\\includegraphics{x}"]) {
    const out = katex.renderToString(tex, katexOptions(false));
    assert.ok(!/href="javascript/i.test(out), out);
    assert.ok(!/<a /i.test(out), out);
  }
});

test("a formula still being written is math in an open tail, text in finished markdown", () => {
  const src = "Three people: $3! = 3 \\times 2";
  const open = markdownToHtml(src, true);
  assert.match(open, /class="ts-math ts-math-open" data-tex="3! = 3 \\times 2"/, open);
  assert.ok(!open.includes("$3!"), `raw TeX shown: ${open}`);
  const done = markdownToHtml(src);
  assert.ok(!done.includes("ts-math"), done);
  // Only a formula that runs to the end of what has streamed is open: an
  // unclosed dollar earlier on is a dollar.
  const earlier = markdownToHtml("It costs $5 here.\n\nThen $x", true);
  assert.match(earlier, /It costs \$5 here\./, earlier);
  assert.match(earlier, /class="ts-math ts-math-open" data-tex="x"/, earlier);
  const both = markdownToHtml("So $a$ and \\(b + c", true);
  assert.match(both, /class="ts-math" data-tex="a"/);
  assert.match(both, /class="ts-math ts-math-open" data-tex="b \+ c"/, both);
  // An opener alone, or a dollar followed by a space, is not a formula yet.
  assert.ok(!markdownToHtml("Pay $", true).includes("ts-math"));
  assert.ok(!markdownToHtml("Pay $ 5", true).includes("ts-math"));
});
