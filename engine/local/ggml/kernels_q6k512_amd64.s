//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// The AVX-512 Q6_K kernels (one and four vectors). Like the Q4_K ones they
// end each block with dotQ6KAVX2's eight int32 lane sums and its float
// operations on them, so the results are the AVX2 kernels' bit for bit.

// Q6K5UNPACK makes half h of a block's 6-bit values into bytes: Z13 the
// first 64 (two 32-value runs: ql's low nibbles), Z10 the next 64 (its
// high nibbles); qh's 32 bytes, shifted two ways and joined, give both
// their high bits. Needs Z15 = nibmask, Z14 = m30 in both halves.
#define Q6K5UNPACK(h) \
	VMOVDQU64 (64*h)(SI), Z10; \
	VMOVDQU (128+32*h)(SI), Y11; \
	VPSLLW $4, Y11, Y12; \
	VPSLLW $2, Y11, Y13; \
	VINSERTI64X4 $1, Y13, Z12, Z12; \
	VPSRLW $2, Y11, Y13; \
	VINSERTI64X4 $1, Y13, Z11, Z11; \
	VPANDQ Z14, Z12, Z12; \
	VPANDQ Z14, Z11, Z11; \
	VPANDQ Z15, Z10, Z13; \
	VPORQ Z12, Z13, Z13; \
	VPSRLW $4, Z10, Z10; \
	VPANDQ Z15, Z10, Z10; \
	VPORQ Z11, Z10, Z10


// Word indices that pair Q6_K's scales k and k+8 (VPERMW over the 16
// scales as words): VPMADDWD of them with the activations' sums paired
// the same way (Acts.bsq6) is dotQ6KAVX2's two VPMULLDs and their sum,
// lane for lane.
DATA pairq6<>+0(SB)/8, $0x0009000100080000
DATA pairq6<>+8(SB)/8, $0x000b0003000a0002
DATA pairq6<>+16(SB)/8, $0x000d0005000c0004
DATA pairq6<>+24(SB)/8, $0x000f0007000e0006
GLOBL pairq6<>(SB), RODATA|NOPTR, $32

// func dotQ6KAVX512x4(w *byte, q *int8, d *float32, bsq6 *int16, nb, qstride, dstride, bstride int, out *[4]float32)
// func dotQ6KVNNIx4(…the same…)
//
// Four vectors per call, for prompt batches: each half's values are
// unpacked once for the four; the block end reads the paired sums
// (bsq6) and multiplies them with one VPMADDWD, and the row's scale
// product is stored and read back by the FMA as a broadcast.

#define Q6K512X4HALF(h, sca, scb) \
	Q6K5UNPACK(h); \
	Q6K512TOK((128*h)(DI), Z13, sca, Z24); \
	Q6K512TOK((128*h)(DI)(R8*1), Z13, sca, Z25); \
	Q6K512TOK((128*h)(DI)(R8*2), Z13, sca, Z26); \
	Q6K512TOK((128*h)(DI)(R9*1), Z13, sca, Z27); \
	Q6K512TOK((128*h+64)(DI), Z10, scb, Z24); \
	Q6K512TOK((128*h+64)(DI)(R8*1), Z10, scb, Z25); \
	Q6K512TOK((128*h+64)(DI)(R8*2), Z10, scb, Z26); \
	Q6K512TOK((128*h+64)(DI)(R9*1), Z10, scb, Z27)

#define Q6K512FIN(bsq, da, isum, acc, slot) \
	VPMADDWD bsq, Y30, Y5; \
	VPSLLD $5, Y5, Y5; \
	VPSUBD Y5, isum, isum; \
	VCVTDQ2PS isum, isum; \
	VMULSS da, X7, X6; \
	VMOVSS X6, (4*slot)(SP); \
	VFMADD231PS.BCST (4*slot)(SP), isum, acc

#define Q6K512X4 \
	MOVQ w+0(FP), SI; \
	MOVQ q+8(FP), DI; \
	MOVQ d+16(FP), DX; \
	MOVQ bsq6+24(FP), BX; \
	MOVQ nb+32(FP), CX; \
	MOVQ qstride+40(FP), R8; \
	LEAQ (R8)(R8*2), R9; \
	MOVQ dstride+48(FP), R12; \
	LEAQ (R12)(R12*2), R13; \
	MOVQ bstride+56(FP), R10; \
	LEAQ (R10)(R10*2), R11; \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VPBROADCASTD nibmask<>(SB), Z15; \
	VMOVDQU64 m30<>(SB), Y14; \
	VINSERTI64X4 $1, Y14, Z14, Z14; \
	VMOVDQU64 permq6<>(SB), Z20; \
	VPBROADCASTD four16<>(SB), Z24; \
	VPADDW Z24, Z20, Z21; \
	VPADDW Z24, Z21, Z22; \
	VPADDW Z24, Z22, Z23; \
	VMOVDQU64 pairq6<>(SB), Y31; \
