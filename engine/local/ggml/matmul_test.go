package ggml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func randomMatrix(t testing.TB, typ Type, rows, cols int, rng *rand.Rand) (*Matrix, []float32) {
	t.Helper()
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 0.05)
	}
	rb, err := typ.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, rb*rows)
	if err := Quantize(typ, src, data); err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(typ, cols, rows, data)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float32, rows*cols)
	if err := Dequantize(typ, data, w); err != nil {
		t.Fatal(err)
	}
	return m, w
}

// dequantActs returns the activations as the kernels see them.
func dequantActs(a *Acts) []float32 {
	switch a.Type {
	case F32, F16, BF16:
		return a.f[:a.N*a.Cols]
	}
	out := make([]float32, a.N*a.Cols)
	bs := 32
	if a.Type == Q8_K {
		bs = QK_K
	}
	for i := range out {
		out[i] = float32(a.q[i]) * a.d[i/bs]
	}
	return out
}

// TestMatMul checks every kernel against a float64 product of the
// dequantized weights and the converted activations, and that the result
// does not depend on the number of threads.
func TestMatMul(t *testing.T) {
	const rows, cols, n = 37, 512, 3
	for _, typ := range []Type{F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(typ)))
			m, w := randomMatrix(t, typ, rows, cols, rng)
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			x[7] = 0
			var a Acts
			if err := a.Prepare(typ, x, n, cols); err != nil {
				t.Fatal(err)
			}
			xa := dequantActs(&a)
			// The converted activations must be close to the originals.
			for i := range x {
				if math.Abs(float64(xa[i]-x[i])) > 0.05 {
					t.Fatalf("activation %d: %g became %g", i, x[i], xa[i])
				}
			}
			var results [][]float32
			for _, threads := range []int{1, 2, 5} {
				p := NewPool(threads)
				y := make([]float32, n*rows)
				var mm MatMul
				if err := p.Mul(&mm, m, &a, y); err != nil {
					t.Fatal(err)
				}
				p.Close()
				results = append(results, y)
			}
			for i := 1; i < len(results); i++ {
				for j := range results[0] {
					if math.Float32bits(results[0][j]) != math.Float32bits(results[i][j]) {
						t.Fatalf("thread count changed y[%d]: %g vs %g", j, results[0][j], results[i][j])
					}
				}
			}
			y := results[0]
			for tk := 0; tk < n; tk++ {
				for r := 0; r < rows; r++ {
					var want float64
					for c := 0; c < cols; c++ {
						want += float64(w[r*cols+c]) * float64(xa[tk*cols+c])
					}
					if got := float64(y[tk*rows+r]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
						t.Errorf("y[%d][%d] = %g, want %g", tk, r, got, want)
					}
				}
			}
		})
	}
}

func TestMatMulErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, _ := randomMatrix(t, Q8_0, 4, 64, rng)
	p := NewPool(1)
	defer p.Close()
	var a Acts
	if err := a.Prepare(Q4_K, make([]float32, 256), 1, 256); err != nil {
		t.Fatal(err)
	}
	var mm MatMul
	if err := p.Mul(&mm, m, &a, make([]float32, 4)); err == nil {
		t.Error("mismatched activations: no error")
	}
	if err := a.Prepare(Q8_0, make([]float32, 64), 1, 64); err != nil {
		t.Fatal(err)
	}
	if err := p.Mul(&mm, m, &a, make([]float32, 3)); err == nil {
		t.Error("short output: no error")
	}
	if err := a.Prepare(Q8_0, make([]float32, 40), 1, 40); err == nil {
		t.Error("partial block: no error")
	}
	if _, err := NewMatrix(Q8_0, 64, 4, make([]byte, 10)); err == nil {
		t.Error("short data: no error")
	}
	if _, err := NewMatrix(Q3_K, 256, 1, make([]byte, 110)); err == nil {
		t.Error("unsupported type: no error")
	}
}

func TestMatMulNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, _ := randomMatrix(t, Q4_K, 256, 512, rng)
	x := make([]float32, 512)
	y := make([]float32, 256)
	p := NewPool(3)
	defer p.Close()
	var a Acts
	var mm MatMul
	allocs := testing.AllocsPerRun(20, func() {
		if err := a.Prepare(Q4_K, x, 1, 512); err != nil {
			t.Fatal(err)
		}
		if err := p.Mul(&mm, m, &a, y); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per matmul", allocs)
	}
}

