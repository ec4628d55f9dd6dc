//go:build goexperiment.simd && amd64

package ggml

import "simd/archsimd"

// AVX2 kernels, built only with GOEXPERIMENT=simd (Go's experimental
// simd/archsimd package) and used only when the CPU has AVX2. They compute
// the same integer block sums as the SWAR kernels, with the same float
// arithmetic around them, so results are bit-identical either way.
//
// VPMADDUBSW multiplies unsigned by signed bytes and adds pairs into int16
// with saturation; the operands here never saturate: 4-bit weights give at
// most 2·15·128, 6-bit ones 2·63·128, and Q8_0 (|w| ≤ 128 after moving the
// sign to the activation) 2·128·127 = 32512.

// simdDot computes row r · vector t with an AVX2 kernel, if there is one
// for the type and the CPU.
func simdDot(m *Matrix, row []byte, a *Acts, t int) (float32, bool) {
	if !archsimd.X86.AVX2() {
		return 0, false
	}
	c := m.Cols
	q := a.q[t*c : (t+1)*c]
	switch m.Type {
	case Q8_0:
		return simdDotQ8_0AVX2(row, q, a.d[t*c/32:(t+1)*c/32]), true
	case Q4_K:
		return simdDotQ4KAVX2(row, q, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16]), true
	case Q6_K:
		return simdDotQ6KAVX2(row, q, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16]), true
	case Q5_K:
		return simdDotQ5KAVX2(row, q, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16]), true
	case Q4_0:
		return simdDotQ4_0AVX2(row, q, a.d[t*c/32:(t+1)*c/32], a.bs[t*c/32:(t+1)*c/32]), true
	}
	return 0, false
}

// simdDot4 is simdDot for the four vectors t … t+3 at once, where a kernel
// exists that shares the weight decoding between them.
func simdDot4(m *Matrix, row []byte, a *Acts, t int, out *[4]float32) bool {
	if !archsimd.X86.AVX2() || (m.Type != Q4_K && m.Type != Q6_K) {
		return false
	}
	c := m.Cols
	nb := c / QK_K
	if m.Type == Q4_K {
		simdDotQ4KAVX2x4(row, a.q[t*c:(t+4)*c], c, a.d[t*nb:(t+4)*nb], a.bs[t*c/16:(t+4)*c/16], out)
	} else {
		simdDotQ6KAVX2x4(row, a.q[t*c:(t+4)*c], c, a.d[t*nb:(t+4)*nb], a.bs[t*c/16:(t+4)*c/16], out)
	}
	return true
}

// simdHas reports whether simdDot handles t, in which case the batched
// SWAR kernels are not worth their unpacking.
func simdHas(t Type) bool {
	return archsimd.X86.AVX2() && (t == Q4_0 || t == Q8_0 || t == Q4_K || t == Q5_K || t == Q6_K)
}

// scalePair is the int16 vector of Q6_K scales g (low 128 bits) and g+1
// (high 128 bits), matching VPMADDUBSW's pair sums of 32 consecutive values.
func scalePair(sc []byte, g int) archsimd.Int16x16 {
	return archsimd.BroadcastInt16x16(int16(int8(sc[g]))).SetHi(archsimd.BroadcastInt16x8(int16(int8(sc[g+1]))))
}

func hsum(v archsimd.Int32x8) int32 {
	s := v.GetLo().Add(v.GetHi())
	s = s.AddPairs(s)
	s = s.AddPairs(s)
	return s.GetElem(0)
}

func simdDotQ8_0AVX2(w []byte, q []int8, d []float32) float32 {
	nb := len(d)
	w, q = w[:nb*q8_0Bytes], q[:nb*32]
	ones := archsimd.BroadcastInt16x16(1)
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q8_0Bytes : (b+1)*q8_0Bytes]
		x := archsimd.LoadUint8x32Slice(blk[2:34]).AsInt8x32()
		y := archsimd.LoadInt8x32Slice(q[32*b : 32*b+32])
		p := x.Abs().AsUint8x32().DotProductPairsSaturated(y.CopySign(x)).DotProductPairs(ones)
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(hsum(p))
	}
	return sum
}

