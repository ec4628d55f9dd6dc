package main

import "testing"

func TestPlainTeX(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10", "10"},
		{"$\\frac{3}{4}$", "3/4"},
		{"\\boxed{\\frac{a+1}{2}}", "(a+1)/2"},
		{"2\\sqrt{3}", "2√3"},
		{"x^{2} + 1", "x^2 + 1"},
		{"\\dfrac{\\pi}{6}", "π/6"},
		{"3 \\times 10^{5}", "3 × 10^5"},
		{"\\binom{5}{3} = 10", "C(5, 3) = 10"},
		{"\\text{no solution}", "no solution"},
		{"(0, 1)", "(0, 1)"},
		{"\\left( \\frac{1}{2}, 3 \\right)", "( 1/2, 3 )"},
		{"\\unknown{x}", "unknownx"},
		{"\\frac{1}", "1/"},
		{"\\", ""},
	}
	for _, tt := range tests {
		if got := plainTeX(tt.in); got != tt.want {
			t.Errorf("plainTeX(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzPlainTeX(f *testing.F) {
	for _, s := range []string{"\\frac{a}{b}", "x^{", "\\sqrt", "{{}", "\\\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = plainTeX(s) // must terminate without panicking
	})
}
