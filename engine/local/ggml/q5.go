package ggml

import (
	"encoding/binary"
	"math"
)

// Q4_0, Q5_0 (blocks of 32, one f16 scale, values offset by 8 or 16) and
// Q5_K (Q4_K with a fifth bit per value). Q4_0 and Q5_0 multiply with Q8_0
// activations, Q5_K with Q8_K, as in llama.cpp.
//
// Q4_0:  d f16 | 16 bytes: value j in the low nibble of byte j, value j+16 in the high one.
// Q5_0:  d f16 | qh uint32: bit j is the fifth bit of value j | 16 bytes as Q4_0.
// Q5_K:  d f16 | dmin f16 | 12 bytes scales/mins (as Q4_K) | qh[32] | qs[128];
//        in 64-value group p, value l (< 32) has its low bits in qs[32p+l] &
//        0xf and its fifth bit at bit 2p of qh[l]; value 32+l uses qs[32p+l]
//        >> 4 and bit 2p+1.

const (
	q4_0Bytes = 18
	q5_0Bytes = 22
	q5KBytes  = 176
	ones      = 0x0101010101010101
)

func dequantQ4_0(blk []byte, y []float32) {
	d := f16At(blk)
	for j, b := range blk[2:18] {
		y[j] = float32(int32(b&0xf)-8) * d
		y[j+16] = float32(int32(b>>4)-8) * d
	}
}

func dequantQ5_0(blk []byte, y []float32) {
	d := f16At(blk)
	qh := binary.LittleEndian.Uint32(blk[2:])
	for j, b := range blk[6:22] {
		lo := int32(b&0xf) | int32(qh>>j&1)<<4
		hi := int32(b>>4) | int32(qh>>(j+16)&1)<<4
		y[j] = float32(lo-16) * d
		y[j+16] = float32(hi-16) * d
	}
}

func dequantQ5K(blk []byte, y []float32) {
	d, dmin := f16At(blk), f16At(blk[2:])
	scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
	for p := 0; p < 4; p++ {
		sc1, m1 := scaleMinK4(2*p, scales)
		sc2, m2 := scaleMinK4(2*p+1, scales)
		d1, mn1 := d*float32(sc1), dmin*float32(m1)
		d2, mn2 := d*float32(sc2), dmin*float32(m2)
		for l := 0; l < 32; l++ {
			b, h := qs[32*p+l], qh[l]
			y[64*p+l] = d1*float32(b&0xf|(h>>(2*p)&1)<<4) - mn1
			y[64*p+32+l] = d2*float32(b>>4|(h>>(2*p+1)&1)<<4) - mn2
		}
	}
}

// quantSymmetric quantizes a block like ggml's Q4_0/Q5_0 reference: the
// value of largest magnitude maps to -levels/2 exactly.
func quantSymmetric(x []float32, levels int32) (d float32, q []int32) {
	amax, mx := float32(0), float32(0)
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, mx = a, v
		}
	}
	d = mx / float32(-levels/2)
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	q = make([]int32, len(x))
	for i, v := range x {
		q[i] = clampInt(nearestInt(v*id)+levels/2, 0, levels-1)
	}
	return d, q
}

func quantQ4_0Block(x []float32, blk []byte) {
	d, q := quantSymmetric(x, 16)
	binary.LittleEndian.PutUint16(blk, F32ToF16(d))
	for j := 0; j < 16; j++ {
		blk[2+j] = byte(q[j] | q[j+16]<<4)
	}
}

