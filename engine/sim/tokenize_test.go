package sim

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Okay, let me", []string{"Okay", ",", " let", " me"}},
		{"x = 2024", []string{"x", " =", " ", "2", "0", "2", "4"}},
		{"a == b", []string{"a", " ==", " b"}},
		{"a\n\nb\n", []string{"a", "\n\n", "b", "\n"}},
		{"\n\n\n", []string{"\n\n", "\n"}},
		{"understand probability", []string{"under", "stand", " probab", "ility"}},
		{"    total += i", []string{"   ", " total", " +", "=", " i"}},
		{"```python\n", []string{"```", "python", "\n"}},
		{"$\\frac{a}{b}$", []string{"$", "\\frac", "{", "a", "}", "{", "b", "}", "$"}},
		{"\\boxed{10}", []string{"\\boxed", "{", "1", "0", "}"}},
		{"naïve 数学", []string{"naïve", " ", "数", "学"}},
		{"end.  ", []string{"end", ".", "  "}},
		{"", nil},
	}
	for _, tt := range tests {
		got := tokenize(nil, tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("tokenize(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSplitTag(t *testing.T) {
	for _, tag := range []string{openTag, closeTag} {
		seen := map[int]bool{}
		for cut := range uint64(8) {
			toks := splitTag(nil, tag, cut)
			if strings.Join(toks, "") != tag || len(toks) > 2 {
				t.Fatalf("splitTag(%q, %d) = %q", tag, cut, toks)
			}
			seen[len(toks)] = true
		}
		if !seen[1] || !seen[2] {
			t.Errorf("%s: want both whole and split forms, got piece counts %v", tag, seen)
		}
	}
}

// FuzzTokenize checks the tokeniser is lossless and never emits an empty
// piece, whatever the text, and that tags stay intact or split in two.
func FuzzTokenize(f *testing.F) {
	f.Add("Okay, let me think.\n\n```python\nprint(1)\n```\n", uint64(3))
	f.Add("<think>\nx</think>\n\n\\boxed{1}", uint64(1))
	f.Add("\xff\xfe a\tb  \t", uint64(0))
	f.Add("<think></think><think>", uint64(2))
	f.Fuzz(func(t *testing.T, text string, cut uint64) {
		toks := tokenizeScript(nil, text, func() uint64 { cut = cut*6364136223846793005 + 1; return cut >> 33 })
		if got := strings.Join(toks, ""); got != text {
			t.Fatalf("pieces %q do not rebuild %q", toks, text)
		}
		for _, tk := range toks {
			if tk == "" {
				t.Fatalf("empty piece in %q", toks)
			}
		}
	})
}
