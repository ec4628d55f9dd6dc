package ggml

import "encoding/binary"

// Batched kernels. When one weight row meets several activation vectors
// (prompt processing), its SWAR lanes are unpacked once into per-thread
// scratch and each vector then costs only the multiplies. The integer sums
// are those of the single-vector kernels, so batched and one-at-a-time
// results are bit-identical.
//
// Unpacked layout: for each group of 8 weights in activation order, the
// even and odd lanes (u[2g], u[2g+1]), matching the activation packs
// pk[2g], pk[2g+1]. Q8_0 weights, split into two nibbles, use two such
// sets per group: u[4g…4g+1] low nibbles, u[4g+2…4g+3] high nibbles.

// unpackedSize returns the scratch a row of cols weights of type t needs
// (lanes, weight sums), or ok=false when t has no batched kernel.
func unpackedSize(t Type, cols int) (lanes, sums int, ok bool) {
	switch t {
	case F16:
		return 0, 0, true // converted to float32 instead, see MatMul.runUnpacked
	case Q8_0:
		return cols / 2, cols / 32, true
	case Q4_K:
		return cols / 4, cols / QK_K * q4KSums, true
	case Q6_K:
		return cols / 4, cols / QK_K * q6KSums, true
	}
	return 0, 0, false
}

func lanes8(x uint64) (e, o uint64) { return x & evenBytes, x >> 8 & evenBytes }

func laneSum(v uint64) int32 { return int32(v * sumLanes >> 48) }

// unpackQ8_0 fills u and, per block, the sum of the biased weights w+128.
func unpackQ8_0(row []byte, u []uint64, wsum []int32) {
	for b := range wsum {
		blk := (*[q8_0Bytes]byte)(row[b*q8_0Bytes : (b+1)*q8_0Bytes])
		ub := (*[16]uint64)(u[16*b : 16*b+16])
		var nlo, nhi uint64
		for g := 0; g < 4; g++ {
			x := binary.LittleEndian.Uint64(blk[2+8*g:]) ^ 0x8080808080808080
			le, lo := lanes8(x & lowNibbles)
			he, ho := lanes8(x >> 4 & lowNibbles)
			ub[4*g], ub[4*g+1], ub[4*g+2], ub[4*g+3] = le, lo, he, ho
			nlo += le + lo
			nhi += he + ho
		}
		wsum[b] = 16*laneSum(nhi) + laneSum(nlo)
	}
}

func dotQ8_0Unpacked(row []byte, u []uint64, wsum []int32, pk []uint64, d []float32, bs []int32) float32 {
	nb := len(d)
	u, wsum, pk, bs = u[:16*nb], wsum[:nb], pk[:8*nb], bs[:nb]
	var sum float32
	for b := 0; b < nb; b++ {
		ub := (*[16]uint64)(u[16*b : 16*b+16])
		pb := (*[8]uint64)(pk[8*b : 8*b+8])
		slo := (ub[0]*pb[0]+ub[1]*pb[1]+ub[4]*pb[2]+ub[5]*pb[3])>>48 +
			(ub[8]*pb[4]+ub[9]*pb[5]+ub[12]*pb[6]+ub[13]*pb[7])>>48
		shi := (ub[2]*pb[0]+ub[3]*pb[1]+ub[6]*pb[2]+ub[7]*pb[3])>>48 +
			(ub[10]*pb[4]+ub[11]*pb[5]+ub[14]*pb[6]+ub[15]*pb[7])>>48
		isum := int32(16*shi+slo) - 128*(wsum[b]-32*128) - 128*bs[b] - 32*128*128
		sum += f16Table[uint16(row[b*q8_0Bytes])|uint16(row[b*q8_0Bytes+1])<<8] * d[b] * float32(isum)
	}
	return sum
}

// q4KSums is the per-block scratch of an unpacked Q4_K row: the eight
// scales, the eight mins, and Σ 128·scale·(weight sum) over the sub-blocks,
// the correction for the activations' +128 bias.
const q4KSums = 17

// unpackQ4K fills u and, per block, the decoded scales and mins and the
// bias correction, so that no per-vector work repeats them.
func unpackQ4K(row []byte, u []uint64, sums []int32) {
	for b := 0; b < len(sums)/q4KSums; b++ {
		blk := (*[q4KBytes]byte)(row[b*q4KBytes : (b+1)*q4KBytes])
		ub := (*[64]uint64)(u[64*b : 64*b+64])
		ws := (*[q4KSums]int32)(sums[q4KSums*b : q4KSums*(b+1)])
		var corr int32
		for j := 0; j < 8; j++ {
			sc, m := scaleMinK4(j, blk[4:16])
			ws[j], ws[8+j] = int32(sc), int32(m)
		}
		for p := 0; p < 4; p++ {
			var nlo, nhi uint64
			for g := 0; g < 4; g++ {
				x := binary.LittleEndian.Uint64(blk[16+32*p+8*g:])
				le, lo := lanes8(x & lowNibbles)
				he, ho := lanes8(x >> 4 & lowNibbles)
				ub[2*(8*p+g)], ub[2*(8*p+g)+1] = le, lo
				ub[2*(8*p+4+g)], ub[2*(8*p+4+g)+1] = he, ho
				nlo += le + lo
				nhi += he + ho
			}
			corr += 128 * (ws[2*p]*laneSum(nlo) + ws[2*p+1]*laneSum(nhi))
		}
		ws[16] = corr
	}
}

