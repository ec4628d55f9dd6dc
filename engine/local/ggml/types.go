// Package ggml holds the tensor element types of the GGML/GGUF world, their
// block layouts, dequantization, and the quantized dot products and
// matrix-vector kernels the local inference engine runs on. Weights stay in
// their stored (quantized) form; kernels read the blocks directly so that a
// model file can be memory-mapped and used without conversion.
//
// On amd64 CPUs with AVX2, FMA and F16C, F16, Q8_0, Q4_K and Q6_K (and F32
// dot products) run Go-assembly kernels (kernels_amd64.s), chosen at
// start-up; SetAssembly(false) falls back to the portable pure-Go "SWAR"
// kernels that run everywhere. The two sum block results in different
// orders, so logits differ between them in the last bits, within the
// logit tolerances. Built with GOEXPERIMENT=simd, the archsimd kernels
// remain an alternative for the types the assembly does not cover (Q4_0,
// Q5_K). Within one kernel set, results never depend on thread count or
// batching: the four-token prompt kernels equal the one-token ones bit for
// bit.
package ggml

import (
	"errors"
	"fmt"
	"strconv"
)

// Type is a GGML tensor element type, numbered as in GGUF files.
type Type uint32

// Type values as they appear in GGUF tensor infos. Gaps are ids that GGML
// has retired; they are rejected as unknown.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

// QK_K is the super-block length of the K-quants.
const QK_K = 256

type typeInfo struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
	supported  bool
}

// Block geometry of every type GGUF files may hold. The geometry of types
// this package cannot compute with is still needed to validate tensor sizes.
var types = map[Type]typeInfo{
	F32:     {"f32", 1, 4, true},
	F16:     {"f16", 1, 2, true},
	Q4_0:    {"q4_0", 32, 18, true},
	Q4_1:    {"q4_1", 32, 20, false},
	Q5_0:    {"q5_0", 32, 22, true},
	Q5_1:    {"q5_1", 32, 24, false},
	Q8_0:    {"q8_0", 32, 34, true},
	Q8_1:    {"q8_1", 32, 36, false},
	Q2_K:    {"q2_K", 256, 84, false},
	Q3_K:    {"q3_K", 256, 110, false},
	Q4_K:    {"q4_K", 256, 144, true},
	Q5_K:    {"q5_K", 256, 176, true},
	Q6_K:    {"q6_K", 256, 210, true},
	Q8_K:    {"q8_K", 256, 292, false},
	IQ2_XXS: {"iq2_xxs", 256, 66, false},
	IQ2_XS:  {"iq2_xs", 256, 74, false},
	IQ3_XXS: {"iq3_xxs", 256, 98, false},
	IQ1_S:   {"iq1_s", 256, 50, false},
	IQ4_NL:  {"iq4_nl", 32, 18, false},
	IQ3_S:   {"iq3_s", 256, 110, false},
	IQ2_S:   {"iq2_s", 256, 82, false},
	IQ4_XS:  {"iq4_xs", 256, 136, false},
	I8:      {"i8", 1, 1, false},
	I16:     {"i16", 1, 2, false},
	I32:     {"i32", 1, 4, false},
	I64:     {"i64", 1, 8, false},
	F64:     {"f64", 1, 8, false},
	IQ1_M:   {"iq1_m", 256, 56, false},
	BF16:    {"bf16", 1, 2, true},
	TQ1_0:   {"tq1_0", 256, 54, false},
	TQ2_0:   {"tq2_0", 256, 66, false},
	MXFP4:   {"mxfp4", 32, 17, false},
}

// ErrUnknownType is returned for type ids GGML does not define.
var ErrUnknownType = errors.New("unknown ggml type")

// ErrUnsupportedType is returned for types that are known but that this
// package cannot compute with.
var ErrUnsupportedType = errors.New("unsupported ggml type")

// String returns GGML's name for the type (lower case, as in llama.cpp).
func (t Type) String() string {
	if ti, ok := types[t]; ok {
		return ti.name
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Known reports whether t is a GGML type id.
func (t Type) Known() bool {
	_, ok := types[t]
	return ok
}

// Supported reports whether this package can dequantize t and multiply with it.
func (t Type) Supported() bool { return types[t].supported }

// BlockSize is the number of elements in one block (1 for plain floats).
func (t Type) BlockSize() int { return types[t].blockSize }

// BlockBytes is the size in bytes of one block.
func (t Type) BlockBytes() int { return types[t].blockBytes }

// RowBytes returns the storage size of n consecutive elements of type t. n
// must be a multiple of the block size.
func (t Type) RowBytes(n int) (int, error) {
	ti, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("%w: %d", ErrUnknownType, uint32(t))
	}
	if n < 0 || n%ti.blockSize != 0 {
		return 0, fmt.Errorf("ggml: %d elements of %s is not a whole number of %d-element blocks", n, ti.name, ti.blockSize)
	}
	return n / ti.blockSize * ti.blockBytes, nil
}

// ParseType returns the type with GGML name s (case-insensitive).
func ParseType(s string) (Type, bool) {
	for t, ti := range types {
		if equalFold(ti.name, s) {
			return t, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
