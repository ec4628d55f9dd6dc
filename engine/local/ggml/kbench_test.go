package ggml

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkRawQ4K(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K, Q8_0} {
		b.Run(typ.String(), func(b *testing.B) {
			m, _ := randomMatrix(b, typ, 1, 1536, rng)
			x := make([]float32, 1536)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			var a Acts
			a.Prepare(typ, x, 1, 1536)
			for b.Loop() {
				m.dotRow(0, &a, 0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/6, "ns/256")
		})
	}
}

func BenchmarkRawF32(b *testing.B) {
	x := make([]float32, 1536)
	y := make([]float32, 1536)
	for b.Loop() {
		dotF32AVX2(&x[0], &y[0], 1536)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/48, "ns/iter32")
}
