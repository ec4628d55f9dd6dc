package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAVX512EqualsAVX2 holds the AVX-512 kernels (one and four vectors) to the
// AVX2 ones bit for bit (the promise that lets decode use one and prompt
// batches the other), on random rows of every length the kernels take and
// on all-ones bytes, the largest values a block can hold.
func TestAVX512EqualsAVX2(t *testing.T) {
	if !asm512Supported() {
		t.Skip("this CPU (or GOARCH) has no AVX-512 kernels")
	}
	defer SetAssembly(true)
	for _, typ := range []Type{Q4_K, Q6_K} {
		for nb := 1; nb <= maxQ4KBlocks; nb += 1 + nb/4 {
			cols := nb * QK_K
			rng := rand.New(rand.NewPCG(uint64(nb), uint64(typ)))
			m, _ := randomMatrix(t, typ, 3, cols, rng)
			for i := range m.Data[:m.rowBytes] { // row 0: extremes
				m.Data[i] = 0xff
			}
			for b := 0; b < nb; b++ {
				blk := m.Data[b*typ.BlockBytes():]
				switch typ {
				case Q6_K:
					blk[208], blk[209] = 0x00, 0x38
				default:
					blk[0], blk[1], blk[2], blk[3] = 0x00, 0x38, 0x00, 0x34
				}
			}
			x := make([]float32, 4*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			var a Acts
			if err := a.Prepare(typ, x, 4, cols); err != nil {
				t.Fatal(err)
			}
			for r := 0; r < m.Rows; r++ {
				SetAssembly(true)
				wide := m.dotRow(r, &a, 0)
				asm512On = false
				narrow := m.dotRow(r, &a, 0)
				if math.Float32bits(wide) != math.Float32bits(narrow) {
					t.Errorf("%s %d blocks row %d: AVX-512 %g, AVX2 %g", typ, nb, r, wide, narrow)
				}
				// Four vectors: with VNNI (where the CPU has it), without, and AVX2.
				var vnni4, wide4, narrow4 [4]float32
				SetAssembly(true)
				asmDot4(m, r, &a, 0, &vnni4)
				vnniOn = false
				asmDot4(m, r, &a, 0, &wide4)
				asm512On = false
				asmDot4(m, r, &a, 0, &narrow4)
				for k := range narrow4 { // four vectors equal one at a time
					if one := m.dotRow(r, &a, k); math.Float32bits(one) != math.Float32bits(narrow4[k]) {
						t.Errorf("%s %d blocks row %d, vector %d: AVX2 one vector %g, four %g", typ, nb, r, k, one, narrow4[k])
					}
				}
				for k := range wide4 {
					if math.Float32bits(wide4[k]) != math.Float32bits(narrow4[k]) || math.Float32bits(vnni4[k]) != math.Float32bits(narrow4[k]) {
						t.Errorf("%s %d blocks row %d, four vectors, #%d: AVX-512 VNNI %g, AVX-512 %g, AVX2 %g", typ, nb, r, k, vnni4[k], wide4[k], narrow4[k])
					}
				}
			}
		}
	}
}

// TestF16RowsEqualOne holds the many-row F16 kernels (three rows × four
// vectors for prompts, four rows × one vector for decoding) to the
// one-row one-vector kernel bit for bit, on row lengths with and without
// a tail past the last 16 and with and without a part column block, and
// for a last four vectors that are partly Acts' padding.
func TestF16RowsEqualOne(t *testing.T) {
	if !asmSupported() {
		t.Skip("this CPU (or GOARCH) has no assembly kernels")
	}
	defer SetAssembly(true)
	SetAssembly(true)
	for _, cols := range []int{16, 48, 272, 1536, 1539, 8960} {
		const rows, vecs = 7, 9
		rng := rand.New(rand.NewPCG(uint64(cols), 16))
		m, _ := randomMatrix(t, F16, rows, cols, rng)
		x := make([]float32, vecs*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		var a Acts
		if err := a.Prepare(F16, x, vecs, cols); err != nil {
			t.Fatal(err)
		}
		for _, t0 := range []int{1, 5, 6, 7} { // 6, 7: two or three vectors of padding
			var acc f16Acc
			y := make([]float32, vecs*rows)
			asmF16Rows4(m, 1, 7, &a, t0, &acc, y)
			for r := 1; r < 7; r++ {
				for v := t0; v < min(t0+4, vecs); v++ {
					if one, got := m.dotRow(r, &a, v), y[v*rows+r]; math.Float32bits(one) != math.Float32bits(got) {
						t.Errorf("%d columns: row %d vector %d of four from %d: %g, one %g", cols, r, v, t0, got, one)
					}
				}
			}
		}
		var four [4]float32
		for r := 0; r+4 <= rows; r++ {
			if !asmDotRows(m, r, r+4, &a, 2, four[:]) {
				t.Fatalf("%d columns: the four-row kernel did not run", cols)
			}
			for i, got := range four {
				if one := m.dotRow(r+i, &a, 2); math.Float32bits(one) != math.Float32bits(got) {
					t.Errorf("%d columns: row %d of four from %d: %g, one %g", cols, r+i, r, got, one)
				}
			}
		}
	}
}

// TestRowBlocksEqualOne checks that a decode row block (asmDotRows, which
// takes Q4_K four rows a call) gives each row what the one-row kernel
// gives, bit for bit, at row counts that end in a partial four.
func TestRowBlocksEqualOne(t *testing.T) {
	if !asmSupported() {
		t.Skip("this CPU (or GOARCH) has no assembly kernels")
	}
	defer SetAssembly(true)
	SetAssembly(true)
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K, Q8_0} {
		for _, cols := range []int{256, 1536, 8960} {
			const rows = 11
			rng := rand.New(rand.NewPCG(uint64(cols), uint64(typ)))
			m, _ := randomMatrix(t, typ, rows, cols, rng)
			x := make([]float32, cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			var a Acts
			if err := a.Prepare(typ, x, 1, cols); err != nil {
				t.Fatal(err)
			}
			for _, r0 := range []int{0, 1, 3} {
				y := make([]float32, rows-r0)
				if !asmDotRows(m, r0, rows, &a, 0, y) {
					t.Fatalf("%v %d columns: no kernel ran", typ, cols)
				}
				for i, got := range y {
					if one := m.dotRow(r0+i, &a, 0); math.Float32bits(one) != math.Float32bits(got) {
						t.Errorf("%v %d columns: row %d of the block from %d: %g, one row %g", typ, cols, r0+i, r0, got, one)
					}
				}
			}
		}
	}
}
