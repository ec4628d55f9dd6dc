package ggml

import (
	"fmt"
	"unsafe"
)

// Matrix is a 2-D weight tensor in its stored type: Rows rows of Cols
// elements (GGML shape [Cols, Rows]). Data is usually a slice of a
// memory-mapped model file.
type Matrix struct {
	Type       Type
	Cols, Rows int
	Data       []byte
	rowBytes   int
	f32        []float32 // Data viewed as float32 (F32 only)
	u16        []uint16  // Data viewed as uint16 (F16/BF16 only)
}

// NewMatrix wraps data, checking its size against the shape.
func NewMatrix(t Type, cols, rows int, data []byte) (*Matrix, error) {
	if !t.Supported() {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedType, t)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, err
	}
	if cols <= 0 || rows <= 0 || len(data) != rb*rows {
		return nil, fmt.Errorf("ggml: %s matrix %d×%d needs %d bytes, have %d", t, rows, cols, rb*rows, len(data))
	}
	m := &Matrix{Type: t, Cols: cols, Rows: rows, Data: data, rowBytes: rb}
	// The views need natural alignment; GGUF data is 32-byte aligned, and
	// a misaligned slice (only possible from a hand-built buffer) is copied.
	switch t {
	case F32:
		if uintptr(unsafe.Pointer(&data[0]))%4 != 0 {
			data = append(make([]byte, 0, len(data)+4), data...)
		}
		m.f32 = unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), len(data)/4)
	case F16, BF16:
		if uintptr(unsafe.Pointer(&data[0]))%2 != 0 {
			data = append(make([]byte, 0, len(data)+2), data...)
		}
		m.u16 = unsafe.Slice((*uint16)(unsafe.Pointer(&data[0])), len(data)/2)
	}
	return m, nil
}

// RowBytes is the storage size of one row.
func (m *Matrix) RowBytes() int { return m.rowBytes }

// Row dequantizes row i into dst (len Cols).
func (m *Matrix) Row(i int, dst []float32) error {
	if i < 0 || i >= m.Rows {
		return fmt.Errorf("ggml: row %d out of range [0, %d)", i, m.Rows)
	}
	return Dequantize(m.Type, m.Data[i*m.rowBytes:(i+1)*m.rowBytes], dst[:m.Cols])
}

// dotRow computes row r of m · activation vector t of a.
func (m *Matrix) dotRow(r int, a *Acts, t int) float32 {
	c := m.Cols
	switch m.Type {
	case F32:
		return dotF32(m.f32[r*c:(r+1)*c], a.f[t*c:(t+1)*c])
	case F16:
		if v, ok := asmDotF16(m.u16[r*c:(r+1)*c], a.f[t*c:(t+1)*c]); ok {
			return v
		}
		return dotF16(m.u16[r*c:(r+1)*c], a.f[t*c:(t+1)*c])
	case BF16:
		return dotBF16(m.u16[r*c:(r+1)*c], a.f[t*c:(t+1)*c])
	}
	row := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
	if v, ok := asmDot(m, r, a, t); ok {
		return v
	}
	if v, ok := simdDot(m, row, a, t); ok {
		return v
	}
	pk := a.pk[t*c/4 : (t+1)*c/4]
	switch m.Type {
	case Q4_0:
		return dotQ4_0Swar(row, pk, a.d[t*c/32:(t+1)*c/32], a.bs[t*c/32:(t+1)*c/32])
	case Q5_0:
		return dotQ5_0Swar(row, pk, a.d[t*c/32:(t+1)*c/32], a.bs[t*c/32:(t+1)*c/32])
	case Q5_K:
		return dotQ5KSwar(row, pk, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16])
	case Q8_0:
		return dotQ8_0Swar(row, pk, a.d[t*c/32:(t+1)*c/32], a.bs[t*c/32:(t+1)*c/32])
	case Q4_K:
		return dotQ4KSwar(row, pk, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16])
	case Q6_K:
		return dotQ6KSwar(row, pk, a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16])
	}
	panic("ggml: unreachable: matrix of unsupported type " + m.Type.String())
}

