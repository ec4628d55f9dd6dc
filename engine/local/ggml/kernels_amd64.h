// Shared by kernels_amd64.s and kernels_k_amd64.s: constants (file-local,
// so each file gets its own copy) and the horizontal-sum macro.

DATA nibmask<>+0(SB)/4, $0x0f0f0f0f
GLOBL nibmask<>(SB), RODATA|NOPTR, $4
DATA m30<>+0(SB)/8, $0x3030303030303030
DATA m30<>+8(SB)/8, $0x3030303030303030
DATA m30<>+16(SB)/8, $0x3030303030303030
DATA m30<>+24(SB)/8, $0x3030303030303030
GLOBL m30<>(SB), RODATA|NOPTR, $32
DATA m10<>+0(SB)/8, $0x1010101010101010
DATA m10<>+8(SB)/8, $0x1010101010101010
DATA m10<>+16(SB)/8, $0x1010101010101010
DATA m10<>+24(SB)/8, $0x1010101010101010
GLOBL m10<>(SB), RODATA|NOPTR, $32

#define HSUMTO(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X9; \
	VADDPS X9, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	MOVSS xacc, off(BX)


// KSCALES unpacks the 6-bit scales and mins of nb (CX) Q4_K or Q5_K blocks
// (stride bytes apart) at SI (llama.cpp's kmask trick) into 32-byte records at AX: 8 scales as
// int16 words, 8 mins as bytes, then d and dmin as float32.
#define KSCALES(stride) \
q4kprep: \
	TESTQ CX, CX; \
	JZ    q4kprepdone; \
	MOVL 4(SI), R8; \
	MOVL 8(SI), R9; \
	MOVL 12(SI), R10; \
	MOVL R10, R11; \
	SHRL $4, R11; \
	ANDL $0x0f0f0f0f, R11; \
	MOVL R9, R12; \
	SHRL $6, R12; \
	ANDL $0x03030303, R12; \
	SHLL $4, R12; \
	ORL  R12, R11; \
	MOVL R9, R13; \
	ANDL $0x3f3f3f3f, R13; \
	ANDL $0x0f0f0f0f, R10; \
	MOVL R8, R12; \
	SHRL $6, R12; \
	ANDL $0x03030303, R12; \
	SHLL $4, R12; \
	ORL  R12, R10; \
	ANDL $0x3f3f3f3f, R8; \
	SHLQ $32, R10; \
	ORQ  R10, R8; \
	MOVQ R8, X2; \
	VPMOVZXBW X2, X2; \
	VMOVDQU X2, 0(AX); \
	SHLQ $32, R11; \
	ORQ  R11, R13; \
	MOVQ R13, 16(AX); \
	MOVL (SI), R12; \
	VMOVD R12, X2; \
	VCVTPH2PS X2, X2; \
	VMOVQ X2, 24(AX); \
	ADDQ $stride, SI; \
	ADDQ $32, AX; \
	DECQ CX; \
	JMP  q4kprep; \
q4kprepdone:

// Q4KX4FIN ends a Q4_K (or Q5_K) block for one of four vectors: isum
// scaled by d·d8 into acc, less dmin·d8·(mins · pairs of 16-value sums).
// Needs the block's mins as dwords in Y12 and its KSCALES record at AX.
#define Q4KX4FIN(bsa, bsb, da, isum, acc) \
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

// Q4KX4FIN32 is Q4KX4FIN with the activations' sums of 32 at bs32
// (Acts.bs32: no pairwise adding of the sums of 16) and their product with
// the mins (Y12, zero-extended) by VPMADDWD: the sums fit 16 bits, so it
// is VPMULLD's product exactly. X5 holds the row block's d and dmin; the
// scale products go through the stack to broadcast loads (no shuffles).
#define Q4KX4FIN32(bs32, da, isum, acc, slot) \
	VPMADDWD bs32, Y12, Y13; \
	VCVTDQ2PS Y13, Y13; \
	VCVTDQ2PS isum, isum; \
	VBROADCASTSS da, X6; \
	VMULPS X6, X5, X6; \
	VMOVQ X6, (8*slot)(SP); \
	VBROADCASTSS (8*slot)(SP), Y7; \
	VFMADD231PS Y7, isum, acc; \
	VBROADCASTSS (4+8*slot)(SP), Y7; \
	VFNMADD231PS Y7, Y13, acc

// The four-vector AVX-512 kernels' common parts: X4FOLD512 folds the four
// zmm lane sums Z24…Z27 into the AVX2 kernels' eight lanes (Y8…Y11);
// X4CLEAR512 clears the upper registers they used (VZEROUPPER does not
// reach Z16…Z31); X4SUMS stores the four accumulators' sums at BX.
#define X4FOLD512 \
	VEXTRACTI64X4 $1, Z24, Y8; \
	VPADDD Y24, Y8, Y8; \
	VEXTRACTI64X4 $1, Z25, Y9; \
	VPADDD Y25, Y9, Y9; \
	VEXTRACTI64X4 $1, Z26, Y10; \
	VPADDD Y26, Y10, Y10; \
	VEXTRACTI64X4 $1, Z27, Y11; \
	VPADDD Y27, Y11, Y11

#define X4CLEAR512 \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27

#define X4SUMS \
	HSUMTO(Y0, X0, 0); \
	HSUMTO(Y1, X1, 4); \
	HSUMTO(Y2, X2, 8); \
	HSUMTO(Y3, X3, 12)