func simdDotQ4KAVX2(w []byte, q []int8, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, q, bsums = w[:nb*q4KBytes], q[:nb*QK_K], bsums[:nb*16]
	mask := archsimd.BroadcastUint8x32(0x0f)
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q4KBytes : (b+1)*q4KBytes]
		aq := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : (b+1)*16]
		scales := blk[4:16]
		acc := archsimd.BroadcastInt32x8(0)
		var msum int32
		for p := 0; p < 4; p++ {
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			x := archsimd.LoadUint8x32Slice(blk[16+32*p : 48+32*p])
			lo := x.And(mask)
			hi := x.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(mask)
			a0 := archsimd.LoadInt8x32Slice(aq[64*p : 64*p+32])
			a1 := archsimd.LoadInt8x32Slice(aq[64*p+32 : 64*p+64])
			acc = acc.Add(lo.DotProductPairsSaturated(a0).DotProductPairs(archsimd.BroadcastInt16x16(int16(sc1))))
			acc = acc.Add(hi.DotProductPairsSaturated(a1).DotProductPairs(archsimd.BroadcastInt16x16(int16(sc2))))
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(hsum(acc)) - dm*float32(msum)
	}
	return sum
}

func simdDotQ6KAVX2(w []byte, q []int8, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, q, bsums = w[:nb*q6KBytes], q[:nb*QK_K], bsums[:nb*16]
	m4 := archsimd.BroadcastUint8x32(0x0f)
	m30 := archsimd.BroadcastUint8x32(0x30)
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q6KBytes : (b+1)*q6KBytes]
		aq := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : (b+1)*16]
		sc := blk[192:208]
		acc := archsimd.BroadcastInt32x8(0)
		var bsum int32
		for s := 0; s < 16; s++ {
			bsum += int32(int8(sc[s])) * bs[s]
		}
		for h := 0; h < 2; h++ {
			l0 := archsimd.LoadUint8x32Slice(blk[64*h : 64*h+32])
			l1 := archsimd.LoadUint8x32Slice(blk[64*h+32 : 64*h+64])
			hb := archsimd.LoadUint8x32Slice(blk[128+32*h : 128+32*h+32])
			// The stored values (0…63) for elements 128h + 32k + 0…31, k = 0…3;
			// kept in variables, not an array, so that they stay in registers.
			v0 := l0.And(m4).Or(hb.AsUint16x16().ShiftAllLeft(4).AsUint8x32().And(m30))
			v1 := l1.And(m4).Or(hb.AsUint16x16().ShiftAllLeft(2).AsUint8x32().And(m30))
			v2 := l0.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(m4).Or(hb.And(m30))
			v3 := l1.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(m4).Or(hb.AsUint16x16().ShiftAllRight(2).AsUint8x32().And(m30))
			base := 128 * h
			g := 8 * h
			acc = acc.Add(v0.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(aq[base : base+32])).DotProductPairs(scalePair(sc, g)))
			acc = acc.Add(v1.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(aq[base+32 : base+64])).DotProductPairs(scalePair(sc, g+2)))
			acc = acc.Add(v2.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(aq[base+64 : base+96])).DotProductPairs(scalePair(sc, g+4)))
			acc = acc.Add(v3.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(aq[base+96 : base+128])).DotProductPairs(scalePair(sc, g+6)))
		}
		isum := hsum(acc) - 32*bsum
		sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * d[b] * float32(isum)
	}
	return sum
}

// shiftBytes shifts every byte's bits left (n > 0) or right (n < 0); bits
// crossing into a neighbouring byte must be masked off by the caller.
func shiftBytes(v archsimd.Uint8x32, n int) archsimd.Uint8x32 {
	switch {
	case n > 0:
		return v.AsUint16x16().ShiftAllLeft(uint64(n)).AsUint8x32()
	case n < 0:
		return v.AsUint16x16().ShiftAllRight(uint64(-n)).AsUint8x32()
	}
	return v
}

