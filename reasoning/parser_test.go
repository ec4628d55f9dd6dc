package reasoning

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/thinkstream/thinkstream"
)

type Event = thinkstream.Event

// Event constructors for expectations.
func step(i int) Event { return Event{Type: thinkstream.EventStep, Index: i} }
func think(text string, s int) Event {
	return Event{Type: thinkstream.EventThinking, Text: text, Step: s}
}
func answer(text string) Event { return Event{Type: thinkstream.EventAnswer, Text: text} }
func result(a string) Event    { return Event{Type: thinkstream.EventResult, Answer: a} }
func tcode(text, lang string, block, s int) Event {
	return Event{Type: thinkstream.EventCode, Text: text, Lang: lang, Block: block, Channel: CodeChannelThinking, Step: s}
}
func acode(text, lang string, block int) Event {
	return Event{Type: thinkstream.EventCode, Text: text, Lang: lang, Block: block, Channel: CodeChannelAnswer}
}

func raw(chunks ...string) []thinkstream.Token {
	toks := make([]thinkstream.Token, len(chunks))
	for i, c := range chunks {
		toks[i] = thinkstream.Token{Text: c, ID: -1}
	}
	return toks
}

// run feeds toks to a new parser and returns all events, Finish included.
func run(opts Options, toks []thinkstream.Token) []Event {
	p := NewParser(opts)
	var evs []Event
	for _, t := range toks {
		evs = append(evs, p.Add(t)...)
	}
	return append(evs, p.Finish()...)
}

// normalize merges adjacent delta events with the same fields, so that
// event lists can be compared whatever the chunking.
func normalize(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if n := len(out); n > 0 && thinkstream.IsDelta(e.Type) && sameDelta(&out[n-1], &e) {
			out[n-1].Text += e.Text
			continue
		}
		out = append(out, e)
	}
	return out
}

// deltaText concatenates the text of thinking, code and answer events.
func deltaText(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if thinkstream.IsDelta(e.Type) {
			b.WriteString(e.Text)
		}
	}
	return b.String()
}

