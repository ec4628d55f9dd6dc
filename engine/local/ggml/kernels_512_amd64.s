//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// AVX-512 (F+BW) single-vector kernel for Q4_K, used for decode where the
// CPU has it. It works on 128 values per instruction, twice the AVX2
// kernel's width, and ends each block with the same eight int32 lane sums
// the AVX2 kernels form (integer sums are exact, whatever the order), so
// the float arithmetic after them, and hence the result, is bit for bit
// that of dotQ4KAVX2 and dotQ4KAVX2x4: batches still equal single tokens.

// Word indices for VPERMW: scales 2k and 2k+1 spread over 16 words each.
DATA permw01<>+0(SB)/8, $0x0000000000000000
DATA permw01<>+8(SB)/8, $0x0000000000000000
DATA permw01<>+16(SB)/8, $0x0000000000000000
DATA permw01<>+24(SB)/8, $0x0000000000000000
DATA permw01<>+32(SB)/8, $0x0001000100010001
DATA permw01<>+40(SB)/8, $0x0001000100010001
DATA permw01<>+48(SB)/8, $0x0001000100010001
DATA permw01<>+56(SB)/8, $0x0001000100010001
GLOBL permw01<>(SB), RODATA|NOPTR, $64

// The words of the first index vector plus 2, 4 and 6 come from adding
// this to it (built once per call).
DATA two16<>+0(SB)/4, $0x00020002
GLOBL two16<>(SB), RODATA|NOPTR, $4

// Q4_K's 12 scale bytes (at 4 in a block) to [sc0…sc7, m0…m7] with
// vector ops, in the loop: kshufA/kshufB gather each group of four, the
// masks keep the right bits (see KSCALES for the scalar form).
DATA kshufA<>+0(SB)/8, $0x0b0a090803020100
DATA kshufA<>+8(SB)/8, $0x0b0a090807060504
GLOBL kshufA<>(SB), RODATA|NOPTR, $16
DATA kshufB<>+0(SB)/8, $0x0302010080808080
DATA kshufB<>+8(SB)/8, $0x0706050480808080
GLOBL kshufB<>(SB), RODATA|NOPTR, $16
DATA kmaskA<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA kmaskA<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL kmaskA<>(SB), RODATA|NOPTR, $16
DATA kmaskB<>+0(SB)/8, $0x3030303000000000
DATA kmaskB<>+8(SB)/8, $0x3030303000000000
GLOBL kmaskB<>(SB), RODATA|NOPTR, $16

// The four-vector Q4_K kernels, for prompt batches: dotQ4KAVX2x4 at
// dotQ4KAVX512's width. Per vector they form the same eight int32 lane
// sums (folded into Y8…Y11 as the AVX2 block end has them) and the same
// float operations on them, so the results are dotQ4KAVX2x4's (and
// dotQ4KAVX2's) bit for bit. Their block end is cheaper than the AVX2
// one, which is most of a prompt's time: the activations' sums of each 32
// values come precomputed (bs32, not the sums of 16), the mins multiply
// them with one VPMADDWD (sums fit 16 bits, the mins' high words are
// zero, so it is VPMULLD's exact product), the row's d and dmin are
// loaded once for the four vectors, and the two scale products are stored
// and read back by the FMAs as broadcasts instead of shuffled into place.
// The VNNI variant fuses each VPMADDWD+VPADDD into VPDPWSSD (the same
// wrapping int32 sum).
//
// func dotQ4KAVX512x4(w, sc *byte, q *int8, d *float32, bs32 *int32, nb, qstride, dstride, bstride int, out *[4]float32)
// func dotQ4KVNNIx4(…the same…)
//
// sc holds the row's scales as q4kScales unpacks them: a prompt's matrix
// product unpacks a row once for all its vectors, not once per four.

#define Q4K512FIN(bs32, da, isum, acc, slot) \
	VPMADDWD bs32, Y12, Y13; \
	VCVTDQ2PS Y13, Y13; \
	VCVTDQ2PS isum, isum; \
	VBROADCASTSS da, X6; \
	VMULPS X6, X5, X6; \
	VMOVQ X6, (8*slot)(SP); \
	VFMADD231PS.BCST (8*slot)(SP), isum, acc; \
	VFNMADD231PS.BCST (4+8*slot)(SP), Y13, acc

