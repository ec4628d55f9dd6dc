package ggml

import "encoding/binary"

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
	var sum float32
	for b := range d {
		blk := w[b*q8_0Bytes : b*q8_0Bytes+q8_0Bytes]
		wq := blk[2:34]
		aq := q[32*b : 32*b+32]
		var s0, s1 int32
		for l := 0; l < 32; l += 2 {
			s0 += int32(int8(wq[l])) * int32(aq[l])
			s1 += int32(int8(wq[l+1])) * int32(aq[l+1])
		}
		sum += f16Table[binary.LittleEndian.Uint16(blk)] * d[b] * float32(s0+s1)
	}
	return sum
}

// dotQ4K multiplies a row of Q4_K blocks with Q8_K activations. The block
// minimums are applied through the activations' per-16 sums.
func dotQ4K(w []byte, q []int8, d []float32, bsums []int32) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q4KBytes : b*q4KBytes+q4KBytes]
		scales := blk[4:16]
		qs := blk[16:144]
		aq := q[QK_K*b : QK_K*b+QK_K]
		bs := bsums[16*b : 16*b+16]
		var isum, msum int32
		for p := 0; p < 4; p++ {
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			wq := qs[32*p : 32*p+32]
			lo := aq[64*p : 64*p+32]
			hi := aq[64*p+32 : 64*p+64]
			var s1, s2 int32
			for l := 0; l < 32; l++ {
				v := wq[l]
				s1 += int32(v&0xf) * int32(lo[l])
				s2 += int32(v>>4) * int32(hi[l])
			}
			isum += int32(sc1)*s1 + int32(sc2)*s2
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[binary.LittleEndian.Uint16(blk)] * d[b]
		dm := f16Table[binary.LittleEndian.Uint16(blk[2:])] * d[b]
		sum += dd*float32(isum) - dm*float32(msum)
	}
	return sum
}

// dotQ6K multiplies a row of Q6_K blocks with Q8_K activations.
func dotQ6K(w []byte, q []int8, d []float32) float32 {
	var sum float32
	for b := range d {
		blk := w[b*q6KBytes : b*q6KBytes+q6KBytes]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		aq := q[QK_K*b : QK_K*b+QK_K]
		var isum int32
		for h := 0; h < 2; h++ {
			l4 := ql[64*h : 64*h+64]
			h2 := qh[32*h : 32*h+32]
			a := aq[128*h : 128*h+128]
			s := sc[8*h : 8*h+8]
			for half := 0; half < 2; half++ {
				var s1, s2, s3, s4 int32
				for l := 16 * half; l < 16*half+16; l++ {
					hb := h2[l]
					q1 := int32(l4[l]&0xf|(hb&3)<<4) - 32
					q2 := int32(l4[l+32]&0xf|(hb>>2&3)<<4) - 32
					q3 := int32(l4[l]>>4|(hb>>4&3)<<4) - 32
					q4 := int32(l4[l+32]>>4|(hb>>6)<<4) - 32
					s1 += q1 * int32(a[l])
					s2 += q2 * int32(a[l+32])
					s3 += q3 * int32(a[l+64])
					s4 += q4 * int32(a[l+96])
				}
				isum += int32(int8(s[half]))*s1 + int32(int8(s[half+2]))*s2 + int32(int8(s[half+4]))*s3 + int32(int8(s[half+6]))*s4
			}
		}
		sum += f16Table[binary.LittleEndian.Uint16(blk[208:])] * d[b] * float32(isum)
	}
	return sum
}
