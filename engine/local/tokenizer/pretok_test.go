package tokenizer

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

// The Qwen2 pattern as Go regular expressions, one per alternative. Go's
// \s is ASCII only, so white space is spelled out (Unicode White_Space,
// what llama.cpp uses). RE2 matches each alternative as a backtracking
// engine would; only \s+(?!\S) needs code, since RE2 has no look-ahead.
const ws = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

var qwenAlternatives = []*regexp.Regexp{
	regexp.MustCompile(`^(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`),
	regexp.MustCompile(`^[^\r\n\p{L}\p{N}]?\p{L}+`),
	regexp.MustCompile(`^\p{N}`),
	regexp.MustCompile(`^ ?[^` + ws + `\p{L}\p{N}]+[\r\n]*`),
	regexp.MustCompile(`^[` + ws + `]*[\r\n]+`),
}

var wsRun = regexp.MustCompile(`^[` + ws + `]+`)

// regexpWord is nextWord written with the regular expressions.
func regexpWord(s string, i int) int {
	for _, re := range qwenAlternatives {
		if m := re.FindStringIndex(s[i:]); m != nil && m[1] > 0 {
			return i + m[1]
		}
	}
	if m := wsRun.FindStringIndex(s[i:]); m != nil {
		end := i + m[1]
		if end == len(s) { // \s+(?!\S) at the end of the text
			return end
		}
		_, w := utf8.DecodeLastRuneInString(s[i:end])
		if end-w > i { // \s+(?!\S): all but the last white space
			return end - w
		}
		return end // \s+
	}
	_, w := utf8.DecodeRuneInString(s[i:])
	return i + w // cannot happen: every character matches some alternative
}

func FuzzPretokenizerMatchesRegexp(f *testing.F) {
	for _, s := range []string{
		"Hello world", "it's  'LL\n\n  x", "a \u3000\u3000b", "  \n \t", "$\\frac{1}{2}$", "\xff\xfe abc",
		"数学 123", " !!\r\n\r\nfoo", "e\u0301", "\u00a0x", "x  ", "'", "'s'T're",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); {
			got, want := nextWord(s, i), regexpWord(s, i)
			if got != want {
				t.Fatalf("%q at %d: nextWord ends at %d (%q), the regexp at %d (%q)", s, i, got, s[i:got], want, s[i:want])
			}
			i = got
		}
	})
}

func TestPretokenizerMatchesRegexpOnCases(t *testing.T) {
	for _, c := range loadCases(t) {
		for i := 0; i < len(c.Text); {
			got, want := nextWord(c.Text, i), regexpWord(c.Text, i)
			if got != want {
				t.Fatalf("case %d %q at %d: nextWord ends at %d, the regexp at %d", c.ID, c.Text, i, got, want)
			}
			i = got
		}
	}
}
