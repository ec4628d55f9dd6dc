package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustNew(t testing.TB, p Params, n int) *Sampler {
	t.Helper()
	s, err := New(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logitsOf turns probabilities into logits (T=1 gives them back).
func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

// freq draws n tokens and returns how often each id came up.
func freq(t *testing.T, p Params, logits []float32, n int) []float64 {
	t.Helper()
	s := mustNew(t, p, len(logits))
	f := make([]float64, len(logits))
	buf := make([]float32, len(logits))
	for range n {
		copy(buf, logits)
		f[s.Sample(buf)]++
	}
	for i := range f {
		f[i] /= float64(n)
	}
	return f
}

func TestGreedy(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		want   int32
	}{
		{"max", []float32{1, 5, 3}, 1},
		{"tie goes to lowest id", []float32{2, 7, 7, 1}, 1},
		{"negative", []float32{-3, -1, -2}, 1},
		{"all minus infinity", []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, 0},
		{"NaN never wins", []float32{float32(math.NaN()), -5, float32(math.NaN())}, 1},
	}
	for _, tt := range tests {
		s := mustNew(t, Params{}, len(tt.logits))
		if got := s.Sample(slices.Clone(tt.logits)); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestFilters(t *testing.T) {
	probs := logitsOf(0.5, 0.3, 0.15, 0.05)
	tests := []struct {
		name    string
		p       Params
		allowed []bool // which ids may come up
		want    []float64
	}{
		{"temperature 1 keeps the distribution", Params{Temperature: 1},
			[]bool{true, true, true, true}, []float64{0.5, 0.3, 0.15, 0.05}},
		{"top_k 2", Params{Temperature: 1, TopK: 2},
			[]bool{true, true, false, false}, []float64{0.625, 0.375, 0, 0}},
		{"top_k 1 is greedy", Params{Temperature: 1, TopK: 1},
			[]bool{true, false, false, false}, []float64{1, 0, 0, 0}},
		{"top_p 0.79", Params{Temperature: 1, TopP: 0.79},
			[]bool{true, true, false, false}, []float64{0.625, 0.375, 0, 0}},
		{"top_p 0.81 needs a third", Params{Temperature: 1, TopP: 0.81},
			[]bool{true, true, true, false}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"top_p 0.5", Params{Temperature: 1, TopP: 0.5},
			[]bool{true, false, false, false}, []float64{1, 0, 0, 0}},
		{"min_p 0.2", Params{Temperature: 1, MinP: 0.2},
			[]bool{true, true, true, false}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"top_k with top_p", Params{Temperature: 1, TopK: 3, TopP: 0.6},
			[]bool{true, true, false, false}, []float64{0.625, 0.375, 0, 0}},
		{"top_k with min_p", Params{Temperature: 1, TopK: 3, MinP: 0.5},
			[]bool{true, true, false, false}, []float64{0.625, 0.375, 0, 0}},
		{"low temperature sharpens", Params{Temperature: 0.5},
			[]bool{true, true, true, true}, sharpen([]float64{0.5, 0.3, 0.15, 0.05}, 2)},
	}
	for _, tt := range tests {
		tt.p.Seed = 7
		f := freq(t, tt.p, probs, 20000)
		for id, ok := range tt.allowed {
			if !ok && f[id] > 0 {
				t.Errorf("%s: id %d drawn (%.3f) but filtered out", tt.name, id, f[id])
			}
			if math.Abs(f[id]-tt.want[id]) > 0.02 {
				t.Errorf("%s: id %d frequency %.3f, want %.3f", tt.name, id, f[id], tt.want[id])
			}
		}
	}
}

func sharpen(p []float64, power float64) []float64 {
	var z float64
	out := make([]float64, len(p))
	for i, x := range p {
		out[i] = math.Pow(x, power)
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

func TestNonFiniteLogits(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, p := range []Params{{Temperature: 1}, {Temperature: 1, TopP: 0.9}, {Temperature: 1, TopK: 2}, {Temperature: 1, MinP: 0.1}} {
		s := mustNew(t, p, 4)
		if got := s.Sample([]float32{nan, inf, 2, 0}); got != 1 {
			t.Errorf("%+v: +Inf logit not chosen: %d", p, got)
		}
		for range 20 {
			if got := s.Sample([]float32{nan, 1, nan, 1}); got != 1 && got != 3 {
				t.Errorf("%+v: NaN logit chosen: %d", p, got)
			}
		}
	}
}

func TestPenalties(t *testing.T) {
	tests := []struct {
		name   string
		p      Params
		seen   []int32
		logits []float32
		want   []float32
	}{
		{"repeat divides positive, multiplies negative",
			Params{RepeatPenalty: 2}, []int32{0, 1},
			[]float32{4, -1, 3}, []float32{2, -2, 3}},
		{"repeat counts a token once", Params{RepeatPenalty: 2}, []int32{0, 0, 0},
			[]float32{4, 1}, []float32{2, 1}},
		{"presence subtracts once", Params{PresencePenalty: 1.5}, []int32{2, 2},
			[]float32{1, 1, 1}, []float32{1, 1, -0.5}},
		{"window forgets old tokens", Params{RepeatPenalty: 2, RepeatLastN: 2}, []int32{0, 1, 2},
			[]float32{4, 4, 4}, []float32{4, 2, 2}},
		{"both", Params{RepeatPenalty: 2, PresencePenalty: 1}, []int32{1},
			[]float32{4, 4}, []float32{4, 1}},
		{"off", Params{RepeatPenalty: 1}, []int32{0},
			[]float32{4, 4}, []float32{4, 4}},
	}
	for _, tt := range tests {
		s := mustNew(t, tt.p, len(tt.logits))
		for _, id := range tt.seen {
			s.Accept(id)
		}
		got := slices.Clone(tt.logits)
		s.Sample(got)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	// The penalty changes a greedy choice.
	s := mustNew(t, Params{RepeatPenalty: 3}, 2)
	s.Accept(0)
	if got := s.Sample([]float32{3, 2}); got != 1 {
		t.Errorf("greedy with a penalised favourite picked %d", got)
	}
}

func TestValidate(t *testing.T) {
	bad := []Params{
		{Temperature: -1}, {Temperature: math.NaN()}, {TopP: -0.1}, {MinP: 1.5},
		{RepeatPenalty: -1}, {PresencePenalty: math.Inf(1)}, {RepeatLastN: -1},
	}
	for _, p := range bad {
		if _, err := New(p, 10); err == nil {
			t.Errorf("New(%+v) accepted", p)
		}
	}
	if _, err := New(Params{}, 0); err == nil {
		t.Error("empty vocabulary accepted")
	}
}

func randomLogits(seed uint64, n int, std float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * std)
	}
	return l
}

func draw(t testing.TB, p Params, logits []float32, n int) []int32 {
	s := mustNew(t, p, len(logits))
	buf := make([]float32, len(logits))
	var out []int32
	for range n {
		copy(buf, logits)
		id := s.Sample(buf)
		s.Accept(id)
		out = append(out, id)
	}
	return out
}

func TestSeed(t *testing.T) {
	logits := randomLogits(1, 151936, 3)
	p := Params{Temperature: 1, TopP: 0.95, Seed: 42, RepeatPenalty: 1.1}
	n := 20
	if raceEnabled {
		n = 5
	}
	a, b := draw(t, p, logits, n), draw(t, p, logits, n)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different tokens:\n%s", diff)
	}
	p.Seed = 43
	if c := draw(t, p, logits, n); slices.Equal(a, c) {
		t.Fatalf("different seeds gave the same %d tokens", n)
	}
}

// reference is the obvious implementation: sort the whole vocabulary, cut,
// draw. With the same seed the sampler must pick exactly the same tokens.
func reference(p Params, logits []float32, rng *rand.Rand) int32 {
	top := slices.Max(logits)
	c := make([]candidate, len(logits))
	var z float64
	for i, l := range logits {
		e := float32(0)
		if float64(l) >= float64(top)-expCutoff*p.Temperature {
			e = float32(expNeg(float64(l-top) * (1 / p.Temperature)))
		}
		c[i] = candidate{int32(i), e}
		z += float64(e)
	}
	if p.TopK > 0 && p.TopK < len(c) {
		slices.SortFunc(c, byLikelihood)
		c = c[:p.TopK]
		z = 0
		// the top-k path normalises over the k kept (exps relative to the best)
		for i := range c {
			c[i].v = float32(expNeg((float64(logits[c[i].id]) - float64(logits[c[0].id])) * (1 / p.Temperature)))
			z += float64(c[i].v)
		}
	}
	if (p.TopP <= 0 || p.TopP >= 1) && p.MinP <= 0 && p.TopK <= 0 {
		u := rng.Float64() * z
		for _, x := range c {
			if u -= float64(x.v); u < 0 {
				return x.id
			}
		}
		return c[len(c)-1].id
	}
	slices.SortFunc(c, byLikelihood)
	n := len(c)
	if p.TopP > 0 && p.TopP < 1 {
		var cum float64
		for i := range c {
			if cum += float64(c[i].v); cum >= p.TopP*z {
				n = i + 1
				break
			}
		}
	}
	for i := 1; i < n && p.MinP > 0; i++ {
		if c[i].v < float32(p.MinP)*c[0].v {
			n = i
		}
	}
	var mass float64
	for _, x := range c[:n] {
		mass += float64(x.v)
	}
	u := rng.Float64() * mass
	for _, x := range c[:n] {
		if u -= float64(x.v); u < 0 {
			return x.id
		}
	}
	return c[n-1].id
}

func TestMatchesFullSortReference(t *testing.T) {
	if raceEnabled {
		t.Skip("pure computation, slow under the race detector")
	}
	vocab := 151936
	if testing.Short() {
		vocab = 20000
	}
	for _, tc := range []struct {
		name string
		std  float64 // small std: flat distribution, the nucleus holds many tokens
		p    Params
	}{
		{"top_p peaked", 4, Params{Temperature: 0.6, TopP: 0.95}},
		{"top_p flat", 0.3, Params{Temperature: 1, TopP: 0.95}},
		{"top_p very flat", 0.01, Params{Temperature: 1, TopP: 0.9}},
		{"min_p", 2, Params{Temperature: 1, MinP: 0.05}},
		{"min_p flat", 0.2, Params{Temperature: 1, MinP: 0.5}},
		{"top_p and min_p", 1, Params{Temperature: 1, TopP: 0.9, MinP: 0.01}},
		{"temperature only", 2, Params{Temperature: 0.8}},
		{"top_k", 2, Params{Temperature: 0.7, TopK: 40}},
		{"top_k top_p", 2, Params{Temperature: 1, TopK: 100, TopP: 0.8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logits := randomLogits(9, vocab, tc.std)
			tc.p.Seed = 5
			s := mustNew(t, tc.p, vocab)
			ref := rand.New(rand.NewPCG(tc.p.Seed, tc.p.Seed^0x9E3779B97F4A7C15))
			buf := make([]float32, vocab)
			for i := range 5 {
				copy(buf, logits)
				got := s.Sample(buf)
				if want := reference(tc.p, logits, ref); got != want {
					t.Fatalf("draw %d: sampler %d, full-sort reference %d", i, got, want)
				}
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const vocab = 151936
	logits := randomLogits(3, vocab, 3)
	buf := make([]float32, vocab)
	for _, p := range []Params{
		{},
		{Temperature: 0.6, TopP: 0.95},
		{Temperature: 1, TopK: 40, RepeatPenalty: 1.1, PresencePenalty: 0.5},
		{Temperature: 1, MinP: 0.05},
		{Temperature: 1},
	} {
		s := mustNew(t, p, vocab)
		n := testing.AllocsPerRun(20, func() {
			copy(buf, logits)
			s.Accept(s.Sample(buf))
		})
		if n != 0 {
			t.Errorf("%+v: %v allocations per token", p, n)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	const vocab = 151936
	// Shaped like a language model's: a broad bulk and a few strong tokens.
	logits := randomLogits(3, vocab, 2.5)
	for i := range 50 {
		logits[i*977] = 18 + float32(i%7)
	}
	buf := make([]float32, vocab)
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"temp", Params{Temperature: 1}},
		{"top_p", Params{Temperature: 0.6, TopP: 0.95}},
		{"top_k40", Params{Temperature: 0.6, TopK: 40}},
		{"min_p", Params{Temperature: 1, MinP: 0.05}},
		{"penalties", Params{Temperature: 0.6, TopP: 0.95, RepeatPenalty: 1.1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := mustNew(b, bc.p, vocab)
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, logits)
				s.Accept(s.Sample(buf))
			}
		})
	}
}