q6k5x4loop: \
	TESTQ CX, CX; \
	JZ    q6k5x4done; \
	PREFETCHT0 1024(SI); \
	PREFETCHT0 1088(SI); \
	PREFETCHT0 1152(SI); \
	PREFETCHT0 1216(SI); \
	VPMOVSXBW 192(SI), Y13; \
	VPERMW Z13, Z20, Z16; \
	VPERMW Z13, Z21, Z17; \
	VPERMW Z13, Z22, Z18; \
	VPERMW Z13, Z23, Z19; \
	VPERMW Y13, Y31, Y30; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	Q6K512X4HALF(0, Z16, Z17); \
	Q6K512X4HALF(1, Z18, Z19); \
	X4FOLD512; \
	MOVWLZX 208(SI), AX; \
	VMOVD AX, X7; \
	VCVTPH2PS X7, X7; \
	Q6K512FIN((BX), (DX), Y8, Y0, 0); \
	Q6K512FIN((BX)(R10*1), (DX)(R12*1), Y9, Y1, 1); \
	Q6K512FIN((BX)(R10*2), (DX)(R12*2), Y10, Y2, 2); \
	Q6K512FIN((BX)(R11*1), (DX)(R13*1), Y11, Y3, 3); \
	ADDQ $210, SI; \
	ADDQ $256, DI; \
	ADDQ $4, DX; \
	ADDQ $32, BX; \
	DECQ CX; \
	JMP  q6k5x4loop; \
q6k5x4done: \
	X4CLEAR512; \
	VPXORD Z30, Z30, Z30; \
	VPXORD Z31, Z31, Z31; \
	MOVQ out+64(FP), BX; \
	X4SUMS; \
	VZEROUPPER; \
	RET


// Word indices for VPERMW over Q6_K's 16 scales: scales 4k…4k+3, eight
// words each (one scale per 16 values); k from adding four16 k times.
DATA permq6<>+0(SB)/8, $0x0000000000000000
DATA permq6<>+8(SB)/8, $0x0000000000000000
DATA permq6<>+16(SB)/8, $0x0001000100010001
DATA permq6<>+24(SB)/8, $0x0001000100010001
DATA permq6<>+32(SB)/8, $0x0002000200020002
DATA permq6<>+40(SB)/8, $0x0002000200020002
DATA permq6<>+48(SB)/8, $0x0003000300030003
DATA permq6<>+56(SB)/8, $0x0003000300030003
GLOBL permq6<>(SB), RODATA|NOPTR, $64
DATA four16<>+0(SB)/4, $0x00040004
GLOBL four16<>(SB), RODATA|NOPTR, $4

// func dotQ6KAVX512(w *byte, q *int8, d *float32, bs *int32, nb int) float32
//
// dotQ6KAVX2 on 64 values per instruction: ql's 64 bytes of a half hold
// the low bits of two consecutive 32-value runs, and qh's 32 bytes, shifted
// two ways and joined, their high bits. Same eight lane sums, same result.
TEXT ·dotQ6KAVX512(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VPBROADCASTD nibmask<>(SB), Z15
	VMOVDQU64 m30<>(SB), Y14
	VINSERTI64X4 $1, Y14, Z14, Z14
	VMOVDQU64 permq6<>(SB), Z20
	VPBROADCASTD four16<>(SB), Z24
	VPADDW Z24, Z20, Z21
	VPADDW Z24, Z21, Z22
	VPADDW Z24, Z22, Z23

q6k5loop:
	TESTQ CX, CX
	JZ    q6k5done
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	VPMOVSXBW 192(SI), Y13
	VPERMW Z13, Z20, Z16
	VPERMW Z13, Z21, Z17
	VPERMW Z13, Z22, Z18
	VPERMW Z13, Z23, Z19

#define Q6K5HALF(h, sca, scb) \
	Q6K5UNPACK(h); \
	VPMADDUBSW (128*h)(DI), Z13, Z13; \
	VPMADDUBSW (128*h+64)(DI), Z10, Z10; \
	VPMADDWD sca, Z13, Z13; \
	VPMADDWD scb, Z10, Z10

	Q6K5HALF(0, Z16, Z17)
	VPADDD Z13, Z10, Z9
	Q6K5HALF(1, Z18, Z19)
	VPADDD Z13, Z9, Z9
	VPADDD Z10, Z9, Z9
	VEXTRACTI64X4 $1, Z9, Y1
	VPADDD Y1, Y9, Y9

	// dotQ6KAVX2's block end: the +32 offset, scale and accumulate.
	VPMOVSXBD 192(SI), Y3
	VPMOVSXBD 200(SI), Y4
	VPMULLD (BX), Y3, Y3
	VPMULLD 32(BX), Y4, Y4
	VPADDD Y4, Y3, Y3
	VPSLLD $5, Y3, Y3
	VPSUBD Y3, Y9, Y9
	VCVTDQ2PS Y9, Y9
	MOVWLZX 208(SI), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VMULSS (DX), X5, X5
	VBROADCASTSS X5, Y5
	VFMADD231PS Y5, Y9, Y0

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q6k5loop

q6k5done:
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

#define Q6K512TOK(qa, w, sc, isum) \
	VPMADDUBSW qa, w, Z4; \
	VPMADDWD sc, Z4, Z4; \
	VPADDD Z4, isum, isum

TEXT ·dotQ6KAVX512x4(SB), 0, $16-72
	Q6K512X4

#undef Q6K512TOK
#define Q6K512TOK(qa, w, sc, isum) \
	VPMADDUBSW qa, w, Z4; \
	VPDPWSSD sc, Z4, isum

TEXT ·dotQ6KVNNIx4(SB), 0, $16-72
	Q6K512X4