#define Q4K512HALF(h, sca, scb) \
	VMOVDQU64 (16+64*h)(SI), Z12; \
	VPANDD Z15, Z12, Z13; \
	VPSRLW $4, Z12, Z14; \
	VPANDD Z15, Z14, Z14; \
	VSHUFI64X2 $0x44, Z14, Z13, Z12; \
	VSHUFI64X2 $0xEE, Z14, Z13, Z13; \
	Q4K512TOK((128*h)(DI), Z12, sca, Z24); \
	Q4K512TOK((128*h)(DI)(R8*1), Z12, sca, Z25); \
	Q4K512TOK((128*h)(DI)(R8*2), Z12, sca, Z26); \
	Q4K512TOK((128*h)(DI)(R9*1), Z12, sca, Z27); \
	Q4K512TOK((128*h+64)(DI), Z13, scb, Z24); \
	Q4K512TOK((128*h+64)(DI)(R8*1), Z13, scb, Z25); \
	Q4K512TOK((128*h+64)(DI)(R8*2), Z13, scb, Z26); \
	Q4K512TOK((128*h+64)(DI)(R9*1), Z13, scb, Z27)

// Q4K512X4 is the kernels' body; Q4K512TOK (one vector's products of 64
// values with their scales) is defined before each use.
#define Q4K512X4 \
	MOVQ w+0(FP), SI; \
	MOVQ sc+8(FP), AX; \
	MOVQ q+16(FP), DI; \
	MOVQ d+24(FP), DX; \
	MOVQ bs32+32(FP), BX; \
	MOVQ nb+40(FP), CX; \
	MOVQ qstride+48(FP), R8; \
	LEAQ (R8)(R8*2), R9; \
	MOVQ dstride+56(FP), R12; \
	LEAQ (R12)(R12*2), R13; \
	MOVQ bstride+64(FP), R10; \
	LEAQ (R10)(R10*2), R11; \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VPBROADCASTD nibmask<>(SB), Z15; \
	VMOVDQU64 permw01<>(SB), Z20; \
	VPBROADCASTD two16<>(SB), Z24; \
	VPADDW Z24, Z20, Z21; \
	VPADDW Z24, Z21, Z22; \
	VPADDW Z24, Z22, Z23; \
q4k5x4loop: \
	TESTQ CX, CX; \
	JZ    q4k5x4done; \
	VBROADCASTI32X4 0(AX), Z13; \
	VPERMW Z13, Z20, Z16; \
	VPERMW Z13, Z21, Z17; \
	VPERMW Z13, Z22, Z18; \
	VPERMW Z13, Z23, Z19; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	Q4K512HALF(0, Z16, Z17); \
	Q4K512HALF(1, Z18, Z19); \
	X4FOLD512; \
	VPMOVZXBD 16(AX), Y12; \
	VMOVQ 24(AX), X5; \
	Q4K512FIN((BX), (DX), Y8, Y0, 0); \
	Q4K512FIN((BX)(R10*1), (DX)(R12*1), Y9, Y1, 1); \
	Q4K512FIN((BX)(R10*2), (DX)(R12*2), Y10, Y2, 2); \
	Q4K512FIN((BX)(R11*1), (DX)(R13*1), Y11, Y3, 3); \
	ADDQ $144, SI; \
	ADDQ $256, DI; \
	ADDQ $4, DX; \
	ADDQ $32, BX; \
	ADDQ $32, AX; \
	DECQ CX; \
	JMP  q4k5x4loop; \
q4k5x4done: \
	X4CLEAR512; \
	MOVQ out+72(FP), BX; \
	X4SUMS; \
	VZEROUPPER; \
	RET