func dotQ4KUnpacked(row []byte, u []uint64, sums []int32, pk []uint64, d []float32, bsums []int32) float32 {
	nb := len(d)
	u, sums, pk, bsums = u[:64*nb], sums[:q4KSums*nb], pk[:64*nb], bsums[:16*nb]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := row[b*q4KBytes : (b+1)*q4KBytes]
		ub := (*[64]uint64)(u[64*b : 64*b+64])
		pb := (*[64]uint64)(pk[64*b : 64*b+64])
		ws := (*[q4KSums]int32)(sums[q4KSums*b : q4KSums*(b+1)])
		bs := (*[16]int32)(bsums[16*b : 16*b+16])
		isum, msum := -ws[16], int32(0)
		for j := 0; j < 8; j++ {
			w, a := (*[8]uint64)(ub[8*j:8*j+8]), (*[8]uint64)(pb[8*j:8*j+8])
			s := (w[0]*a[0]+w[1]*a[1]+w[2]*a[2]+w[3]*a[3])>>48 +
				(w[4]*a[4]+w[5]*a[5]+w[6]*a[6]+w[7]*a[7])>>48
			isum += ws[j] * int32(s)
			msum += ws[8+j] * (bs[2*j] + bs[2*j+1])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(isum) - dm*float32(msum)
	}
	return sum
}

// q6KSums is the per-block scratch of an unpacked Q6_K row: the sixteen
// scales and Σ 128·scale·(weight sum), the correction for the activations'
// +128 bias.
const q6KSums = 17

// unpackQ6K fills u and, per block, the scales and the bias correction.
func unpackQ6K(row []byte, u []uint64, sums []int32) {
	for b := 0; b < len(sums)/q6KSums; b++ {
		blk := (*[q6KBytes]byte)(row[b*q6KBytes : (b+1)*q6KBytes])
		ub := (*[64]uint64)(u[64*b : 64*b+64])
		var n [32]uint64 // lane sums per activation group
		for h := 0; h < 2; h++ {
			for l := 0; l < 32; l += 8 {
				x0 := binary.LittleEndian.Uint64(blk[64*h+l:])
				x1 := binary.LittleEndian.Uint64(blk[64*h+l+32:])
				hb := binary.LittleEndian.Uint64(blk[128+32*h+l:])
				q := [4]uint64{
					x0&lowNibbles | (hb&twoBits)<<4,
					x1&lowNibbles | (hb>>2&twoBits)<<4,
					x0>>4&lowNibbles | (hb>>4&twoBits)<<4,
					x1>>4&lowNibbles | (hb>>6&twoBits)<<4,
				}
				for k, v := range q {
					g := 16*h + 4*k + l/8
					e, o := lanes8(v)
					ub[2*g], ub[2*g+1] = e, o
					n[g] = e + o
				}
			}
		}
		ws := (*[q6KSums]int32)(sums[q6KSums*b : q6KSums*(b+1)])
		var corr int32
		for s := 0; s < 16; s++ {
			ws[s] = int32(int8(blk[192+s]))
			corr += 128 * ws[s] * laneSum(n[2*s]+n[2*s+1])
		}
		ws[16] = corr
	}
}

func dotQ6KUnpacked(row []byte, u []uint64, sums []int32, pk []uint64, d []float32, bsums []int32) float32 {
	nb := len(d)
	u, sums, pk, bsums = u[:64*nb], sums[:q6KSums*nb], pk[:64*nb], bsums[:16*nb]
	var sum float32
	for b := 0; b < nb; b++ {
		ub := (*[64]uint64)(u[64*b : 64*b+64])
		pb := (*[64]uint64)(pk[64*b : 64*b+64])
		ws := (*[q6KSums]int32)(sums[q6KSums*b : q6KSums*(b+1)])
		bs := (*[16]int32)(bsums[16*b : 16*b+16])
		isum, bsum := -ws[16], int32(0)
		for s := 0; s < 16; s++ {
			w, a := (*[4]uint64)(ub[4*s:4*s+4]), (*[4]uint64)(pb[4*s:4*s+4])
			v := w[0]*a[0]>>48 + w[1]*a[1]>>48 + w[2]*a[2]>>48 + w[3]*a[3]>>48
			isum += ws[s] * int32(v)
			bsum += ws[s] * bs[s]
		}
		isum -= 32 * bsum
		sum += f16Table[uint16(row[b*q6KBytes+208])|uint16(row[b*q6KBytes+209])<<8] * d[b] * float32(isum)
	}
	return sum
}
