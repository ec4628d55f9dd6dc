//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// AVX-512 (F, VL) kernel for F16 rows and eight vectors, for prompt
// batches: each 16 halves are converted once for the eight vectors, and
// each vector's 16 values are loaded once for two rows. A (row, vector)
// 16-lane accumulator holds, side by side, the two 8-lane accumulators of
// dotF16AVX2 (lanes 0–7 the first half of every 16, lanes 8–15 the
// second), each lane a chain of fused multiply-adds in the same order; the
// end adds the two halves and sums the lanes as dotF16AVX2 does, so every
// result is its result bit for bit and batches equal single tokens.

// HSUM16B sums a 16-lane accumulator z (its low half y, low quarter x)
// into out+off(BX) in dotF16AVX2's order (HSUMTO's additions), with Y18
// and X18 as scratch: the low registers all hold sums still to be taken.
#define HSUM16B(z, y, x, off) \
	VEXTRACTF64X4 $1, z, Y18; \
	VADDPS Y18, y, y; \
	VEXTRACTF32X4 $1, y, X18; \
	VADDPS X18, x, x; \
	VHADDPS x, x, x; \
	VHADDPS x, x, x; \
	MOVSS x, off(BX)

// F16PAIR multiplies one vector's 16 values at xa (loaded into xz once)
// with both rows' converted halves (Z16, Z17) into their accumulators.
#define F16PAIR(xa, xz, acc0, acc1) \
	VMOVUPS     xa, xz; \
	VFMADD231PS xz, Z16, acc0; \
	VFMADD231PS xz, Z17, acc1

// func dotF16AVX512x2x8(w *uint16, wstride int, x *float32, n, xstride int, out *[16]float32) (n % 16 == 0)
//
// Rows w and w + wstride bytes, vectors x + t·xstride bytes: sharing each
// activation load between two rows halves what the kernel reads of them
// (a one-row kernel is bound by those reads, not by its multiply-adds).
// out[8·i + t] is row i · vector t.
TEXT ·dotF16AVX512x2x8(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R13
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ xstride+32(FP), R8
	LEAQ (R8)(R8*2), R9
	LEAQ (DI)(R8*4), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

f16x2x8loop:
	TESTQ CX, CX
	JZ    f16x2x8done
	VCVTPH2PS   (SI), Z16
	VCVTPH2PS   (SI)(R13*1), Z17
	F16PAIR((DI), Z18, Z0, Z8)
	F16PAIR((DI)(R8*1), Z19, Z1, Z9)
	F16PAIR((DI)(R8*2), Z20, Z2, Z10)
	F16PAIR((DI)(R9*1), Z21, Z3, Z11)
	F16PAIR((R12), Z22, Z4, Z12)
	F16PAIR((R12)(R8*1), Z23, Z5, Z13)
	F16PAIR((R12)(R8*2), Z18, Z6, Z14)
	F16PAIR((R12)(R9*1), Z19, Z7, Z15)
	ADDQ $32, SI
	ADDQ $64, DI
	ADDQ $64, R12
	SUBQ $16, CX
	JMP  f16x2x8loop

f16x2x8done:
	MOVQ out+40(FP), BX
	HSUM16B(Z0, Y0, X0, 0)
	HSUM16B(Z1, Y1, X1, 4)
	HSUM16B(Z2, Y2, X2, 8)
	HSUM16B(Z3, Y3, X3, 12)
	HSUM16B(Z4, Y4, X4, 16)
	HSUM16B(Z5, Y5, X5, 20)
	HSUM16B(Z6, Y6, X6, 24)
	HSUM16B(Z7, Y7, X7, 28)
	HSUM16B(Z8, Y8, X8, 32)
	HSUM16B(Z9, Y9, X9, 36)
	HSUM16B(Z10, Y10, X10, 40)
	HSUM16B(Z11, Y11, X11, 44)
	HSUM16B(Z12, Y12, X12, 48)
	HSUM16B(Z13, Y13, X13, 52)
	HSUM16B(Z14, Y14, X14, 56)
	HSUM16B(Z15, Y15, X15, 60)
	VZEROUPPER
	RET
