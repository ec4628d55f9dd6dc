//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// HSUM8 is HSUMTO with X14 as its scratch (X9 holds a sum still to take).
#define HSUM8(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X14; \
	VADDPS X14, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	MOVSS xacc, off(BX)

// AVX2+FMA+F16C row kernels (see asm_amd64.go). Integer block sums come
// from VPMADDUBSW/VPMADDWD; each block's sum is converted to float and
// accumulated with FMA in eight lanes, summed once at the end of the row.

// The Q8_0 kernels add a block's eight int32 lane sums S, converted, times
// the product of the scales: acc += S·(dx·dw). The eight-vector kernel
// forms the eight vectors' dx·dw in one multiply (Acts.dT8 holds their dx
// side by side) and broadcasts each from the stack, so a (block, vector)
// pair costs one fused multiply-add past its integer sums: the floating-
// point pipes were the kernel's limit, and (S·dx)·dw, a multiply and a
// fused multiply-add a pair, ran it 27% slower.

// Q8ROW adds one Q8_0 block of the row at base (an addressing mode) times
// the activations (values in Y2, scale at DX) into acc, as dotQ8_0AVX2's
// loop body does (Y15: ones in words; Y1, Y3…Y5, X7 and AX scratch).
#define Q8ROW(base, acc) \
	VMOVDQU (2)base, Y1; \
	VPSIGNB Y1, Y1, Y3; \
	VPSIGNB Y1, Y2, Y4; \
	VPMADDUBSW Y4, Y3, Y5; \
	VPMADDWD Y15, Y5, Y5; \
	VCVTDQ2PS Y5, Y5; \
	MOVWLZX (0)base, AX; \
	VMOVD AX, X7; \
	VCVTPH2PS X7, X7; \
	VMULSS (DX), X7, X7; \
	VBROADCASTSS X7, Y7; \
	VFMADD231PS Y7, Y5, acc

// func dotQ8_0AVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

q8loop:
	TESTQ CX, CX
	JZ    q8done
	PREFETCHT0 1088(SI) // 32 blocks ahead (see dotQ4KAVX2)
	VMOVDQU (DI), Y2
	Q8ROW((SI), Y0)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP  q8loop

