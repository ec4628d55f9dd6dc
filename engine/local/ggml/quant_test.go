package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuantizeRoundTrip quantizes random rows and checks the dequantized
// values against a per-type error bound relative to the block's range.
func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		typ Type
		rel float64 // max error as a fraction of the block's max |x|
	}{
		{F32, 0},
		{F16, 1e-3},
		{BF16, 8e-3},
		{Q8_0, 1.0 / 127},
		{Q4_0, 1.0 / 8},
		{Q5_0, 1.0 / 16},
		{Q5_K, 2.2 / 31},
		{Q6_K, 1.1 / 31},
		{Q4_K, 2.2 / 15},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			const n = 4 * QK_K
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rng.NormFloat64()) * float32(1+i/QK_K) // blocks of different scales
			}
			src[5] = 0
			for i := 300; i < 340; i++ {
				src[i] = 0 // an all-zero sub-block
			}
			nb, _ := tt.typ.RowBytes(n)
			buf := make([]byte, nb)
			if err := Quantize(tt.typ, src, buf); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, n)
			if err := Dequantize(tt.typ, buf, got); err != nil {
				t.Fatal(err)
			}
			for b := 0; b < n; b += QK_K {
				amax := float64(absMax(src[b : b+QK_K]))
				for i := b; i < b+QK_K; i++ {
					if e := math.Abs(float64(got[i] - src[i])); e > tt.rel*amax+1e-7 {
						t.Fatalf("element %d: %g -> %g (error %g > %g)", i, src[i], got[i], e, tt.rel*amax)
					}
				}
			}
		})
	}
	if err := Quantize(Q3_K, make([]float32, 256), make([]byte, 110)); err == nil {
		t.Error("Q3_K: no error")
	}
	if err := Quantize(Q8_0, make([]float32, 32), make([]byte, 33)); err == nil {
		t.Error("wrong dst size: no error")
	}
}

func TestNearestInt(t *testing.T) {
	for _, tt := range []struct {
		in   float32
		want int32
	}{{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {126.6, 127}, {-127.4, -127}, {3.49, 3}} {
		if got := nearestInt(tt.in); got != tt.want {
			t.Errorf("nearestInt(%g) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
