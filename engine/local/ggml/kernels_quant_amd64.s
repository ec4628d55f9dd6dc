//go:build amd64

#include "textflag.h"

// Activation quantizers (see acts.go): the same arithmetic as the Go ones,
// float32 for float32, rounding to nearest even (VCVTPS2DQ is nearestInt
// for these magnitudes), so that the two agree bit for bit.

DATA absmask<>+0(SB)/4, $0x7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $4
DATA c127<>+0(SB)/4, $127.0
GLOBL c127<>(SB), RODATA|NOPTR, $4
DATA packperm<>+0(SB)/4, $0
DATA packperm<>+4(SB)/4, $4
DATA packperm<>+8(SB)/4, $1
DATA packperm<>+12(SB)/4, $5
DATA packperm<>+16(SB)/4, $2
DATA packperm<>+20(SB)/4, $6
DATA packperm<>+24(SB)/4, $3
DATA packperm<>+28(SB)/4, $7
GLOBL packperm<>(SB), RODATA|NOPTR, $32

// func quantQ8_0AVX2(x *float32, q *int8, d *float32, bs *int32, nb int)
//
// quantActQ8_0 for nb blocks of 32: per block the largest magnitude m,
// q = round(x·(127/m)) (0 where m is 0), d = m/127 rounded to f16, and the
// sum of the block's q in bs.
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	VBROADCASTSS absmask<>(SB), Y15
	VMOVSS c127<>(SB), X14
	VMOVDQU packperm<>(SB), Y13
	VXORPS X12, X12, X12

q80loop:
	TESTQ CX, CX
	JZ    q80done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4 // m in every lane

	// d = f16(m/127); id = 127/m, or 0 where m is 0.
	VDIVSS X14, X4, X8
	VCVTPS2PH $0, X8, X8
	VCVTPH2PS X8, X8
	VMOVSS X8, (DX)
	VDIVSS X4, X14, X9
	VCMPSS $4, X12, X4, X10 // m != 0
	VANDPS X10, X9, X9
	VBROADCASTSS X9, Y9

	VMULPS Y9, Y0, Y0
	VMULPS Y9, Y1, Y1
	VMULPS Y9, Y2, Y2
	VMULPS Y9, Y3, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3

	VPADDD Y1, Y0, Y4
	VPADDD Y3, Y2, Y5
	VPADDD Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPADDD X5, X4, X4
	VMOVD X4, (BX)

	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y13, Y0
	VMOVDQU Y0, (DI)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JMP  q80loop

q80done:
	VZEROUPPER
	RET
