//go:build goexperiment.simd && amd64

package ggml

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"
)

// TestSimdMatchesSwar checks that the AVX2 kernels give bit for bit what
// the SWAR kernels give, on random rows and on the extreme values.
func TestSimdMatchesSwar(t *testing.T) {
	if !archsimd.X86.AVX2() {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const cols = 1024
	for _, typ := range []Type{Q4_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		for trial := 0; trial < 50; trial++ {
			m, _ := randomMatrix(t, typ, 1, cols, rng)
			if trial%10 == 0 { // saturate every quant bit, keep the scales sane
				for i := range m.Data {
					m.Data[i] = 0xff
				}
				for b := 0; b < cols/typ.BlockSize(); b++ {
					blk := m.Data[b*typ.BlockBytes():]
					switch typ {
					case Q6_K:
						blk[208], blk[209] = 0x00, 0x38
					case Q4_K, Q5_K:
						blk[0], blk[1], blk[2], blk[3] = 0x00, 0x38, 0x00, 0x34
					default:
						blk[0], blk[1] = 0x00, 0x38
					}
				}
			}
			x := make([]float32, cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if trial%10 == 0 {
					x[i] = float32(1 - 2*(i%2))
				}
			}
			var a Acts
			if err := a.Prepare(typ, x, 1, cols); err != nil {
				t.Fatal(err)
			}
			a.ensurePacked()
			got, ok := simdDot(m, m.Data, &a, 0)
			if !ok {
				t.Fatalf("%s: no AVX2 kernel", typ)
			}
			var want float32
			switch typ {
			case Q8_0:
				want = dotQ8_0Swar(m.Data, a.pk, a.d, a.bs)
			case Q4_K:
				want = dotQ4KSwar(m.Data, a.pk, a.d, a.bs)
			case Q6_K:
				want = dotQ6KSwar(m.Data, a.pk, a.d, a.bs)
			case Q5_K:
				want = dotQ5KSwar(m.Data, a.pk, a.d, a.bs)
			case Q4_0:
				want = dotQ4_0Swar(m.Data, a.pk, a.d, a.bs)
			}
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s trial %d: AVX2 %g, SWAR %g", typ, trial, got, want)
			}
		}
	}
}
