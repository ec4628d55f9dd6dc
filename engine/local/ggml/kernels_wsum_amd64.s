//go:build amd64

#include "textflag.h"

// func wsumF16AVX2(v *uint16, vstride int, p *float32, pstride, npos, heads int, out *[96]float32) (1 <= heads <= 6)
//
// Attention's weighted sum of values for up to six query heads sharing
// one KV head, 16 dimensions at a time: out[16g + i] = Σ_j p_g[j] ·
// v_j[i], with v_j the 16 halves at v + j·vstride bytes and p_g the
// probabilities at p + g·pstride bytes, each sum a chain of fused
// multiply-adds in the order of j. Each value is converted once for all
// the heads.
TEXT ·wsumF16AVX2(SB), NOSPLIT, $0-56
	MOVQ v+0(FP), SI
	MOVQ vstride+8(FP), R13
	MOVQ p+16(FP), DI
	MOVQ pstride+24(FP), R8
	MOVQ npos+32(FP), CX
	MOVQ heads+40(FP), R9
	MOVQ out+48(FP), BX
	LEAQ (R8)(R8*2), R10
	LEAQ (DI)(R8*4), R11
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

wsumloop:
	TESTQ CX, CX
	JZ    wsumdone
	VCVTPH2PS (SI), Y12
	VCVTPH2PS 16(SI), Y13
	VBROADCASTSS (DI), Y14
	VFMADD231PS Y14, Y12, Y0
	VFMADD231PS Y14, Y13, Y1
	CMPQ R9, $1
	JEQ  wsumnext
	VBROADCASTSS (DI)(R8*1), Y14
	VFMADD231PS Y14, Y12, Y2
	VFMADD231PS Y14, Y13, Y3
	CMPQ R9, $2
	JEQ  wsumnext
	VBROADCASTSS (DI)(R8*2), Y14
	VFMADD231PS Y14, Y12, Y4
	VFMADD231PS Y14, Y13, Y5
	CMPQ R9, $3
	JEQ  wsumnext
	VBROADCASTSS (DI)(R10*1), Y14
	VFMADD231PS Y14, Y12, Y6
	VFMADD231PS Y14, Y13, Y7
	CMPQ R9, $4
	JEQ  wsumnext
	VBROADCASTSS (R11), Y14
	VFMADD231PS Y14, Y12, Y8
	VFMADD231PS Y14, Y13, Y9
	CMPQ R9, $5
	JEQ  wsumnext
	VBROADCASTSS (R11)(R8*1), Y14
	VFMADD231PS Y14, Y12, Y10
	VFMADD231PS Y14, Y13, Y11

wsumnext:
	ADDQ R13, SI
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JMP  wsumloop

wsumdone:
	VMOVUPS Y0, 0(BX)
	VMOVUPS Y1, 32(BX)
	VMOVUPS Y2, 64(BX)
	VMOVUPS Y3, 96(BX)
	VMOVUPS Y4, 128(BX)
	VMOVUPS Y5, 160(BX)
	VMOVUPS Y6, 192(BX)
	VMOVUPS Y7, 224(BX)
	VMOVUPS Y8, 256(BX)
	VMOVUPS Y9, 288(BX)
	VMOVUPS Y10, 320(BX)
	VMOVUPS Y11, 352(BX)
	VZEROUPPER
	RET
