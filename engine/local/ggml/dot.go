package ggml

// The row kernels below compute one weight row · one activation vector.
// Integer kernels sum exact int32 products per block (as ggml does) and
// only then scale in float32, so their results do not depend on loop order.

func dotF32(w []float32, x []float32) float32 {
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
	x = x[:len(w)]
	var s float32
	for i, h := range w {
		s += BF16ToF32(h) * x[i]
	}
	return s
}

// dotQ8_0 multiplies a row of Q8_0 blocks with Q8_0 activations.
func dotQ8_0(w []byte, q []int8, d []float32) float32 {
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

// dotQ4K multiplies a row of Q4_K blocks with Q8_K activations. The block
// minimums are applied through the activations' per-16 sums.
func dotQ4K(w []byte, q []int8, d []float32, bsums []int32) float32 {
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
func dotQ6K(w []byte, q []int8, d []float32, bsums []int32) float32 {
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

// DotF32 returns a · b (len(a) elements).
func DotF32(a, b []float32) float32 { return dotF32(a, b) }

// DotF16 returns h · x where h holds halves (len(h) elements).
func DotF16(h []uint16, x []float32) float32 { return dotF16(h, x) }

// AxpyF32 adds a·x to y.
func AxpyF32(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// AxpyF16 adds a·x to y, x holding halves.
func AxpyF16(y []float32, a float32, x []uint16) {
	x = x[:len(y)]
	tab := f16Table
	for i := range y {
		y[i] += a * tab[x[i]]
	}
}
