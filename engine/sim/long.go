package sim

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"strconv"
	"strings"
)

// longPrefix introduces a problem text that asks for a long synthetic run:
// "sim:long 40000" streams 40,000 reasoning tokens and then an answer.
const longPrefix = "sim:long"

// maxLongTokens bounds sim:long so a typo cannot ask for a run of days.
const maxLongTokens = 10_000_000

// minLongTokens is the shortest long trace: the tags, an opening line and
// the closing sentence need this many.
const minLongTokens = 16

// parseLong reports whether problem asks for a long run and for how many
// reasoning tokens. A malformed count is an error rather than a fallback to
// the normal scripts: a load test that silently ran 300 tokens would
// measure the wrong thing.
func parseLong(problem string) (n int, ok bool, err error) {
	// Only the first line counts: profiles append instructions to the
	// user's message.
	line, _, _ := strings.Cut(problem, "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != longPrefix {
		return 0, false, nil
	}
	if len(fields) != 2 {
		return 0, true, fmt.Errorf("want %q followed by a token count", longPrefix)
	}
	n, err = strconv.Atoi(fields[1])
	if err != nil || n < 1 || n > maxLongTokens {
		return 0, true, fmt.Errorf("token count %q is not a number from 1 to %d", fields[1], maxLongTokens)
	}
	return max(n, minLongTokens), true, nil
}

// fillSentences close a long trace's reasoning. Their tokens are given
// explicitly so the padding to an exact count is exact.
var fillSentences = [][]string{
	{" That", " checks", " out", "."},
	{" The", " chain", " holds", "."},
	{" No", " slips", " so", " far", "."},
	{" Yes", ",", " that", " is", " right", "."},
	{" All", " good", "."},
	{" Let", " me", " wrap", " up", "."},
	{" Good", "."},
}

// longTokens yields a reasoning trace of exactly n tokens (tags included)
// followed by a short answer, generated on the fly so a long run costs no
// more memory than a short one. The second value reports whether a token is
// part of the reasoning. All arithmetic in the text is computed, so the
// trace reads as correct work, not word salad.
func longTokens(n int, rng *rand.Rand) iter.Seq2[string, bool] {
	return func(yield func(string, bool) bool) {
		var buf []string
		emit := func(toks []string, reasoning bool) bool {
			for _, t := range toks {
				if !yield(t, reasoning) {
					return false
				}
			}
			return true
		}
		open := splitTag(nil, openTag, rng.Uint64())
		closing := splitTag(nil, closeTag, rng.Uint64())
		// Paragraphs fill the budget while a whole one fits, keeping room
		// for a closing sentence that pads to the exact count.
		const reserve = 4
		budget := n - len(open) - len(closing) - 1
		if !emit(open, true) || !yield("\n", true) {
			return
		}
		g := &longGen{rng: rng, v: 1 + rng.IntN(1000)}
		intro := fmt.Sprintf("Okay, this is a simulated long reasoning trace of %d tokens for load testing. Let me work through a long chain of small calculations, starting from $v = %d$, and check each step as I go.\n\n", n, g.v)
		para, saved := intro, *g
		for tries := 0; tries < 3; {
			buf = tokenize(buf[:0], para)
			if len(buf) > budget-reserve {
				// Undo the paragraph's step so the answer reports the
				// value the reasoning reached, then try a shorter one.
				*g = saved
				tries++
				para = g.short()
				continue
			}
			if !emit(buf, true) {
				return
			}
			budget -= len(buf)
			saved = *g
			para = g.paragraph()
		}
		*g = saved
		if !emit(fill(buf[:0], budget), true) || !emit(closing, true) {
			return
		}
		answer := fmt.Sprintf("\n\nAfter %d steps of calculation and checking, the running value is $v = %d$.\n\nThe final value is $\\boxed{%d}$.\n", g.step, g.v, g.v)
		emit(tokenize(buf[:0], answer), false)
	}
}

// fill returns exactly k tokens (k >= 0) that end the reasoning's last
// sentence and line.
func fill(dst []string, k int) []string {
	if k <= 0 {
		return dst
	}
	start := len(dst)
	for r, i := k-1, 0; r > 0; i++ {
		if r == 1 {
			dst = append(dst, " Done.")
			break
		}
		s := fillSentences[i%len(fillSentences)]
		if len(s) > r || r-len(s) == 1 {
			continue // the 2- and 3-token sentences come round to fit
		}
		dst = append(dst, s...)
		r -= len(s)
	}
	if len(dst) > start {
		dst[start] = strings.TrimPrefix(dst[start], " ")
	}
	return append(dst, "\n")
}

