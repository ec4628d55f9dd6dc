package sim

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseLong(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		ok, err bool
	}{
		{"sim:long 40000", 40000, true, false},
		{"  sim:long\t123 ", 123, true, false},
		{"sim:long 3", minLongTokens, true, false},
		{"sim:long", 0, true, true},
		{"sim:long x", 0, true, true},
		{"sim:long 0", 0, true, true},
		{"sim:long -5", 0, true, true},
		{"sim:long 99999999999", 0, true, true},
		{"sim:long 10 20", 0, true, true},
		{"sim:longer 10", 0, false, false},
		{"what is sim:long 10", 0, false, false},
	}
	for _, tt := range tests {
		n, ok, err := parseLong(tt.in)
		if n != tt.n || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("parseLong(%q) = %d, %v, %v", tt.in, n, ok, err)
		}
	}
}

func collectLong(n int, seed uint64) (reasoning, answer []string) {
	for tok, r := range longTokens(n, rand.New(rand.NewPCG(seed, 1))) {
		if r {
			reasoning = append(reasoning, tok)
		} else {
			answer = append(answer, tok)
		}
	}
	return reasoning, answer
}

func TestLongTokens(t *testing.T) {
	for _, n := range []int{minLongTokens, 17, 50, 333, 5000, 40000} {
		for seed := range uint64(3) {
			reasoning, answer := collectLong(n, seed)
			if len(reasoning) != n {
				t.Errorf("n=%d seed=%d: %d reasoning tokens", n, seed, len(reasoning))
			}
			text := strings.Join(reasoning, "") + strings.Join(answer, "")
			minSteps := 1
			if n >= 1000 {
				minSteps = 5
			}
			checkStructure(t, "long "+strconv.Itoa(n), text, minSteps)
			if !strings.HasSuffix(strings.Join(reasoning, ""), "</think>") {
				t.Errorf("n=%d: reasoning does not end with the closing tag", n)
			}
			for _, tok := range reasoning {
				if tok == "" {
					t.Fatal("empty token")
				}
			}
			// The answer reports the value the reasoning reached.
			vs := regexp.MustCompile(`v = (\d+)\$`).FindAllStringSubmatch(strings.Join(reasoning, ""), -1)
			boxed := regexp.MustCompile(`\\boxed\{(\d+)\}`).FindStringSubmatch(strings.Join(answer, ""))
			if n < 100 && len(vs) == 0 {
				// Too short for even the opening paragraph.
			} else if len(vs) == 0 || boxed == nil || vs[len(vs)-1][1] != boxed[1] {
				t.Errorf("n=%d seed=%d: answer %v does not match the last value in the reasoning", n, seed, boxed)
			}
			if n >= 5000 {
				for _, want := range []string{"```python", "Wait,", "\\frac{", "\\times"} {
					if !strings.Contains(text, want) {
						t.Errorf("n=%d: long trace has no %q", n, want)
					}
				}
			}
		}
	}
}

// TestLongArithmetic checks the claims in a long trace: the point of
// computing them is that the simulated reasoning is never wrong.
func TestLongArithmetic(t *testing.T) {
	reasoning, _ := collectLong(20000, 7)
	text := strings.Join(reasoning, "")
	sum := regexp.MustCompile(`\$(\d+) \+ (\d+) = (\d+)\$`)
	prod := regexp.MustCompile(`\$(\d+) \\times (\d+) = (\d+)\$`)
	checked := 0
	for _, m := range sum.FindAllStringSubmatch(text, -1) {
		if atoi(t, m[1])+atoi(t, m[2]) != atoi(t, m[3]) {
			t.Errorf("wrong sum: %s", m[0])
		}
		checked++
	}
	for _, m := range prod.FindAllStringSubmatch(text, -1) {
		if atoi(t, m[1])*atoi(t, m[2]) != atoi(t, m[3]) {
			t.Errorf("wrong product: %s", m[0])
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d claims found", checked)
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLongStopsEarly(t *testing.T) {
	n := 0
	for range longTokens(1_000_000, rand.New(rand.NewPCG(1, 1))) {
		if n++; n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("got %d tokens", n)
	}
}

func BenchmarkLongTokens(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for range longTokens(10000, rand.New(rand.NewPCG(1, 1))) {
		}
	}
}