// MatMul computes y[t*Rows + r] = row r of m · vector t of a, for all rows
// and all a.N vectors, on a pool. It is caller-owned scratch: Pool.Mul
// allocates nothing once a MatMul has seen its largest matrix.
type MatMul struct {
	m *Matrix
	a *Acts
	y []float32
	// Per-worker unpacked rows for the batched kernels.
	unpack bool
	lanes  [][]uint64
	sums   [][]int32
	rowf   [][]float32 // F16 rows converted to float32
	scales [][]byte    // Q4_K rows' unpacked scales (runQ4K)
	// Rows unpacked at once (see scratchBytes).
	blockRows int
	q4k       bool     // runQ4K runs
	f16acc    []f16Acc // asmF16Rows4's accumulators, one a worker
}

// f16Acc is one worker's scratch for asmF16Rows4: the saved accumulators
// (96 floats for each row triple of a block), and the results of a last
// four vectors that are partly the padding past Acts' last vector.
type f16Acc struct {
	acc [f16Block / 3 * 96]float32
	y   [4 * f16Block]float32
}

// f16Block is the rows of an F16 block in Run (a multiple of 3).
const f16Block = 48

// q4kBlock is runQ4K's block of rows: their unpacked scales (32 bytes a
// block of 256 columns) stay in L1 while every vector passes over them.
const q4kBlock = 16

// runQ4K is Run for Q4_K on the assembly kernels: each row's scales are
// unpacked once for all the vectors (unpacking them is as costly as a
// four-vector product of the block), then four vectors at a time go over
// the block's rows; the rest, one at a time, on the one-vector kernel.
func (mm *MatMul) runQ4K(worker, lo, hi int) {
	m, a, y := mm.m, mm.a, mm.y
	nb := m.Cols / QK_K
	sc := mm.scales[worker]
	var four [4]float32
	for r0 := lo; r0 < hi; r0 += q4kBlock {
		r1 := min(r0+q4kBlock, hi)
		for r := r0; r < r1; r++ {
			q4kScalesRow(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], nb, sc[(r-r0)*nb*q4kScaleBytes:])
		}
		t := 0
		for ; t+4 <= a.N; t += 4 {
			for r := r0; r < r1; r++ {
				i := r - r0
				dotQ4Kx4(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], sc[i*nb*q4kScaleBytes:(i+1)*nb*q4kScaleBytes], a, t, &four)
				y[t*m.Rows+r], y[(t+1)*m.Rows+r], y[(t+2)*m.Rows+r], y[(t+3)*m.Rows+r] = four[0], four[1], four[2], four[3]
			}
		}
		for ; t < a.N; t++ {
			yt := y[t*m.Rows : (t+1)*m.Rows]
			for r := r0; r < r1; r++ {
				yt[r] = m.dotRow(r, a, t)
			}
		}
	}
}

