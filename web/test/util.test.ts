import { test } from "node:test";
import assert from "node:assert/strict";
import { formatBytes, formatDuration, looksNonEnglish, speakable, stableBoundary } from "../src/util.js";

test("formatDuration", () => {
  assert.equal(formatDuration(42_000), "42 s");
  assert.equal(formatDuration(192_000), "3 min 12 s");
  assert.equal(formatDuration(180_000), "3 min");
  assert.equal(formatDuration(3_840_000), "1 h 4 min");
  assert.equal(formatDuration(400), "0.4 s");
});

test("looksNonEnglish", () => {
  assert.equal(looksNonEnglish("Find the sum of all positive integers $n$ such that $n^2$ is a square."), false);
  assert.equal(looksNonEnglish("求所有正整数 n 的和，使得 n^2 + 12n 是完全平方数。"), true);
  assert.equal(looksNonEnglish("Найдите сумму всех натуральных чисел."), true);
  assert.equal(looksNonEnglish("Calcula la suma de todos los enteros positivos que cumplen la condición."), true);
  assert.equal(looksNonEnglish("Trouvez le nombre de solutions dans les entiers pour cette équation."), true);
  assert.equal(looksNonEnglish("$x^2 + y^2 = 1$"), false);
});

test("stableBoundary cuts at blank lines outside code and display math", () => {
  const a = "para one\n\npara two\n\nopen";
  assert.equal(stableBoundary(a, 0), a.indexOf("open"));
  const b = "text\n\n```python\nx = 1\n\ny = 2\n";
  assert.equal(stableBoundary(b, 0), 6, "inside an open fence nothing after the fence is stable");
  const c = "text\n\n```\nx\n\n```\n\nafter";
  assert.equal(stableBoundary(c, 0), c.indexOf("after"));
  const d = "a\n\n$$\nx\n\ny\n$$\n\nz";
  assert.equal(stableBoundary(d, 0), d.indexOf("z"));
  const e = "a\n\n$$\nx\n\ny";
  assert.equal(stableBoundary(e, 0), 3);
  assert.equal(stableBoundary("no blank line yet", 0), 0);
  // resumes from an earlier boundary
  assert.equal(stableBoundary(a, 10), a.indexOf("open"));
});

test("speakable drops code and reads simple math", () => {
  const s = speakable("We get $\\frac{1}{2}$.\n\n```python\nprint(1)\n```\nSo $\\boxed{7}$.");
  assert.ok(!s.includes("print"));
  assert.ok(s.includes("1 over 2"));
  assert.ok(s.includes("the answer is 7"));
  assert.ok(!/[\\$`]/.test(s));
});

test("formatBytes", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1.5 * 1024 * 1024, "1.5 MiB"],
    [1.1 * 1024 ** 3, "1.1 GiB"],
    [-1, "0 B"],
  ];
  for (const [n, want] of cases) assert.equal(formatBytes(n), want, String(n));
});