// func dotQ4KAVX512(w *byte, q *int8, d *float32, bs *int32, nb int) float32
TEXT ·dotQ4KAVX512(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VPBROADCASTD nibmask<>(SB), Z15
	VMOVDQU64 permw01<>(SB), Z20
	VPBROADCASTD two16<>(SB), Z24
	VPADDW Z24, Z20, Z21
	VPADDW Z24, Z21, Z22
	VPADDW Z24, Z22, Z23

q4k5loop:
	TESTQ CX, CX
	JZ    q4k5done
	// Decode streams each weight once from memory: ask for the bytes a
	// few blocks ahead (into the next rows) while this block computes.
	PREFETCHT0 768(SI)
	PREFETCHT0 832(SI)
	PREFETCHT0 896(SI)
	VMOVDQU 4(SI), X1
	VPSHUFB kshufA<>(SB), X1, X2
	VPSHUFB kshufB<>(SB), X1, X3
	VPSRLW $4, X2, X4
	VPBLENDD $8, X4, X2, X2
	VPAND kmaskA<>(SB), X2, X2
	VPSRLW $2, X3, X3
	VPAND kmaskB<>(SB), X3, X3
	VPOR X3, X2, X2
	VPMOVZXBW X2, X13
	VPERMW Z13, Z20, Z16
	VPERMW Z13, Z21, Z17
	VPERMW Z13, Z22, Z18
	VPERMW Z13, Z23, Z19
	VPSRLDQ $8, X2, X3
	VPMOVZXBD X3, Y2
	MOVL (SI), R8
	VMOVD R8, X5
	VCVTPH2PS X5, X5

// Half h: bytes 64h…64h+63 of qs hold sub-blocks 4h…4h+3 (low nibbles of
// the first 32 bytes: 4h, high: 4h+1; of the next 32: 4h+2, 4h+3);
// VSHUFI64X2 puts each pair in activation order.
#define Q4K5HALF(h, sca, scb) \
	VMOVDQU64 (16+64*h)(SI), Z10; \
	VPANDD Z15, Z10, Z11; \
	VPSRLW $4, Z10, Z12; \
	VPANDD Z15, Z12, Z12; \
	VSHUFI64X2 $0x44, Z12, Z11, Z10; \
	VSHUFI64X2 $0xEE, Z12, Z11, Z11; \
	VPMADDUBSW (128*h)(DI), Z10, Z10; \
	VPMADDUBSW (128*h+64)(DI), Z11, Z11; \
	VPMADDWD sca, Z10, Z10; \
	VPMADDWD scb, Z11, Z11

	Q4K5HALF(0, Z16, Z17)
	VPADDD Z11, Z10, Z9
	Q4K5HALF(1, Z18, Z19)
	VPADDD Z10, Z9, Z9
	VPADDD Z11, Z9, Z9
	VEXTRACTI64X4 $1, Z9, Y1
	VPADDD Y1, Y9, Y9

	// The AVX2 kernels' block end, unchanged.
	VMOVDQU (BX), Y3
	VPHADDD 32(BX), Y3, Y3
	VPERMQ $0xD8, Y3, Y3
	VPMULLD Y2, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y9, Y9
	VBROADCASTSS (DX), X6
	VMULPS X6, X5, X5
	VBROADCASTSS X5, Y7
	VFMADD231PS Y7, Y9, Y0
	VMOVSHDUP X5, X5
	VBROADCASTSS X5, Y7
	VFNMADD231PS Y7, Y3, Y0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q4k5loop

q4k5done:
	// VZEROUPPER leaves Z16 and up alone: clear what was used.
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

#define Q4K512TOK(qa, w, sc, isum) \
	VPMADDUBSW qa, w, Z4; \
	VPMADDWD sc, Z4, Z4; \
	VPADDD Z4, isum, isum

TEXT ·dotQ4KAVX512x4(SB), 0, $32-80
	Q4K512X4

#undef Q4K512TOK
#define Q4K512TOK(qa, w, sc, isum) \
	VPMADDUBSW qa, w, Z4; \
	VPDPWSSD sc, Z4, isum

TEXT ·dotQ4KVNNIx4(SB), 0, $32-80
	Q4K512X4

// func q4kScales(w *byte, nb int, sc *byte)
//
// q4kScales unpacks the scales of nb Q4_K blocks at w into 32-byte records
// at sc (see KSCALES), for the four-vector kernels.
TEXT ·q4kScales(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ sc+16(FP), AX
	KSCALES(144)
	RET
