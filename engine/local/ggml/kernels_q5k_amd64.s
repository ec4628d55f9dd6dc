//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// AVX2 row kernels for Q5_K: Q4_K's arithmetic (see kernels_amd64.s) with
// the fifth bit of each value taken from qh and or-ed in as 16 before the
// VPMADDUBSW, so values are 0…31 and the products still fit int16.

// Q5KHI sets hi (bit 4 of each byte) from bit 0 / bit 1 of h: VPSLLW moves
// a byte's own bit into bit 4 (bits crossing from the neighbouring byte of
// the word land elsewhere and are masked off).
#define Q5KHI(sh, h, mask, hi) \
	VPSLLW $sh, h, hi; \
	VPAND mask, hi, hi

// Q5KBLOCK adds one Q5_K block of the row at base (an addressing mode)
// times the activations at DI/DX/BX (bs32: sums of 32) into acc, with
// dotQ5KAVX2's arithmetic: the integer sums are the same, and the float
// steps come in the same order. Y15: the nibble mask; Y1…Y4, Y8…Y14
// scratch.
#define Q5KBLOCK(base, acc) \
	VPXOR Y9, Y9, Y9; \
	VMOVDQU (16)base, Y8; \
	K4UNPACK(base, Y2); \
	Q5KRGROUP(0, base); \
	Q5KRGROUP(1, base); \
	Q5KRGROUP(2, base); \
	Q5KRGROUP(3, base); \
	K4TAIL(base, Y2, acc)

#define Q5KRGROUP(p, base) \
	VMOVDQU (48+32*p)base, Y10; \
	VPAND Y15, Y10, Y11; \
	VPSRLW $4, Y10, Y12; \
	VPAND Y15, Y12, Y12; \
	Q5KHI(4, Y8, m10<>(SB), Y1); \
	VPOR Y1, Y11, Y11; \
	Q5KHI(3, Y8, m10<>(SB), Y1); \
	VPOR Y1, Y12, Y12; \
	VPSRLW $2, Y8, Y8; \
	VPMADDUBSW (64*p)(DI), Y11, Y11; \
	VPMADDUBSW (64*p+32)(DI), Y12, Y12; \
	VPSHUFB k4s<>+(64*p)(SB), Y3, Y13; \
	VPMADDWD Y13, Y11, Y11; \
	VPSHUFB k4s<>+(64*p+32)(SB), Y3, Y14; \
	VPMADDWD Y14, Y12, Y12; \
	VPADDD Y11, Y9, Y9; \
	VPADDD Y12, Y9, Y9

// func dotQ5KAVX2r4(w *byte, rb int, q *int8, d *float32, bs32 *int32, nb int, out *[4]float32)
//
// dotQ5KAVX2 for the four rows w + r·rb, one vector, for decoding, bit
// for bit (see dotQ4KAVX2r4), prefetching the next four rows linearly,
// 704 bytes a block.
TEXT ·dotQ5KAVX2r4(SB), NOSPLIT, $0-56
	R4KARGS
	LEAQ (SI)(R8*4), R10

q5kr4loop:
	TESTQ CX, CX
	JZ    q5kr4done
	PREFETCHT0 (R10)
	PREFETCHT0 64(R10)
	PREFETCHT0 128(R10)
	PREFETCHT0 192(R10)
	PREFETCHT0 256(R10)
	PREFETCHT0 320(R10)
	PREFETCHT0 384(R10)
	PREFETCHT0 448(R10)
	PREFETCHT0 512(R10)
	PREFETCHT0 576(R10)
	PREFETCHT0 640(R10)
	ADDQ $704, R10
	Q5KBLOCK((SI), Y0)
	Q5KBLOCK((SI)(R8*1), Y5)
	Q5KBLOCK((SI)(R8*2), Y6)
	Q5KBLOCK((SI)(R9*1), Y7)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JMP  q5kr4loop

q5kr4done:
	R4KSUMS

// func dotQ5KAVX2(w *byte, q *int8, d *float32, bs32 *int32, nb int) float32
TEXT ·dotQ5KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs32+24(FP), BX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VPBROADCASTD nibmask<>(SB), Y15

q5kloop:
	TESTQ CX, CX
	JZ    q5kdone
	PREFETCHT0 1408(SI) // eight blocks ahead (see dotQ4KAVX2)
	PREFETCHT0 1472(SI)
	PREFETCHT0 1536(SI)
	Q5KBLOCK((SI), Y0)
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JMP  q5kloop