// Run implements Task over rows. Each weight row is read once for all
// vectors, which is what makes batched prompt processing cheaper.
func (mm *MatMul) Run(worker, lo, hi int) {
	m, a, y := mm.m, mm.a, mm.y
	if mm.unpack {
		mm.runUnpacked(worker, lo, hi)
		return
	}
	if mm.q4k {
		mm.runQ4K(worker, lo, hi)
		return
	}
	// Blocks of rows small enough to stay in cache while every vector
	// passes over them: each vector's activations are then read once per
	// block instead of once per row.
	block := 16
	if m.Type == F16 {
		// asmF16Rows4 takes up to 48 rows, three at a time: 144 KB of
		// 1536-column rows stay in L2 while every vector passes over
		// them, and each vector is read from L3 once per 48 rows (blocks
		// of 24 ran 10–15% slower on two threads).
		block = f16Block
	}
	var four [4]float32
	var eight [8]float32
	for r0 := lo; r0 < hi; r0 += block {
		r1 := min(r0+block, hi)
		t := 0
		// F16: three rows × four vectors at a time, the last four padded
		// (Acts has room for three vectors more) if two or three vectors
		// are left; the rows past the last three take the one-row kernels.
		threes := r0 + (r1-r0)/3*3
		for ; asmHasF16x4(m, a, t); t += 4 {
			asmF16Rows4(m, r0, threes, a, t, &mm.f16acc[worker], y)
			for r := threes; r < r1; r++ {
				if t+4 <= a.N && asmDot4(m, r, a, t, &four) {
					for i, v := range four {
						y[(t+i)*m.Rows+r] = v
					}
					continue
				}
				for k := t; k < min(t+4, a.N); k++ {
					y[k*m.Rows+r] = m.dotRow(r, a, k)
				}
			}
		}
		for ; t+8 <= a.N; t += 8 {
			if !asmDot8(m, r0, a, t, &eight) {
				break
			}
			for r := r0; ; {
				for i, v := range eight {
					y[(t+i)*m.Rows+r] = v
				}
				if r++; r == r1 {
					break
				}
				asmDot8(m, r, a, t, &eight)
			}
		}
		for ; t+4 <= a.N; t += 4 {
			if !asmDot4(m, r0, a, t, &four) {
				break
			}
			y[t*m.Rows+r0], y[(t+1)*m.Rows+r0], y[(t+2)*m.Rows+r0], y[(t+3)*m.Rows+r0] = four[0], four[1], four[2], four[3]
			for r := r0 + 1; r < r1; r++ {
				asmDot4(m, r, a, t, &four)
				y[t*m.Rows+r], y[(t+1)*m.Rows+r], y[(t+2)*m.Rows+r], y[(t+3)*m.Rows+r] = four[0], four[1], four[2], four[3]
			}
		}
		for ; t+4 <= a.N && !asmHas(m.Type); t += 4 {
			if !simdDot4(m, m.Data[r0*m.rowBytes:(r0+1)*m.rowBytes], a, t, &four) {
				break
			}
			y[t*m.Rows+r0], y[(t+1)*m.Rows+r0], y[(t+2)*m.Rows+r0], y[(t+3)*m.Rows+r0] = four[0], four[1], four[2], four[3]
			for r := r0 + 1; r < r1; r++ {
				simdDot4(m, m.Data[r*m.rowBytes:(r+1)*m.rowBytes], a, t, &four)
				y[t*m.Rows+r], y[(t+1)*m.Rows+r], y[(t+2)*m.Rows+r], y[(t+3)*m.Rows+r] = four[0], four[1], four[2], four[3]
			}
		}
		for ; t < a.N; t++ {
			yt := y[t*m.Rows : (t+1)*m.Rows]
			if asmDotRows(m, r0, r1, a, t, yt[r0:r1]) {
				continue
			}
			for r := r0; r < r1; r++ {
				yt[r] = m.dotRow(r, a, t)
			}
		}
	}
}

// scratchRows bounds the unpacked rows kept at once: a block of rows is
// unpacked, then every vector is multiplied with the whole block, so that
// each vector's activations are read once per block rather than once per
// row. 128 KB keeps the block in L2 next to one vector's activations.
const scratchBytes = 128 << 10

