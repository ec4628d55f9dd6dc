//go:build amd64

#include "textflag.h"
#include "kernels_amd64.h"

// AVX2+FMA+F16C row kernels for Q6_K, F16 and F32 (see asm_amd64.go and
// kernels_amd64.s). Integer block sums come
// from VPMADDUBSW/VPMADDWD; each block's sum is converted to float and
// accumulated with FMA in eight lanes, summed once at the end of the row.

#define Q6KRUN(acts, g) \
	VPMADDUBSW (acts)(DI), Y4, Y4; \
	VPBROADCASTW (2*(g))(SP), X5; \
	VPBROADCASTW (2*(g)+2)(SP), X6; \
	VINSERTI128 $1, X6, Y5, Y5; \
	VPMADDWD Y5, Y4, Y4; \
	VPADDD Y4, Y9, Y9

#define Q6KHALF(h, base) \
	VMOVDQU (64*h)base, Y10; \
	VMOVDQU (64*h+32)base, Y11; \
	VMOVDQU (128+32*h)base, Y12; \
	VPAND Y15, Y10, Y4; \
	VPSLLW $4, Y12, Y5; \
	VPAND Y14, Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KRUN(128*h, 8*h); \
	VPAND Y15, Y11, Y4; \
	VPSLLW $2, Y12, Y5; \
	VPAND Y14, Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KRUN(128*h+32, 8*h+2); \
	VPSRLW $4, Y10, Y4; \
	VPAND Y15, Y4, Y4; \
	VPAND Y14, Y12, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KRUN(128*h+64, 8*h+4); \
	VPSRLW $4, Y11, Y4; \
	VPAND Y15, Y4, Y4; \
	VPSRLW $2, Y12, Y5; \
	VPAND Y14, Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KRUN(128*h+96, 8*h+6)

// Q6KBLOCK adds one Q6_K block of the row at base (an addressing mode)
// times the activations at DI/DX/BX into acc. int16 scales go to 0(SP)
// for the pair broadcasts; 32·Σ scale·bsum corrects for the stored values
// being offset by +32. Y15/Y14: the 0x0f/0x30 masks; Y2…Y6, Y9…Y12 and
// AX scratch.
#define Q6KBLOCK(base, acc) \
	VPMOVSXBW (192)base, Y2; \
	VMOVDQU Y2, 0(SP); \
	VPMOVSXBD (192)base, Y3; \
	VPMOVSXBD (200)base, Y4; \
	VPMULLD (BX), Y3, Y3; \
	VPMULLD 32(BX), Y4, Y4; \
	VPADDD Y4, Y3, Y3; \
	VPSLLD $5, Y3, Y3; \
	VPXOR Y9, Y9, Y9; \
	Q6KHALF(0, base); \
	Q6KHALF(1, base); \
	VPSUBD Y3, Y9, Y9; \
	VCVTDQ2PS Y9, Y9; \
	MOVWLZX (208)base, AX; \
	VMOVD AX, X5; \
	VCVTPH2PS X5, X5; \
	VMULSS (DX), X5, X5; \
	VBROADCASTSS X5, Y5; \
	VFMADD231PS Y5, Y9, acc

#define Q6KMASKS \
	MOVL $0x0f0f0f0f, AX; \
	VMOVD AX, X15; \
	VPBROADCASTD X15, Y15; \
	MOVL $0x30303030, AX; \
	VMOVD AX, X14; \
	VPBROADCASTD X14, Y14

// func dotQ6KAVX2(w *byte, q *int8, d *float32, bs *int32, nb int) float32
TEXT ·dotQ6KAVX2(SB), NOSPLIT, $32-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	Q6KMASKS

q6kloop:
	TESTQ CX, CX
	JZ    q6kdone
	// See dotQ4KAVX512: fetch a few blocks ahead.
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	Q6KBLOCK((SI), Y0)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q6kloop

q6kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ6KAVX2r4(w *byte, rb int, q *int8, d *float32, bs *int32, nb int, out *[4]float32)
//
// dotQ6KAVX2 for the four rows w + r·rb, one vector, for decoding, bit
// for bit (see dotQ4KAVX2r4: the pipeline stays full across rows, and the
// prefetch runs linearly over the next four rows, 840 bytes a block).
TEXT ·dotQ6KAVX2r4(SB), NOSPLIT, $32-56
	MOVQ w+0(FP), SI
	MOVQ rb+8(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ q+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ bs+32(FP), BX
	MOVQ nb+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	Q6KMASKS
	LEAQ (SI)(R8*4), R10

q6kr4loop:
	TESTQ CX, CX
	JZ    q6kr4done
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
	PREFETCHT0 704(R10)
	PREFETCHT0 768(R10)
	PREFETCHT0 832(R10)
	ADDQ $840, R10
	Q6KBLOCK((SI), Y0)
	Q6KBLOCK((SI)(R8*1), Y1)
	Q6KBLOCK((SI)(R8*2), Y7)
	Q6KBLOCK((SI)(R9*1), Y8)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q6kr4loop

q6kr4done:
	MOVQ out+48(FP), BX
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y1, X1, 4)
	HSUMTO(Y7, X7, 8)
	HSUMTO(Y8, X8, 12)
	VZEROUPPER
	RET

