package qwen2

import (
	"math"
	"testing"
)

// TestGreedy replays the reference greedy continuations. For f32 and f16
// the 48 tokens must match exactly (their margins are far above the noise);
// for the quantized models, which even two llama.cpp builds disagree on, the
// check is teacher-forced: argmax must match where the margin is clear.
func TestGreedy(t *testing.T) {
	if raceEnabled {
		t.Skip("minutes under the race detector; TestLogits covers the same code")
	}
	ref := readRef(t)
	for _, rm := range ref.Models {
		t.Run(rm.Weights+"/"+rm.File, func(t *testing.T) {
			m := loadModel(t, rm.File, Options{})
			tol := toleranceFor(rm.Weights)
			exact := rm.Weights == "f32" || rm.Weights == "f16"
			for gi, g := range rm.Greedy {
				if testing.Short() && gi > 0 {
					break
				}
				if exact {
					c := m.NewCache(len(g.PromptIDs) + len(g.Tokens))
					logits := make([]float32, m.Config.Vocab)
					if err := m.Forward(c, g.PromptIDs, logits); err != nil {
						t.Fatal(err)
					}
					for i, want := range g.Tokens {
						got := int32(argmax(logits))
						if got != want {
							t.Fatalf("prompt %q step %d: token %d, want %d (margin %.3g)", g.PromptText, i, got, want, g.Steps[i].Margin)
						}
						if err := m.Forward(c, []int32{got}, logits); err != nil {
							t.Fatal(err)
						}
					}
				}
				ids := append(append([]int32(nil), g.PromptIDs...), g.Tokens[:len(g.Tokens)-1]...)
				rows := newRows(len(ids), m.Config.Vocab)
				if err := m.ForwardAll(m.NewCache(len(ids)), ids, rows); err != nil {
					t.Fatal(err)
				}
				for i, st := range g.Steps {
					row := rows[len(g.PromptIDs)-1+i]
					if st.Margin > 2*tol.maxAbs {
						if got := int32(argmax(row)); got != st.Token {
							t.Errorf("prompt %q step %d (teacher-forced): token %d, want %d (margin %.3g)", g.PromptText, i, got, st.Token, st.Margin)
						}
					}
					for k, id := range st.Top5IDs {
						if d := math.Abs(float64(row[id] - st.Top5Logits[k])); d > tol.maxAbs {
							t.Errorf("prompt %q step %d: logit of %d is %g, want %g", g.PromptText, i, id, row[id], st.Top5Logits[k])
						}
					}
				}
			}
		})
	}
}
