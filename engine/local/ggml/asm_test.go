package ggml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAssemblyMatchesGo compares the assembly kernels with the Go ones on
// random rows and on the extreme values of each layout. The two sum the
// scaled block sums in different orders, so they agree to rounding, not
// bit for bit.
func TestAssemblyMatchesGo(t *testing.T) {
	if !asmSupported() {
		t.Skip("this CPU (or GOARCH) has no assembly kernels")
	}
	defer SetAssembly(true)
	for _, typ := range []Type{F32, F16, Q8_0, Q4_K, Q5_K, Q6_K} {
		for _, cols := range []int{256, 1536, 8960 - 8960%256} {
			rng := rand.New(rand.NewPCG(11, uint64(typ)*7+uint64(cols)))
			m, _ := randomMatrix(t, typ, 8, cols, rng)
			if typ != F32 && typ != F16 && cols == 256 {
				for i := range m.Data[:m.rowBytes] { // row 0: largest values
					m.Data[i] = 0xff
				}
				bb := typ.BlockBytes()
				for b := 0; b < cols/typ.BlockSize(); b++ {
					blk := m.Data[b*bb:]
					switch typ {
					case Q6_K:
						blk[208], blk[209] = 0x00, 0x38
					case Q4_K, Q5_K:
						blk[0], blk[1], blk[2], blk[3] = 0x00, 0x38, 0x00, 0x34
					default:
						blk[0], blk[1] = 0x00, 0x38
					}
				}
			}
			x := make([]float32, 3*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			x[5] = 40 // a large activation, as real models have
			var a Acts
			if err := a.Prepare(typ, x, 3, cols); err != nil {
				t.Fatal(err)
			}
			a.ensurePacked() // for the Go kernels, which dotRow calls directly
			for r := 0; r < m.Rows; r++ {
				for tk := 0; tk < 3; tk++ {
					SetAssembly(true)
					got := m.dotRow(r, &a, tk)
					SetAssembly(false)
					want := m.dotRow(r, &a, tk)
					var mag float64
					xa := dequantActs(&a)[tk*cols : (tk+1)*cols]
					w := make([]float32, cols)
					if err := m.Row(r, w); err != nil {
						t.Fatal(err)
					}
					for i := range w {
						mag += math.Abs(float64(w[i]) * float64(xa[i]))
					}
					if d := math.Abs(float64(got) - float64(want)); d > 1e-5*mag+1e-6 {
						t.Errorf("%s cols %d row %d vector %d: assembly %g, Go %g (Σ|w·x| %g)", typ, cols, r, tk, got, want, mag)
					}
				}
			}
		}
	}
}

type streamTask struct {
	buf  []float32
	sums []float32
}

func (s *streamTask) Run(worker, lo, hi int) {
	for i := lo; i < hi; i++ {
		chunk := s.buf[i<<16 : (i+1)<<16]
		s.sums[worker] += dotF32(chunk, chunk)
	}
}

// BenchmarkStreamRead measures the machine's streaming-read bandwidth the
// way decode reads weights: 512 MB, far larger than any cache, read once
// per iteration by a pool's threads in 256 KB chunks with the vector
// kernel. Decode's GB/s (thinkstream bench engine) is judged against it.
func BenchmarkStreamRead(b *testing.B) {
	const n = 128 << 20 // float32s
	task := &streamTask{buf: make([]float32, n)}
	for i := range task.buf {
		task.buf[i] = float32(i & 7)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			p := NewPool(threads)
			defer p.Close()
			task.sums = make([]float32, threads)
			b.SetBytes(4 * n)
			for b.Loop() {
				p.Run(n>>16, 1, task)
			}
		})
	}
}

