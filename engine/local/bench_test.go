package local

import (
	"context"
	"testing"

	"github.com/thinkstream/thinkstream"
)

// BenchmarkTokenOverhead measures what the engine adds per token around the
// forward pass (sampling over a VibeThinker-sized vocabulary of 151,936
// logits, detokenizing, stop-string matching, emitting) with a model whose
// forward pass costs next to nothing.
func BenchmarkTokenOverhead(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    thinkstream.Params
	}{
		{"greedy", thinkstream.Params{Temperature: ptr(0.0)}},
		{"temp0.6_top_p0.95", thinkstream.Params{Temperature: ptr(0.6), TopP: ptr(0.95), Stop: []string{"</answer>"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tok := tinyTokenizer(b)
			m := &fakeModel{vocab: 151936, ctx: 1 << 20, next: func(h []int32) int32 { return int32(len(h) % 1000) }}
			e, err := newEngine(m, tok, "bench", Config{ContextSize: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			req := userReq("hi")
			req.Params = bc.p
			req.Params.MaxTokens = b.N
			b.ResetTimer()
			res, err := e.Generate(context.Background(), req, func(thinkstream.Token) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Usage.CompletionTokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func TestNoAllocationsPerToken(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	// An ASCII script, so the decoder has nothing to hold back.
	m := &fakeModel{vocab: 1024, ctx: 1 << 16, next: func([]int32) int32 { return 64 }}
	e := newFakeEngine(t, m, Config{})
	run := func(n int) float64 {
		req := userReq("hi")
		req.Params = thinkstream.Params{Temperature: ptr(0.7), TopP: ptr(0.9), Seed: ptr(int64(1)), MaxTokens: n}
		return testing.AllocsPerRun(5, func() {
			if _, err := e.Generate(context.Background(), req, func(thinkstream.Token) error { return nil }); err != nil {
				t.Fatal(err)
			}
		})
	}
	short, long := run(50), run(550)
	if perToken := (long - short) / 500; perToken > 0.05 {
		t.Fatalf("%.2f allocations per token (%v for 50 tokens, %v for 550)", perToken, short, long)
	}
}
