package local

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// writeFullVocabModel writes a one-layer random Qwen2 model that carries
// the real 151,936-token Qwen2.5 vocabulary, so the engine can be tried at
// VibeThinker's vocabulary size (ids, end-of-generation tokens, sampling
// over every logit) without a 1 GB download.
func writeFullVocabModel(t *testing.T) string {
	t.Helper()
	vf, err := gguf.Open("tokenizer/testdata/vocab-qwen2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	const hidden, ffn, heads, ctx = 128, 256, 1, 2048
	tokens, _ := vf.Strings("tokenizer.ggml.tokens")
	types, _ := vf.Int32s("tokenizer.ggml.token_type")
	merges, _ := vf.Strings("tokenizer.ggml.merges")
	bos, _ := vf.Uint("tokenizer.ggml.bos_token_id")
	eos, _ := vf.Uint("tokenizer.ggml.eos_token_id")
	vocab := len(tokens)
	meta := []gguf.KV{
		{Key: "general.architecture", Value: gguf.StringValue("qwen2")},
		{Key: "general.name", Value: gguf.StringValue("full-vocab test")},
		{Key: "qwen2.embedding_length", Value: gguf.Uint32Value(hidden)},
		{Key: "qwen2.block_count", Value: gguf.Uint32Value(1)},
		{Key: "qwen2.attention.head_count", Value: gguf.Uint32Value(heads)},
		{Key: "qwen2.attention.head_count_kv", Value: gguf.Uint32Value(heads)},
		{Key: "qwen2.feed_forward_length", Value: gguf.Uint32Value(ffn)},
		{Key: "qwen2.context_length", Value: gguf.Uint32Value(ctx)},
		{Key: "qwen2.rope.freq_base", Value: gguf.Float32Value(10000)},
		{Key: "qwen2.attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(1e-6)},
		{Key: "tokenizer.ggml.model", Value: gguf.StringValue("gpt2")},
		{Key: "tokenizer.ggml.pre", Value: gguf.StringValue("qwen2")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.StringsValue(tokens)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Int32sValue(types)},
		{Key: "tokenizer.ggml.merges", Value: gguf.StringsValue(merges)},
		{Key: "tokenizer.ggml.bos_token_id", Value: gguf.Uint32Value(uint32(bos))},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32Value(uint32(eos))},
	}
	type tensor struct {
		name string
		dims []uint64
		typ  ggml.Type
		std  float64
		mean float64
	}
	h, f, v := uint64(hidden), uint64(ffn), uint64(vocab)
	ts := []tensor{
		{"token_embd.weight", []uint64{h, v}, ggml.F16, 1, 0},
		{"output_norm.weight", []uint64{h}, ggml.F32, 0.3, 0},
		{"blk.0.attn_norm.weight", []uint64{h}, ggml.F32, 0.2, 1},
		{"blk.0.attn_q.weight", []uint64{h, h}, ggml.F16, 1 / math.Sqrt(hidden), 0},
		{"blk.0.attn_q.bias", []uint64{h}, ggml.F32, 0.5, 0},
		{"blk.0.attn_k.weight", []uint64{h, h}, ggml.F16, 1 / math.Sqrt(hidden), 0},
		{"blk.0.attn_k.bias", []uint64{h}, ggml.F32, 0.5, 0},
		{"blk.0.attn_v.weight", []uint64{h, h}, ggml.F16, 1 / math.Sqrt(hidden), 0},
		{"blk.0.attn_v.bias", []uint64{h}, ggml.F32, 0.2, 0},
		{"blk.0.attn_output.weight", []uint64{h, h}, ggml.F16, 0.6 / math.Sqrt(hidden), 0},
		{"blk.0.ffn_norm.weight", []uint64{h}, ggml.F32, 0.2, 1},
		{"blk.0.ffn_gate.weight", []uint64{h, f}, ggml.F16, 1 / math.Sqrt(hidden), 0},
		{"blk.0.ffn_up.weight", []uint64{h, f}, ggml.F16, 1 / math.Sqrt(hidden), 0},
		{"blk.0.ffn_down.weight", []uint64{f, h}, ggml.F16, 0.8 / math.Sqrt(ffn), 0},
	}
	infos := make([]gguf.TensorInfo, len(ts))
	for i, tt := range ts {
		infos[i] = gguf.TensorInfo{Name: tt.name, Type: tt.typ, Dims: tt.dims}
	}
	path := filepath.Join(t.TempDir(), "full-vocab.gguf")
	fd, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	bw := bufio.NewWriter(fd)
	w, err := gguf.NewWriter(bw, meta, infos)
	if err != nil {
		t.Fatal(err)
	}
	state := uint64(1)
	next := func() float64 { // xorshift, uniform in [-√3, √3): unit variance
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return (float64(state>>11)/(1<<53)*2 - 1) * math.Sqrt(3)
	}
	for _, tt := range ts {
		n := 1
		for _, d := range tt.dims {
			n *= int(d)
		}
		var buf []byte
		for range n {
			x := tt.mean + tt.std*next()
			if tt.typ == ggml.F16 {
				buf = binary.LittleEndian.AppendUint16(buf, ggml.F32ToF16(float32(x)))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(x)))
			}
		}
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFullVocabularyModel(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes a 40 MB model")
	}
	e, err := New(Config{ModelPath: writeFullVocabModel(t), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Info(); got.Model != "full-vocab test" || got.MaxTokens != 2047 {
		t.Fatalf("Info = %+v", got)
	}
	tok := e.Tokenizer()
	if tok.VocabSize() != 151936 || !tok.IsEOG(151645) || !tok.IsEOG(151643) {
		t.Fatalf("vocabulary %d, EOG %v", tok.VocabSize(), tok.EOG())
	}
	req := thinkstream.Request{RunID: "v", Messages: []thinkstream.Message{
		{Role: "system", Content: "You are a competitive programming assistant."},
		{Role: "user", Content: "数学: find the sum of 1..100. 🙂"},
	}, Params: thinkstream.Params{Seed: ptr(int64(5)), Temperature: ptr(1.0), TopP: ptr(0.95), MaxTokens: 64}}
	var text, last string
	var n int
	res, err := e.Generate(context.Background(), req, func(tk thinkstream.Token) error {
		n++
		if tk.ID < 0 || tk.ID >= 151936 || tok.IsEOG(int32(tk.ID)) {
			return fmt.Errorf("token id %d", tk.ID)
		}
		// Only the last chunk may end in a flushed, incomplete character.
		if !utf8.ValidString(last) {
			return fmt.Errorf("chunk %q is not valid UTF-8", last)
		}
		last = tk.Text
		text += tk.Text
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.PromptTokens != len(tok.EncodeChat(req.Messages, "")) || n == 0 || res.Usage.CompletionTokens < n {
		t.Fatalf("usage %+v after %d tokens", res.Usage, n)
	}
	t.Logf("%d tokens, finish %s, prompt %.0f tok/s, generation %.0f tok/s: %q",
		res.Usage.CompletionTokens, res.FinishReason, res.Timings.PromptPerSecond, res.Timings.PredictedPerSecond, text)
}
