package sim

import (
	"strings"
	"testing"
	"testing/fstest"
)

func mustScripts(t *testing.T) []script {
	t.Helper()
	s, err := loadScripts(problemFS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkStructure verifies what the reasoning parser and the UI rely on: one
// opening tag at the start, one closing tag followed by a blank line,
// several steps, closed code fences and a boxed answer after the thinking.
func checkStructure(t *testing.T, name, text string, minSteps int) {
	t.Helper()
	if !strings.HasPrefix(text, "<think>\n") {
		t.Errorf("%s: does not start with <think>", name)
	}
	if n := strings.Count(text, "<think>"); n != 1 {
		t.Errorf("%s: %d opening tags", name, n)
	}
	if n := strings.Count(text, "</think>"); n != 1 {
		t.Errorf("%s: %d closing tags", name, n)
	}
	thinking, answer, ok := strings.Cut(text, "</think>\n\n")
	if !ok {
		t.Fatalf("%s: no </think> followed by a blank line", name)
	}
	if steps := strings.Count(thinking, "\n\n") + 1; steps < minSteps {
		t.Errorf("%s: %d reasoning paragraphs, want at least %d", name, steps, minSteps)
	}
	for _, part := range []struct{ name, text string }{{"thinking", thinking}, {"answer", answer}} {
		fences := 0
		for line := range strings.SplitSeq(part.text, "\n") {
			if strings.HasPrefix(line, "```") {
				fences++
			}
		}
		if fences%2 != 0 {
			t.Errorf("%s: unclosed code fence in the %s", name, part.name)
		}
	}
	i := strings.LastIndex(answer, `\boxed{`)
	if i < 0 {
		t.Fatalf("%s: no \\boxed{} in the answer", name)
	}
	depth, closed := 0, false
	for _, c := range answer[i+len(`\boxed`):] {
		if c == '{' {
			depth++
		} else if c == '}' {
			if depth--; depth == 0 {
				closed = true
				break
			}
		}
	}
	if !closed {
		t.Errorf("%s: unbalanced braces in \\boxed{}", name)
	}
	if strings.Contains(answer, "$") && strings.Count(answer, "$")%2 != 0 {
		t.Errorf("%s: odd number of $ in the answer", name)
	}
}

func TestScripts(t *testing.T) {
	scripts := mustScripts(t)
	if len(scripts) < 6 {
		t.Fatalf("%d scripts, want at least 6", len(scripts))
	}
	withCode := 0
	for _, s := range scripts {
		checkStructure(t, s.name, s.text, 5)
		thinking, _, _ := strings.Cut(s.text, "</think>")
		if strings.Contains(thinking, "```python\n") {
			withCode++
		}
		for _, phrase := range []string{"Okay", "Wait"} {
			if !strings.Contains(thinking, phrase) {
				t.Errorf("%s: reasoning lacks %q", s.name, phrase)
			}
		}
		n := len(tokenize(nil, s.text))
		if n < 300 || n > 3000 {
			t.Errorf("%s: %d tokens, want 300 to 3000", s.name, n)
		}
		if s.title == "" {
			t.Errorf("%s: no title", s.name)
		}
	}
	if withCode < 3 {
		t.Errorf("%d scripts reason with a python block, want at least 3", withCode)
	}
}

func TestParseScriptErrors(t *testing.T) {
	tests := map[string]string{
		"no separator":   "title: x\nproblem: p\nkeywords: k\n<think>\n</think>\n\nA",
		"unknown header": "title: x\nfoo: y\nproblem: p\nkeywords: k\n---\n<think>\n</think>\n\nA",
		"no keywords":    "title: x\nproblem: p\n---\n<think>\n</think>\n\nA",
		"no open tag":    "title: x\nproblem: p\nkeywords: k\n---\nhello</think>\n\nA",
		"no close tag":   "title: x\nproblem: p\nkeywords: k\n---\n<think>\nhello\n\nA",
	}
	for name, src := range tests {
		if _, err := parseScript(src); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	if _, err := loadScripts(fstest.MapFS{}); err == nil {
		t.Error("empty FS: no error")
	}
}

func TestChoose(t *testing.T) {
	scripts := mustScripts(t)
	byName := map[string]script{}
	for _, s := range scripts {
		byName[s.name] = s
	}
	tests := []struct {
		problem  string
		want     string
		wantKind matchKind
	}{
		{byName["03-modular"].problem, "03-modular", matchExact},
		{"  IN HOW MANY WAYS can a committee of 3 be chosen\nfrom 5 people? ", "01-combinations", matchExact},
		{"How many ways to choose 2 of 7 books?", "01-combinations", matchKeyword},
		{"Compute 1 + 2 + 3 + ... + 100", "02-gauss-sum", matchKeyword},
		{"What is 3^50 modulo 11?", "03-modular", matchKeyword},
		{"Roll two dice: what is the probability of a sum of 7?", "05-dice", matchKeyword},
		{"Find the area of the triangle with vertices (0,0), (4,0), (0,3).", "06-heron", matchKeyword},
		{"How many trailing zeros does 50! have?", "07-trailing-zeros", matchKeyword},
		{"Write a program for the maximum sum contiguous subarray", "04-max-subarray", matchKeyword},
	}
	for _, tt := range tests {
		got, kind := choose(scripts, tt.problem, isCodeProblem("", tt.problem), 1)
		if got.name != tt.want || kind != tt.wantKind {
			t.Errorf("choose(%q) = %s (kind %d), want %s (kind %d)", tt.problem, got.name, kind, tt.want, tt.wantKind)
		}
	}
}

// A programming problem that matches no example gets a programming
// example, whatever the seed, and a math one a math example; the code
// profile's system prompt marks a problem as programming too.
func TestChooseByKind(t *testing.T) {
	scripts := mustScripts(t)
	tests := []struct {
		system, problem string
		code            bool
	}{
		{"", "Reverse a linked list in place.", true},
		{"You are a competitive programming assistant.", "Longest increasing subsequence", true},
		{"", "Implement an LRU cache with O(1) operations.", true},
		{"", "What is 2^100 mod 7?", false},
		// The math profile's suffix must not make a problem look like code.
		{"", "What is 2+2?\nLet's think step by step and output the final answer within \\boxed{}.", false},
		{"", "Find all real x with x^2 = 2x + 3.", false},
	}
	for _, tt := range tests {
		if got := isCodeProblem(tt.system, tt.problem); got != tt.code {
			t.Errorf("isCodeProblem(%q, %q) = %v, want %v", tt.system, tt.problem, got, tt.code)
			continue
		}
		for seed := range int64(32) {
			s, kind := choose(scripts, tt.problem, tt.code, seed)
			if kind == matchNone && s.code != tt.code {
				t.Errorf("choose(%q, code=%v, seed %d) = %s, a code example: %v", tt.problem, tt.code, seed, s.name, s.code)
			}
		}
	}
}

func TestChooseUnmatched(t *testing.T) {
	scripts := mustScripts(t)
	problem := "Explain the rules of cricket."
	first, kind := choose(scripts, problem, false, 42)
	if kind != matchNone {
		t.Fatalf("kind = %d, want matchNone", kind)
	}
	again, _ := choose(scripts, problem, false, 42)
	if again.name != first.name {
		t.Errorf("same problem and seed chose %s then %s", first.name, again.name)
	}
	seen := map[string]bool{}
	for seed := range int64(64) {
		s, _ := choose(scripts, problem, false, seed)
		seen[s.name] = true
	}
	if len(seen) < 3 {
		t.Errorf("64 seeds chose only %v", seen)
	}
}

func TestContainsWord(t *testing.T) {
	tests := []struct {
		s, kw string
		want  bool
	}{
		{"roll a six", "six", true},
		{"sixty people", "six", false},
		{"in 2013 we", "13", false},
		{"sides 13, 14 and 15", "13, 14 and 15", true},
		{"what is 100!?", "100!", true},
		{"1000!", "100!", false},
		{"compute 2^100 mod 7", "2^100", true},
		{"a die.", "die", true},
		{"he died", "die", false},
	}
	for _, tt := range tests {
		if got := containsWord(tt.s, tt.kw); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v", tt.s, tt.kw, got)
		}
	}
}

func TestScriptTextNote(t *testing.T) {
	scripts := mustScripts(t)
	s := scripts[0]
	if got := scriptText(s, matchExact, s.problem); got != s.text {
		t.Error("exact match changed the script")
	}
	problem := "Prove that </think> ```rm``` <think> is odd\nsecond line"
	text := scriptText(s, matchNone, problem)
	checkStructure(t, "unmatched", text, 5)
	if !strings.Contains(text, "simulated output") || !strings.Contains(text, `Prove that </think > '''rm''' <think > is odd`) {
		t.Errorf("note missing or unquoted:\n%s", text[:300])
	}
	if strings.Contains(text, "second line") {
		t.Error("quoted more than the first line")
	}
	long := strings.Repeat("é", 500)
	if text := scriptText(s, matchKeyword, long); !strings.Contains(text, "…") || strings.Contains(text, "\uFFFD") {
		t.Error("long first line not cut at a rune boundary")
	}
}

// FuzzScriptText checks that no problem text, however hostile, can break
// the structure of the simulated output.
func FuzzScriptText(f *testing.F) {
	f.Add("What is 2^100 mod 7?", int64(1))
	f.Add("</think>\n\n\\boxed{", int64(2))
	f.Add("```\n<think>", int64(3))
	f.Add("", int64(0))
	scripts, err := loadScripts(problemFS)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, problem string, seed int64) {
		s, kind := choose(scripts, problem, isCodeProblem("", problem), seed)
		checkStructure(t, s.name, scriptText(s, kind, problem), 5)
	})
}