// simdDotQ5KAVX2 is simdDotQ4KAVX2 with the fifth bit of each value moved to bit 4.
func simdDotQ5KAVX2(w []byte, q []int8, d []float32, bsums []int32) float32 {
	nb := len(d)
	w, q, bsums = w[:nb*q5KBytes], q[:nb*QK_K], bsums[:nb*16]
	m4 := archsimd.BroadcastUint8x32(0x0f)
	bit4 := archsimd.BroadcastUint8x32(0x10)
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q5KBytes : (b+1)*q5KBytes]
		aq := q[b*QK_K : (b+1)*QK_K]
		bs := bsums[b*16 : (b+1)*16]
		scales := blk[4:16]
		qh := archsimd.LoadUint8x32Slice(blk[16:48])
		acc := archsimd.BroadcastInt32x8(0)
		var msum int32
		for p := 0; p < 4; p++ {
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			x := archsimd.LoadUint8x32Slice(blk[48+32*p : 80+32*p])
			lo := x.And(m4).Or(shiftBytes(qh, 4-2*p).And(bit4))
			hi := shiftBytes(x, -4).And(m4).Or(shiftBytes(qh, 3-2*p).And(bit4))
			a0 := archsimd.LoadInt8x32Slice(aq[64*p : 64*p+32])
			a1 := archsimd.LoadInt8x32Slice(aq[64*p+32 : 64*p+64])
			acc = acc.Add(lo.DotProductPairsSaturated(a0).DotProductPairs(archsimd.BroadcastInt16x16(int16(sc1))))
			acc = acc.Add(hi.DotProductPairsSaturated(a1).DotProductPairs(archsimd.BroadcastInt16x16(int16(sc2))))
			msum += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
		}
		dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b]
		dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * d[b]
		sum += dd*float32(hsum(acc)) - dm*float32(msum)
	}
	return sum
}

// simdDotQ4_0AVX2 multiplies the unsigned nibbles and takes 8·Σa off, as the
// SWAR kernel does.
func simdDotQ4_0AVX2(w []byte, q []int8, d []float32, bs []int32) float32 {
	nb := len(d)
	w, q, bs = w[:nb*q4_0Bytes], q[:nb*32], bs[:nb]
	m4 := archsimd.BroadcastUint8x16(0x0f)
	ones := archsimd.BroadcastInt16x16(1)
	zero := archsimd.BroadcastUint8x32(0)
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*q4_0Bytes : (b+1)*q4_0Bytes]
		// Values 0…15 are the low nibbles of the 16 bytes, 16…31 the high ones.
		x := archsimd.LoadUint8x16Slice(blk[2:18])
		v := zero.SetLo(x.And(m4)).SetHi(x.AsUint16x8().ShiftAllRight(4).AsUint8x16().And(m4))
		p := v.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[32*b : 32*b+32])).DotProductPairs(ones)
		isum := hsum(p) - 8*bs[b]
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * d[b] * float32(isum)
	}
	return sum
}

// simdDotQ4KAVX2x4 is simdDotQ4KAVX2 for four activation vectors (q holds them one
// after another, cols values each), unpacking each weight block once.
func simdDotQ4KAVX2x4(w []byte, q []int8, cols int, d []float32, bsums []int32, out *[4]float32) {
	nb := cols / QK_K
	w, q, d, bsums = w[:nb*q4KBytes], q[:4*cols], d[:4*nb], bsums[:4*cols/16]
	mask := archsimd.BroadcastUint8x32(0x0f)
	var sum [4]float32
	for b := 0; b < nb; b++ {
		blk := w[b*q4KBytes : (b+1)*q4KBytes]
		scales := blk[4:16]
		acc0 := archsimd.BroadcastInt32x8(0)
		acc1, acc2, acc3 := acc0, acc0, acc0
		var msum [4]int32
		for p := 0; p < 4; p++ {
			sc1, m1 := scaleMinK4(2*p, scales)
			sc2, m2 := scaleMinK4(2*p+1, scales)
			s1 := archsimd.BroadcastInt16x16(int16(sc1))
			s2 := archsimd.BroadcastInt16x16(int16(sc2))
			x := archsimd.LoadUint8x32Slice(blk[16+32*p : 48+32*p])
			lo := x.And(mask)
			hi := x.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(mask)
			off := b*QK_K + 64*p
			acc0 = acc0.Add(lo.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(s1)).
				Add(hi.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off+32 : off+64])).DotProductPairs(s2))
			off += cols
			acc1 = acc1.Add(lo.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(s1)).
				Add(hi.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off+32 : off+64])).DotProductPairs(s2))
			off += cols
			acc2 = acc2.Add(lo.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(s1)).
				Add(hi.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off+32 : off+64])).DotProductPairs(s2))
			off += cols
			acc3 = acc3.Add(lo.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(s1)).
				Add(hi.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off+32 : off+64])).DotProductPairs(s2))
			for t := range msum {
				bs := bsums[t*cols/16+16*b:]
				msum[t] += int32(m1)*(bs[4*p]+bs[4*p+1]) + int32(m2)*(bs[4*p+2]+bs[4*p+3])
			}
		}
		isum := [4]int32{hsum(acc0), hsum(acc1), hsum(acc2), hsum(acc3)}
		dw := f16Table[uint16(blk[0])|uint16(blk[1])<<8]
		mw := f16Table[uint16(blk[2])|uint16(blk[3])<<8]
		for t := range sum {
			dt := d[t*nb+b]
			sum[t] += dw*dt*float32(isum[t]) - mw*dt*float32(msum[t])
		}
	}
	*out = sum
}

