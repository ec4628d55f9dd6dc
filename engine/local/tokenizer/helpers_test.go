package tokenizer

import (
	"sync"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

var qwenOnce = sync.OnceValues(func() (*Tokenizer, error) {
	f, err := gguf.Open("testdata/vocab-qwen2.gguf")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return FromMetadata(f)
})

// qwen returns the real Qwen2.5 tokenizer, built once per test binary.
func qwen(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := qwenOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
