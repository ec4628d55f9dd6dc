package ggml

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRowKernel times one 1536-column row (a decode matrix's row,
// L1-resident) through each K-quant and Q8_0 kernel set, so that the
// kernels' own cost per 256 values shows without memory or dispatch.
func BenchmarkRowKernel(b *testing.B) {
	defer SetAssembly(true)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K, Q8_0} {
		m, _ := randomMatrix(b, typ, 1, 1536, rng)
		x := make([]float32, 1536)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		var a Acts
		if err := a.Prepare(typ, x, 1, 1536); err != nil {
			b.Fatal(err)
		}
		for _, set := range []string{"avx512", "avx2"} {
			b.Run(typ.String()+"/"+set, func(b *testing.B) {
				SetAssembly(true)
				if set == "avx2" {
					asm512On = false
				} else if !asm512On {
					b.Skip("no AVX-512")
				}
				for b.Loop() {
					m.dotRow(0, &a, 0)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/6, "ns/256")
			})
		}
	}
}
