package ggml

// asmOn says whether the assembly kernels run. It starts as "the CPU has
// them" and only ever changes at start-up, through SetAssembly, before any
// matrix product: the kernels are chosen per call by reading it, so a
// change while products run would mix kernels within one run.
var asmOn = asmSupported()

// asm512On adds the AVX-512 kernels where the CPU has them; they give the
// AVX2 kernels' results bit for bit, so it only changes speed.
var asm512On = asm512Supported()

// vnniOn lets the AVX-512 kernels use AVX-512 VNNI (the same integer
// sums in fewer instructions).
var vnniOn = vnniSupported()

// SetAssembly switches the assembly kernels on (where the CPU has the
// instructions they need) or off, so that the portable Go kernels can be
// checked and compared. Call it once at start-up, before any Pool runs;
// it returns whether assembly is in use afterwards.
func SetAssembly(on bool) bool {
	asmOn = on && asmSupported()
	asm512On = asmOn && asm512Supported()
	vnniOn = asm512On && vnniSupported()
	return asmOn
}

// Assembly reports whether the assembly kernels are in use.
func Assembly() bool { return asmOn }
