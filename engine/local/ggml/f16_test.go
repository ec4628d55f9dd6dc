package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestF16RoundTripAllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if f != f { // NaN: payload may be quietened
			if g := F32ToF16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != h {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, g)
		}
	}
}

// TestF32ToF16Rounding checks rounding against float64 arithmetic: the
// result must be the nearest half, ties to even.
func TestF32ToF16Rounding(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00}, // rounds up to infinity
		{65519.99, 0x7bff},
		{float32(math.Inf(-1)), 0xfc00},
		{1.0 + 1.0/2048, 0x3c00},                // tie, even stays
		{1.0 + 3.0/2048, 0x3c02},                // tie, odd rounds up
		{float32(math.Ldexp(1, -24)), 0x0001},   // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},   // tie to even (zero)
		{float32(math.Ldexp(1.5, -25)), 0x0001}, // above the tie
		{float32(math.Ldexp(3, -25)), 0x0002},   // tie between 1 and 2 → 2
		{float32(math.Ldexp(1023, -24)), 0x03ff},
		{float32(math.Ldexp(2047, -25)), 0x0400}, // rounds up into the normals
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.in); got != tt.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	// Exhaustive-ish: every 1009th float32 bit pattern in the finite range.
	for b := uint32(0); b < 0x7f800000; b += 1009 {
		f := math.Float32frombits(b)
		h := F32ToF16(f)
		got := float64(F16ToF32(h))
		// The nearest neighbours in half precision must not be closer.
		for _, n := range []uint16{h - 1, h + 1} {
			if n >= 0x7c00 {
				continue
			}
			nv := float64(F16ToF32(n))
			if math.Abs(nv-float64(f)) < math.Abs(got-float64(f)) && !math.IsInf(got, 0) {
				t.Fatalf("F32ToF16(%g) = %#04x (%g), but %#04x (%g) is nearer", f, h, got, n, nv)
			}
		}
	}
}

// TestF16SlicesMatchScalar holds the slice conversions (assembly where the
// CPU has it) to the scalar ones: every half to float32, and float32 bit
// patterns across the whole range (a stride through all 2³² of them, plus
// the edges of the half range and its subnormals) rounded to a half.
func TestF16SlicesMatchScalar(t *testing.T) {
	halves := make([]uint16, 1<<16)
	for i := range halves {
		halves[i] = uint16(i)
	}
	got := make([]float32, len(halves)+7) // a tail past the last 16
	F16ToF32s(got[:len(halves)], halves)
	for i, h := range halves {
		want := F16ToF32(h)
		if want != want && got[i] != got[i] { // NaN stays NaN (the CPU quietens it)
			continue
		}
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("half %#04x: slice %#08x, scalar %#08x", h, math.Float32bits(got[i]), math.Float32bits(want))
		}
	}
	xs := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	for _, v := range []float32{65504, 65519.99, 65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1e-10, 0.33325195, 0.33337402} {
		xs = append(xs, v, -v, math.Nextafter32(v, 0), math.Nextafter32(v, 1e9))
	}
	for b := uint64(0); b < 1<<32; b += 65521 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	out := make([]float32, len(xs))
	var a Acts
	if err := a.Prepare(F16, xs[:len(xs)&^255], 1, len(xs)&^255); err != nil {
		t.Fatal(err)
	}
	copy(out, a.f)
	for i, x := range xs[:len(xs)&^255] {
		want := RoundF16(x)
		if want != want { // NaN: any NaN
			if out[i] == out[i] {
				t.Fatalf("%#08x: rounded to %g, want NaN", math.Float32bits(x), out[i])
			}
			continue
		}
		if math.Float32bits(out[i]) != math.Float32bits(want) {
			t.Fatalf("%#08x (%g): rounded to %g, scalar %g", math.Float32bits(x), x, out[i], want)
		}
	}
}

// TestWeightedSumF16 holds the attention kernel to a float64 sum, for
// every head count it takes and positions with and without values that
// cancel.
func TestWeightedSumF16(t *testing.T) {
	const vstride, pstride = 40, 70
	rng := rand.New(rand.NewPCG(3, 4))
	for heads := 1; heads <= 6; heads++ {
		for _, npos := range []int{1, 2, 17, 64} {
			v := make([]uint16, npos*vstride)
			for i := range v {
				v[i] = F32ToF16(float32(rng.NormFloat64()))
			}
			p := make([]float32, heads*pstride)
			for i := range p {
				p[i] = float32(rng.Float64())
			}
			var out [96]float32
			if !WeightedSumF16(&out, v, vstride, p, pstride, npos, heads) {
				if asmOn {
					t.Fatalf("%d heads: the kernel did not run", heads)
				}
				t.Skip("no assembly kernel on this machine")
			}
			for g := range heads {
				for i := range 16 {
					var want, mag float64
					for j := range npos {
						prod := float64(p[g*pstride+j]) * float64(F16ToF32(v[j*vstride+i]))
						want += prod
						mag += math.Abs(prod)
					}
					if got := float64(out[16*g+i]); math.Abs(got-want) > 1e-6*mag+1e-30 {
						t.Errorf("%d heads, %d positions, head %d dim %d: %g, want %g", heads, npos, g, i, got, want)
					}
				}
			}
		}
	}
}

// TestSiLUMul holds the gated product's kernel to float64 arithmetic
// within four float32 ulps (the float32 path rounds at each of its
// steps too), across the range a gate takes and past the
// clamp of its exponential.
func TestSiLUMul(t *testing.T) {
	var g, u []float32
	for x := -120.0; x <= 120; x += 0.0137 {
		g = append(g, float32(x))
		u = append(u, float32(1+math.Sin(x)))
	}
	g = append(g, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 88.5, -88.5, 1e4, -1e4)
	u = append(u, 1, 1, 1, 1, 1, 1, 1, 1)
	want := make([]float64, len(g))
	for i, x := range g {
		want[i] = float64(x) / (1 + math.Exp(-float64(x))) * float64(u[i])
	}
	got := append([]float32(nil), g...)
	SiLUMul(got, u)
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 4*ulp32(want[i]) && d > 1e-30 { // 1e-30: nothing next to any other activation
			t.Errorf("silu(%g)·%g = %g, want %g", g[i], u[i], got[i], want[i])
		}
	}
}

func ulp32(v float64) float64 {
	f := float32(math.Abs(v))
	return float64(math.Nextafter32(f, float32(math.Inf(1))) - f)
}
