// Streams a chat completion from thinkstream's OpenAI-compatible API with the
// official `openai` npm client — a client nobody here wrote — and checks that
// reasoning and answer deltas arrive where OpenAI-compatible reasoning servers
// put them.
//
//   THINKSTREAM_URL              server root, e.g. http://127.0.0.1:8080 (required)
//   THINKSTREAM_MODEL            model id (default vibethinker-1.5b)
//   THINKSTREAM_API_KEY          sent as the bearer token (default "none")
//   THINKSTREAM_EXPECT_REASONING exact reasoning text to expect (optional)
//   THINKSTREAM_EXPECT_CONTENT   exact answer text to expect (optional)
//   THINKSTREAM_MAX_TOKENS       max_tokens for the requests (default 256)
//   THINKSTREAM_EXPECT_STREAM_ERROR  when set, only check that a streamed run
//                                which fails mid-stream raises an APIError
//                                with this code (the server's run must fail)
//
// Exit status 0 when every check passes; the failures are printed otherwise.
import OpenAI from "openai";

const base = process.env.THINKSTREAM_URL;
if (!base) {
  console.error("THINKSTREAM_URL is not set");
  process.exit(2);
}
const model = process.env.THINKSTREAM_MODEL || "vibethinker-1.5b";
const maxTokens = Number(process.env.THINKSTREAM_MAX_TOKENS || 256);
const client = new OpenAI({
  baseURL: base.replace(/\/+$/, "") + "/v1",
  apiKey: process.env.THINKSTREAM_API_KEY || "none",
  maxRetries: 0, // a retry would start a second run
  timeout: 120_000,
});

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};
const messages = [{ role: "user", content: "What is 2+2?" }];

const expectErr = process.env.THINKSTREAM_EXPECT_STREAM_ERROR;
if (expectErr) {
  let reasoning = "";
  try {
    const stream = await client.chat.completions.create({ model, messages, stream: true, max_tokens: maxTokens });
    for await (const chunk of stream) reasoning += chunk.choices[0]?.delta?.reasoning_content ?? "";
    check(false, "a failing run streamed to the end without an error");
  } catch (err) {
    check(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
    check(err.code === expectErr, `error code ${err.code}, want ${expectErr}`);
    check(typeof err.message === "string" && err.message.length > 0, "empty error message");
  }
  check(reasoning.length > 0, "no reasoning before the error");
  console.log(JSON.stringify({ expectErr, reasoningChars: reasoning.length, failures }));
  process.exit(failures.length === 0 ? 0 : 1);
}

// 1. The model is listed.
const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models.includes(model), `model ${model} not in /v1/models: ${models.join(", ")}`);

// 2. Streaming: reasoning and answer deltas, finish_reason, usage, [DONE].
const { data: stream, response } = await client.chat.completions
  .create({ model, messages, stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens })
  .withResponse();
const runID = response.headers.get("x-thinkstream-run-id");
check(!!runID, "no X-Thinkstream-Run-Id header");
check(response.headers.get("location") === `/r/${runID}`, `Location ${response.headers.get("location")}`);
let reasoning = "";
let content = "";
let finish = null;
let usage = null;
let chunks = 0;
let role = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const choice = chunk.choices[0];
  if (!choice) continue;
  const d = choice.delta;
  if (d.role) role = d.role;
  // Not in the SDK's types: the field vLLM and DeepSeek use for thinking,
  // and its alias `reasoning` (Ollama, newer vLLM) with the same text.
  if (d.reasoning_content) {
    check(d.reasoning === d.reasoning_content, "delta.reasoning differs from delta.reasoning_content");
    reasoning += d.reasoning_content;
  }
  if (d.content) content += d.content;
  if (choice.finish_reason) finish = choice.finish_reason;
}
check(role === "assistant", `first delta role ${role}`);
check(reasoning.length > 0, "no reasoning_content deltas");
check(finish === "stop" || finish === "length", `finish_reason ${finish}`);
check(finish === "length" || content.length > 0, "no content deltas");
check(usage && usage.completion_tokens > 0 && usage.total_tokens >= usage.completion_tokens, `usage ${JSON.stringify(usage)}`);
if (process.env.THINKSTREAM_EXPECT_REASONING !== undefined) {
  check(reasoning === process.env.THINKSTREAM_EXPECT_REASONING, `reasoning ${JSON.stringify(reasoning)}`);
}
if (process.env.THINKSTREAM_EXPECT_CONTENT !== undefined) {
  check(content === process.env.THINKSTREAM_EXPECT_CONTENT, `content ${JSON.stringify(content)}`);
}

// 3. Non-streaming: one chat.completion with the reasoning beside the answer.
const full = await client.chat.completions.create({ model, messages, max_tokens: maxTokens });
const msg = full.choices[0]?.message ?? {};
check(full.object === "chat.completion", `object ${full.object}`);
check(typeof msg.reasoning_content === "string" && msg.reasoning_content.length > 0, "no message.reasoning_content");
check(typeof msg.content === "string", "no message.content");

// 4. Errors are OpenAI-shaped: the SDK raises its typed error.
try {
  await client.chat.completions.create({ model: "no-such-model", messages });
  check(false, "unknown model did not fail");
} catch (err) {
  check(err instanceof OpenAI.NotFoundError, `unknown model: ${err}`);
  check(err.code === "model_not_found", `error code ${err.code}`);
}

console.log(JSON.stringify({ runID, chunks, reasoningChars: reasoning.length, contentChars: content.length, finish, usage, failures }));
process.exit(failures.length === 0 ? 0 : 1);
