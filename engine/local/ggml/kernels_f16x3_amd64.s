//go:build amd64

#include "textflag.h"

// The F16 kernels (AVX2, FMA, F16C). Every (row, vector) product is one
// chain of fused multiply-adds in eight lanes, over the row's columns in
// order (lane i takes columns i, i+8, i+16, …), summed across the lanes
// at the end (HSUMF), whatever the kernel: so a prompt's batches equal its
// tokens one at a time, bit for bit. With one accumulator a product, the
// prompt kernel's three rows × four vectors fill twelve registers and do
// 12 multiply-adds for 7 loads; two chains a product (as the kernels once
// had, after llama.cpp's vec_dot_f16) allowed only two rows × three
// vectors, 12 for 10, which ran at three quarters of the speed. A single
// chain's latency bounds a lone row, so decoding takes four rows at once.

// HSUMF sums the eight lanes of acc (low half xacc) into dst, with X15 as
// scratch: high half onto low half, then two horizontal adds.
#define HSUMF(acc, xacc, dst) \
	VEXTRACTF128 $1, acc, X15; \
	VADDPS X15, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	MOVSS xacc, dst

// func dotF16AVX2x3x4(w *uint16, wstride int, x *float32, n, xstride int, acc *float32, mode int, y *float32, ystride, triples int) (n % 16 == 0)
//
// For each of triples groups of three rows (rows w + 3g·wstride bytes and
// the next two), the vectors x + t·xstride bytes (t < 4): y + g·12 +
// t·ystride bytes gets row 0 · vector t, the two floats after it rows 1
// and 2's. The loop over groups is here rather than in Go because one
// group's columns are only some hundred cycles of work.
//
// A call may cover a slice of the columns, so that the four vectors'
// slices stay in L1 while the groups pass: mode bit 0 starts each group
// from its 96 accumulators saved at acc + g·384 bytes (else from zero),
// bit 1 ends by summing them into y (else saves them).
TEXT ·dotF16AVX2x3x4(SB), NOSPLIT, $0-80
	MOVQ w+0(FP), R12
	MOVQ wstride+8(FP), R13
	MOVQ xstride+32(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ acc+40(FP), DX
	MOVQ mode+48(FP), AX
	MOVQ y+56(FP), BX
	MOVQ ystride+64(FP), R10
	LEAQ (R10)(R10*2), R11


f16x3x4group:
	MOVQ  triples+72(FP), CX
	TESTQ CX, CX
	JZ    f16x3x4end
	DECQ  CX
	MOVQ  CX, triples+72(FP)
	MOVQ  R12, SI
	MOVQ  x+16(FP), DI
	MOVQ  n+24(FP), CX
	TESTQ $1, AX
	JNZ   f16x3x4load
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	JMP f16x3x4loop

f16x3x4load:
	VMOVUPS 0(DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS 64(DX), Y2
	VMOVUPS 96(DX), Y3
	VMOVUPS 128(DX), Y4
	VMOVUPS 160(DX), Y5
	VMOVUPS 192(DX), Y6
	VMOVUPS 224(DX), Y7
	VMOVUPS 256(DX), Y8
	VMOVUPS 288(DX), Y9
	VMOVUPS 320(DX), Y10
	VMOVUPS 352(DX), Y11

f16x3x4loop:
	TESTQ CX, CX
	JZ    f16x3x4done
	VCVTPH2PS (SI), Y12
	VCVTPH2PS (SI)(R13*1), Y13
	VCVTPH2PS (SI)(R13*2), Y14
	VMOVUPS (DI), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS (DI)(R8*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS (DI)(R8*2), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS (DI)(R9*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	VCVTPH2PS 16(SI), Y12
	VCVTPH2PS 16(SI)(R13*1), Y13
	VCVTPH2PS 16(SI)(R13*2), Y14
	VMOVUPS 32(DI), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS 32(DI)(R8*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS 32(DI)(R8*2), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS 32(DI)(R9*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  f16x3x4loop

f16x3x4done:
	TESTQ $2, AX
	JNZ   f16x3x4sum
	VMOVUPS Y0, 0(DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	VMOVUPS Y4, 128(DX)
	VMOVUPS Y5, 160(DX)
	VMOVUPS Y6, 192(DX)
	VMOVUPS Y7, 224(DX)
	VMOVUPS Y8, 256(DX)
	VMOVUPS Y9, 288(DX)
	VMOVUPS Y10, 320(DX)
	VMOVUPS Y11, 352(DX)
	JMP f16x3x4next

f16x3x4sum:
	HSUMF(Y0, X0, (BX))
	HSUMF(Y1, X1, (BX)(R10*1))
	HSUMF(Y2, X2, (BX)(R10*2))
	HSUMF(Y3, X3, (BX)(R11*1))
	HSUMF(Y4, X4, 4(BX))
	HSUMF(Y5, X5, 4(BX)(R10*1))
	HSUMF(Y6, X6, 4(BX)(R10*2))
	HSUMF(Y7, X7, 4(BX)(R11*1))
	HSUMF(Y8, X8, 8(BX))
	HSUMF(Y9, X9, 8(BX)(R10*1))
	HSUMF(Y10, X10, 8(BX)(R10*2))
	HSUMF(Y11, X11, 8(BX)(R11*1))

f16x3x4next:
	LEAQ (R12)(R13*2), R12
	ADDQ R13, R12
	ADDQ $384, DX
	ADDQ $12, BX
	JMP  f16x3x4group

f16x3x4end:
	VZEROUPPER
	RET

// func dotF16AVX2(w *uint16, x *float32, n int) float32 (n % 16 == 0)
//
// One row, one vector: the chain's latency, not the memory, bounds it; it
// serves the odd rows the many-row kernels leave.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0

f16loop:
	TESTQ CX, CX
	JZ    f16done
	VCVTPH2PS (SI), Y1
	VCVTPH2PS 16(SI), Y2
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y0
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  f16loop

f16done:
	HSUMF(Y0, X0, ret+24(FP))
	VZEROUPPER
	RET

// func dotF16AVX2x4(w *uint16, x *float32, n, xstride int, out *[4]float32) (n % 16 == 0)
//
// One row, four vectors x + t·xstride bytes: each half converted once.
TEXT ·dotF16AVX2x4(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ xstride+24(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ out+32(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

f16x4loop:
	TESTQ CX, CX
	JZ    f16x4done
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (DI)(R8*1), Y8, Y1
	VFMADD231PS (DI)(R8*2), Y8, Y2
	VFMADD231PS (DI)(R9*1), Y8, Y3
	VFMADD231PS 32(DI), Y9, Y0
	VFMADD231PS 32(DI)(R8*1), Y9, Y1
	VFMADD231PS 32(DI)(R8*2), Y9, Y2
	VFMADD231PS 32(DI)(R9*1), Y9, Y3
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  f16x4loop

f16x4done:
	HSUMF(Y0, X0, (BX))
	HSUMF(Y1, X1, 4(BX))
	HSUMF(Y2, X2, 8(BX))
	HSUMF(Y3, X3, 12(BX))
	VZEROUPPER
	RET

// func dotF16AVX2r4(w *uint16, wstride int, x *float32, n int, out *[4]float32) (n % 16 == 0)
//
// Four rows w + r·wstride bytes, one vector, for decoding: four chains in
// flight where one row has one. The prefetch runs linearly over the next
// four rows (one run of memory), two lines per step: a kilobyte ahead in
// each row left the next call's first lines to demand misses (8.98 ->
// 9.45 tok/s).
TEXT ·dotF16AVX2r4(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R13
	LEAQ (R13)(R13*2), R9
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

	LEAQ (SI)(R13*4), R10

f16r4loop:
	TESTQ CX, CX
	JZ    f16r4done
	PREFETCHT0 (R10)
	PREFETCHT0 64(R10)
	ADDQ $128, R10
	VMOVUPS   (DI), Y8
	VMOVUPS   32(DI), Y9
	VCVTPH2PS (SI), Y4
	VCVTPH2PS (SI)(R13*1), Y5
	VCVTPH2PS (SI)(R13*2), Y6
	VCVTPH2PS (SI)(R9*1), Y7
	VFMADD231PS Y8, Y4, Y0
	VFMADD231PS Y8, Y5, Y1
	VFMADD231PS Y8, Y6, Y2
	VFMADD231PS Y8, Y7, Y3
	VCVTPH2PS 16(SI), Y4
	VCVTPH2PS 16(SI)(R13*1), Y5
	VCVTPH2PS 16(SI)(R13*2), Y6
	VCVTPH2PS 16(SI)(R9*1), Y7
	VFMADD231PS Y9, Y4, Y0
	VFMADD231PS Y9, Y5, Y1
	VFMADD231PS Y9, Y6, Y2
	VFMADD231PS Y9, Y7, Y3
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  f16r4loop

f16r4done:
	HSUMF(Y0, X0, (BX))
	HSUMF(Y1, X1, 4(BX))
	HSUMF(Y2, X2, 8(BX))
	HSUMF(Y3, X3, 12(BX))
	VZEROUPPER
	RET

// func f16ToF32AVX2(dst *float32, src *uint16, n int) (n % 16 == 0)
TEXT ·f16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

h2floop:
	TESTQ CX, CX
	JZ    h2fdone
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  h2floop

h2fdone:
	VZEROUPPER
	RET

// func roundF16AVX2(dst, src *float32, n int) (n % 16 == 0)
//
// dst = src rounded to the nearest half (ties to even) and back, as
// F16ToF32(F32ToF16(x)) does.
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

rh16loop:
	TESTQ CX, CX
	JZ    rh16done
	VMOVUPS   (SI), Y0
	VMOVUPS   32(SI), Y1
	VCVTPS2PH $0, Y0, X2
	VCVTPS2PH $0, Y1, X3
	VCVTPH2PS X2, Y0
	VCVTPH2PS X3, Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  rh16loop

rh16done:
	VZEROUPPER
	RET