// longGen writes the paragraphs of a long trace around a running value v.
type longGen struct {
	rng  *rand.Rand
	v    int
	step int
	last int // kind of the previous paragraph, to avoid repeats
}

const longModulus = 1_000_003

// short returns the shortest kind of paragraph, used to fill the end of the
// budget when a longer one does not fit.
func (g *longGen) short() string {
	g.step++
	a := 2 + g.rng.IntN(900)
	prev := g.v
	g.v += a
	return fmt.Sprintf("Step %d: $%d + %d = %d$, so $v = %d$.\n\n", g.step, prev, a, g.v, g.v)
}

func (g *longGen) paragraph() string {
	g.step++
	k := g.rng.IntN(10)
	for kindOf(k) == g.last {
		k = g.rng.IntN(10)
	}
	g.last = kindOf(k)
	switch {
	case k < 3:
		a := 2 + g.rng.IntN(900)
		prev := g.v
		g.v += a
		return fmt.Sprintf("Okay, step %d: we have $v = %d$. Adding $%d$ gives $%d + %d = %d$, so now $v = %d$.\n\n", g.step, prev, a, prev, a, g.v, g.v)
	case k < 5:
		b := 2 + g.rng.IntN(97)
		prev := g.v
		prod := prev * b
		g.v = prod%longModulus + 1
		return fmt.Sprintf("Next, multiply by $%d$ and reduce modulo $%d$: $%d \\times %d = %d$, and $%d \\bmod %d = %d$. Adding 1 to keep it positive, $v = %d$.\n\nWait, let me double-check the product. $%d \\times %d$: that is $%d \\times %d + %d \\times %d = %d + %d = %d$. Yes, that's right.\n\n",
			b, longModulus, prev, b, prod, prod, longModulus, g.v-1, g.v,
			prev, b, prev, b-1, prev, 1, prev*(b-1), prev, prod)
	case k < 6:
		x := 2 + g.rng.IntN(50)
		num, den := g.v*x, x*(3+g.rng.IntN(40))
		d := gcd(num, den)
		return fmt.Sprintf("Hmm, let me look at the ratio $\\frac{%d}{%d}$ for a moment. Both numbers share the factor $\\gcd(%d, %d) = %d$, so it simplifies to $\\frac{%d}{%d}$. That is consistent with what we had, since the numerator is a multiple of $v$.\n\n",
			num, den, num, den, d, num/d, den/d)
	case k < 7:
		m := 5 + g.rng.IntN(60)
		sq := m * (m + 1) * (2*m + 1) / 6
		return fmt.Sprintf("Alternatively, I can cross-check with a closed form. The sum of squares is $1^2 + 2^2 + \\cdots + n^2 = \\frac{n(n+1)(2n+1)}{6}$; for $n = %d$ that is $\\frac{%d \\cdot %d \\cdot %d}{6} = %d$. Good, the formula and the direct sum agree.\n\n",
			m, m, m+1, 2*m+1, sq)
	case k < 8:
		return g.code()
	default:
		return fmt.Sprintf("Hmm, so far every step checks out and $v = %d$. Let me keep going carefully, because a single arithmetic slip here would carry through every later step.\n\n", g.v)
	}
}

// code writes a paragraph with a Python block whose printed result is
// computed here, so the claim after the block is true.
func (g *longGen) code() string {
	xs := make([]string, 3+g.rng.IntN(4))
	v := g.v
	for i := range xs {
		x := 1 + g.rng.IntN(99)
		xs[i] = strconv.Itoa(x)
		v = (v*3 + x) % longModulus
	}
	s := fmt.Sprintf("Let me verify the next few updates with a quick script instead of by hand:\n\n```python\nv = %d\nfor x in [%s]:\n    v = (v * 3 + x) %% %d\nprint(v)\n```\n\nThis prints %d, so now $v = %d$.\n\n",
		g.v, strings.Join(xs, ", "), longModulus, v, v)
	g.v = v
	return s
}

// kindOf maps a draw of paragraph to its kind (the cases of paragraph).
func kindOf(k int) int {
	switch {
	case k < 3:
		return 1
	case k < 5:
		return 2
	case k < 8:
		return k
	default:
		return 8
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
