// Shared by kernels_amd64.s and kernels_k_amd64.s: constants (file-local,
// so each file gets its own copy) and the horizontal-sum macro.

DATA nibmask<>+0(SB)/4, $0x0f0f0f0f
GLOBL nibmask<>(SB), RODATA|NOPTR, $4
DATA m30<>+0(SB)/8, $0x3030303030303030
DATA m30<>+8(SB)/8, $0x3030303030303030
DATA m30<>+16(SB)/8, $0x3030303030303030
DATA m30<>+24(SB)/8, $0x3030303030303030
GLOBL m30<>(SB), RODATA|NOPTR, $32

#define HSUMTO(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X9; \
	VADDPS X9, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	VHADDPS xacc, xacc, xacc; \
	MOVSS xacc, off(BX)

