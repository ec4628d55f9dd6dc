// Package reasoning turns the raw text of a reasoning model into the typed
// events viewers receive: step, thinking, code, answer and result.
//
// A Parser is a pure state machine: it does no I/O, keeps no clock and is
// not safe for concurrent use. Feed it every token of one run in order with
// Add (or AppendAdd), then call Finish once. Seq and T of the events it
// returns are left zero; the run manager fills them.
//
// # Layers
//
// The text of a token goes through three layers, each a small state machine
// that sees every byte once:
//
//  1. Tags (ChannelRaw tokens only). The parser starts in a "pre" state in
//     which a <think> after optional whitespace opens the reasoning and is
//     consumed. Any other text leaves that state: with
//     Options.StartInThinking (see DefaultOptions) the text is reasoning
//     until the first </think>; without it the text is answer and no tag is
//     looked for again. After </think> everything is answer: a second
//     <think> is plain text. A tag may be split across tokens at any byte;
//     the parser holds back only the suffix that could still start a tag
//     (one that begins with '<') and releases it as soon as the next byte
//     rules the tag out. Tags never reach event text. ChannelReasoning and
//     ChannelAnswer tokens skip this layer: an upstream reasoning parser (vLLM
//     reasoning_content) has already split the text, so it is taken as it is.
//
//  2. Blocks. Within the reasoning and within the answer, a line that is a
//     CommonMark code fence (up to three spaces, then at least three ` or ~,
//     then an info string whose first word is the language) opens a code
//     block; a line of at least as many of the same fence character, with
//     only spaces after it, closes it. The fence lines belong to the block,
//     so the texts of one block's code events concatenate to a valid fenced
//     block. A fence can only start a line, so the parser holds back at most
//     the start of a line that may still become a fence ("“", "~~~py")
//     until its newline or a byte that rules it out. Code blocks do not
//     survive the end of the reasoning: </think> inside a fence still ends
//     the reasoning, as in vLLM and ollama, which do not look at fences.
//     In the reasoning, a step begins at the first non-whitespace byte
//     (prose or fence) after a blank line, and at the first one of all; the
//     step event comes just before the text that begins the step. Whitespace
//     after a step belongs to that step; whitespace before the first step
//     is held and given to the first step (or, if the reasoning has no
//     step at all, emitted with Step 0 when the reasoning ends).
//
//  3. Result. Every text event of the reasoning and of the answer is fed to
//     a scanner for \boxed{…}, \boxed {…} and \fbox{…} (braces balanced,
//     \{ and \} not counted); answer prose (not code) is also split into
//     lines. Finish emits a result event with the content of the last box
//     to close in the answer, else in the reasoning, else the last
//     non-empty line of the answer prose with a leading "Answer:" or
//     "Final answer:" (any case, optionally in **bold**) removed; and no
//     result event when there is none of these.
//
// # Invariant
//
// For any input bytes (valid UTF-8 or not) cut into tokens anywhere, the
// concatenated Text of the thinking, code and answer events equals the input
// less the tags the parser consumed (at most one <think> and one </think>),
// the parser never panics, and the events do not depend on where the tokens
// were cut once adjacent deltas of the same kind are merged. FuzzParser
// checks all three, and that the same text fed as inline tags or as
// reasoning and answer channels yields the same events.
//
// # Cost
//
// Add costs O(len(token)) amortized: text is searched with strings.Index
// and strings.IndexByte, and the only bytes copied are the few held back.
// Event texts are substrings of the token's text except where held bytes
// are released; AppendAdd into a reused slice allocates nothing for most
// tokens.
package reasoning
