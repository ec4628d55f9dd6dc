package ggml

import (
	"fmt"
	"math"
)

// VecDotType is the form llama.cpp converts activations to before
// multiplying them with weights of type t: f16-rounded floats for F16,
// Q8_0 blocks for Q8_0, Q8_K super-blocks for the K-quants, and plain
// float32 for F32. Matching it is what keeps our logits close to llama.cpp's.
func VecDotType(t Type) Type {
	switch t {
	case F16:
		return F16
	case BF16:
		return BF16
	case Q4_0, Q5_0, Q8_0:
		return Q8_0
	case Q4_K, Q5_K, Q6_K:
		return Q8_K
	}
	return F32
}

// Acts holds n activation vectors converted to one vec-dot type. Its
// buffers grow to the largest size seen and are then reused, so a decode
// loop that prepares the same shapes every step does not allocate.
type Acts struct {
	Type Type // the vec-dot type held
	N    int  // vectors
	Cols int  // elements per vector

	f  []float32 // F32/F16/BF16: values (rounded for F16/BF16)
	q  []int8    // Q8_0/Q8_K: quantized values
	d  []float32 // Q8_0: per-32 scales (f16-rounded); Q8_K: per-256 scales
	bs []int32   // Q8_K: sums of each 16 quantized values; Q8_0: of each 32
	// Q8_K: sums of each 32 quantized values, for the Q4_K kernels
	// whose block end reads them directly (see dotQ4KAVX512x4).
	bs32 []int32
	// Q8_K: the sums of 16 as int16 in pairs k, k+8 of each super-block,
	// for the Q6_K kernels' block end (see dotQ6KAVX512x4).
	bsq6 []int16
	// Q8_0: d of each group of eight vectors, block by block, the eight
	// side by side (dT8[(g·nb+b)·8+i] = d[(8g+i)·nb+b]), so that the
	// eight-vector kernel forms its eight scale products in one multiply.
	dT8  []float32
	pk   []uint64 // Q8_0/Q8_K: values packed for the SWAR kernels (see packQ8)
	task prepTask // prepare's work, kept so that it does not allocate
	// packed says pk holds q: only the Go kernels read it, so it is
	// filled on the first product that needs it (see ensurePacked).
	packed bool
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Prepare converts x (n vectors of cols floats, row after row) for
// multiplication with weights of type wt.
func (a *Acts) Prepare(wt Type, x []float32, n, cols int) error {
	return a.prepare(nil, wt, x, n, cols)
}

// Prepare is Acts.Prepare on the pool's threads: a prompt's activations
// are a few megabytes, and quantizing them on one thread while the others
// wait took a twentieth of the prompt's time.
func (p *Pool) Prepare(a *Acts, wt Type, x []float32, n, cols int) error {
	return a.prepare(p, wt, x, n, cols)
}

// prepUnit is the values one unit of work of prepare converts: a Q8_K
// super-block, and as many values for the other types.
const prepUnit = QK_K

func (a *Acts) prepare(p *Pool, wt Type, x []float32, n, cols int) error {
	vt := VecDotType(wt)
	if len(x) < n*cols {
		return fmt.Errorf("ggml: %d activations for %d×%d", len(x), n, cols)
	}
	if bs := vt.BlockSize(); cols%bs != 0 {
		return fmt.Errorf("ggml: row length %d is not a multiple of the %s block size %d", cols, vt, bs)
	}
	a.Type, a.N, a.Cols, a.packed = vt, n, cols, false
	x = x[:n*cols]
	switch vt {
	case F16:
		// Three zero vectors past the last let asmF16Rows4 take the
		// last two or three vectors as a four.
		a.f = grow(a.f, (n+3)*cols)
		clear(a.f[n*cols:])
		a.f = a.f[:n*cols]
	case F32, BF16:
		a.f = grow(a.f, n*cols)
	case Q8_0:
		a.q = grow(a.q, n*cols)
		a.d = grow(a.d, n*cols/32)
		a.bs = grow(a.bs, n*cols/32)
	case Q8_K:
		a.q = grow(a.q, n*cols)
		a.d = grow(a.d, n*cols/QK_K)
		a.bs = grow(a.bs, n*cols/16)
		a.bs32 = grow(a.bs32, n*cols/32)
		a.bsq6 = grow(a.bsq6, n*cols/16)
	}
	a.task = prepTask{a: a, x: x}
	units := (n*cols + prepUnit - 1) / prepUnit
	if p == nil || n < 2 {
		a.task.Run(0, 0, units)
	} else {
		p.Run(units, 8, &a.task)
	}
	a.task.x = nil
	if vt == Q8_0 && n >= 8 {
		nb := cols / 32
		a.dT8 = grow(a.dT8, n/8*8*nb)
		for g := range n / 8 {
			for i := range 8 {
				d := a.d[(8*g+i)*nb : (8*g+i+1)*nb]
				for b, v := range d {
					a.dT8[(g*nb+b)*8+i] = v
				}
			}
		}
	}
	return nil
}

// prepTask converts units [lo, hi) of prepUnit values (every type's block
// size divides it; the last unit may be short for the float types).
type prepTask struct {
	a *Acts
	x []float32
}

func (pt *prepTask) Run(_, lo, hi int) {
	a := pt.a
	i0, i1 := lo*prepUnit, min(hi*prepUnit, len(pt.x))
	x := pt.x
	switch a.Type {
	case F32:
		copy(a.f[i0:i1], x[i0:i1])
	case F16:
		for i := i0 + asmRoundF16s(a.f[i0:i1], x[i0:i1]); i < i1; i++ {
			a.f[i] = f16Table[F32ToF16(x[i])]
		}
	case BF16:
		for i := i0; i < i1; i++ {
			a.f[i] = BF16ToF32(F32ToBF16(x[i]))
		}
	case Q8_0:
		b0, b1 := i0/32, i1/32
		if asmQuantQ8_0(x[i0:i1], a.q[i0:i1], a.d[b0:b1], a.bs[b0:b1]) {
			break
		}
		for b := b0; b < b1; b++ {
			q := a.q[32*b : 32*b+32]
			a.d[b] = quantActQ8_0(x[32*b:32*b+32], q)
			s := int32(0)
			for _, v := range q {
				s += int32(v)
			}
			a.bs[b] = s
		}
	case Q8_K:
		b0, b1 := i0/QK_K, i1/QK_K
		done := asmQuantQ8K(x[i0:i1], a.q[i0:i1], a.d[b0:b1], a.bs[16*b0:16*b1])
		for b := b0; b < b1; b++ {
			bs := a.bs[16*b : 16*b+16]
			if !done {
				a.d[b] = quantActQ8K(x[QK_K*b:QK_K*(b+1)], a.q[QK_K*b:QK_K*(b+1)], bs)
			}
			for k := range 8 {
				a.bs32[8*b+k] = bs[2*k] + bs[2*k+1]
				// Sums of 16 values of at most 127 in magnitude fit int16.
				a.bsq6[16*b+2*k], a.bsq6[16*b+2*k+1] = int16(bs[k]), int16(bs[k+8])
			}
		}
	}
}

// ensurePacked fills pk for the Go kernels (the assembly ones read q):
// packing costs as much as quantizing, so a product that runs entirely in
// assembly skips it.
func (a *Acts) ensurePacked() {
	if a.packed || (a.Type != Q8_0 && a.Type != Q8_K) {
		return
	}
	a.pk = grow(a.pk, a.N*a.Cols/4)
	packQ8(a.q[:a.N*a.Cols], a.pk)
	a.packed = true
}

// quantActQ8_0 quantizes one block of 32 like ggml's AVX2 path: scale
// 127/amax in float32, ties to even; the stored scale is amax/127 in f16.
func quantActQ8_0(x []float32, q []int8) float32 {
	amax := absMax(x)
	id := float32(0)
	if amax != 0 {
		id = 127 / amax
	}
	for i, v := range x {
		q[i] = int8(nearestInt(v * id))
	}
	return f16Table[F32ToF16(amax/127)]
}

// quantActQ8K quantizes a super-block of 256 like ggml's Q8_K reference:
// the scale comes from the signed value of largest magnitude, so that value
// maps to ∓127 exactly and the others are capped at +127.
func quantActQ8K(x []float32, q []int8, bsums []int32) float32 {
	amax, mx := float32(0), float32(0)
	for _, v := range x {
		av := v
		if av < 0 {
			av = -av
		}
		if av > amax {
			amax, mx = av, v
		}
	}
	if amax == 0 {
		clear(q)
		clear(bsums)
		return 0
	}
	iscale := -127 / mx
	for i, v := range x {
		q[i] = int8(min(127, nearestInt(iscale*v)))
	}
	for j := range bsums {
		s := int32(0)
		for _, v := range q[16*j : 16*j+16] {
			s += int32(v)
		}
		bsums[j] = s
	}
	return 1 / iscale
}

// F32ToBF16 rounds to bfloat16, nearest even, as ggml does.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: force quiet
		return uint16(b>>16) | 64
	}
	return uint16((b + (0x7fff + (b>>16)&1)) >> 16)
}