// TestAssemblyBatchMatchesGo runs whole matrix products, batches of 1 to 9
// vectors (the four-vector kernels plus the single-vector tail), through
// the assembly and the Go kernels, at the edge sizes: one block, the
// longest row the K-quant kernels take (64 blocks) and one block more,
// which must fall back to Go.
func TestAssemblyBatchMatchesGo(t *testing.T) {
	if !asmSupported() {
		t.Skip("this CPU (or GOARCH) has no assembly kernels")
	}
	defer SetAssembly(true)
	p := NewPool(2)
	defer p.Close()
	for _, typ := range []Type{F16, Q8_0, Q4_K, Q5_K, Q6_K} {
		for _, cols := range []int{256, 768, maxQ4KBlocks * QK_K, (maxQ4KBlocks + 1) * QK_K} {
			for _, n := range []int{1, 4, 9} {
				if cols > 1024 && n > 4 {
					continue // keep the portable kernels' share of the run short
				}
				rng := rand.New(rand.NewPCG(uint64(n), uint64(typ)*131+uint64(cols)))
				m, w := randomMatrix(t, typ, 5, cols, rng)
				x := make([]float32, n*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				var a Acts
				var mm MatMul
				if err := a.Prepare(typ, x, n, cols); err != nil {
					t.Fatal(err)
				}
				got, want := make([]float32, n*m.Rows), make([]float32, n*m.Rows)
				SetAssembly(true)
				if err := p.Mul(&mm, m, &a, got); err != nil {
					t.Fatal(err)
				}
				SetAssembly(false)
				if err := p.Mul(&mm, m, &a, want); err != nil {
					t.Fatal(err)
				}
				xa := dequantActs(&a)
				for tk := 0; tk < n; tk++ {
					for r := 0; r < m.Rows; r++ {
						var mag float64
						for i := 0; i < cols; i++ {
							mag += math.Abs(float64(w[r*cols+i]) * float64(xa[tk*cols+i]))
						}
						g, wt := got[tk*m.Rows+r], want[tk*m.Rows+r]
						if d := math.Abs(float64(g) - float64(wt)); d > 1e-5*mag+1e-6 {
							t.Errorf("%s cols %d n %d vector %d row %d: assembly %g, Go %g", typ, cols, n, tk, r, g, wt)
						}
					}
				}
			}
		}
	}
}

// FuzzAssemblyKernels feeds arbitrary weight bytes (with the f16 scales
// forced finite) and activations to every K-quant and Q8_0 assembly
// kernel, one and four vectors, and compares with the Go kernels.
func FuzzAssemblyKernels(f *testing.F) {
	if !asmSupported() {
		f.Skip("this CPU (or GOARCH) has no assembly kernels")
	}
	f.Add([]byte{0xff, 0x00, 0x12}, uint64(1), uint8(0))
	f.Add([]byte{0x55}, uint64(7), uint8(2))
	f.Fuzz(func(t *testing.T, pattern []byte, seed uint64, which uint8) {
		if len(pattern) == 0 {
			return
		}
		types := []Type{Q8_0, Q4_K, Q5_K, Q6_K}
		typ := types[int(which)%len(types)]
		const cols, rows, n = 512, 2, 5
		rb, _ := typ.RowBytes(cols)
		data := make([]byte, rb*rows)
		for i := range data {
			data[i] = pattern[i%len(pattern)] ^ byte(i*int(seed|1))
		}
		bb := typ.BlockBytes()
		for b := 0; b < len(data)/bb; b++ {
			blk := data[b*bb:]
			switch typ {
			case Q6_K:
				blk[208], blk[209] = byte(seed), 0x30|byte(seed>>8)&0x0f
			case Q4_K, Q5_K:
				blk[0], blk[1], blk[2], blk[3] = byte(seed), 0x30|byte(seed>>8)&0x0f, byte(seed>>16), 0x2c|byte(seed>>24)&0x03
			default:
				blk[0], blk[1] = byte(seed), 0x30|byte(seed>>8)&0x0f
			}
		}
		m, err := NewMatrix(typ, cols, rows, data)
		if err != nil {
			t.Fatal(err)
		}
		w := make([]float32, rows*cols)
		if err := Dequantize(typ, data, w); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 3))
		x := make([]float32, n*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64()) * float32(1+seed%50)
		}
		var a Acts
		if err := a.Prepare(typ, x, n, cols); err != nil {
			t.Fatal(err)
		}
		defer SetAssembly(true)
		p := NewPool(1)
		defer p.Close()
		var mm MatMul
		got, want := make([]float32, n*rows), make([]float32, n*rows)
		SetAssembly(true)
		_ = p.Mul(&mm, m, &a, got)
		SetAssembly(false)
		_ = p.Mul(&mm, m, &a, want)
		xa := dequantActs(&a)
		for tk := 0; tk < n; tk++ {
			for r := 0; r < rows; r++ {
				var mag float64
				for i := 0; i < cols; i++ {
					mag += math.Abs(float64(w[r*cols+i]) * float64(xa[tk*cols+i]))
				}
				g, wt := got[tk*rows+r], want[tk*rows+r]
				if d := math.Abs(float64(g) - float64(wt)); d > 1e-5*mag+1e-6 {
					t.Errorf("%s vector %d row %d: assembly %g, Go %g (Σ|w·x| %g)", typ, tk, r, g, wt, mag)
				}
			}
		}
	})
}
