//go:build !amd64

package ggml

// Without assembly kernels the Go (SWAR) ones run everywhere.

func asmSupported() bool { return false }

func asmDot(*Matrix, int, *Acts, int) (float32, bool) { return 0, false }

func asmHas(Type) bool { return false }

func asmDotF32([]float32, []float32) (float32, bool) { return 0, false }

func asmDotF16([]uint16, []float32) (float32, bool) { return 0, false }

func asmDot4(*Matrix, int, *Acts, int, *[4]float32) bool { return false }

func asmDot8(*Matrix, int, *Acts, int, *[8]float32) bool { return false }

func asmHasF16x4(*Matrix, *Acts, int) bool { return false }

func asmF16Rows4(*Matrix, int, int, *Acts, int, *f16Acc, []float32) {}

func asmF16ToF32s([]float32, []uint16) int { return 0 }

func asmRoundF16s([]float32, []float32) int { return 0 }

func asmQuantQ8_0([]float32, []int8, []float32, []int32) bool { return false }

func asmQuantQ8K([]float32, []int8, []float32, []int32) bool { return false }

func asm512Supported() bool { return false }

func asmCovers(*Matrix) bool { return false }

func vnniSupported() bool { return false }

const q4kScaleBytes = 32

func q4kScalesRow([]byte, int, []byte) {}

func dotQ4Kx4([]byte, []byte, *Acts, int, *[4]float32) {}

// maxQ4KBlocks: see asm_amd64.go.
const maxQ4KBlocks = 64

// WeightedSumF16 has no kernel here (see asm_amd64.go).
func WeightedSumF16(*[96]float32, []uint16, int, []float32, int, int, int) bool { return false }

func asmSiLUMul([]float32, []float32) int { return 0 }

func asmDotRows(*Matrix, int, int, *Acts, int, []float32) bool { return false }
