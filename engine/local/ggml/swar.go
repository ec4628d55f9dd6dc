package ggml

import "encoding/binary"

// SWAR ("SIMD within a register") kernels for the quantized types. Pure Go has no
// vector instructions, but one 64-bit multiply can compute a 4-term dot
// product of small unsigned integers: with the weights in the four 16-bit
// lanes of W and the activations in the lanes of A in reverse order, the
// top lane of W·A (mod 2^64) is Σ w_k·a_k, and no lower lane can carry
// into it as long as every lane sum stays below 2^16.
//
// Activations are made unsigned by adding 128 (Q8 values lie in
// [-128, 127]); the bias comes back off as 128·Σw. Weights are at most 6
// bits (Q8_0 weights are split into two nibbles), so a lane holds at most
// 4·63·255 = 64260 < 65536. The integer results equal the plain kernels'
// exactly, so the float results do too.

const (
	lowNibbles = 0x0F0F0F0F0F0F0F0F
	evenBytes  = 0x00FF00FF00FF00FF // bytes 0, 2, 4, 6 as 16-bit lanes
	twoBits    = 0x0303030303030303
	sumLanes   = 0x0001000100010001 // multiplier that adds the four lanes into the top one
)

// packQ8 packs each group of 8 activations q[8g:8g+8] (biased by 128)
// into pk[2g] (even elements) and pk[2g+1] (odd elements), first element in
// the top lane.
func packQ8(q []int8, pk []uint64) {
	for g := 0; g < len(q)/8; g++ {
		a := (*[8]int8)(q[8*g : 8*g+8])
		u := func(i int) uint64 { return uint64(int32(a[i]) + 128) }
		pk[2*g] = u(0)<<48 | u(2)<<32 | u(4)<<16 | u(6)
		pk[2*g+1] = u(1)<<48 | u(3)<<32 | u(5)<<16 | u(7)
	}
}

// dot8 returns the dot product of 8 weights (one per byte of x, each < 64)
// with the packed activation pair a, and the weights' lane sums.
func dot8(x uint64, a *[2]uint64) (dot, lanes uint64) {
	e, o := x&evenBytes, x>>8&evenBytes
	return e*a[0]>>48 + o*a[1]>>48, e + o
}

// dotQ4KSwar is dotQ4K on packed activations.
func dotQ4KSwar(w []byte, pk []uint64, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, pk, bsums = w[:nb*q4KBytes], pk[:nb*QK_K/4], bsums[:nb*16]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q4KBytes]byte)(w[b*q4KBytes : (b+1)*q4KBytes])
		pb := (*[QK_K / 4]uint64)(pk[b*QK_K/4 : (b+1)*QK_K/4])
		bs := (*[16]int32)(bsums[b*16 : (b+1)*16])
		scales := blk[4:16]
		var isum, msum int32
		for p := 0; p < 4; p++ {
			var slo, shi, nlo, nhi uint64
			for g := 0; g < 4; g++ {
				x := binary.LittleEndian.Uint64(blk[16+32*p+8*g:])
				// Low nibbles are elements 64p+8g…, high nibbles 64p+32+8g….
				dl, ll := dot8(x&lowNibbles, (*[2]uint64)(pb[2*(8*p+g):]))
				dh, lh := dot8(x>>4&lowNibbles, (*[2]uint64)(pb[2*(8*p+4+g):]))
				slo += dl
				shi += dh
				nlo += ll
				nhi += lh
			}
			s1 := int32(slo) - 128*int32(nlo*sumLanes>>48)
			s2 := int32(shi) - 128*int32(nhi*sumLanes>>48)
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			isum += int32(sc1)*s1 + int32(sc2)*s2
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(isum) - dm*float32(msum)
	}
	return sum
}

// dotQ6KSwar is dotQ6K on packed activations.
func dotQ6KSwar(w []byte, pk []uint64, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, pk, bsums = w[:nb*q6KBytes], pk[:nb*QK_K/4], bsums[:nb*16]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q6KBytes]byte)(w[b*q6KBytes : (b+1)*q6KBytes])
		pb := (*[QK_K / 4]uint64)(pk[b*QK_K/4 : (b+1)*QK_K/4])
		bs := (*[16]int32)(bsums[b*16 : (b+1)*16])
		var isum int32
		for h := 0; h < 2; h++ {
			for half := 0; half < 2; half++ {
				// Groups g (scale index) cover elements 128h + 16·(half + 2k)
				// for k = 0…3: the four 6-bit values built from one ql/qh position.
				var s [4]uint64
				var n [4]uint64
				for part := 0; part < 2; part++ {
					l := 16*half + 8*part
					x0 := binary.LittleEndian.Uint64(blk[64*h+l:])
					x1 := binary.LittleEndian.Uint64(blk[64*h+l+32:])
					hb := binary.LittleEndian.Uint64(blk[128+32*h+l:])
					q := [4]uint64{
						x0&lowNibbles | (hb&twoBits)<<4,
						x1&lowNibbles | (hb>>2&twoBits)<<4,
						x0>>4&lowNibbles | (hb>>4&twoBits)<<4,
						x1>>4&lowNibbles | (hb>>6&twoBits)<<4,
					}
					for k := range q {
						// Elements 128h + 32k + l … +7, group (128h+32k+l)/8.
						dk, lk := dot8(q[k], (*[2]uint64)(pb[2*(16*h+4*k+l/8):]))
						s[k] += dk
						n[k] += lk
					}
				}
				g := 8*h + half
				for k := range s {
					v := int32(s[k]) - 128*int32(n[k]*sumLanes>>48) - 32*bs[g+2*k]
					isum += int32(int8(blk[192+g+2*k])) * v
				}
			}
		}
		sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * d[b] * float32(isum)
	}
	return sum
}

// dotQ8_0Swar is dotQ8_0 on packed activations; bs holds the activations'
// per-block sums. Weights are biased to unsigned (w+128) and split into
// nibbles, each multiplied like Q4_K's.
func dotQ8_0Swar(w []byte, pk []uint64, d []float32, bs []int32) float32 {
	nb := len(d)
	w, pk, bs = w[:nb*q8_0Bytes], pk[:nb*8], bs[:nb]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q8_0Bytes]byte)(w[b*q8_0Bytes : (b+1)*q8_0Bytes])
		pb := (*[8]uint64)(pk[b*8 : b*8+8])
		var slo, shi, nlo, nhi uint64
		for g := 0; g < 4; g++ {
			x := binary.LittleEndian.Uint64(blk[2+8*g:]) ^ 0x8080808080808080
			ap := (*[2]uint64)(pb[2*g:])
			dl, ll := dot8(x&lowNibbles, ap)
			dh, lh := dot8(x>>4&lowNibbles, ap)
			slo += dl
			shi += dh
			nlo += ll
			nhi += lh
		}
		// Σ(w+128)(a+128) = Σwa + 128Σw + 128Σa + 32·128².
		sBiased := int32(16*shi + slo)
		wBiased := int32(16*(nhi*sumLanes>>48) + nlo*sumLanes>>48)
		isum := sBiased - 128*(wBiased-32*128) - 128*bs[b] - 32*128*128
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(isum)
	}
	return sum
}
