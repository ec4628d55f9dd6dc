package qwen2

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type reference struct {
	NVocab    int `json:"n_vocab"`
	Sequences []struct {
		Name string  `json:"name"`
		IDs  []int32 `json:"ids"`
	} `json:"sequences"`
	Models []refModel `json:"models"`
}

type refModel struct {
	File        string `json:"file"`
	Weights     string `json:"weights"`
	KVCacheType string `json:"kv_cache_type"`
	LogitsFile  string `json:"logits_file"`
	Logits      []struct {
		Sequence     string `json:"sequence"`
		OffsetFloats int    `json:"offset_floats"`
		NPositions   int    `json:"n_positions"`
	} `json:"logits"`
	Greedy []struct {
		PromptText string  `json:"prompt_text"`
		PromptIDs  []int32 `json:"prompt_ids"`
		Tokens     []int32 `json:"tokens"`
		MinMargin  float64 `json:"min_margin"`
		Steps      []struct {
			Token      int32     `json:"token"`
			Top5IDs    []int32   `json:"top5_ids"`
			Top5Logits []float32 `json:"top5_logits"`
			Margin     float64   `json:"margin"`
		} `json:"steps"`
	} `json:"greedy"`
}

// tolerance is the README's per-model tolerance table.
type tolerance struct {
	maxAbs, rms   float64
	argmaxMargin  float64 // argmax must agree where the reference margin exceeds this
	argmaxMinFrac float64 // and at least this fraction of all positions
}

func toleranceFor(weights string) tolerance {
	switch weights {
	case "f32":
		return tolerance{1e-3, 1e-4, 2e-3, 1}
	case "q8_0":
		return tolerance{1.0, 0.2, 2.0, 0.95}
	case "q4_k_m":
		return tolerance{1.5, 0.25, 3.0, 0.95}
	}
	return tolerance{0.05, 0.01, 0.1, 0} // f16, untied f16
}

var loadRef = sync.OnceValues(func() (*reference, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		return nil, err
	}
	var r reference
	return &r, json.Unmarshal(b, &r)
})

func readRef(t *testing.T) *reference {
	t.Helper()
	r, err := loadRef()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFloats(t *testing.T, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// margin is top-1 minus top-2.
func margin(x []float32) float64 {
	a, b := float32(math.Inf(-1)), float32(math.Inf(-1))
	for _, v := range x {
		if v > a {
			a, b = v, a
		} else if v > b {
			b = v
		}
	}
	return float64(a - b)
}

// compareLogits checks got against want (rows of vocab floats) with tol.
func compareLogits(t *testing.T, label string, got [][]float32, want []float32, vocab int, tol tolerance) {
	t.Helper()
	var maxAbs, sumSq float64
	agree, bad := 0, 0
	for p, row := range got {
		ref := want[p*vocab : (p+1)*vocab]
		for i := 0; i < vocab; i++ {
			d := math.Abs(float64(row[i] - ref[i]))
			maxAbs = max(maxAbs, d)
			sumSq += d * d
		}
		if argmax(row[:vocab]) == argmax(ref) {
			agree++
		} else if m := margin(ref); m > tol.argmaxMargin {
			bad++
			t.Errorf("%s: position %d: argmax %d, want %d (reference margin %.3g)", label, p, argmax(row[:vocab]), argmax(ref), m)
		}
	}
	rms := math.Sqrt(sumSq / float64(len(got)*vocab))
	t.Logf("%s: max abs %.3g, rms %.3g, argmax agree %d/%d", label, maxAbs, rms, agree, len(got))
	if maxAbs > tol.maxAbs || rms > tol.rms {
		t.Errorf("%s: max abs %.3g (limit %g), rms %.3g (limit %g)", label, maxAbs, tol.maxAbs, rms, tol.rms)
	}
	if frac := float64(agree) / float64(len(got)); frac < tol.argmaxMinFrac {
		t.Errorf("%s: argmax agrees at %.1f%% of positions, want >= %.0f%%", label, 100*frac, 100*tol.argmaxMinFrac)
	}
}

func loadModel(t testing.TB, file string, opts Options) *Model {
	t.Helper()
	m, err := Load(filepath.Join("testdata", file), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newRows(n, vocab int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, vocab)
	}
	return rows
}

// TestLogits compares logits at every position of every reference sequence
// with llama.cpp's, computed as one batch and token by token. In this
// engine both paths run the same arithmetic per token, so they must also
// agree bit for bit.
func TestLogits(t *testing.T) {
	ref := readRef(t)
	seqs := map[string][]int32{}
	for _, s := range ref.Sequences {
		seqs[s.Name] = s.IDs
	}
	for _, rm := range ref.Models {
		if raceEnabled && rm.Weights != "f32" && rm.Weights != "q4_k_m" {
			continue // these two cover both cache types and the kernels the race detector cares about
		}
		t.Run(rm.Weights+"/"+rm.File, func(t *testing.T) {
			m := loadModel(t, rm.File, Options{})
			wantKV := KVF16
			if rm.KVCacheType == "f32" {
				wantKV = KVF32
			}
			if m.KV() != wantKV {
				t.Errorf("KV type %v, reference used %s", m.KV(), rm.KVCacheType)
			}
			all := readFloats(t, rm.LogitsFile)
			tol := toleranceFor(rm.Weights)
			for _, lr := range rm.Logits {
				ids := seqs[lr.Sequence]
				// seq300 takes seconds; under the race detector even seq64 does.
				if (testing.Short() && len(ids) > 64) || (raceEnabled && len(ids) > 8) {
					continue
				}
				want := all[lr.OffsetFloats : lr.OffsetFloats+lr.NPositions*ref.NVocab]
				batch := newRows(len(ids), ref.NVocab)
				c := m.NewCache(len(ids))
				if err := m.ForwardAll(c, ids, batch); err != nil {
					t.Fatal(err)
				}
				compareLogits(t, lr.Sequence+"/batch", batch, want, ref.NVocab, tol)

				seq := newRows(len(ids), ref.NVocab)
				c = m.NewCache(len(ids))
				for i := range ids {
					if err := m.Forward(c, ids[i:i+1], seq[i]); err != nil {
						t.Fatal(err)
					}
				}
				for p := range seq {
					for i := range seq[p] {
						if math.Float32bits(seq[p][i]) != math.Float32bits(batch[p][i]) {
							t.Fatalf("%s: position %d logit %d: token-by-token %g != batch %g", lr.Sequence, p, i, seq[p][i], batch[p][i])
						}
					}
				}
			}
		})
	}
}
