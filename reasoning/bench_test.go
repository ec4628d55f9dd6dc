package reasoning

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

var traceSentences = []string{
	"Okay, so I need to find the number of ordered pairs $(a, b)$ such that $a^2 + b^2 = 2025$.",
	"Let me think about this step by step.",
	"First, note that $2025 = 45^2 = 3^4 \\cdot 5^2$.",
	"Wait, maybe I should double-check that.",
	"Hmm, so $x \\equiv 3 \\pmod{4}$ would mean there are no solutions.",
	"Let's compute $\\frac{n(n+1)}{2}$ for $n = 44$, which gives $990$.",
	"Alternatively, I could use the sum of two squares theorem.",
	"But wait, the problem says the pairs are ordered, so $(a, b)$ and $(b, a)$ both count.",
	"That gives $4 \\times 3 = 12$ so far, plus the axis cases.",
	"Hold on, is that right? Let me verify with a smaller case like $25 = 3^2 + 4^2$.",
	"So the candidate answer is \\boxed{12}, but let me make sure.",
	"Therefore $r_2(n) = 4(d_1(n) - d_3(n))$ where $d_i$ counts divisors congruent to $i$ mod 4.",
}

var traceCode = []string{
	"```python\ncount = 0\nfor a in range(-45, 46):\n    for b in range(-45, 46):\n        if a*a + b*b == 2025:\n            count += 1\nprint(count)\n```\n",
	"```\n2025 = 3^4 * 5^2\n```\n",
}

// traceText returns a VibeThinker-like output: "<think>", paragraphs of
// reasoning with math and the odd code block, "</think>", then an answer
// with a boxed result. It has about tokens tokens as traceTokens cuts it.
func traceText(tokens int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("<think>\n")
	for b.Len() < tokens*3-400 {
		for n := 1 + r.IntN(4); n > 0; n-- {
			b.WriteString(traceSentences[r.IntN(len(traceSentences))])
			b.WriteByte(' ')
		}
		b.WriteString("\n\n")
		if r.IntN(12) == 0 {
			b.WriteString(traceCode[r.IntN(len(traceCode))])
			b.WriteString("\n")
		}
	}
	b.WriteString("</think>\n\nThe number of ordered pairs is computed from the divisors of $2025$.\n\n")
	b.WriteString("**Final Answer**\n\n$$\n\\boxed{12}\n$$\n")
	return b.String()
}

// traceTokens cuts text roughly as a BPE tokenizer would: words with their
// leading space, long words in pieces of up to 4 bytes, newlines apart,
// and the think tags in pieces.
func traceTokens(text string) []thinkstream.Token {
	var toks []thinkstream.Token
	add := func(s string) { toks = append(toks, thinkstream.Token{Text: s, ID: len(toks)}) }
	for text != "" {
		var n int
		switch c := text[0]; {
		case c == '\n':
			n = len(text) - len(strings.TrimLeft(text, "\n"))
		case c == '<':
			n = min(3, len(text)) // "<th" "ink>", "</" "thi" "nk>"
		default:
			n = 1
			for n < len(text) && n < 4 && text[n] != ' ' && text[n] != '\n' && text[n] != '<' {
				n++
			}
		}
		add(text[:n])
		text = text[n:]
	}
	return toks
}

var benchTrace = traceTokens(traceText(40000))

func BenchmarkParser(b *testing.B) {
	toks := benchTrace
	b.Run("AppendAdd", func(b *testing.B) {
		var dst []thinkstream.Event
		benchTokens(b, toks, func(p *Parser, tok thinkstream.Token) {
			dst = p.AppendAdd(dst[:0], tok)
		})
	})
	b.Run("Add", func(b *testing.B) {
		benchTokens(b, toks, func(p *Parser, tok thinkstream.Token) {
			_ = p.Add(tok)
		})
	})
}

func benchTokens(b *testing.B, toks []thinkstream.Token, add func(*Parser, thinkstream.Token)) {
	n := 0
	for _, t := range toks {
		n += len(t.Text)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		p := NewParser(DefaultOptions())
		for _, tok := range toks {
			add(p, tok)
		}
		p.Finish()
	}
	runtime.ReadMemStats(&after)
	per := float64(b.N * len(toks))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/token")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/per, "allocs/token")
	b.ReportMetric(float64(len(toks)), "tokens")
}

// TestTrace runs the benchmark's trace through the checks of FuzzParser:
// the invariant and chunking independence on a long realistic input.
func TestTrace(t *testing.T) {
	text := traceText(40000)
	toks := traceTokens(text)
	if len(toks) < 35000 || len(toks) > 45000 {
		t.Fatalf("trace has %d tokens, want about 40000", len(toks))
	}
	evs := run(DefaultOptions(), toks)
	thinking, answer := refSplit(text, true)
	if got := deltaText(evs); got != thinking+answer {
		t.Fatal("trace text not preserved")
	}
	checkEvents(t, evs)
	if last := evs[len(evs)-1]; last.Type != thinkstream.EventResult || last.Answer != "12" {
		t.Errorf("last event %+v, want result 12", last)
	}
	want := normalize(evs)
	for _, n := range []int{1, 7, 1 << 20} {
		if diff := cmp.Diff(want, normalize(run(DefaultOptions(), split(raw(text), n)))); diff != "" {
			t.Fatalf("cut every %d bytes (-tokens +cut):\n%s", n, diff)
		}
	}
	if diff := cmp.Diff(want, normalize(run(DefaultOptions(), channels(thinking, answer, 3)))); diff != "" {
		t.Fatalf("channels (-raw +channels):\n%s", diff)
	}
}