func (mm *MatMul) runUnpacked(worker, lo, hi int) {
	m, a, y := mm.m, mm.a, mm.y
	c := m.Cols
	nl, ns, _ := unpackedSize(m.Type, c)
	br := mm.blockRows
	u, ws, wf := mm.lanes[worker], mm.sums[worker], mm.rowf[worker]
	for r0 := lo; r0 < hi; r0 += br {
		r1 := min(r0+br, hi)
		for r := r0; r < r1; r++ {
			i := r - r0
			row := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
			switch m.Type {
			case F16:
				F16ToF32s(wf[i*c:(i+1)*c], m.u16[r*c:(r+1)*c])
			case Q8_0:
				unpackQ8_0(row, u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns])
			case Q4_K:
				unpackQ4K(row, u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns])
			case Q6_K:
				unpackQ6K(row, u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns])
			}
		}
		for t := 0; t < a.N; t++ {
			yt := y[t*m.Rows : (t+1)*m.Rows]
			switch m.Type {
			case F16:
				// dotF32Go on the converted row is dotF16's arithmetic
				// exactly (the vector dotF32 sums in another order).
				x := a.f[t*c : (t+1)*c]
				for r := r0; r < r1; r++ {
					i := r - r0
					yt[r] = dotF32Go(wf[i*c:(i+1)*c], x)
				}
			case Q8_0:
				pk, d, bs := a.pk[t*c/4:(t+1)*c/4], a.d[t*c/32:(t+1)*c/32], a.bs[t*c/32:(t+1)*c/32]
				for r := r0; r < r1; r++ {
					i := r - r0
					yt[r] = dotQ8_0Unpacked(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns], pk, d, bs)
				}
			case Q4_K:
				pk, d, bs := a.pk[t*c/4:(t+1)*c/4], a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16]
				for r := r0; r < r1; r++ {
					i := r - r0
					yt[r] = dotQ4KUnpacked(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns], pk, d, bs)
				}
			case Q6_K:
				pk, d, bs := a.pk[t*c/4:(t+1)*c/4], a.d[t*c/QK_K:(t+1)*c/QK_K], a.bs[t*c/16:(t+1)*c/16]
				for r := r0; r < r1; r++ {
					i := r - r0
					yt[r] = dotQ6KUnpacked(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], u[i*nl:(i+1)*nl], ws[i*ns:(i+1)*ns], pk, d, bs)
				}
			}
		}
	}
}

// reserve decides whether the batched kernels run and sizes their
// per-worker scratch (growing only, so steady state allocates nothing).
func (mm *MatMul) reserve(threads int, m *Matrix, n int) {
	nl, ns, ok := unpackedSize(m.Type, m.Cols)
	mm.unpack = ok && n > 1 && !simdHas(m.Type) && !asmHas(m.Type)
	mm.q4k = m.Type == Q4_K && asmOn && n >= 4 && m.Cols/QK_K <= maxQ4KBlocks
	if mm.q4k {
		for len(mm.scales) < threads {
			mm.scales = append(mm.scales, nil)
		}
		for w := range threads {
			mm.scales[w] = grow(mm.scales[w], q4kBlock*m.Cols/QK_K*q4kScaleBytes)
		}
	}
	if m.Type == F16 && n >= 2 {
		for len(mm.f16acc) < threads {
			mm.f16acc = append(mm.f16acc, f16Acc{})
		}
	}
	if !mm.unpack {
		return
	}
	rowBytes := nl*8 + ns*4
	if m.Type == F16 {
		rowBytes = 4 * m.Cols
	}
	mm.blockRows = max(1, min(16, scratchBytes/rowBytes))
	for len(mm.lanes) < threads {
		mm.lanes = append(mm.lanes, nil)
		mm.sums = append(mm.sums, nil)
		mm.rowf = append(mm.rowf, nil)
	}
	for w := 0; w < threads; w++ {
		if m.Type == F16 {
			mm.rowf[w] = grow(mm.rowf[w], mm.blockRows*m.Cols)
			continue
		}
		mm.lanes[w] = grow(mm.lanes[w], mm.blockRows*nl)
		mm.sums[w] = grow(mm.sums[w], mm.blockRows*ns)
	}
}

// Mul multiplies m by the prepared activations a into y (a.N × m.Rows).
func (p *Pool) Mul(mm *MatMul, m *Matrix, a *Acts, y []float32) error {
	if a.Type != VecDotType(m.Type) || a.Cols != m.Cols {
		return fmt.Errorf("ggml: activations %s×%d do not fit %s matrix with %d columns", a.Type, a.Cols, m.Type, m.Cols)
	}
	if len(y) < a.N*m.Rows {
		return fmt.Errorf("ggml: output has %d floats, need %d", len(y), a.N*m.Rows)
	}
	if !asmCovers(m) {
		a.ensurePacked()
	}
	mm.m, mm.a, mm.y = m, a, y
	mm.reserve(p.threads, m, a.N)
	// Rows of big matrices are a few hundred bytes to a few kilobytes;
	// 16 rows per chunk keep dispatch overhead negligible.
	grain := 16
	if m.Type == F16 {
		grain = f16Block
	}
	p.Run(m.Rows, grain, mm)
	mm.m, mm.a, mm.y = nil, nil, nil
	return nil
}
