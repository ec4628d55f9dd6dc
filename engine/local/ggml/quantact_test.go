package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// actBlocks makes n blocks of 32 activations that cover what quantizing
// meets: normal values, all-zero blocks, tiny blocks whose scale is an f16
// subnormal, huge ones, and values landing on exact halves after scaling.
func actBlocks(n int, rng *rand.Rand) []float32 {
	x := make([]float32, 32*n)
	for b := range n {
		blk := x[32*b : 32*b+32]
		switch b % 6 {
		case 0: // stays zero
		case 1:
			for i := range blk {
				blk[i] = float32(rng.NormFloat64()) * 1e-6
			}
		case 2:
			for i := range blk {
				blk[i] = float32(rng.NormFloat64()) * 3e4
			}
		case 3: // 127 at the top: every integer and half below it is exact
			for i := range blk {
				blk[i] = float32(rng.IntN(255)-127) / 2
			}
			blk[0] = 63.5
		default:
			for i := range blk {
				blk[i] = float32(rng.NormFloat64())
			}
		}
	}
	return x
}

// TestQuantQ8_0MatchesGo checks the assembly activation quantizer against
// quantActQ8_0 bit for bit: values, scales and block sums.
func TestQuantQ8_0MatchesGo(t *testing.T) {
	defer SetAssembly(true)
	SetAssembly(true)
	const n = 600
	x := actBlocks(n, rand.New(rand.NewPCG(8, 0)))
	q, d, bs := make([]int8, 32*n), make([]float32, n), make([]int32, n)
	if !asmQuantQ8_0(x, q, d, bs) {
		t.Skip("no assembly quantizer on this CPU")
	}
	wq := make([]int8, 32)
	for b := range n {
		wd := quantActQ8_0(x[32*b:32*b+32], wq)
		ws := int32(0)
		for i, v := range wq {
			ws += int32(v)
			if q[32*b+i] != v {
				t.Fatalf("block %d value %d: %d, Go %d (x %g)", b, i, q[32*b+i], v, x[32*b+i])
			}
		}
		if math.Float32bits(d[b]) != math.Float32bits(wd) || bs[b] != ws {
			t.Fatalf("block %d: d %g sum %d, Go d %g sum %d", b, d[b], bs[b], wd, ws)
		}
	}
}

// TestQuantQ8KMatchesGo is TestQuantQ8_0MatchesGo for the K-quants'
// activations, with ties of magnitude (the first one sets the sign).
func TestQuantQ8KMatchesGo(t *testing.T) {
	defer SetAssembly(true)
	SetAssembly(true)
	const n = 96
	x := actBlocks(8*n, rand.New(rand.NewPCG(8, 1)))
	for b := range n { // whole super-blocks of zeros, of tiny and of one value
		blk := x[QK_K*b : QK_K*(b+1)]
		switch b % 7 {
		case 3:
			clear(blk)
		case 4:
			for i := range blk {
				blk[i] *= 1e-30
			}
		case 6:
			clear(blk)
			blk[b%QK_K] = -0.25
		}
	}
	for b := 0; b < n; b += 5 { // a tie: -m before +m, or +m before -m
		blk := x[QK_K*b : QK_K*(b+1)]
		m := absMax(blk) * 2
		blk[17], blk[200] = -m, m
		if b%10 == 0 {
			blk[17], blk[200] = m, -m
		}
	}
	q, d, bs := make([]int8, QK_K*n), make([]float32, n), make([]int32, 16*n)
	if !asmQuantQ8K(x, q, d, bs) {
		t.Skip("no assembly quantizer on this CPU")
	}
	wq, wbs := make([]int8, QK_K), make([]int32, 16)
	for b := range n {
		wd := quantActQ8K(x[QK_K*b:QK_K*(b+1)], wq, wbs)
		for i, v := range wq {
			if q[QK_K*b+i] != v {
				t.Fatalf("block %d value %d: %d, Go %d (x %g)", b, i, q[QK_K*b+i], v, x[QK_K*b+i])
			}
		}
		for j, v := range wbs {
			if bs[16*b+j] != v {
				t.Fatalf("block %d sum %d: %d, Go %d", b, j, bs[16*b+j], v)
			}
		}
		if math.Float32bits(d[b]) != math.Float32bits(wd) {
			t.Fatalf("block %d: d %g, Go %g", b, d[b], wd)
		}
	}
}