func quantQ5_0Block(x []float32, blk []byte) {
	d, q := quantSymmetric(x, 32)
	binary.LittleEndian.PutUint16(blk, F32ToF16(d))
	var qh uint32
	for j := 0; j < 16; j++ {
		blk[6+j] = byte(q[j]&0xf | (q[j+16]&0xf)<<4)
		qh |= uint32(q[j]>>4) << j
		qh |= uint32(q[j+16]>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(blk[2:], qh)
}

func quantQ5KBlock(x []float32, blk []byte) {
	var scale, mins [8]float32
	for j := 0; j < 8; j++ {
		sub := x[32*j : 32*j+32]
		lo, hi := float32(0), sub[0]
		for _, v := range sub {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale[j], mins[j] = (hi-lo)/31, -lo
	}
	maxScale, maxMin := float32(0), float32(0)
	for j := range scale {
		maxScale, maxMin = max(maxScale, scale[j]), max(maxMin, mins[j])
	}
	hd, hm := F32ToF16(maxScale/63), F32ToF16(maxMin/63)
	d, dmin := F16ToF32(hd), F16ToF32(hm)
	var sc, m [8]uint8
	for j := range sc {
		if d > 0 {
			sc[j] = uint8(clampInt(nearestInt(scale[j]/d), 0, 63))
		}
		if dmin > 0 {
			m[j] = uint8(clampInt(nearestInt(mins[j]/dmin), 0, 63))
		}
	}
	binary.LittleEndian.PutUint16(blk, hd)
	binary.LittleEndian.PutUint16(blk[2:], hm)
	s := blk[4:16]
	for j := 0; j < 4; j++ {
		s[j] = sc[j] | (sc[j+4]>>4)<<6
		s[j+4] = m[j] | (m[j+4]>>4)<<6
		s[j+8] = sc[j+4]&0xf | (m[j+4]&0xf)<<4
	}
	qh, qs := blk[16:48], blk[48:176]
	clear(qh)
	for j := 0; j < 8; j++ {
		ds, dm := d*float32(sc[j]), dmin*float32(m[j])
		p, hiHalf := j/2, j%2
		for l := 0; l < 32; l++ {
			q := uint8(0)
			if ds > 0 {
				q = uint8(clampInt(nearestInt((x[32*j+l]+dm)/ds), 0, 31))
			}
			if hiHalf == 0 {
				qs[32*p+l] = q & 0xf
			} else {
				qs[32*p+l] |= (q & 0xf) << 4
			}
			qh[l] |= (q >> 4) << (2*p + hiHalf)
		}
	}
}

// spreadBits turns the 8 low bits of b into bytes of 0x10 (bit set) or 0.
func spreadBits(b uint64) uint64 {
	y := (b & 0xff) * ones & 0x8040201008040201 // byte i keeps bit i
	return (y + 0x7f7f7f7f7f7f7f7f) & 0x8080808080808080 >> 3
}

// dotQ4_0Swar multiplies a Q4_0 row with packed Q8_0 activations:
// Σ(q-8)·a = Σq·(a+128) - 128·Σq - 8·Σa.
func dotQ4_0Swar(w []byte, pk []uint64, d []float32, bs []int32) float32 {
	nb := len(d)
	w, pk, bs = w[:nb*q4_0Bytes], pk[:nb*8], bs[:nb]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q4_0Bytes]byte)(w[b*q4_0Bytes : (b+1)*q4_0Bytes])
		pb := (*[8]uint64)(pk[b*8 : b*8+8])
		x0 := binary.LittleEndian.Uint64(blk[2:])
		x1 := binary.LittleEndian.Uint64(blk[10:])
		e0, o0 := lanes8(x0 & lowNibbles)      // values 0…7
		e1, o1 := lanes8(x1 & lowNibbles)      // 8…15
		e2, o2 := lanes8(x0 >> 4 & lowNibbles) // 16…23
		e3, o3 := lanes8(x1 >> 4 & lowNibbles) // 24…31
		s := (e0*pb[0]+o0*pb[1]+e1*pb[2]+o1*pb[3])>>48 + (e2*pb[4]+o2*pb[5]+e3*pb[6]+o3*pb[7])>>48
		n := laneSum((e0 + o0) + (e1 + o1) + (e2 + o2) + (e3 + o3))
		isum := int32(s) - 128*n - 8*bs[b]
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(isum)
	}
	return sum
}

// dotQ5_0Swar is dotQ4_0Swar with a fifth bit and an offset of 16. Values
// reach 31, so only two packs are summed per shift (4·31·255·2 < 2^16).
func dotQ5_0Swar(w []byte, pk []uint64, d []float32, bs []int32) float32 {
	nb := len(d)
	w, pk, bs = w[:nb*q5_0Bytes], pk[:nb*8], bs[:nb]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q5_0Bytes]byte)(w[b*q5_0Bytes : (b+1)*q5_0Bytes])
		pb := (*[8]uint64)(pk[b*8 : b*8+8])
		qh := uint64(binary.LittleEndian.Uint32(blk[2:]))
		x0 := binary.LittleEndian.Uint64(blk[6:])
		x1 := binary.LittleEndian.Uint64(blk[14:])
		e0, o0 := lanes8(x0&lowNibbles | spreadBits(qh))
		e1, o1 := lanes8(x1&lowNibbles | spreadBits(qh>>8))
		e2, o2 := lanes8(x0>>4&lowNibbles | spreadBits(qh>>16))
		e3, o3 := lanes8(x1>>4&lowNibbles | spreadBits(qh>>24))
		s := (e0*pb[0]+o0*pb[1])>>48 + (e1*pb[2]+o1*pb[3])>>48 + (e2*pb[4]+o2*pb[5])>>48 + (e3*pb[6]+o3*pb[7])>>48
		n := laneSum((e0 + o0) + (e1 + o1) + (e2 + o2) + (e3 + o3))
		isum := int32(s) - 128*n - 16*bs[b]
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(isum)
	}
	return sum
}

// dotQ5KSwar multiplies a Q5_K row with packed Q8_K activations.
func dotQ5KSwar(w []byte, pk []uint64, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, pk, bsums = w[:nb*q5KBytes], pk[:nb*QK_K/4], bsums[:nb*16]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := (*[q5KBytes]byte)(w[b*q5KBytes : (b+1)*q5KBytes])
		pb := (*[QK_K / 4]uint64)(pk[b*QK_K/4 : (b+1)*QK_K/4])
		bs := (*[16]int32)(bsums[b*16 : (b+1)*16])
		scales := blk[4:16]
		qh := (*[32]byte)(blk[16:48])
		var isum, msum int32
		for p := 0; p < 4; p++ {
			qs := (*[32]byte)(blk[48+32*p : 80+32*p])
			al := (*[8]uint64)(pb[16*p : 16*p+8])
			ah := (*[8]uint64)(pb[16*p+8 : 16*p+16])
			var slo, shi, nlo, nhi uint64
			for g := 0; g < 4; g++ {
				x := binary.LittleEndian.Uint64(qs[8*g:])
				h := binary.LittleEndian.Uint64(qh[8*g:])
				le, lo := lanes8(x&lowNibbles | (h>>(2*p)&ones)<<4)
				he, ho := lanes8(x>>4&lowNibbles | (h>>(2*p+1)&ones)<<4)
				slo += (le*al[2*g] + lo*al[2*g+1]) >> 48
				shi += (he*ah[2*g] + ho*ah[2*g+1]) >> 48
				nlo += le + lo
				nhi += he + ho
			}
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			isum += int32(sc1)*(int32(slo)-128*laneSum(nlo)) + int32(sc2)*(int32(shi)-128*laneSum(nhi))
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(isum) - dm*float32(msum)
	}
	return sum
}