// func dotQ6KAVX2x4(w *byte, q *int8, d *float32, bs *int32, nb, qstride, dstride, bstride int, out *[4]float32)
//
// dotQ6KAVX2 for four activation vectors: the 6-bit values are assembled
// once for the four; per vector the arithmetic is the same.
TEXT ·dotQ6KAVX2x4(SB), NOSPLIT, $32-72
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
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VPBROADCASTD nibmask<>(SB), Y15

q6kx4loop:
	TESTQ CX, CX
	JZ    q6kx4done
	VPMOVSXBW 192(SI), Y4
	VMOVDQU Y4, 0(SP)
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11

#define Q6KX4RUN(acts, g) \
	VPBROADCASTW (2*(g))(SP), X6; \
	VPBROADCASTW (2*(g)+2)(SP), X7; \
	VINSERTI128 $1, X7, Y6, Y6; \
	VPMADDUBSW (acts)(DI), Y4, Y5; \
	VPMADDWD Y6, Y5, Y5; \
	VPADDD Y5, Y8, Y8; \
	VPMADDUBSW (acts)(DI)(R8*1), Y4, Y5; \
	VPMADDWD Y6, Y5, Y5; \
	VPADDD Y5, Y9, Y9; \
	VPMADDUBSW (acts)(DI)(R8*2), Y4, Y5; \
	VPMADDWD Y6, Y5, Y5; \
	VPADDD Y5, Y10, Y10; \
	VPMADDUBSW (acts)(DI)(R9*1), Y4, Y5; \
	VPMADDWD Y6, Y5, Y5; \
	VPADDD Y5, Y11, Y11

#define Q6KX4HALF(h) \
	VMOVDQU (64*h)(SI), Y12; \
	VMOVDQU (64*h+32)(SI), Y13; \
	VMOVDQU (128+32*h)(SI), Y14; \
	VPAND Y15, Y12, Y4; \
	VPSLLW $4, Y14, Y5; \
	VPAND m30<>(SB), Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KX4RUN(128*h, 8*h); \
	VPAND Y15, Y13, Y4; \
	VPSLLW $2, Y14, Y5; \
	VPAND m30<>(SB), Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KX4RUN(128*h+32, 8*h+2); \
	VPSRLW $4, Y12, Y4; \
	VPAND Y15, Y4, Y4; \
	VPAND m30<>(SB), Y14, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KX4RUN(128*h+64, 8*h+4); \
	VPSRLW $4, Y13, Y4; \
	VPAND Y15, Y4, Y4; \
	VPSRLW $2, Y14, Y5; \
	VPAND m30<>(SB), Y5, Y5; \
	VPOR Y5, Y4, Y4; \
	Q6KX4RUN(128*h+96, 8*h+6)

	Q6KX4HALF(0)
	Q6KX4HALF(1)

#define Q6KX4FIN(bsa, bsb, da, isum, acc) \
	VPMOVSXBD 192(SI), Y4; \
	VPMOVSXBD 200(SI), Y5; \
	VPMULLD bsa, Y4, Y4; \
	VPMULLD bsb, Y5, Y5; \
	VPADDD Y5, Y4, Y4; \
	VPSLLD $5, Y4, Y4; \
	VPSUBD Y4, isum, isum; \
	VCVTDQ2PS isum, isum; \
	MOVWLZX 208(SI), AX; \
	VMOVD AX, X5; \
	VCVTPH2PS X5, X5; \
	VMULSS da, X5, X5; \
	VBROADCASTSS X5, Y5; \
	VFMADD231PS Y5, isum, acc

	Q6KX4FIN((BX), 32(BX), (DX), Y8, Y0)
	Q6KX4FIN((BX)(R10*1), 32(BX)(R10*1), (DX)(R12*1), Y9, Y1)
	Q6KX4FIN((BX)(R10*2), 32(BX)(R10*2), (DX)(R12*2), Y10, Y2)
	Q6KX4FIN((BX)(R11*1), 32(BX)(R11*1), (DX)(R13*1), Y11, Y3)

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $64, BX
	DECQ CX
	JMP  q6kx4loop

q6kx4done:
	MOVQ out+64(FP), BX
	HSUMTO(Y0, X0, 0)
	HSUMTO(Y1, X1, 4)
	HSUMTO(Y2, X2, 8)
	HSUMTO(Y3, X3, 12)
	VZEROUPPER
	RET

// func dotF32AVX2(a, b *float32, n int) float32 (n % 32 == 0)
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

f32loop:
	TESTQ CX, CX
	JZ    f32done
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMOVUPS 64(SI), Y3
	VMOVUPS 96(SI), Y4
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y5
	VFMADD231PS 64(DI), Y3, Y6
	VFMADD231PS 96(DI), Y4, Y7
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  f32loop

f32done:
	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
