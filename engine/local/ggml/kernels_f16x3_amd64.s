//go:build amd64

#include "textflag.h"

// AVX2 kernels for F16 rows and three vectors, for prompt batches on CPUs
// without AVX-512: two rows × three vectors × dotF16AVX2's two 8-lane
// accumulators fill twelve of the sixteen registers, and each vector's
// values, loaded once, serve both rows, so the kernel does 12
// multiply-adds for every 10 loads (dotF16AVX2x4 does 8 for 10 and waits
// on its loads). Each accumulator is a chain of fused multiply-adds in
// dotF16AVX2's order and the sums are its sums, so every result is its
// result bit for bit and batches equal single tokens.
//
// (Rows converted to float32 once a block, so that the steps have no
// conversions, ran no faster: the kernel then reads twice the bytes from
// L2. A four-row kernel running the two chains as two passes, 12
// multiply-adds for 7 loads, was slower still, reading every line twice.)

// HSUM3 is HSUMTO (kernels_amd64.h) with X15 as its scratch and any
// destination.
#define HSUM3(acc, xacc, dst) \
	VEXTRACTF128 $1, acc, X15; \
	VADDPS X15, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	MOVSS xacc, dst

// func dotF16AVX2x2x3(w *uint16, wstride int, x *float32, n, xstride int, acc *float32, mode int, y *float32, ystride, pairs int) (n % 16 == 0)
//
// For each of pairs row pairs (rows w + 2p·wstride and the next, in
// bytes), the vectors x + t·xstride bytes: y + p·8 + t·ystride bytes gets
// the first row · vector t, the float after it the second row's. The
// loop over pairs is here rather than in Go because one pair's columns
// are only some hundred cycles of work.
//
// A call may cover a slice of the columns (the three vectors' slices then
// stay in L1 while the pairs pass): mode bit 0 starts each pair from its
// 96 accumulators saved at acc + p·384 bytes (else from zero), bit 1 ends
// by summing them into y (else saves them).
TEXT ·dotF16AVX2x2x3(SB), NOSPLIT, $0-80
	MOVQ w+0(FP), R12
	MOVQ wstride+8(FP), R13
	MOVQ xstride+32(FP), R8
	MOVQ acc+40(FP), DX
	MOVQ mode+48(FP), AX
	MOVQ y+56(FP), BX
	MOVQ ystride+64(FP), R10
	LEAQ (R10)(R10*1), R11
	MOVQ pairs+72(FP), R9

f16x2x3pair:
	TESTQ R9, R9
	JZ    f16x2x3end
	MOVQ  R12, SI
	MOVQ  x+16(FP), DI
	MOVQ  n+24(FP), CX
	TESTQ $1, AX
	JNZ   f16x2x3load
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
	JMP f16x2x3loop

f16x2x3load:
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

f16x2x3loop:
	TESTQ CX, CX
	JZ    f16x2x3done
	VCVTPH2PS (SI), Y12
	VCVTPH2PS (SI)(R13*1), Y13
	VMOVUPS (DI), Y14
	VFMADD231PS Y14, Y12, Y0
	VFMADD231PS Y14, Y13, Y6
	VMOVUPS (DI)(R8*1), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y8
	VMOVUPS (DI)(R8*2), Y14
	VFMADD231PS Y14, Y12, Y4
	VFMADD231PS Y14, Y13, Y10
	VCVTPH2PS 16(SI), Y12
	VCVTPH2PS 16(SI)(R13*1), Y13
	VMOVUPS 32(DI), Y14
	VFMADD231PS Y14, Y12, Y1
	VFMADD231PS Y14, Y13, Y7
	VMOVUPS 32(DI)(R8*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y9
	VMOVUPS 32(DI)(R8*2), Y14
	VFMADD231PS Y14, Y12, Y5
	VFMADD231PS Y14, Y13, Y11
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  f16x2x3loop

f16x2x3done:
	TESTQ $2, AX
	JNZ   f16x2x3sum
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
	JMP f16x2x3next

f16x2x3sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	VADDPS Y9, Y8, Y8
	VADDPS Y11, Y10, Y10
	HSUM3(Y0, X0, (BX))
	HSUM3(Y2, X2, (BX)(R10*1))
	HSUM3(Y4, X4, (BX)(R11*1))
	HSUM3(Y6, X6, 4(BX))
	HSUM3(Y8, X8, 4(BX)(R10*1))
	HSUM3(Y10, X10, 4(BX)(R11*1))

f16x2x3next:
	LEAQ (R12)(R13*2), R12
	ADDQ $384, DX
	ADDQ $8, BX
	DECQ R9
	JMP  f16x2x3pair

f16x2x3end:
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
