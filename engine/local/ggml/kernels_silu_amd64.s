//go:build amd64

#include "textflag.h"

// Constants of siluMulAVX2's exp: e^x = 2^n · e^r with n = round(x·log2 e)
// and r = x − n·ln 2 (ln 2 in two parts, so that r is exact to float32),
// e^r by its Taylor polynomial to degree 7 (|r| ≤ ln 2 / 2: error below
// 1e-8, under half a float32 ulp).
DATA siluc<>+0(SB)/4, $0x3fb8aa3b  // log2 e
DATA siluc<>+4(SB)/4, $0x3f318000  // ln 2, high part (0.693359375)
DATA siluc<>+8(SB)/4, $0xb95e8083  // ln 2, low part (-2.12194440e-4)
DATA siluc<>+12(SB)/4, $0x39500d01 // 1/7!
DATA siluc<>+16(SB)/4, $0x3ab60b61 // 1/6!
DATA siluc<>+20(SB)/4, $0x3c088889 // 1/5!
DATA siluc<>+24(SB)/4, $0x3d2aaaab // 1/4!
DATA siluc<>+28(SB)/4, $0x3e2aaaab // 1/3!
DATA siluc<>+32(SB)/4, $0x3f000000 // 1/2
DATA siluc<>+36(SB)/4, $0x3f800000 // 1
DATA siluc<>+40(SB)/4, $0x42b1999a // 88.8: x is clamped to it (e^x is then +Inf, as it is past 88.72)
DATA siluc<>+44(SB)/4, $0xc2b00000 // -88 (2^n is then 0, and so is e^x in effect)
DATA siluc<>+48(SB)/4, $0x0000007f // exponent bias
GLOBL siluc<>(SB), RODATA|NOPTR, $52

// func siluMulAVX2(gate, up *float32, n int) (n % 8 == 0)
//
// g[i] = g[i] / (1 + e^−g[i]) · u[i]: the FFN's gate, eight at a time.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS siluc<>+0(SB), Y15
	VBROADCASTSS siluc<>+4(SB), Y14
	VBROADCASTSS siluc<>+8(SB), Y13
	VBROADCASTSS siluc<>+36(SB), Y12
	VBROADCASTSS siluc<>+40(SB), Y11
	VBROADCASTSS siluc<>+44(SB), Y10
	VPBROADCASTD siluc<>+48(SB), Y9

siluloop:
	TESTQ CX, CX
	JZ    siludone
	VMOVUPS (DI), Y0               // g
	VXORPS  Y1, Y1, Y1
	VSUBPS  Y0, Y1, Y1             // x = −g
	VMINPS  Y11, Y1, Y1
	VMAXPS  Y10, Y1, Y1            // clamped to [-88, 88.8]
	VMULPS  Y15, Y1, Y2
	VROUNDPS $0, Y2, Y2            // n, nearest
	VMOVAPS Y1, Y3
	VFNMADD231PS Y14, Y2, Y3       // r = x − n·ln2hi
	VFNMADD231PS Y13, Y2, Y3       // r −= n·ln2lo
	VBROADCASTSS siluc<>+12(SB), Y4
	VBROADCASTSS siluc<>+16(SB), Y5
	VFMADD213PS Y5, Y3, Y4         // p = p·r + 1/6!
	VBROADCASTSS siluc<>+20(SB), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS siluc<>+24(SB), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS siluc<>+28(SB), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS siluc<>+32(SB), Y5
	VFMADD213PS Y5, Y3, Y4
	VFMADD213PS Y12, Y3, Y4        // + 1
	VFMADD213PS Y12, Y3, Y4        // + 1: e^r
	VCVTPS2DQ Y2, Y2
	VPADDD    Y9, Y2, Y2
	VPSLLD    $23, Y2, Y2          // 2^n
	VMULPS    Y2, Y4, Y4           // e^x
	VADDPS    Y12, Y4, Y4          // 1 + e^−g
	VMULPS    (SI), Y0, Y0         // g·u
	VDIVPS    Y4, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  siluloop

siludone:
	VZEROUPPER
	RET