q8done:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotQ8_0AVX2r4(w *byte, rb int, q *int8, d *float32, nb int, out *[4]float32)
//
// dotQ8_0AVX2 for the four rows w + r·rb, one vector, for decoding, bit
// for bit (see dotQ4KAVX2r4: each activation block is loaded once for the
// four rows, and the prefetch runs linearly over the next four rows).
TEXT ·dotQ8_0AVX2r4(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rb+8(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y6, Y6, Y6
	VXORPS Y8, Y8, Y8
	VXORPS Y10, Y10, Y10
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	LEAQ (SI)(R8*4), R10

q8r4loop:
	TESTQ CX, CX
	JZ    q8r4done
	PREFETCHT0 (R10)
	PREFETCHT0 64(R10)
	PREFETCHT0 128(R10)
	ADDQ $136, R10
	VMOVDQU (DI), Y2
	Q8ROW((SI), Y0)
	Q8ROW((SI)(R8*1), Y6)
	Q8ROW((SI)(R8*2), Y8)
	Q8ROW((SI)(R9*1), Y10)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP  q8r4loop

q8r4done:
	MOVQ out+40(FP), BX
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y6, X6, 4)
	HSUMTO(Y8, X8, 8)
	HSUMTO(Y10, X10, 12)
	VZEROUPPER
	RET

// Q8X (for the many-vector kernels) adds one vector's block: its values
// at qa signed by the weights' signs (Y4) against the weights' magnitudes
// (Y5), times its scale at da, times the weight's scale (Y6), into acc.
#define Q8X(qa, da, acc) \
	VMOVDQU qa, Y7; \
	VPSIGNB Y4, Y7, Y7; \
	VPMADDUBSW Y7, Y5, Y7; \
	VPMADDWD Y15, Y7, Y7; \
	VCVTDQ2PS Y7, Y7; \
	VBROADCASTSS da, Y8; \
	VMULPS Y6, Y8, Y8; \
	VFMADD231PS Y8, Y7, acc

// Q8X8 is Q8X for the eight-vector kernel: dx·dw comes ready from the
// stack slot.
#define Q8X8(qa, slot, acc) \
	VMOVDQU qa, Y7; \
	VPSIGNB Y4, Y7, Y7; \
	VPMADDUBSW Y7, Y5, Y7; \
	VPMADDWD Y15, Y7, Y7; \
	VCVTDQ2PS Y7, Y7; \
	VBROADCASTSS (4*slot)(SP), Y8; \
	VFMADD231PS Y8, Y7, acc

// Q8W loads the block of weights at SI: values (Y4), magnitudes (Y5) and
// the scale broadcast (Y6).
#define Q8W \
	VMOVDQU 2(SI), Y4; \
	VPSIGNB Y4, Y4, Y5; \
	MOVWLZX (SI), AX; \
	VMOVD AX, X6; \
	VCVTPH2PS X6, X6; \
	VBROADCASTSS X6, Y6

// func dotQ8_0AVX2x4(w *byte, q *int8, d *float32, nb, qstride, dstride int, out *[4]float32)
//
// The same row against four activation vectors (q + t·qstride bytes,
// d + t·dstride bytes): each weight block is loaded and made unsigned once.
// Per vector the arithmetic is dotQ8_0AVX2's, so the results are equal.
TEXT ·dotQ8_0AVX2x4(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ qstride+32(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ dstride+40(FP), R10
	LEAQ (R10)(R10*2), R11
	MOVQ out+48(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

q8x4loop:
	TESTQ CX, CX
	JZ    q8x4done
	Q8W
	Q8X((DI), (DX), Y0)
	Q8X((DI)(R8*1), (DX)(R10*1), Y1)
	Q8X((DI)(R8*2), (DX)(R10*2), Y2)
	Q8X((DI)(R9*1), (DX)(R11*1), Y3)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP  q8x4loop

q8x4done:
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y1, X1, 4)
	HSUMTO(Y2, X2, 8)
	HSUMTO(Y3, X3, 12)
	VZEROUPPER
	RET

// func dotQ8_0AVX2x8(w *byte, q *int8, dT *float32, nb, qstride int, out *[8]float32)
//
// The row against eight vectors (q + t·qstride bytes), their scales side
// by side at dT (Acts.dT8), eight per block.
TEXT ·dotQ8_0AVX2x8(SB), NOSPLIT, $32-48
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ dT+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ qstride+32(FP), R8
	LEAQ (R8)(R8*2), R9
	LEAQ (DI)(R8*4), R12
	MOVQ out+40(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

q8x8loop:
	TESTQ CX, CX
	JZ    q8x8done
	Q8W
	VMULPS (DX), Y6, Y8
	VMOVUPS Y8, (SP)
	Q8X8((DI), 0, Y0)
	Q8X8((DI)(R8*1), 1, Y1)
	Q8X8((DI)(R8*2), 2, Y2)
	Q8X8((DI)(R9*1), 3, Y3)
	Q8X8((R12), 4, Y9)
	Q8X8((R12)(R8*1), 5, Y10)
	Q8X8((R12)(R8*2), 6, Y11)
	Q8X8((R12)(R9*1), 7, Y12)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R12
	DECQ CX
	JMP  q8x8loop

q8x8done:
	HSUM8(Y0, X0, 0)
	HSUM8(Y1, X1, 4)
	HSUM8(Y2, X2, 8)
	HSUM8(Y3, X3, 12)
	HSUM8(Y9, X9, 16)
	HSUM8(Y10, X10, 20)
	HSUM8(Y11, X11, 24)
	HSUM8(Y12, X12, 28)
	VZEROUPPER
	RET

// Q4KBLOCK adds one Q4_K block of the row at base (an addressing mode)
// times the activations at DI/DX/BX into acc, with dotQ4KAVX2's
// arithmetic in its order (Y15: the nibble mask; Y1…Y4, Y9…Y14 scratch).
#define Q4KBLOCK(base, acc) \
	VPXOR Y9, Y9, Y9; \
	K4UNPACK(base, Y4); \
	Q4KRGROUP(0, base); \
	Q4KRGROUP(1, base); \
	Q4KRGROUP(2, base); \
	Q4KRGROUP(3, base); \
	K4TAIL(base, Y4, acc)

#define Q4KRGROUP(p, base) \
	VMOVDQU (16+32*p)base, Y10; \
	VPAND Y15, Y10, Y11; \
	VPSRLW $4, Y10, Y12; \
	VPAND Y15, Y12, Y12; \
	VPMADDUBSW (64*p)(DI), Y11, Y11; \
	VPMADDUBSW (64*p+32)(DI), Y12, Y12; \
	VPSHUFB k4s<>+(64*p)(SB), Y3, Y13; \
	VPMADDWD Y13, Y11, Y11; \
	VPSHUFB k4s<>+(64*p+32)(SB), Y3, Y14; \
	VPMADDWD Y14, Y12, Y12; \
	VPADDD Y11, Y9, Y9; \
	VPADDD Y12, Y9, Y9

// func dotQ4KAVX2(w *byte, q *int8, d *float32, bs32 *int32, nb int) float32
//
// One pass over the row: each block's scales are unpacked in vector
// registers (no scalar bit twiddling, no pass over the row before and no
// 2 KB stack record; the same speed as that, shared with dotQ4KAVX2r4).
TEXT ·dotQ4KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs32+24(FP), BX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VPBROADCASTD nibmask<>(SB), Y15

q4kloop:
	TESTQ CX, CX
	JZ    q4kdone
	// Fetch eight blocks ahead, as dotQ6KAVX2 does: the hardware's
	// prefetch alone left decoding 8% slower.
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	PREFETCHT0 1280(SI)
	Q4KBLOCK((SI), Y0)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JMP  q4kloop

q4kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ4KAVX2r4(w *byte, rb int, q *int8, d *float32, bs32 *int32, nb int, out *[4]float32)
//
// dotQ4KAVX2 for the four rows w + r·rb, one vector, for decoding: a row
// of 1536 columns is six blocks, and a call a row spent a third of its
// time filling and draining the pipeline around them (call, loop exit,
// the horizontal sum); four rows a call keep it full. Each row's result
// is dotQ4KAVX2's bit for bit.
TEXT ·dotQ4KAVX2r4(SB), NOSPLIT, $0-56
	R4KARGS
	// The four rows are one run of memory, and so are the next four:
	// fetch those, a ninth of them a block (the rows' own prefetch
	// reached past each row into the next, which the next call then
	// waited for: 4 rows a call decoded 20% slower than 1).
	LEAQ (SI)(R8*4), R10

q4kr4loop:
	TESTQ CX, CX
	JZ    q4kr4done
	PREFETCHT0 (R10)
	PREFETCHT0 64(R10)
	PREFETCHT0 128(R10)
	PREFETCHT0 192(R10)
	PREFETCHT0 256(R10)
	PREFETCHT0 320(R10)
	PREFETCHT0 384(R10)
	PREFETCHT0 448(R10)
	PREFETCHT0 512(R10)
	ADDQ $576, R10
	Q4KBLOCK((SI), Y0)
	Q4KBLOCK((SI)(R8*1), Y5)
	Q4KBLOCK((SI)(R8*2), Y6)
	Q4KBLOCK((SI)(R9*1), Y7)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JMP  q4kr4loop

q4kr4done:
	R4KSUMS

// func dotQ4KAVX2x4(w, sc *byte, q *int8, d *float32, bs32 *int32, nb, qstride, dstride, bstride int, out *[4]float32)
//
// dotQ4KAVX2 for four activation vectors: the nibbles are split once for
// all four, the scales come unpacked (sc, by q4kScales, once per row for a
// whole prompt), and per vector the arithmetic is the same (Q4KX4FIN32).
TEXT ·dotQ4KAVX2x4(SB), 0, $32-80
	MOVQ w+0(FP), SI
	MOVQ sc+8(FP), AX
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ bs32+32(FP), BX
	MOVQ nb+40(FP), CX
	MOVQ qstride+48(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ dstride+56(FP), R12
	LEAQ (R12)(R12*2), R13
	MOVQ bstride+64(FP), R10
	LEAQ (R10)(R10*2), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q4kx4loop:
	TESTQ CX, CX
	JZ    q4kx4done
	VPBROADCASTD nibmask<>(SB), Y15
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11

#define Q4KX4TOK(qa, w, isum) \
	VPMADDUBSW qa, w, Y4; \
	VPMADDWD Y14, Y4, Y4; \
	VPADDD Y4, isum, isum

#define Q4KX4GROUP(p) \
	VMOVDQU (16+32*p)(SI), Y12; \
	VPAND Y15, Y12, Y13; \
	VPSRLW $4, Y12, Y12; \
	VPAND Y15, Y12, Y12; \
	VPBROADCASTW (4*p)(AX), Y14; \
	Q4KX4TOK((64*p)(DI), Y13, Y8); \
	Q4KX4TOK((64*p)(DI)(R8*1), Y13, Y9); \
	Q4KX4TOK((64*p)(DI)(R8*2), Y13, Y10); \
	Q4KX4TOK((64*p)(DI)(R9*1), Y13, Y11); \
	VPBROADCASTW (4*p+2)(AX), Y14; \
	Q4KX4TOK((64*p+32)(DI), Y12, Y8); \
	Q4KX4TOK((64*p+32)(DI)(R8*1), Y12, Y9); \
	Q4KX4TOK((64*p+32)(DI)(R8*2), Y12, Y10); \
	Q4KX4TOK((64*p+32)(DI)(R9*1), Y12, Y11)

	Q4KX4GROUP(0)
	Q4KX4GROUP(1)
	Q4KX4GROUP(2)
	Q4KX4GROUP(3)

	VPMOVZXBD 16(AX), Y12
	VMOVQ 24(AX), X5

	Q4KX4FIN32((BX), (DX), Y8, Y0, 0)
	Q4KX4FIN32((BX)(R10*1), (DX)(R12*1), Y9, Y1, 1)
	Q4KX4FIN32((BX)(R10*2), (DX)(R12*2), Y10, Y2, 2)
	Q4KX4FIN32((BX)(R11*1), (DX)(R13*1), Y11, Y3, 3)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	ADDQ $32, AX
	DECQ CX
	JMP  q4kx4loop

q4kx4done:
	MOVQ out+72(FP), BX
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y1, X1, 4)
	HSUMTO(Y2, X2, 8)
	HSUMTO(Y3, X3, 12)
	VZEROUPPER
	RET