// Unpacking a Q4_K block's twelve scale bytes x (llama.cpp's get_scale_min_k4)
// with byte shuffles: sc[j] = x[j]&63, m[j] = x[j+4]&63 for j < 4, and
// sc[j] = x[j+4]&15 | (x[j-4]>>6)<<4, m[j] = x[j+4]>>4 | (x[j]>>6)<<4 for
// j >= 4. k4lo gathers the bytes holding the low bits (sc 0-3, sc 4-7,
// m 0-3, m 4-7), k4hi the ones whose top two bits are the high bits of
// sc 4-7 and m 4-7; k4m1/k4m2 mask the low bits (m 4-7 take the high
// nibble). k4s<>+64p and +64p+32 broadcast scale word 2p and 2p+1.
DATA k4lo<>+0(SB)/8, $0x0b0a090803020100
DATA k4lo<>+8(SB)/8, $0x0b0a090807060504
GLOBL k4lo<>(SB), RODATA|NOPTR, $16
DATA k4hi<>+0(SB)/8, $0x0302010080808080
DATA k4hi<>+8(SB)/8, $0x0706050480808080
GLOBL k4hi<>(SB), RODATA|NOPTR, $16
DATA k4m1<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA k4m1<>+8(SB)/8, $0x000000003f3f3f3f
GLOBL k4m1<>(SB), RODATA|NOPTR, $16
DATA k4m2<>+0(SB)/8, $0x0000000000000000
DATA k4m2<>+8(SB)/8, $0x0f0f0f0f00000000
GLOBL k4m2<>(SB), RODATA|NOPTR, $16
#define K4S(k, w) \
	DATA k4s<>+(32*k)(SB)/8, $w; \
	DATA k4s<>+(32*k+8)(SB)/8, $w; \
	DATA k4s<>+(32*k+16)(SB)/8, $w; \
	DATA k4s<>+(32*k+24)(SB)/8, $w
K4S(0, 0x0100010001000100)
K4S(1, 0x0302030203020302)
K4S(2, 0x0504050405040504)
K4S(3, 0x0706070607060706)
K4S(4, 0x0908090809080908)
K4S(5, 0x0b0a0b0a0b0a0b0a)
K4S(6, 0x0d0c0d0c0d0c0d0c)
K4S(7, 0x0f0e0f0e0f0e0f0e)
GLOBL k4s<>(SB), RODATA|NOPTR, $256

// K4UNPACK unpacks the scales of the Q4_K/Q5_K block at base (an
// addressing mode; scales at +4) with the masks above: Y3 = the eight
// scales as words in both halves (for the k4s broadcasts), mins = the
// eight mins as dwords. X1…X4 scratch.
#define K4UNPACK(base, mins) \
	VMOVDQU (4)base, X1; \
	VPSHUFB k4lo<>(SB), X1, X2; \
	VPSHUFB k4hi<>(SB), X1, X3; \
	VPSRLW $4, X2, X4; \
	VPAND k4m2<>(SB), X4, X4; \
	VPAND k4m1<>(SB), X2, X2; \
	VPOR X4, X2, X2; \
	VPSRLW $2, X3, X3; \
	VPAND m30<>(SB), X3, X3; \
	VPOR X3, X2, X2; \
	VPMOVZXBW X2, Y3; \
	VPERMQ $0x44, Y3, Y3; \
	VPSRLDQ $8, X2, X4; \
	VPMOVZXBD X4, mins

// R4KARGS and R4KSUMS open and close the four-row Q4_K/Q5_K decoding
// kernels (func (w *byte, rb int, q *int8, d *float32, bs32 *int32, nb int,
// out *[4]float32)): rows at SI, R8 = rb, R9 = 3·rb, activations at
// DI/DX/BX, nb in CX, the rows' accumulators Y0, Y5, Y6, Y7, the nibble
// mask in Y15; R4KSUMS stores the four sums at out and returns.
#define R4KARGS \
	MOVQ w+0(FP), SI; \
	MOVQ rb+8(FP), R8; \
	LEAQ (R8)(R8*2), R9; \
	MOVQ q+16(FP), DI; \
	MOVQ d+24(FP), DX; \
	MOVQ bs32+32(FP), BX; \
	MOVQ nb+40(FP), CX; \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VPBROADCASTD nibmask<>(SB), Y15

#define R4KSUMS \
	MOVQ out+48(FP), BX; \
	HSUMTO(Y0, X0, 0); \
	HSUMTO(Y5, X5, 4); \
	HSUMTO(Y6, X6, 8); \
	HSUMTO(Y7, X7, 12); \
	VZEROUPPER; \
	RET

// K4TAIL ends a Q4_K/Q5_K block of the row at base for one vector: acc +=
// (d·d8)·isum (Y9), then acc -= (dmin·d8)·(mins · the activations' sums of
// 32 at BX); the sums fit 16 bits, so VPMADDWD with the zero-extended
// mins is their exact product. Y10…Y12 scratch.
#define K4TAIL(base, mins, acc) \
	VPMADDWD (BX), mins, Y10; \
	VCVTDQ2PS Y10, Y10; \
	VCVTDQ2PS Y9, Y9; \
	VPBROADCASTD (0)base, X11; \
	VCVTPH2PS X11, Y11; \
	VBROADCASTSS (DX), Y12; \
	VMULPS Y12, Y11, Y11; \
	VMOVSLDUP Y11, Y12; \
	VFMADD231PS Y12, Y9, acc; \
	VMOVSHDUP Y11, Y12; \
	VFNMADD231PS Y12, Y10, acc
