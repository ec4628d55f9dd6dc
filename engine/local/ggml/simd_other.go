//go:build !(goexperiment.simd && amd64)

package ggml

// Without GOEXPERIMENT=simd on amd64 there are no vector kernels; the SWAR
// ones run everywhere.

func simdDot(*Matrix, []byte, *Acts, int) (float32, bool) { return 0, false }

func simdHas(Type) bool { return false }

func simdDot4(*Matrix, []byte, *Acts, int, *[4]float32) bool { return false }

func simdDotF32([]float32, []float32) (float32, bool) { return 0, false }