func BenchmarkMatVec(b *testing.B) {
	const rows, cols = 1536, 1536
	for _, typ := range []Type{F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			m, _ := randomMatrix(b, typ, rows, cols, rng)
			x := make([]float32, cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, rows)
			p := NewPool(1)
			defer p.Close()
			var a Acts
			var mm MatMul
			b.SetBytes(int64(len(m.Data)))
			for b.Loop() {
				_ = a.Prepare(typ, x, 1, cols)
				_ = p.Mul(&mm, m, &a, y)
			}
			b.ReportMetric(float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkMatMulPrompt is one prompt batch of 128 tokens through the
// 1.5B model's two FFN shapes on one thread: what the blocked kernels
// gain or lose to the caches shows here, not in the row kernels' benches.
func BenchmarkMatMulPrompt(b *testing.B) {
	const n = 128
	for _, typ := range []Type{F16, Q8_0, Q4_K} {
		for _, shape := range [][2]int{{8960, 1536}, {1536, 8960}} {
			rows, cols := shape[0], shape[1]
			b.Run(fmt.Sprintf("%s/%dx%d", typ, rows, cols), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				m, _ := randomMatrix(b, typ, rows, cols, rng)
				x := make([]float32, n*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				y := make([]float32, n*rows)
				p := NewPool(1)
				defer p.Close()
				var a Acts
				var mm MatMul
				_ = a.Prepare(typ, x, n, cols)
				for b.Loop() {
					_ = p.Mul(&mm, m, &a, y)
				}
				b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

type countTask struct{ hits []int }

func (c *countTask) Run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i]++
	}
}

// TestPoolCoversEveryIndexOnce runs tasks of many sizes and grains and
// checks each index is visited exactly once, also after Close.
func TestPoolCoversEveryIndexOnce(t *testing.T) {
	p := NewPool(4)
	for _, closed := range []bool{false, true} {
		if closed {
			p.Close()
			p.Close() // idempotent
		}
		for _, n := range []int{0, 1, 2, 7, 16, 17, 100, 1000} {
			for _, grain := range []int{0, 1, 3, 64} {
				c := &countTask{hits: make([]int, n)}
				p.Run(n, grain, c)
				for i, h := range c.hits {
					if h != 1 {
						t.Fatalf("closed=%v n=%d grain=%d: index %d run %d times", closed, n, grain, i, h)
					}
				}
			}
		}
	}
	p0 := NewPool(0)
	defer p0.Close()
	if p0.Threads() < 1 {
		t.Error("NewPool(0) has no threads")
	}
}

// TestPoolJobsOversubscribed runs many short jobs on more workers than
// cores, so that workers are often descheduled and come back to a job
// that has closed: every index still runs once, and no old job is ever
// touched again after its Run returned.
func TestPoolJobsOversubscribed(t *testing.T) {
	p := NewPool(2*runtime.GOMAXPROCS(0) + 1)
	defer p.Close()
	jobs := make([]*countTask, 5000)
	for j := range jobs {
		jobs[j] = &countTask{hits: make([]int, 1+j%97)}
		p.Run(len(jobs[j].hits), 1, jobs[j])
	}
	for j, c := range jobs {
		for i, h := range c.hits {
			if h != 1 {
				t.Fatalf("job %d: index %d run %d times", j, i, h)
			}
		}
	}
}

// TestBatchedEqualsSingle checks that multiplying several vectors at once
// (the unpacked batched kernels) gives bit for bit what multiplying them
// one at a time gives.
func TestBatchedEqualsSingle(t *testing.T) {
	// 13 vectors: eight at a time (Q8_0), four, then one; F16 takes
	// fours, and 14, 15 or 2 vectors end in a padded four, 13 and 17 in
	// one vector on the four-row decoding kernel.
	const rows, cols = 19, 1792
	for _, tc := range []struct {
		typ Type
		n   int
	}{{F32, 13}, {F16, 13}, {F16, 14}, {F16, 15}, {F16, 2}, {F16, 17}, {Q4_0, 13}, {Q5_0, 13}, {Q8_0, 13}, {Q4_K, 13}, {Q5_K, 13}, {Q6_K, 13}} {
		typ, n := tc.typ, tc.n
		if cols%typ.BlockSize() != 0 {
			continue
		}
		t.Run(fmt.Sprintf("%s/%d", typ, n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, uint64(typ)))
			m, _ := randomMatrix(t, typ, rows, cols, rng)
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			p := NewPool(2)
			defer p.Close()
			var a Acts
			var mm MatMul
			if err := a.Prepare(typ, x, n, cols); err != nil {
				t.Fatal(err)
			}
			batch := make([]float32, n*rows)
			if err := p.Mul(&mm, m, &a, batch); err != nil {
				t.Fatal(err)
			}
			for tk := 0; tk < n; tk++ {
				if err := a.Prepare(typ, x[tk*cols:(tk+1)*cols], 1, cols); err != nil {
					t.Fatal(err)
				}
				one := make([]float32, rows)
				if err := p.Mul(&mm, m, &a, one); err != nil {
					t.Fatal(err)
				}
				for r := range one {
					if math.Float32bits(one[r]) != math.Float32bits(batch[tk*rows+r]) {
						t.Fatalf("vector %d row %d: single %g, batched %g", tk, r, one[r], batch[tk*rows+r])
					}
				}
			}
		})
	}
}

// TestKernelExtremes fills every quant byte with 0xff (the largest values
// each layout can hold) and the activations with 127 or -128, where a SWAR
// lane would overflow first, and compares with float64 arithmetic.
func TestKernelExtremes(t *testing.T) {
	const cols = 512
	for _, typ := range []Type{Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		for _, act := range []float32{1, -1} {
			rb, _ := typ.RowBytes(cols)
			row := make([]byte, rb)
			for i := range row {
				row[i] = 0xff
			}
			// Sane f16 scales (0.5, 0.25) in place of the 0xffff NaNs.
			bb := typ.BlockBytes()
			for b := 0; b < cols/typ.BlockSize(); b++ {
				blk := row[b*bb:]
				switch typ {
				case Q6_K:
					blk[208], blk[209] = 0x00, 0x38
				case Q4_K, Q5_K:
					blk[0], blk[1], blk[2], blk[3] = 0x00, 0x38, 0x00, 0x34
				default:
					blk[0], blk[1] = 0x00, 0x38
				}
			}
			m, err := NewMatrix(typ, cols, 1, row)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, cols)
			for i := range x {
				x[i] = act // quantizes to 127 (or -127 for Q8_K's signed max)
			}
			x[3] = -2 * act // and the largest magnitude the other way
			var a Acts
			if err := a.Prepare(typ, x, 1, cols); err != nil {
				t.Fatal(err)
			}
			w := make([]float32, cols)
			if err := Dequantize(typ, row, w); err != nil {
				t.Fatal(err)
			}
			xa := dequantActs(&a)
			var want float64
			for i := range w {
				want += float64(w[i]) * float64(xa[i])
			}
			a.ensurePacked()
			got := float64(m.dotRow(0, &a, 0))
			if math.Abs(got-want) > 1e-4*math.Abs(want)+1e-3 {
				t.Errorf("%s, activations %g: got %g, want %g", typ, act, got, want)
			}
		}
	}
}

// TestPoolPrepare holds the pool's parallel conversion of activations to
// the one-thread one, every field, for every vec-dot type and for sizes
// that end in a short unit.
func TestPoolPrepare(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, typ := range []Type{F32, F16, BF16, Q8_0, Q4_K} {
		for _, shape := range [][2]int{{1, 256}, {3, 768}, {5, 32 * 7}, {9, 1536}} {
			n, cols := shape[0], shape[1]
			if VecDotType(typ).BlockSize() > cols || cols%VecDotType(typ).BlockSize() != 0 {
				continue
			}
			rng := rand.New(rand.NewPCG(uint64(n), uint64(cols)))
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			var one, many Acts
			if err := one.Prepare(typ, x, n, cols); err != nil {
				t.Fatal(err)
			}
			if err := p.Prepare(&many, typ, x, n, cols); err != nil {
				t.Fatal(err)
			}
			opt := cmp.AllowUnexported(Acts{})
			if diff := cmp.Diff(one, many, opt, cmpopts.IgnoreFields(Acts{}, "task")); diff != "" {
				t.Errorf("%s %d×%d: pool differs (-one +pool):\n%s", typ, n, cols, diff)
			}
		}
	}
}
