//go:build amd64

package ggml

import "golang.org/x/sys/cpu"

// The kernels in kernels_amd64.s need AVX2 (integer lanes, VPMADDUBSW),
// FMA and F16C (VCVTPH2PS). They sum each block's integer products
// exactly, like the Go kernels, but accumulate the scaled block sums in
// eight float lanes with FMA, as llama.cpp does, so their results differ
// from the Go kernels' in the last bits (well within the logit tolerances).
// For a given row and vector they always give the same result, so batches
// still equal token-by-token runs bit for bit.

//go:noescape
func dotQ8_0AVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ8_0AVX2x4(w *byte, q *int8, d *float32, nb, qstride, dstride int, out *[4]float32)

//go:noescape
func dotQ8_0AVX2x8(w *byte, q *int8, dT *float32, nb, qstride int, out *[8]float32)

//go:noescape
func dotQ4KAVX2(w *byte, q *int8, d *float32, bs32 *int32, nb int) float32

//go:noescape
func dotQ4KAVX2r4(w *byte, rb int, q *int8, d *float32, bs32 *int32, nb int, out *[4]float32)

//go:noescape
func dotQ8_0AVX2r4(w *byte, rb int, q *int8, d *float32, nb int, out *[4]float32)

//go:noescape
func dotQ5KAVX2r4(w *byte, rb int, q *int8, d *float32, bs32 *int32, nb int, out *[4]float32)

//go:noescape
func dotQ6KAVX2r4(w *byte, rb int, q *int8, d *float32, bs *int32, nb int, out *[4]float32)

