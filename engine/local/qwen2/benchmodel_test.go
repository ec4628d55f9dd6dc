package qwen2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// tokenizerMeta returns the tokenizer.* keys of the shared Qwen2 vocabulary
// file, so that a generated model carries the real 151,936-token vocabulary
// and llama.cpp (which needs tokenizer metadata) loads it.
func tokenizerMeta(path string) ([]gguf.KV, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var kvs []gguf.KV
	for _, k := range f.Keys {
		if strings.HasPrefix(k, "tokenizer.") {
			kvs = append(kvs, gguf.KV{Key: k, Value: f.Metadata[k]})
		}
	}
	return kvs, nil
}

// TestWriteBenchModel writes the F16 VibeThinker-1.5B-shaped random model
// with the real tokenizer to $THINKSTREAM_WRITE_MODEL, for
// scripts/bench-vs-llamacpp (which quantizes it with llama-quantize). It
// is a test so that the generator stays test code; without the variable it
// skips.
func TestWriteBenchModel(t *testing.T) {
	out := os.Getenv("THINKSTREAM_WRITE_MODEL")
	if out == "" {
		t.Skip("set THINKSTREAM_WRITE_MODEL=FILE to write the 3 GB benchmark model")
	}
	vocab := filepath.Join("..", "..", "..", "..", "shared", "testdata", "qwen2", "vocab-qwen2.gguf")
	if v := os.Getenv("THINKSTREAM_VOCAB"); v != "" {
		vocab = v
	}
	meta, err := tokenizerMeta(vocab)
	if err != nil {
		t.Skipf("no shared vocabulary (%v): run beside ../shared or set THINKSTREAM_VOCAB", err)
	}
	s := bigSpec(ggml.F16)
	s.meta = meta
	tmp := out + ".tmp"
	if err := writeModel(tmp, s); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	m, err := Load(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}
