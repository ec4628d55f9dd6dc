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
	for _, typ := range []Type{F32, F16, Q8_0, Q4_K, Q6_K} {
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
					case Q4_K:
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
