package ggml

import "math"

// The row kernels below compute one weight row · one activation vector.
// Integer kernels sum exact int32 products per block (as ggml does) and
// only then scale in float32, so their results do not depend on loop order.

func dotF32(w []float32, x []float32) float32 {
	if v, ok := asmDotF32(w, x); ok {
		return v
	}
	if v, ok := simdDotF32(w, x); ok {
		return v
	}
	return dotF32Go(w, x)
}

// dotF32Go and dotF16 sum in the same order (four interleaved partial
// sums), so a converted F16 row gives dotF16's result through dotF32Go.
// (Gathering halves into vectors costs more than it saves, so F16 has no
// vector kernel; F32 weights and attention use simdDotF32 where present.)
func dotF32Go(w []float32, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += w[i] * x[i]
		s1 += w[i+1] * x[i+1]
		s2 += w[i+2] * x[i+2]
		s3 += w[i+3] * x[i+3]
	}
	for ; i < len(w); i++ {
		s0 += w[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16(w []uint16, x []float32) float32 {
	x = x[:len(w)]
	tab := f16Table
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += tab[w[i]] * x[i]
		s1 += tab[w[i+1]] * x[i+1]
		s2 += tab[w[i+2]] * x[i+2]
		s3 += tab[w[i+3]] * x[i+3]
	}
	for ; i < len(w); i++ {
		s0 += tab[w[i]] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16(w []uint16, x []float32) float32 {
	n := len(w)
	x = x[:n]
	// A bfloat16 is the top half of a float32: widening is a shift.
	f := func(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += f(w[i]) * x[i]
		s1 += f(w[i+1]) * x[i+1]
		s2 += f(w[i+2]) * x[i+2]
		s3 += f(w[i+3]) * x[i+3]
	}
	for ; i < n; i++ {
		s0 += f(w[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// DotF32 returns a · b (len(a) elements).
func DotF32(a, b []float32) float32 { return dotF32(a, b) }

// SiLUMul sets g[i] = g[i]/(1+e^−g[i])·u[i] (the FFN's gated product), on
// the assembly kernel where there is one.
func SiLUMul(g, u []float32) {
	u = u[:len(g)]
	for i := asmSiLUMul(g, u); i < len(g); i++ {
		x := g[i]
		g[i] = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
	}
}
