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
// 4·63·255 = 64260 < 65536. With 4-bit weights a lane of one product holds
// at most 4·15·255 = 15300, so the full 64-bit products of four packs can
// be summed before the shift: no lane of the sum reaches 2^16 (the top one
// holds ≤ 61200, the one below ≤ 4·3·15·255 = 45900). The integer results
// equal the plain kernels' exactly, so the float results do too.

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
			// Low nibbles are elements 64p+8g…, high nibbles 64p+32+8g….
			q := (*[32]byte)(blk[16+32*p : 48+32*p])
			al := (*[8]uint64)(pb[16*p : 16*p+8])
			ah := (*[8]uint64)(pb[16*p+8 : 16*p+16])
			x0 := binary.LittleEndian.Uint64(q[0:])
			x1 := binary.LittleEndian.Uint64(q[8:])
			x2 := binary.LittleEndian.Uint64(q[16:])
			x3 := binary.LittleEndian.Uint64(q[24:])
			le0, lo0 := lanes8(x0 & lowNibbles)
			he0, ho0 := lanes8(x0 >> 4 & lowNibbles)
			le1, lo1 := lanes8(x1 & lowNibbles)
			he1, ho1 := lanes8(x1 >> 4 & lowNibbles)
			le2, lo2 := lanes8(x2 & lowNibbles)
			he2, ho2 := lanes8(x2 >> 4 & lowNibbles)
			le3, lo3 := lanes8(x3 & lowNibbles)
			he3, ho3 := lanes8(x3 >> 4 & lowNibbles)
			slo := (le0*al[0]+lo0*al[1]+le1*al[2]+lo1*al[3])>>48 + (le2*al[4]+lo2*al[5]+le3*al[6]+lo3*al[7])>>48
			shi := (he0*ah[0]+ho0*ah[1]+he1*ah[2]+ho1*ah[3])>>48 + (he2*ah[4]+ho2*ah[5]+he3*ah[6]+ho3*ah[7])>>48
			nlo := (le0 + lo0) + (le1 + lo1) + (le2 + lo2) + (le3 + lo3)
			nhi := (he0 + ho0) + (he1 + ho1) + (he2 + ho2) + (he3 + ho3)
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
		for hh := 0; hh < 4; hh++ {
			// Half h of the block, 16-value half `half` of each 32-value run:
			// run k (k = 0…3) holds elements 128h + 32k + 16·half + 0…15,
			// built from ql/qh bytes l … l+15 and scaled by scales[8h+half+2k].
			h, half := hh>>1, hh&1
			l := 16 * half
			ql := (*[48]byte)(blk[64*h+l : 64*h+l+48])
			qh := (*[16]byte)(blk[128+32*h+l : 128+32*h+l+16])
			ap := (*[32]uint64)(pb[32*h : 32*h+32])
			x0a := binary.LittleEndian.Uint64(ql[0:])
			x1a := binary.LittleEndian.Uint64(ql[32:])
			ha := binary.LittleEndian.Uint64(qh[0:])
			x0b := binary.LittleEndian.Uint64(ql[8:])
			x1b := binary.LittleEndian.Uint64(ql[40:])
			hb := binary.LittleEndian.Uint64(qh[8:])
			e0a, o0a := lanes8(x0a&lowNibbles | (ha&twoBits)<<4)
			e0b, o0b := lanes8(x0b&lowNibbles | (hb&twoBits)<<4)
			e1a, o1a := lanes8(x1a&lowNibbles | (ha>>2&twoBits)<<4)
			e1b, o1b := lanes8(x1b&lowNibbles | (hb>>2&twoBits)<<4)
			e2a, o2a := lanes8(x0a>>4&lowNibbles | (ha>>4&twoBits)<<4)
			e2b, o2b := lanes8(x0b>>4&lowNibbles | (hb>>4&twoBits)<<4)
			e3a, o3a := lanes8(x1a>>4&lowNibbles | (ha>>6&twoBits)<<4)
			e3b, o3b := lanes8(x1b>>4&lowNibbles | (hb>>6&twoBits)<<4)
			g := 8*h + half
			i := 4 * half // pack index of the first group of run 0, relative to ap
			s0 := e0a*ap[i+0]>>48 + o0a*ap[i+1]>>48 + e0b*ap[i+2]>>48 + o0b*ap[i+3]>>48
			n0 := (e0a + o0a) + (e0b + o0b)
			s1 := e1a*ap[i+8]>>48 + o1a*ap[i+9]>>48 + e1b*ap[i+10]>>48 + o1b*ap[i+11]>>48
			n1 := (e1a + o1a) + (e1b + o1b)
			s2 := e2a*ap[i+16]>>48 + o2a*ap[i+17]>>48 + e2b*ap[i+18]>>48 + o2b*ap[i+19]>>48
			n2 := (e2a + o2a) + (e2b + o2b)
			s3 := e3a*ap[i+24]>>48 + o3a*ap[i+25]>>48 + e3b*ap[i+26]>>48 + o3b*ap[i+27]>>48
			n3 := (e3a + o3a) + (e3b + o3b)
			isum += int32(int8(blk[192+g+0])) * (int32(s0) - 128*laneSum(n0) - 32*bs[g+0])
			isum += int32(int8(blk[192+g+2])) * (int32(s1) - 128*laneSum(n1) - 32*bs[g+2])
			isum += int32(int8(blk[192+g+4])) * (int32(s2) - 128*laneSum(n2) - 32*bs[g+4])
			isum += int32(int8(blk[192+g+6])) * (int32(s3) - 128*laneSum(n3) - 32*bs[g+6])
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
		x0 := binary.LittleEndian.Uint64(blk[2:]) ^ 0x8080808080808080
		x1 := binary.LittleEndian.Uint64(blk[10:]) ^ 0x8080808080808080
		x2 := binary.LittleEndian.Uint64(blk[18:]) ^ 0x8080808080808080
		x3 := binary.LittleEndian.Uint64(blk[26:]) ^ 0x8080808080808080
		le0, lo0 := lanes8(x0 & lowNibbles)
		he0, ho0 := lanes8(x0 >> 4 & lowNibbles)
		le1, lo1 := lanes8(x1 & lowNibbles)
		he1, ho1 := lanes8(x1 >> 4 & lowNibbles)
		le2, lo2 := lanes8(x2 & lowNibbles)
		he2, ho2 := lanes8(x2 >> 4 & lowNibbles)
		le3, lo3 := lanes8(x3 & lowNibbles)
		he3, ho3 := lanes8(x3 >> 4 & lowNibbles)
		slo := (le0*pb[0]+lo0*pb[1]+le1*pb[2]+lo1*pb[3])>>48 + (le2*pb[4]+lo2*pb[5]+le3*pb[6]+lo3*pb[7])>>48
		shi := (he0*pb[0]+ho0*pb[1]+he1*pb[2]+ho1*pb[3])>>48 + (he2*pb[4]+ho2*pb[5]+he3*pb[6]+ho3*pb[7])>>48
		nlo := (le0 + lo0) + (le1 + lo1) + (le2 + lo2) + (le3 + lo3)
		nhi := (he0 + ho0) + (he1 + ho1) + (he2 + ho2) + (he3 + ho3)
		// Σ(w+128)(a+128) = Σwa + 128Σw + 128Σa + 32·128².
		sBiased := int32(16*shi + slo)
		wBiased := int32(16*(nhi*sumLanes>>48) + nlo*sumLanes>>48)
		isum := sBiased - 128*(wBiased-32*128) - 128*bs[b] - 32*128*128
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(isum)
	}
	return sum
}