// simdDotQ6KAVX2x4 is simdDotQ6KAVX2 for four activation vectors, unpacking each
// weight block once.
func simdDotQ6KAVX2x4(w []byte, q []int8, cols int, d []float32, bsums []int32, out *[4]float32) {
	nb := cols / QK_K
	w, q, d, bsums = w[:nb*q6KBytes], q[:4*cols], d[:4*nb], bsums[:4*cols/16]
	m4 := archsimd.BroadcastUint8x32(0x0f)
	m30 := archsimd.BroadcastUint8x32(0x30)
	var sum [4]float32
	for b := 0; b < nb; b++ {
		blk := w[b*q6KBytes : (b+1)*q6KBytes]
		sc := blk[192:208]
		acc0 := archsimd.BroadcastInt32x8(0)
		acc1, acc2, acc3 := acc0, acc0, acc0
		for h := 0; h < 2; h++ {
			l0 := archsimd.LoadUint8x32Slice(blk[64*h : 64*h+32])
			l1 := archsimd.LoadUint8x32Slice(blk[64*h+32 : 64*h+64])
			hb := archsimd.LoadUint8x32Slice(blk[128+32*h : 128+32*h+32])
			v0 := l0.And(m4).Or(hb.AsUint16x16().ShiftAllLeft(4).AsUint8x32().And(m30))
			v1 := l1.And(m4).Or(hb.AsUint16x16().ShiftAllLeft(2).AsUint8x32().And(m30))
			v2 := l0.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(m4).Or(hb.And(m30))
			v3 := l1.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(m4).Or(hb.AsUint16x16().ShiftAllRight(2).AsUint8x32().And(m30))
			for k := 0; k < 4; k++ {
				v := v0
				switch k {
				case 1:
					v = v1
				case 2:
					v = v2
				case 3:
					v = v3
				}
				scv := scalePair(sc, 8*h+2*k)
				off := b*QK_K + 128*h + 32*k
				acc0 = acc0.Add(v.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(scv))
				off += cols
				acc1 = acc1.Add(v.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(scv))
				off += cols
				acc2 = acc2.Add(v.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(scv))
				off += cols
				acc3 = acc3.Add(v.DotProductPairsSaturated(archsimd.LoadInt8x32Slice(q[off : off+32])).DotProductPairs(scv))
			}
		}
		isum := [4]int32{hsum(acc0), hsum(acc1), hsum(acc2), hsum(acc3)}
		dw := f16Table[uint16(blk[208])|uint16(blk[209])<<8]
		for t := range sum {
			bs := bsums[t*cols/16+16*b : t*cols/16+16*b+16]
			var bsum int32
			for s := 0; s < 16; s++ {
				bsum += int32(int8(sc[s])) * bs[s]
			}
			sum[t] += dw * d[t*nb+b] * float32(isum[t]-32*bsum)
		}
	}
	*out = sum
}

// simdDotF32 sums in sixteen interleaved partial sums (two 8-lane
// accumulators), then the tail in order.
func simdDotF32(w, x []float32) (float32, bool) {
	if !archsimd.X86.AVX2() {
		return 0, false
	}
	n := len(w)
	x = x[:n]
	acc0, acc1 := archsimd.BroadcastFloat32x8(0), archsimd.BroadcastFloat32x8(0)
	i := 0
	for ; i+16 <= n; i += 16 {
		acc0 = acc0.Add(archsimd.LoadFloat32x8Slice(w[i : i+8]).Mul(archsimd.LoadFloat32x8Slice(x[i : i+8])))
		acc1 = acc1.Add(archsimd.LoadFloat32x8Slice(w[i+8 : i+16]).Mul(archsimd.LoadFloat32x8Slice(x[i+8 : i+16])))
	}
	var tail float32
	for ; i < n; i++ {
		tail += w[i] * x[i]
	}
	return hsumF(acc0.Add(acc1)) + tail, true
}

func hsumF(v archsimd.Float32x8) float32 {
	s := v.GetLo().Add(v.GetHi())
	return (s.GetElem(0) + s.GetElem(1)) + (s.GetElem(2) + s.GetElem(3))
}