func TestParser(t *testing.T) {
	sit := DefaultOptions()
	noSit := Options{}
	tests := []struct {
		name   string
		opts   Options
		chunks []string
		want   []Event
	}{
		{
			name:   "empty",
			opts:   sit,
			chunks: nil,
			want:   nil,
		},
		{
			name:   "plain tags",
			opts:   sit,
			chunks: []string{"<think>", "Two plus two.", "</think>", "It is 4."},
			want:   []Event{step(1), think("Two plus two.", 1), answer("It is 4."), result("It is 4.")},
		},
		{
			name:   "plain tags, no StartInThinking",
			opts:   noSit,
			chunks: []string{"<think>Two plus two.</think>It is 4."},
			want:   []Event{step(1), think("Two plus two.", 1), answer("It is 4."), result("It is 4.")},
		},
		{
			name:   "missing opening tag",
			opts:   sit,
			chunks: []string{"Two plus two.", "</think>", "Answer: 4"},
			want:   []Event{step(1), think("Two plus two.", 1), answer("Answer: 4"), result("4")},
		},
		{
			name:   "no tags, StartInThinking false: all answer",
			opts:   noSit,
			chunks: []string{"Just an answer.\n\n", "Final answer: 7"},
			want:   []Event{answer("Just an answer.\n\nFinal answer: 7"), result("7")},
		},
		{
			name:   "no tags, StartInThinking: all reasoning",
			opts:   sit,
			chunks: []string{"Still thinking", " when cut off"},
			want:   []Event{step(1), think("Still thinking when cut off", 1)},
		},
		{
			name:   "stray </think> without StartInThinking is text",
			opts:   noSit,
			chunks: []string{"a</think>b"},
			want:   []Event{answer("a</think>b"), result("a</think>b")},
		},
		{
			name:   "whitespace before <think> is reasoning",
			opts:   sit,
			chunks: []string{"\n", "<think>\n", "Hi</think>"},
			want:   []Event{step(1), think("\n\nHi", 1)},
		},
		{
			name:   "whitespace before <think>, no StartInThinking",
			opts:   noSit,
			chunks: []string{" \n", "<think>", "Hi</think>ok"},
			want:   []Event{step(1), think(" \nHi", 1), answer("ok"), result("ok")},
		},
		{
			name:   "whitespace-only reasoning has step 0",
			opts:   sit,
			chunks: []string{"<think>\n\n</think>\n\nA"},
			want:   []Event{think("\n\n", 0), answer("\n\nA"), result("A")},
		},
		{
			name:   "second <think> is text",
			opts:   sit,
			chunks: []string{"<think>a</think>b<think>c</think>"},
			want:   []Event{step(1), think("a", 1), answer("b<think>c</think>"), result("b<think>c</think>")},
		},
		{
			name:   "non-leading <think> is text",
			opts:   sit,
			chunks: []string{"so <think> more</think>x"},
			want:   []Event{step(1), think("so <think> more", 1), answer("x"), result("x")},
		},
		{
			name:   "text that looks like a tag start",
			opts:   sit,
			chunks: []string{"a <", "b and x </thin", "g> y <", "/think", "er</th", "ink>z"},
			want:   []Event{step(1), think("a <b and x </thing> y </thinker", 1), answer("z"), result("z")},
		},
		{
			name:   "steps separated by blank lines",
			opts:   sit,
			chunks: []string{"<think>First.\n\nSecond.\n", "\n\nThird.\nStill third.\n \t\n", "Fourth.</think>"},
			want: []Event{
				step(1), think("First.\n\n", 1),
				step(2), think("Second.\n\n\n", 2),
				step(3), think("Third.\nStill third.\n \t\n", 3),
				step(4), think("Fourth.", 4),
			},
		},
		{
			name:   "steps separated by CRLF blank lines",
			opts:   sit,
			chunks: []string{"<think>First.\r\n", "\r\nSecond.\r\nSame.\r\n\r\n", "Third.</think>"},
			want: []Event{
				step(1), think("First.\r\n\r\n", 1),
				step(2), think("Second.\r\nSame.\r\n\r\n", 2),
				step(3), think("Third.", 3),
			},
		},
		{
			name:   "code in reasoning with language",
			opts:   sit,
			chunks: []string{"<think>Compute:\n", "```python\n", "print(1 + 1)\n", "```\n", "So 2.</think>", `\boxed{2}`},
			want: []Event{
				step(1), think("Compute:\n", 1),
				tcode("```python\nprint(1 + 1)\n```\n", "python", 1, 1),
				think("So 2.", 1),
				answer(`\boxed{2}`), result("2"),
			},
		},
		{
			name:   "code block after a blank line starts a step",
			opts:   sit,
			chunks: []string{"<think>Intro.\n\n```py\nx = 1\n\ny = 2\n```\n\nAfter.</think>"},
			want: []Event{
				step(1), think("Intro.\n\n", 1),
				step(2), tcode("```py\nx = 1\n\ny = 2\n```\n", "py", 1, 2),
				think("\n", 2),
				step(3), think("After.", 3),
			},
		},
		{
			name:   "code first in reasoning",
			opts:   sit,
			chunks: []string{"<think>\n", "  ~~~", " c++ extra\nint x;\n~~~\nok</think>"},
			want: []Event{
				step(1), think("\n", 1),
				tcode("  ~~~ c++ extra\nint x;\n~~~\n", "c++", 1, 1),
				think("ok", 1),
			},
		},
		{
			name:   "code in answer with language",
			opts:   sit,
			chunks: []string{"</think>Here:\n\n", "~~~go\n", "fmt.Println()\n", "~~~\n", "Done."},
			want: []Event{
				answer("Here:\n\n"),
				acode("~~~go\nfmt.Println()\n~~~\n", "go", 1),
				answer("Done."), result("Done."),
			},
		},
		{
			name:   "blocks are numbered across the run",
			opts:   sit,
			chunks: []string{"```a\n1\n```\n</think>```b\n2\n```\n"},
			want: []Event{
				step(1), tcode("```a\n1\n```\n", "a", 1, 1),
				acode("```b\n2\n```\n", "b", 2),
			},
		},
		{
			name:   "unterminated code block at Finish",
			opts:   sit,
			chunks: []string{"</think>Code:\n```js\n", "let x"},
			want:   []Event{answer("Code:\n"), acode("```js\nlet x", "js", 1), result("Code:")},
		},
		{
			name:   "fence cut off by Finish still opens a block",
			opts:   sit,
			chunks: []string{"</think>x\n", "```rust"},
			want:   []Event{answer("x\n"), acode("```rust", "rust", 1), result("x")},
		},
		{
			name:   "two backticks are not a fence",
			opts:   sit,
			chunks: []string{"</think>x\n``", "\n``y"},
			want:   []Event{answer("x\n``\n``y"), result("``y")},
		},
		{
			name:   "backtick in a backtick fence's info string: not a fence",
			opts:   sit,
			chunks: []string{"</think>```a`b```\nx"},
			want:   []Event{answer("```a`b```\nx"), result("x")},
		},
		{
			name:   "four spaces of indentation: not a fence",
			opts:   sit,
			chunks: []string{"</think>    ```\nx"},
			want:   []Event{answer("    ```\nx"), result("x")},
		},
		{
			name:   "closing fence: same character, at least as long, nothing after",
			opts:   sit,
			chunks: []string{"</think>````md\n```\n~~~~\n```` x\n", "`````  \r\n", "after"},
			want: []Event{
				acode("````md\n```\n~~~~\n```` x\n`````  \r\n", "md", 1),
				answer("after"), result("after"),
			},
		},
		{
			name:   "</think> inside a code block ends the reasoning",
			opts:   sit,
			chunks: []string{"<think>```\n", "</think>", "\n```\n"},
			want: []Event{
				step(1), tcode("```\n", "", 1, 1),
				answer("\n"), acode("```\n", "", 2),
			},
		},
		{
			name:   "nested-brace boxed",
			opts:   sit,
			chunks: []string{`</think>So $\boxed{\frac{1}{2}}$.`},
			want:   []Event{answer(`So $\boxed{\frac{1}{2}}$.`), result(`\frac{1}{2}`)},
		},
		{
			name:   "boxed split across tokens",
			opts:   sit,
			chunks: []string{"</think>", `\bo`, `xed`, ` {`, `\frac{1`, `}{2}`, `}`},
			want:   []Event{answer(`\boxed {\frac{1}{2}}`), result(`\frac{1}{2}`)},
		},
		{
			name:   "last boxed wins; fbox and spaces",
			opts:   sit,
			chunks: []string{`</think>\boxed{1} or \fbox{ 2 }`},
			want:   []Event{answer(`\boxed{1} or \fbox{ 2 }`), result("2")},
		},
		{
			name:   "escaped braces in boxed",
			opts:   sit,
			chunks: []string{`</think>\boxed{\{1, 2\}}`},
			want:   []Event{answer(`\boxed{\{1, 2\}}`), result(`\{1, 2\}`)},
		},
		{
			name:   "boxed in reasoning only",
			opts:   sit,
			chunks: []string{`<think>so \boxed{5}.</think>The answer is five.`},
			want:   []Event{step(1), think(`so \boxed{5}.`, 1), answer("The answer is five."), result("5")},
		},
		{
			name:   "boxed in answer beats boxed in reasoning",
			opts:   sit,
			chunks: []string{`\boxed{5}</think>\boxed{6}`},
			want:   []Event{step(1), think(`\boxed{5}`, 1), answer(`\boxed{6}`), result("6")},
		},
		{
			name:   "unclosed boxed does not count",
			opts:   sit,
			chunks: []string{"</think>\\boxed{x\nFinal Answer: y"},
			want:   []Event{answer("\\boxed{x\nFinal Answer: y"), result("y")},
		},
		{
			name:   "not boxed: boxedx, escaped backslash",
			opts:   sit,
			chunks: []string{`</think>\boxedx{1} \\boxed{2}` + "\n**Final Answer:** 3\n\n"},
			want:   []Event{answer(`\boxedx{1} \\boxed{2}` + "\n**Final Answer:** 3\n\n"), result("3")},
		},
		{
			name:   "last line of answer prose, code skipped",
			opts:   sit,
			chunks: []string{"</think>Answer: 42\n```\ncode\n```\n  \n"},
			want:   []Event{answer("Answer: 42\n"), acode("```\ncode\n```\n", "", 1), answer("  \n"), result("42")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Deltas of successive Add calls are merged for comparison.
			got := normalize(run(tt.opts, raw(tt.chunks...)))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// The same text in one token or byte by byte gives the same
			// events once deltas are merged.
			text := strings.Join(tt.chunks, "")
			one := normalize(run(tt.opts, raw(text)))
			if diff := cmp.Diff(normalize(tt.want), one, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("in one token (-want +got):\n%s", diff)
			}
			bytewise := normalize(run(tt.opts, raw(strings.Split(text, "")...)))
			if diff := cmp.Diff(normalize(tt.want), bytewise, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("byte by byte (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSplitTags cuts inputs with tags at every position (and at every pair
// of positions) and expects the same events.
func TestSplitTags(t *testing.T) {
	inputs := []struct {
		opts Options
		text string
		want []Event
	}{
		{DefaultOptions(), `<think>Reason.</think>So \boxed{1}`,
			[]Event{step(1), think("Reason.", 1), answer(`So \boxed{1}`), result("1")}},
		{DefaultOptions(), `  <think>a<b</think></think>`,
			[]Event{step(1), think("  a<b", 1), answer("</think>"), result("</think>")}},
		{DefaultOptions(), `x</thin</think>y`,
			[]Event{step(1), think("x</thin", 1), answer("y"), result("y")}},
		{DefaultOptions(), `<thin<think></think>`,
			[]Event{step(1), think("<thin<think>", 1)}},
		{Options{}, "\n<think>\nR\n\nS</think>\n\nA",
			[]Event{step(1), think("\n\nR\n\n", 1), step(2), think("S", 2), answer("\n\nA"), result("A")}},
		{Options{}, "<thinking>x</think>",
			[]Event{answer("<thinking>x</think>"), result("<thinking>x</think>")}},
	}
	for _, in := range inputs {
		s := in.text
		for i := 0; i <= len(s); i++ {
			got := normalize(run(in.opts, raw(s[:i], s[i:])))
			if diff := cmp.Diff(in.want, got); diff != "" {
				t.Fatalf("%q cut at %d (-want +got):\n%s", s, i, diff)
			}
			for j := i; j <= len(s); j++ {
				got := normalize(run(in.opts, raw(s[:i], s[i:j], s[j:])))
				if diff := cmp.Diff(in.want, got); diff != "" {
					t.Fatalf("%q cut at %d and %d (-want +got):\n%s", s, i, j, diff)
				}
			}
		}
	}
}

// TestHoldBack checks that text is released as soon as it cannot be a tag
// or a fence, and that only the possible tag or fence start is held.
func TestHoldBack(t *testing.T) {
	p := NewParser(DefaultOptions())
	steps := []struct {
		in, out string
	}{
		{"<", ""},       // may start <think> or </think>
		{"th", ""},      // "<th"
		{"ink>", ""},    // consumed
		{"a <", "a "},   // "<" may start </think>
		{"b", "<b"},     // it did not
		{"x </", "x "},  // "</" may
		{"thi", ""},     // "</thi" may
		{"s", "</this"}, // it did not
		{"\n``", "\n"},  // "``" at a line start may become a fence
		{"`", ""},       // "```" may open one
		{"x`", "```x`"}, // no backtick in a ``` info string
		{"\n", "\n"},
	}
	for _, st := range steps {
		got := deltaText(p.Add(raw(st.in)[0]))
		if got != st.out {
			t.Fatalf("Add(%q) released %q, want %q", st.in, got, st.out)
		}
	}
}

// TestThreeWays feeds the same output as inline tags, without the opening
// tag, and as reasoning/answer channels, and expects the same events.
func TestThreeWays(t *testing.T) {
	outputs := []struct{ thinking, answer string }{
		{"Okay, so 2+2.\n\nLet me check: ```\n```py\nprint(4)\n```\n\nYes, \\boxed{4}.", "\n\nThe answer is $\\boxed{4}$."},
		{"\nHmm.\r\n\r\n~~~\nunterminated", "Final answer: 7"},
		{"", "Only an answer.\n```\ncode"},
		{"Only reasoning, cut", ""},
		{"  \n", "x"},
	}
	for _, o := range outputs {
		inline := o.thinking + "</think>" + o.answer
		ways := map[string][][]thinkstream.Token{
			"tags":     {raw("<think>" + inline), split(raw("<think>"+inline), 3)},
			"no open":  {raw(inline), split(raw(inline), 5)},
			"channels": {channels(o.thinking, o.answer, 1000), channels(o.thinking, o.answer, 2)},
		}
		if o.answer == "" {
			// Without </think> there is no tag at all.
			ways["tags"] = [][]thinkstream.Token{raw("<think>" + o.thinking)}
			ways["no open"] = [][]thinkstream.Token{raw(o.thinking), split(raw(o.thinking), 1)}
		}
		want := normalize(run(DefaultOptions(), channels(o.thinking, o.answer, 1)))
		if deltaText(want) != o.thinking+o.answer {
			t.Fatalf("channels lost text: %q", deltaText(want))
		}
		for name, feeds := range ways {
			for _, toks := range feeds {
				got := normalize(run(DefaultOptions(), toks))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%q: %s (-channels +%s):\n%s", o.thinking, name, name, diff)
				}
			}
		}
		// Options{} with an explicit <think> gives the same too.
		got := normalize(run(Options{}, raw("<think>"+o.thinking+"</think>"+o.answer)))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: tags without StartInThinking (-channels +got):\n%s", o.thinking, diff)
		}
	}
}

// split cuts every token's text into pieces of n bytes.
func split(toks []thinkstream.Token, n int) []thinkstream.Token {
	var out []thinkstream.Token
	for _, t := range toks {
		for s := t.Text; s != ""; {
			k := min(n, len(s))
			out = append(out, thinkstream.Token{Text: s[:k], Channel: t.Channel, ID: -1})
			s = s[k:]
		}
	}
	return out
}

func channels(thinking, answer string, n int) []thinkstream.Token {
	var toks []thinkstream.Token
	if thinking != "" {
		toks = append(toks, thinkstream.Token{Text: thinking, Channel: thinkstream.ChannelReasoning, ID: -1})
	}
	if answer != "" {
		toks = append(toks, thinkstream.Token{Text: answer, Channel: thinkstream.ChannelAnswer, ID: -1})
	}
	return split(toks, n)
}

func TestAfterFinish(t *testing.T) {
	p := NewParser(DefaultOptions())
	p.Add(raw("a <")[0])
	if got := deltaText(p.Finish()); got != "<" {
		t.Fatalf("Finish released %q, want the held %q", got, "<")
	}
	if evs := p.Add(raw("b")[0]); evs != nil {
		t.Errorf("Add after Finish = %v", evs)
	}
	if evs := p.Finish(); evs != nil {
		t.Errorf("second Finish = %v", evs)
	}
}

func TestAppendKeepsDst(t *testing.T) {
	p := NewParser(DefaultOptions())
	dst := []Event{think("x", 1)}
	dst = p.AppendAdd(dst, raw("y")[0])
	want := []Event{think("x", 1), step(1), think("y", 1)}
	if diff := cmp.Diff(want, dst); diff != "" {
		t.Errorf("AppendAdd merged into the caller's events (-want +got):\n%s", diff)
	}
}

func TestStripAnswerLabel(t *testing.T) {
	for in, want := range map[string]string{
		"Answer: 42":             "42",
		"answer:42":              "42",
		"Final answer: x = 1":    "x = 1",
		"FINAL ANSWER: 3":        "3",
		"**Final Answer:** 5":    "5",
		"**Answer**: 6":          "6",
		"Answer 7":               "Answer 7",
		"The answer: 8":          "The answer: 8",
		"Answer:":                "",
		"**bold** text":          "**bold** text",
		"Answers: a, b":          "Answers: a, b",
		"Final answer: **9**":    "**9**",
		"**Final answer:** $9$.": "$9$.",
	} {
		if got := stripAnswerLabel(in); got != want {
			t.Errorf("stripAnswerLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAllocs checks that ordinary tokens cost no allocation with AppendAdd.
func TestAllocs(t *testing.T) {
	p := NewParser(DefaultOptions())
	buf := make([]Event, 0, 8)
	p.AppendAdd(buf[:0], raw("<think>Warm up.\n\n")[0])
	toks := raw(" Let", " me", " compute", " x", "^2", ".\n\n", "Then", " \\", "boxed", "{", "4", "}", ".")
	allocs := testing.AllocsPerRun(100, func() {
		for _, tok := range toks {
			buf = p.AppendAdd(buf[:0], tok)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations for %d ordinary tokens, want 0", allocs, len(toks))
	}
}

// TestMixedChannels covers tokens whose channel changes, and raw tokens
// after explicit ones.
func TestMixedChannels(t *testing.T) {
	tok := func(ch thinkstream.Channel, s string) thinkstream.Token {
		return thinkstream.Token{Text: s, Channel: ch, ID: -1}
	}
	R, A, W := thinkstream.ChannelReasoning, thinkstream.ChannelAnswer, thinkstream.ChannelRaw
	tests := []struct {
		name string
		opts Options
		toks []thinkstream.Token
		want []Event
	}{
		{
			name: "raw after the answer channel is answer",
			opts: DefaultOptions(),
			toks: []thinkstream.Token{tok(R, "r"), tok(A, "a"), tok(W, "<think>b</think>")},
			want: []Event{step(1), think("r", 1), answer("a<think>b</think>"), result("a<think>b</think>")},
		},
		{
			name: "raw after the reasoning channel still ends at </think>",
			opts: Options{},
			toks: []thinkstream.Token{tok(R, "r"), tok(W, "s</th"), tok(W, "ink>a")},
			want: []Event{step(1), think("rs", 1), answer("a"), result("a")},
		},
		{
			name: "held tag start goes to the explicit token's region",
			opts: Options{},
			toks: []thinkstream.Token{tok(W, "\n<th"), tok(R, "x")},
			want: []Event{step(1), think("\n<thx", 1)},
		},
		{
			name: "held </think> start is reasoning",
			opts: DefaultOptions(),
			toks: []thinkstream.Token{tok(W, "x</"), tok(A, "y")},
			want: []Event{step(1), think("x</", 1), answer("y"), result("y")},
		},
		{
			name: "reasoning resumed after the answer starts a new step",
			opts: DefaultOptions(),
			toks: []thinkstream.Token{tok(R, "r"), tok(A, "a"), tok(R, "s")},
			want: []Event{step(1), think("r", 1), answer("a"), step(2), think("s", 2), result("a")},
		},
		{
			name: "empty tokens change nothing",
			opts: DefaultOptions(),
			toks: []thinkstream.Token{tok(R, "r\n``"), tok(A, ""), tok(R, "`x\ny")},
			want: []Event{step(1), think("r\n", 1), tcode("```x\ny", "x", 1, 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := normalize(run(tt.opts, tt.toks))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
