package ggml

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the calling OS thread's CPU time (Linux; 0 elsewhere).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRowKernel times one 1536-column row (a decode matrix's row,
// L1-resident) through each K-quant and Q8_0 kernel set, so that the
// kernels' own cost per 256 values shows without memory or dispatch.
func BenchmarkRowKernel(b *testing.B) {
	defer SetAssembly(true)
	rng := rand.New(rand.NewPCG(1, 1))
	// 1536 columns: most decode rows; 8960: ffn_down's, where the cost per
	// call is spread over 35 blocks instead of 6.
	for _, cols := range []int{1536, 8960} {
		for _, typ := range []Type{Q4_K, Q5_K, Q6_K, Q8_0} {
			m, _ := randomMatrix(b, typ, 1, cols, rng)
			x := make([]float32, cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			var a Acts
			if err := a.Prepare(typ, x, 1, cols); err != nil {
				b.Fatal(err)
			}
			for _, set := range []string{"avx512", "avx2"} {
				b.Run(fmt.Sprintf("%s/%d/%s", typ, cols, set), func(b *testing.B) {
					SetAssembly(true)
					if set == "avx2" {
						asm512On = false
					} else if !asm512On {
						b.Skip("no AVX-512")
					}
					for b.Loop() {
						m.dotRow(0, &a, 0)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cols/256), "ns/256")
				})
			}
		}
	}
}

// BenchmarkRowKernel4 is BenchmarkRowKernel for the prompt kernels: one row
// times four token vectors per call, reported per 256 values and token.
func BenchmarkRowKernel4(b *testing.B) {
	defer SetAssembly(true)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K, Q8_0} {
		m, _ := randomMatrix(b, typ, 1, 1536, rng)
		x := make([]float32, 4*1536)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		var a Acts
		if err := a.Prepare(typ, x, 4, 1536); err != nil {
			b.Fatal(err)
		}
		for _, set := range []string{"vnni", "avx512", "avx2"} {
			b.Run(typ.String()+"/"+set, func(b *testing.B) {
				SetAssembly(true)
				switch {
				case set == "avx2":
					asm512On = false
				case !asm512On:
					b.Skip("no AVX-512")
				case set == "avx512":
					vnniOn = false
				case !vnniOn:
					b.Skip("no AVX-512 VNNI")
				}
				var four [4]float32
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPU()
				for b.Loop() {
					if !asmDot4(m, 0, &a, 0, &four) {
						b.Skip("no 4-token kernel")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/6/4, "ns/256/token")
				// CPU time of this thread: what the kernel costs when other
				// processes share the cores (wall time then counts their turns).
				b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(b.N)/6/4, "cpu-ns/256/token")
			})
		}
	}
}

// BenchmarkRowKernelF16 is the F16 prompt kernels on a block of 24 rows
// of 1536 columns (as MatMul.Run walks them) and eight vectors: three
// rows × four vectors at a time against one row × four vectors.
func BenchmarkRowKernelF16(b *testing.B) {
	defer SetAssembly(true)
	const rows, cols = 24, 1536
	rng := rand.New(rand.NewPCG(1, 16))
	m, _ := randomMatrix(b, F16, rows, cols, rng)
	x := make([]float32, 8*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var a Acts
	if err := a.Prepare(F16, x, 8, cols); err != nil {
		b.Fatal(err)
	}
	var acc f16Acc
	y := make([]float32, 8*rows)
	for _, set := range []string{"avx2x3x4", "avx2x4"} {
		b.Run(set, func(b *testing.B) {
			SetAssembly(true)
			var four [4]float32
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				if set == "avx2x3x4" {
					asmF16Rows4(m, 0, rows, &a, 0, &acc, y)
					asmF16Rows4(m, 0, rows, &a, 4, &acc, y)
					continue
				}
				for r := range rows {
					asmDot4(m, r, &a, 0, &four)
					asmDot4(m, r, &a, 4, &four)
				}
			}
			per := float64(b.N) * rows * cols / 256 * 8
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/256/token")
			b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/per, "cpu-ns/256/token")
		})
	}
}
