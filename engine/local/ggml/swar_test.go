package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The plain kernels below are the reference the SWAR kernels must match
// bit for bit: same integer sums, same float arithmetic.

// dotQ4K multiplies a row of Q4_K blocks with Q8_K activations. The block
// minimums are applied through the activations' per-16 sums.
func dotQ4KRef(w []byte, q []int8, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, q, bsums = w[:nb*q4KBytes], q[:nb*QK_K], bsums[:nb*16]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q4KBytes]byte)(w[b*q4KBytes : (b+1)*q4KBytes])
		aq := (*[QK_K]int8)(q[b*QK_K : (b+1)*QK_K])
		bs := (*[16]int32)(bsums[b*16 : (b+1)*16])
		scales := blk[4:16]
		var isum, msum int32
		for p := 0; p < 4; p++ {
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			wq := (*[32]byte)(blk[16+32*p : 16+32*p+32])
			lo := (*[32]int8)(aq[64*p : 64*p+32])
			hi := (*[32]int8)(aq[64*p+32 : 64*p+64])
			var s1, s2 int32
			for l := 0; l < 32; l += 2 {
				v0, v1 := wq[l], wq[l+1]
				s1 += int32(v0&0xf)*int32(lo[l]) + int32(v1&0xf)*int32(lo[l+1])
				s2 += int32(v0>>4)*int32(hi[l]) + int32(v1>>4)*int32(hi[l+1])
			}
			isum += int32(sc1)*s1 + int32(sc2)*s2
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(isum) - dm*float32(msum)
	}
	return sum
}

// dotQ6K multiplies a row of Q6_K blocks with Q8_K activations. The 6-bit
// values are stored with +32 added; instead of subtracting it from every
// value, 32·(sum of the activations) comes off each 16-value group, using
// the per-16 sums Q8_K carries anyway.
func dotQ6KRef(w []byte, q []int8, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, q, bsums = w[:nb*q6KBytes], q[:nb*QK_K], bsums[:nb*16]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q6KBytes]byte)(w[b*q6KBytes : (b+1)*q6KBytes])
		aq := (*[QK_K]int8)(q[b*QK_K : (b+1)*QK_K])
		bs := (*[16]int32)(bsums[b*16 : (b+1)*16])
		var isum int32
		for h := 0; h < 2; h++ {
			l4 := (*[64]byte)(blk[64*h : 64*h+64])
			h2 := (*[32]byte)(blk[128+32*h : 128+32*h+32])
			a := (*[128]int8)(aq[128*h : 128*h+128])
			for half := 0; half < 2; half++ {
				var s1, s2, s3, s4 int32
				for l := 16 * half; l < 16*half+16; l++ {
					hb := int32(h2[l])
					b0, b1 := int32(l4[l]), int32(l4[l+32])
					s1 += (b0&0xf | (hb&3)<<4) * int32(a[l])
					s2 += (b1&0xf | (hb>>2&3)<<4) * int32(a[l+32])
					s3 += (b0>>4 | (hb>>4&3)<<4) * int32(a[l+64])
					s4 += (b1>>4 | (hb>>6)<<4) * int32(a[l+96])
				}
				g := 8*h + half // scale index of the first group
				s1 -= 32 * bs[g]
				s2 -= 32 * bs[g+2]
				s3 -= 32 * bs[g+4]
				s4 -= 32 * bs[g+6]
				isum += int32(int8(blk[192+g]))*s1 + int32(int8(blk[192+g+2]))*s2 + int32(int8(blk[192+g+4]))*s3 + int32(int8(blk[192+g+6]))*s4
			}
		}
		sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * d[b] * float32(isum)
	}
	return sum
}

// dotQ8_0 multiplies a row of Q8_0 blocks with Q8_0 activations.
func dotQ8_0Ref(w []byte, q []int8, d []float32) float32 {
	nb := len(d)
	w, q = w[:nb*q8_0Bytes], q[:nb*32]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q8_0Bytes]byte)(w[b*q8_0Bytes : (b+1)*q8_0Bytes])
		aq := (*[32]int8)(q[b*32 : (b+1)*32])
		var s0, s1, s2, s3 int32
		for l := 0; l < 32; l += 4 {
			s0 += int32(int8(blk[2+l])) * int32(aq[l])
			s1 += int32(int8(blk[3+l])) * int32(aq[l+1])
			s2 += int32(int8(blk[4+l])) * int32(aq[l+2])
			s3 += int32(int8(blk[5+l])) * int32(aq[l+3])
		}
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32((s0+s1)+(s2+s3))
	}
	return sum
}

// TestSwarKernels compares the SWAR kernels with the plain ones on random
// blocks, including the extreme values that come closest to overflowing
// a 16-bit lane (all-ones weights with activations of -128 or 127).
func TestSwarKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nb = 3
	for trial := 0; trial < 300; trial++ {
		var a Acts
		a.Type, a.N, a.Cols = Q8_K, 1, nb*QK_K
		a.q = make([]int8, nb*QK_K)
		a.d = make([]float32, nb)
		a.bs = make([]int32, nb*16)
		a.pk = make([]uint64, nb*QK_K/4)
		for i := range a.q {
			switch trial % 4 {
			case 0:
				a.q[i] = -128
			case 1:
				a.q[i] = 127
			default:
				a.q[i] = int8(rng.IntN(256) - 128)
			}
		}
		for j := range a.bs {
			for _, v := range a.q[16*j : 16*j+16] {
				a.bs[j] += int32(v)
			}
		}
		for b := range a.d {
			a.d[b] = float32(rng.Float64())
		}
		packQ8(a.q, a.pk)
		// Q8_0 view of the same activations: scales and sums per 32.
		d0 := make([]float32, nb*8)
		bs0 := make([]int32, nb*8)
		for j := range bs0 {
			d0[j] = a.d[j/8] / float32(1+j%3)
			bs0[j] = a.bs[2*j] + a.bs[2*j+1]
		}
		w0 := make([]byte, nb*8*q8_0Bytes)
		for i := range w0 {
			if trial%4 < 2 {
				w0[i] = byte(0x80 + 0x7f*(trial%2)) // -128 or 127 everywhere
			} else {
				w0[i] = byte(rng.IntN(256))
			}
			if i%q8_0Bytes == 1 {
				w0[i] = 0x3c // f16 scale in [1, 2)
			}
		}
		if got, want := dotQ8_0Swar(w0, a.pk, d0, bs0), dotQ8_0Ref(w0, a.q, d0); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("trial %d q8_0: SWAR %g, plain %g", trial, got, want)
		}
		for _, typ := range []Type{Q4_K, Q6_K} {
			w := make([]byte, nb*typ.BlockBytes())
			for i := range w {
				if trial%4 < 2 {
					w[i] = 0xff
				} else {
					w[i] = byte(rng.IntN(256))
				}
			}
			for b := 0; b < nb; b++ { // sane f16 scales
				blk := w[b*typ.BlockBytes():]
				if typ == Q4_K {
					blk[0], blk[1], blk[2], blk[3] = 0x00, 0x3c, 0x00, 0x38
				} else {
					blk[208], blk[209] = 0x66, 0x2e
				}
			}
			var got, want float32
			if typ == Q4_K {
				got, want = dotQ4KSwar(w, a.pk, a.d, a.bs), dotQ4KRef(w, a.q, a.d, a.bs)
			} else {
				got, want = dotQ6KSwar(w, a.pk, a.d, a.bs), dotQ6KRef(w, a.q, a.d, a.bs)
			}
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("trial %d %s: SWAR %g, plain %g", trial, typ, got, want)
			}
		}
	}
}