//go:noescape
func dotQ4KAVX2x4(w, sc *byte, q *int8, d *float32, bs32 *int32, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotQ4KAVX512(w *byte, q *int8, d *float32, bs *int32, nb int) float32

//go:noescape
func dotQ4KAVX512x4(w, sc *byte, q *int8, d *float32, bs32 *int32, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotQ4KVNNIx4(w, sc *byte, q *int8, d *float32, bs32 *int32, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotQ6KAVX512x4(w *byte, q *int8, d *float32, bsq6 *int16, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotQ6KVNNIx4(w *byte, q *int8, d *float32, bsq6 *int16, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func q4kScales(w *byte, nb int, sc *byte)

// q4kScalesRow unpacks the scales of a Q4_K row's nb blocks into sc.
func q4kScalesRow(row []byte, nb int, sc []byte) {
	_, _ = row[nb*q4KBytes-1], sc[nb*q4kScaleBytes-1]
	q4kScales(&row[0], nb, &sc[0])
}

// q4kScaleBytes is the size of one block's unpacked scales (KSCALES).
const q4kScaleBytes = 32

// dotQ4Kx4 is a row's four-vector product on the assembly kernels (VNNI,
// AVX-512 or AVX2), with the row's scales already unpacked into sc by
// q4kScales.
func dotQ4Kx4(row, sc []byte, a *Acts, t int, out *[4]float32) {
	c := a.Cols
	nb := c / QK_K
	q, d, bs32 := a.q[t*c:(t+4)*c], a.d[t*nb:(t+4)*nb], a.bs32[t*c/32:(t+4)*c/32]
	_, _ = row[nb*q4KBytes-1], sc[nb*q4kScaleBytes-1]
	switch {
	case vnniOn:
		dotQ4KVNNIx4(&row[0], &sc[0], &q[0], &d[0], &bs32[0], nb, c, 4*nb, c/8, out)
	case asm512On:
		dotQ4KAVX512x4(&row[0], &sc[0], &q[0], &d[0], &bs32[0], nb, c, 4*nb, c/8, out)
	default:
		dotQ4KAVX2x4(&row[0], &sc[0], &q[0], &d[0], &bs32[0], nb, c, 4*nb, c/8, out)
	}
}

//go:noescape
func dotQ6KAVX512(w *byte, q *int8, d *float32, bs *int32, nb int) float32

//go:noescape
func dotQ5KAVX2(w *byte, q *int8, d *float32, bs32 *int32, nb int) float32

//go:noescape
func dotQ5KAVX2x4(w *byte, q *int8, d *float32, bs *int32, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotQ6KAVX2(w *byte, q *int8, d *float32, bs *int32, nb int) float32

//go:noescape
func dotQ6KAVX2x4(w *byte, q *int8, d *float32, bs *int32, nb, qstride, dstride, bstride int, out *[4]float32)

//go:noescape
func dotF16AVX2(w *uint16, x *float32, n int) float32

//go:noescape
func dotF16AVX2x4(w *uint16, x *float32, n, xstride int, out *[4]float32)

//go:noescape
func dotF16AVX2x3x4(w *uint16, wstride int, x *float32, n, xstride int, acc *float32, mode int, y *float32, ystride, triples int)

//go:noescape
func dotF16AVX2r4(w *uint16, wstride int, x *float32, n int, out *[4]float32)

//go:noescape
func wsumF16AVX2(v *uint16, vstride int, p *float32, pstride, npos, heads int, out *[96]float32)

// WeightedSumF16 sets out[16g+i] (g < heads, i < 16) to Σ_j p[g·pstride+j]
// · v[j·vstride+i] over j < npos, for attention's values in an f16 cache,
// on the assembly kernel (fused multiply-adds in the order of j); it
// returns false, doing nothing, where there is none or heads is not 1–6.
func WeightedSumF16(out *[96]float32, v []uint16, vstride int, p []float32, pstride, npos, heads int) bool {
	if !asmOn || heads < 1 || heads > 6 || npos < 1 {
		return false
	}
	_ = v[(npos-1)*vstride+15]
	_ = p[(heads-1)*pstride+npos-1]
	wsumF16AVX2(&v[0], 2*vstride, &p[0], 4*pstride, npos, heads, out)
	return true
}

//go:noescape
func siluMulAVX2(gate, up *float32, n int)

// asmSiLUMul is SiLUMul for the first len(g) &^ 7 values, returning how
// many it did.
func asmSiLUMul(g, u []float32) int {
	n := len(g) &^ 7
	if !asmOn || n == 0 {
		return 0
	}
	_ = u[n-1]
	siluMulAVX2(&g[0], &u[0], n)
	return n
}

//go:noescape
func f16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func roundF16AVX2(dst, src *float32, n int)

// asmF16ToF32s converts the first len(dst) &^ 15 halves of src, returning
// how many it did.
func asmF16ToF32s(dst []float32, src []uint16) int {
	n := len(dst) &^ 15
	if !asmOn || n == 0 {
		return 0
	}
	_ = src[n-1]
	f16ToF32AVX2(&dst[0], &src[0], n)
	return n
}

//go:noescape
func quantQ8_0AVX2(x *float32, q *int8, d *float32, bs *int32, nb int)

// asmQuantQ8_0 is quantActQ8_0 for the len(d) blocks of x, with each
// block's sum of quantized values in bs; false (nothing done) without
// the kernels.
func asmQuantQ8_0(x []float32, q []int8, d []float32, bs []int32) bool {
	nb := len(d)
	if !asmOn || nb == 0 {
		return false
	}
	_, _, _ = x[32*nb-1], q[32*nb-1], bs[nb-1]
	quantQ8_0AVX2(&x[0], &q[0], &d[0], &bs[0], nb)
	return true
}

//go:noescape
func quantQ8KAVX2(x *float32, q *int8, d *float32, bs *int32, nb int)

// asmQuantQ8K is quantActQ8K for the len(d) super-blocks of x (bs: 16
// sums a block); false (nothing done) without the kernels.
func asmQuantQ8K(x []float32, q []int8, d []float32, bs []int32) bool {
	nb := len(d)
	if !asmOn || nb == 0 {
		return false
	}
	_, _, _ = x[QK_K*nb-1], q[QK_K*nb-1], bs[16*nb-1]
	quantQ8KAVX2(&x[0], &q[0], &d[0], &bs[0], nb)
	return true
}

// asmRoundF16s is dst = RoundF16(src) for the first len(dst) &^ 15
// values, returning how many it did.
func asmRoundF16s(dst, src []float32) int {
	n := len(dst) &^ 15
	if !asmOn || n == 0 {
		return 0
	}
	_ = src[n-1]
	roundF16AVX2(&dst[0], &src[0], n)
	return n
}

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

// maxQ4KBlocks is the most Q4_K (or Q5_K) blocks per row the kernels unpack scales
// for in their 2 KB frame (rows of up to 16,384 columns); longer rows take
// the Go kernel.
const maxQ4KBlocks = 64

func asmSupported() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C }

// asm512Supported says whether the AVX-512 kernels can run
// (kernels_512_amd64.s: F and BW, on top of asmSupported's set; their
// folds use 256-bit instructions on Y16–Y31, which need VL).
func asm512Supported() bool {
	return asmSupported() && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
}

// vnniSupported says whether the AVX-512 kernels may use VPDPWSSD.
func vnniSupported() bool { return asm512Supported() && cpu.X86.HasAVX512VNNI }

// asmHas reports whether asmDot handles matrices of type t (so the batched
// Go kernels and their unpacking are not needed).
func asmHas(t Type) bool {
	return asmOn && (t == Q8_0 || t == Q4_K || t == Q5_K || t == Q6_K || t == F16)
}

// asmCovers reports whether every row product of m runs in assembly, so
// that the Go kernels' packed activations are not needed.
func asmCovers(m *Matrix) bool {
	if !asmHas(m.Type) {
		return false
	}
	return (m.Type != Q4_K && m.Type != Q5_K) || m.Cols/QK_K <= maxQ4KBlocks
}

// asmDot is row r of m · vector t of a on the assembly kernels (see
// asmDotRows), false where they do not take m.
func asmDot(m *Matrix, r int, a *Acts, t int) (float32, bool) {
	var one [1]float32
	if !asmDotRows(m, r, r+1, a, t, one[:]) {
		return 0, false
	}
	return one[0], true
}

// asmDot4 is asmDot for the vectors t … t+3, where a kernel shares the
// weight decoding between them; its results equal asmDot's bit for bit.
func asmDot4(m *Matrix, r int, a *Acts, t int, out *[4]float32) bool {
	if !asmOn || t+4 > a.N {
		return false
	}
	c := m.Cols
	row := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
	switch m.Type {
	case F16:
		if c < 16 {
			return false
		}
		w, x := m.u16[r*c:(r+1)*c], a.f[t*c:(t+4)*c]
		n := c &^ 15
		dotF16AVX2x4(&w[0], &x[0], n, 4*c, out)
		for k := n; k < c; k++ { // the tail, as asmDotF16 adds it
			h := f16Table[w[k]]
			out[0] += h * x[k]
			out[1] += h * x[c+k]
			out[2] += h * x[2*c+k]
			out[3] += h * x[3*c+k]
		}
		return true
	case Q8_0:
		nb := c / 32
		q, d := a.q[t*c:(t+4)*c], a.d[t*nb:(t+4)*nb]
		_ = row[nb*q8_0Bytes-1]
		dotQ8_0AVX2x4(&row[0], &q[0], &d[0], nb, c, 4*nb, out)
		return true
	case Q4_K:
		nb := c / QK_K
		if nb > maxQ4KBlocks {
			return false
		}
		var sc [maxQ4KBlocks * q4kScaleBytes]byte
		q4kScalesRow(row, nb, sc[:])
		dotQ4Kx4(row, sc[:], a, t, out)
		return true
	case Q5_K:
		nb := c / QK_K
		if nb > maxQ4KBlocks {
			return false
		}
		q, d, bs := a.q[t*c:(t+4)*c], a.d[t*nb:(t+4)*nb], a.bs[t*c/16:(t+4)*c/16]
		_ = row[nb*q5KBytes-1]
		dotQ5KAVX2x4(&row[0], &q[0], &d[0], &bs[0], nb, c, 4*nb, c/4, out)
		return true
	case Q6_K:
		nb := c / QK_K
		q, d, bs := a.q[t*c:(t+4)*c], a.d[t*nb:(t+4)*nb], a.bs[t*c/16:(t+4)*c/16]
		_ = row[nb*q6KBytes-1]
		if asm512On {
			bsq := a.bsq6[t*c/16 : (t+4)*c/16]
			if vnniOn {
				dotQ6KVNNIx4(&row[0], &q[0], &d[0], &bsq[0], nb, c, 4*nb, c/8, out)
			} else {
				dotQ6KAVX512x4(&row[0], &q[0], &d[0], &bsq[0], nb, c, 4*nb, c/8, out)
			}
			return true
		}
		dotQ6KAVX2x4(&row[0], &q[0], &d[0], &bs[0], nb, c, 4*nb, c/4, out)
		return true
	}
	return false
}

// asmDot8 is asmDot4 for eight vectors t … t+7 (Q8_0 only; false for
// the other types).
func asmDot8(m *Matrix, r int, a *Acts, t int, out *[8]float32) bool {
	if !asmOn || t+8 > a.N || m.Type != Q8_0 {
		return false
	}
	c := m.Cols
	nb := c / 32
	row := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
	if t%8 != 0 {
		return false
	}
	q, dT := a.q[t*c:(t+8)*c], a.dT8[t*nb:(t+8)*nb]
	_ = row[nb*q8_0Bytes-1]
	dotQ8_0AVX2x8(&row[0], &q[0], &dT[0], nb, c, out)
	return true
}

// asmDotRows sets y[i] = row r0+i of m · vector t of a for the rows r0 …
// r1-1 on the one-vector kernels, with the vector's slices and the kernel
// chosen once for all the rows (a decoded token multiplies some 780,000
// rows, and choosing per row cost it a twentieth of its time); F16 rows
// go four at a time (see dotF16AVX2r4). It returns false, doing nothing,
// for a type or row length the kernels do not take.
func asmDotRows(m *Matrix, r0, r1 int, a *Acts, t int, y []float32) bool {
	if !asmOn || r0 >= r1 {
		return false
	}
	c, rb := m.Cols, m.rowBytes
	data := m.Data[r0*rb : r1*rb]
	y = y[:r1-r0]
	switch m.Type {
	case F16:
		if c < 16 {
			return false
		}
		x := a.f[t*c : (t+1)*c]
		i := 0
		for ; i+4 <= len(y); i += 4 {
			asmDotF16Rows4(m, r0+i, x, (*[4]float32)(y[i:i+4]))
		}
		for ; i < len(y); i++ {
			y[i], _ = asmDotF16(m.u16[(r0+i)*c:(r0+i+1)*c], x)
		}
	case Q8_0:
		nb := c / 32
		q, d := a.q[t*c:(t+1)*c], a.d[t*nb:(t+1)*nb]
		i := 0
		for ; i+4 <= len(y); i += 4 {
			dotQ8_0AVX2r4(&data[i*rb], rb, &q[0], &d[0], nb, (*[4]float32)(y[i:i+4]))
		}
		for ; i < len(y); i++ {
			y[i] = dotQ8_0AVX2(&data[i*rb], &q[0], &d[0], nb)
		}
	case Q4_K, Q5_K, Q6_K:
		nb := c / QK_K
		if nb > maxQ4KBlocks && m.Type != Q6_K {
			return false
		}
		q, d, bs := a.q[t*c:(t+1)*c], a.d[t*nb:(t+1)*nb], a.bs[t*c/16:(t+1)*c/16]
		switch {
		case m.Type == Q4_K && asm512On:
			for i := range y {
				y[i] = dotQ4KAVX512(&data[i*rb], &q[0], &d[0], &bs[0], nb)
			}
		case m.Type == Q4_K:
			bs32 := a.bs32[t*c/32 : (t+1)*c/32]
			i := 0
			for ; i+4 <= len(y); i += 4 {
				dotQ4KAVX2r4(&data[i*rb], rb, &q[0], &d[0], &bs32[0], nb, (*[4]float32)(y[i:i+4]))
			}
			for ; i < len(y); i++ {
				y[i] = dotQ4KAVX2(&data[i*rb], &q[0], &d[0], &bs32[0], nb)
			}
		case m.Type == Q5_K:
			bs32 := a.bs32[t*c/32 : (t+1)*c/32]
			i := 0
			for ; i+4 <= len(y); i += 4 {
				dotQ5KAVX2r4(&data[i*rb], rb, &q[0], &d[0], &bs32[0], nb, (*[4]float32)(y[i:i+4]))
			}
			for ; i < len(y); i++ {
				y[i] = dotQ5KAVX2(&data[i*rb], &q[0], &d[0], &bs32[0], nb)
			}
		case asm512On:
			for i := range y {
				y[i] = dotQ6KAVX512(&data[i*rb], &q[0], &d[0], &bs[0], nb)
			}
		default:
			i := 0
			for ; i+4 <= len(y); i += 4 {
				dotQ6KAVX2r4(&data[i*rb], rb, &q[0], &d[0], &bs[0], nb, (*[4]float32)(y[i:i+4]))
			}
			for ; i < len(y); i++ {
				y[i] = dotQ6KAVX2(&data[i*rb], &q[0], &d[0], &bs[0], nb)
			}
		}
	default:
		return false
	}
	return true
}

// asmHasF16x4 says whether asmF16Rows4 runs for m and the vectors t …
// t+3, the last two of which may be the padding past a's last.
func asmHasF16x4(m *Matrix, a *Acts, t int) bool {
	return asmOn && m.Type == F16 && t+2 <= a.N && m.Cols >= 16
}

// f16ColBlock is asmF16Rows4's column block: four vectors of it (12 KB)
// stay in L1 while the row groups pass.
const f16ColBlock = 768

// asmF16Rows4 sets y's entries for rows r0 … r1-1 of m (a multiple of
// three, at most f16Block) and the vectors t … t+3 on AVX2, walking the columns
// in blocks (see dotF16AVX2x3x4); each result equals asmDotF16's bit for
// bit. Vectors past a.N, the zero padding that Acts keeps for F16, are
// multiplied but not stored. Rows whose length is not a multiple of 16
// take asmF16Triple4 and its Go tail.
func asmF16Rows4(m *Matrix, r0, r1 int, a *Acts, t int, acc *f16Acc, y []float32) {
	c := m.Cols
	triples := (r1 - r0) / 3
	x := a.f[t*c : (t+4)*c : cap(a.f)]
	if c%16 != 0 {
		for g := range triples {
			asmF16Triple4(m, r0+3*g, x, min(4, a.N-t), y[t*m.Rows:])
		}
		return
	}
	w := m.u16[r0*c : r1*c]
	yo, ystride := acc.y[:], f16Block
	if t+4 <= a.N {
		yo, ystride = y[t*m.Rows+r0:(t+3)*m.Rows+r1], m.Rows
	}
	for k0 := 0; k0 < c; k0 += f16ColBlock {
		kn := min(f16ColBlock, c-k0)
		mode := 0
		if k0 > 0 {
			mode |= 1
		}
		if k0+kn == c {
			mode |= 2
		}
		dotF16AVX2x3x4(&w[k0], 2*c, &x[k0], kn, 4*c, &acc.acc[0], mode, &yo[0], 4*ystride, triples)
	}
	if t+4 > a.N {
		for j := range a.N - t {
			copy(y[(t+j)*m.Rows+r0:(t+j)*m.Rows+r1], acc.y[f16Block*j:f16Block*j+r1-r0])
		}
	}
}

// asmF16Triple4 is asmF16Rows4 for rows r … r+2 of any length and the
// four vectors x, of which the first vecs are stored in y (vector j at
// y[j*m.Rows:]).
func asmF16Triple4(m *Matrix, r int, x []float32, vecs int, y []float32) {
	c := m.Cols
	n := c &^ 15
	w := m.u16[r*c : (r+3)*c]
	var out [4 * 3]float32
	var acc [96]float32
	dotF16AVX2x3x4(&w[0], 2*c, &x[0], n, 4*c, &acc[0], 2, &out[0], 12, 1)
	for i := range 3 {
		for j := range vecs {
			s := out[3*j+i]
			for k := n; k < c; k++ { // the tail, as asmDotF16 adds it
				s += f16Table[w[i*c+k]] * x[j*c+k]
			}
			y[j*m.Rows+r+i] = s
		}
	}
}

// asmDotF16Rows4 is asmDotF16 for the rows r … r+3 of m and vector x at
// once (see dotF16AVX2r4), equal to it bit for bit (m.Cols >= 16).
func asmDotF16Rows4(m *Matrix, r int, x []float32, out *[4]float32) {
	c := m.Cols
	w := m.u16[r*c : (r+4)*c]
	n := c &^ 15
	dotF16AVX2r4(&w[0], 2*c, &x[0], n, out)
	for i := range 4 {
		for k := n; k < c; k++ { // the tail, as asmDotF16 adds it
			out[i] += f16Table[w[i*c+k]] * x[k]
		}
	}
}

// asmDotF16 is w · x for F16 weights; x holds f16-rounded values.
func asmDotF16(w []uint16, x []float32) (float32, bool) {
	if !asmOn || len(w) < 16 {
		return 0, false
	}
	n := len(w) &^ 15
	x = x[:len(w)]
	s := dotF16AVX2(&w[0], &x[0], n)
	for i := n; i < len(w); i++ {
		s += f16Table[w[i]] * x[i]
	}
	return s, true
}

func asmDotF32(a, b []float32) (float32, bool) {
	if !asmOn || len(a) < 32 {
		return 0, false
	}
	n := len(a) &^ 31
	b = b[:len(a)]
	s := dotF32AVX2(&a[0], &b[0], n)
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s, true
}
