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

// QUANTARGS loads the quantizers' arguments (x SI, q DI, d DX, bs BX, nb
// CX) and the magnitude mask (Y15).
#define QUANTARGS \
	MOVQ x+0(FP), SI; \
	MOVQ q+8(FP), DI; \
	MOVQ d+16(FP), DX; \
	MOVQ bs+24(FP), BX; \
	MOVQ nb+32(FP), CX; \
	VBROADCASTSS absmask<>(SB), Y15

// HMAX4 leaves the largest of Y4's eight lanes in every lane of X4 (X5
// scratch).
#define HMAX4 \
	VEXTRACTF128 $1, Y4, X5; \
	VMAXPS X5, X4, X4; \
	VPERMILPS $0x4e, X4, X5; \
	VMAXPS X5, X4, X4; \
	VPERMILPS $0xb1, X4, X5; \
	VMAXPS X5, X4, X4

// PACK32 packs the 32 int32 of Y0…Y3 into Y0's bytes, in order, with
// signed saturation (Y13: packperm).
#define PACK32 \
	VPACKSSDW Y1, Y0, Y0; \
	VPACKSSDW Y3, Y2, Y2; \
	VPACKSSWB Y2, Y0, Y0; \
	VPERMD Y0, Y13, Y0

// func quantQ8_0AVX2(x *float32, q *int8, d *float32, bs *int32, nb int)
//
// quantActQ8_0 for nb blocks of 32: per block the largest magnitude m,
// q = round(x·(127/m)) (0 where m is 0), d = m/127 rounded to f16, and the
// sum of the block's q in bs.
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-40
	QUANTARGS
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
	HMAX4 // m in every lane

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

	PACK32
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

DATA cm127<>+0(SB)/4, $-127.0
GLOBL cm127<>(SB), RODATA|NOPTR, $4
DATA c1<>+0(SB)/4, $1.0
GLOBL c1<>(SB), RODATA|NOPTR, $4

// func quantQ8KAVX2(x *float32, q *int8, d *float32, bs *int32, nb int)
//
// quantActQ8K for nb super-blocks of 256: the scale comes from mx, the
// first value of the largest magnitude m, q = round(x·(-127/mx)) (capped
// at 127 by the packing's saturation), d = 1/(-127/mx), and the sums of
// each 16 q in bs (16 a block); all zero where m is 0. The sums of 16
// wait on the stack (512 bytes) until the block's end adds them across.
TEXT ·quantQ8KAVX2(SB), NOSPLIT, $512-40
	QUANTARGS
	VMOVDQU packperm<>(SB), Y13
	VXORPS X12, X12, X12

q8kblock:
	TESTQ CX, CX
	JZ    q8kdone

	// m: the largest magnitude, in every lane of Y4.
	VXORPS Y4, Y4, Y4
	XORQ AX, AX
q8kmax:
	VANDPS (SI)(AX*1), Y15, Y0
	VANDPS 32(SI)(AX*1), Y15, Y1
	VMAXPS Y1, Y0, Y0
	VMAXPS Y0, Y4, Y4
	ADDQ $64, AX
	CMPQ AX, $1024
	JLT  q8kmax
	HMAX4
	VUCOMISS X12, X4
	JEQ  q8kzero
	VINSERTF128 $1, X4, Y4, Y4

	// mx: the first value whose magnitude is m.
	XORQ AX, AX
q8kfind:
	VANDPS (SI)(AX*4), Y15, Y0
	VCMPPS $0, Y4, Y0, Y0
	VMOVMSKPS Y0, R8
	TESTL R8, R8
	JNZ  q8kfound
	ADDQ $8, AX
	JMP  q8kfind
q8kfound:
	TZCNTL R8, R8
	ADDQ R8, AX
	VMOVSS (SI)(AX*4), X5
	VMOVSS cm127<>(SB), X6
	VDIVSS X5, X6, X6 // iscale = -127/mx
	VMOVSS c1<>(SB), X7
	VDIVSS X6, X7, X7 // d = 1/iscale
	VMOVSS X7, (DX)
	VBROADCASTSS X6, Y6

	// q, 32 values a step, and the step's two sums of 16 on the stack.
	XORQ AX, AX
	XORQ R9, R9
q8kquant:
	VMULPS (SI)(AX*4), Y6, Y0
	VMULPS 32(SI)(AX*4), Y6, Y1
	VMULPS 64(SI)(AX*4), Y6, Y2
	VMULPS 96(SI)(AX*4), Y6, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPADDD Y1, Y0, Y7
	VMOVDQU Y7, (SP)(R9*1)
	VPADDD Y3, Y2, Y7
	VMOVDQU Y7, 32(SP)(R9*1)
	PACK32
	VMOVDQU Y0, (DI)(AX*1)
	ADDQ $32, AX
	ADDQ $64, R9
	CMPQ AX, $256
	JLT  q8kquant

	// The sixteen sums of 16: eight lanes each, added across.
#define Q8KSUMS8(off, dst) \
	VMOVDQU (off)(SP), Y0; \
	VPHADDD (off+32)(SP), Y0, Y0; \
	VMOVDQU (off+64)(SP), Y1; \
	VPHADDD (off+96)(SP), Y1, Y1; \
	VMOVDQU (off+128)(SP), Y2; \
	VPHADDD (off+160)(SP), Y2, Y2; \
	VMOVDQU (off+192)(SP), Y3; \
	VPHADDD (off+224)(SP), Y3, Y3; \
	VPHADDD Y1, Y0, Y0; \
	VPHADDD Y3, Y2, Y2; \
	VPERM2I128 $0x20, Y2, Y0, Y1; \
	VPERM2I128 $0x31, Y2, Y0, Y3; \
	VPADDD Y3, Y1, Y1; \
	VMOVDQU Y1, dst

	Q8KSUMS8(0, (BX))
	Q8KSUMS8(256, 32(BX))
	JMP q8knext

q8kzero:
	VXORPS Y0, Y0, Y0
	MOVL $0, (DX)
	XORQ AX, AX
q8kclear:
	VMOVDQU Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, $256
	JLT  q8kclear
	VMOVDQU Y0, (BX)
	VMOVDQU Y0, 32(BX)

q8knext:
	ADDQ $1024, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q8kblock

q8kdone:
	VZEROUPPER
	RET
