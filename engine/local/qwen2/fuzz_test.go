package qwen2

import (
	"os"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// FuzzLoad mutates a tiny but complete model file: loading it must fail
// cleanly or give a model that can run a token, never panic.
func FuzzLoad(f *testing.F) {
	for _, typ := range []ggml.Type{ggml.F32, ggml.F16} {
		s := genSpec{vocab: 8, hidden: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 32, ctx: 16, seed: 1}
		s.typeOf = func(string, int) ggml.Type { return typ }
		path := f.TempDir() + "/m.gguf"
		if err := writeModel(path, s); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gf, err := gguf.Parse(data)
		if err != nil {
			return
		}
		m, err := newModel(gf, Options{Threads: 2})
		if err != nil {
			return
		}
		defer m.Close()
		if m.Config.Hidden > 1<<12 || m.Config.FFN > 1<<14 || m.Config.Vocab > 1<<12 || m.Config.Layers > 8 {
			return // valid but too big to run in a fuzz iteration
		}
		logits := make([]float32, m.Config.Vocab)
		if err := m.Forward(m.NewCache(4), []int32{0, int32(m.Config.Vocab - 1)}, logits); err != nil {
			t.Fatalf("loaded model cannot run: %v", err)
		}
	})
}