q5kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ5KAVX2x4(w *byte, q *int8, d *float32, bs *int32, nb, qstride, dstride, bstride int, out *[4]float32) (nb <= 64)
//
// dotQ5KAVX2 for four activation vectors: scales, nibbles and fifth bits
// are unpacked once for the four; per vector the arithmetic is the same.
TEXT ·dotQ5KAVX2x4(SB), 0, $2048-72
	MOVQ w+0(FP), SI
	MOVQ nb+32(FP), CX
	LEAQ 0(SP), AX
	KSCALES(176)
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVQ qstride+40(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ dstride+48(FP), R12
	LEAQ (R12)(R12*2), R13
	MOVQ bstride+56(FP), R10
	LEAQ (R10)(R10*2), R11
	LEAQ 0(SP), AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VPBROADCASTD nibmask<>(SB), Y15

q5kx4loop:
	TESTQ CX, CX
	JZ    q5kx4done
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	VMOVDQU 16(SI), Y5

#define Q5KX4TOK(qa, w, isum) \
	VPMADDUBSW qa, w, Y4; \
	VPMADDWD Y14, Y4, Y4; \
	VPADDD Y4, isum, isum

#define Q5KX4GROUP(p) \
	VMOVDQU (48+32*p)(SI), Y12; \
	VPAND Y15, Y12, Y13; \
	VPSRLW $4, Y12, Y12; \
	VPAND Y15, Y12, Y12; \
	Q5KHI(4, Y5, m10<>(SB), Y6); \
	VPOR Y6, Y13, Y13; \
	Q5KHI(3, Y5, m10<>(SB), Y6); \
	VPOR Y6, Y12, Y12; \
	VPSRLW $2, Y5, Y5; \
	VPBROADCASTW (4*p)(AX), Y14; \
	Q5KX4TOK((64*p)(DI), Y13, Y8); \
	Q5KX4TOK((64*p)(DI)(R8*1), Y13, Y9); \
	Q5KX4TOK((64*p)(DI)(R8*2), Y13, Y10); \
	Q5KX4TOK((64*p)(DI)(R9*1), Y13, Y11); \
	VPBROADCASTW (4*p+2)(AX), Y14; \
	Q5KX4TOK((64*p+32)(DI), Y12, Y8); \
	Q5KX4TOK((64*p+32)(DI)(R8*1), Y12, Y9); \
	Q5KX4TOK((64*p+32)(DI)(R8*2), Y12, Y10); \
	Q5KX4TOK((64*p+32)(DI)(R9*1), Y12, Y11)

	Q5KX4GROUP(0)
	Q5KX4GROUP(1)
	Q5KX4GROUP(2)
	Q5KX4GROUP(3)

	VPMOVZXBD 16(AX), Y12

#define Q5KX4FIN(bsa, bsb, da, isum, acc) \
	VMOVDQU bsa, Y13; \
	VPHADDD bsb, Y13, Y13; \
	VPERMQ $0xD8, Y13, Y13; \
	VPMULLD Y12, Y13, Y13; \
	VCVTDQ2PS Y13, Y13; \
	VCVTDQ2PS isum, isum; \
	VMOVQ 24(AX), X5; \
	VBROADCASTSS da, X6; \
	VMULPS X6, X5, X5; \
	VBROADCASTSS X5, Y7; \
	VFMADD231PS Y7, isum, acc; \
	VMOVSHDUP X5, X5; \
	VBROADCASTSS X5, Y7; \
	VFNMADD231PS Y7, Y13, acc

	Q5KX4FIN((BX), 32(BX), (DX), Y8, Y0)
	Q5KX4FIN((BX)(R10*1), 32(BX)(R10*1), (DX)(R12*1), Y9, Y1)
	Q5KX4FIN((BX)(R10*2), 32(BX)(R10*2), (DX)(R12*2), Y10, Y2)
	Q5KX4FIN((BX)(R11*1), 32(BX)(R11*1), (DX)(R13*1), Y11, Y3)

	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	ADDQ $32, AX
	DECQ CX
	JMP  q5kx4loop

q5kx4done:
	MOVQ out+64(FP), BX
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y1, X1, 4)
	HSUMTO(Y2, X2, 8)
	HSUMTO(Y3, X3, 12)
	VZEROUPPER
	RET
