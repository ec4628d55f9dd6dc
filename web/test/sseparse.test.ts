import { test } from "node:test";
import assert from "node:assert/strict";
import { SSEParser, type SSEFrame } from "../src/sseparse.js";

function parse(chunks: string[]): SSEFrame[] {
  const out: SSEFrame[] = [];
  const p = new SSEParser((f) => out.push(f));
  for (const c of chunks) p.push(c);
  return out;
}

test("frames with id, event and multi-line data", () => {
  const f = parse(["id: 3\nevent: thinking\ndata: {\"a\":1}\ndata: x\n\n"]);
  assert.deepEqual(f, [{ id: "3", event: "thinking", data: '{"a":1}\nx' }]);
});

test("CRLF, lone CR and chunk splits anywhere", () => {
  const text = "id: 1\r\nevent: a\r\ndata: one\r\n\r\nid: 2\revent: b\rdata: two\r\r: comment\n\ndata: three\n\n";
  const whole = parse([text]);
  assert.equal(whole.length, 3);
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(parse([text.slice(0, i), text.slice(i)]), whole, `split at ${i}`);
  }
  // one character at a time
  assert.deepEqual(parse([...text]), whole);
  assert.deepEqual(whole.map((f) => f.data), ["one", "two", "three"]);
});

test("BOM stripped, default event name, no trailing frame without blank line", () => {
  const f = parse(["\ufeffdata: hi\n\ndata: unfinished\n"]);
  assert.deepEqual(f, [{ event: "message", data: "hi" }]);
});

test("id with NUL ignored; retry only digits; space after colon optional", () => {
  const f = parse(["id: a\0b\nretry: 10x\ndata:x\n\nretry: 1500\ndata: y\n\n"]);
  assert.deepEqual(f, [{ event: "message", data: "x" }, { event: "message", data: "y", retry: 1500 }]);
});

test("stream.open frame without id", () => {
  const f = parse(['event: stream.open\ndata: {"from_seq":5,"resumed":true}\n\n']);
  assert.equal(f[0].id, undefined);
  assert.equal(f[0].event, "stream.open");
});
