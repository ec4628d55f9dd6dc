package qwen2

import (
	"fmt"
	"math"
	"os"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// genSpec describes a random Qwen2 model for writeModel.
type genSpec struct {
	arch                                       string // default "qwen2"
	vocab, hidden, layers, heads, kvHeads, ffn int
	ctx                                        int
	tied                                       bool
	fileType                                   uint32
	// typeOf picks the type of each 2-D weight; norms and biases are F32.
	typeOf func(name string, layer int) ggml.Type
	// mutate, if set, may change a tensor's declared shape or type (for
	// error tests) or drop it (return nil dims).
	mutate func(name string, dims []uint64, t ggml.Type) ([]uint64, ggml.Type)
	seed   uint64
	// meta is appended to the generated metadata.
	meta []gguf.KV
}

// VibeThinker-1.5B / Qwen2.5-1.5B shapes.
func bigSpec(t ggml.Type) genSpec {
	s := genSpec{vocab: 151936, hidden: 1536, layers: 28, heads: 12, kvHeads: 2, ffn: 8960, ctx: 4096, tied: true, seed: 7}
	s.typeOf = func(string, int) ggml.Type { return t }
	switch t {
	case ggml.F16:
		s.fileType = 1
	case ggml.Q8_0:
		s.fileType = 7
	case ggml.Q4_K:
		s.fileType = 15
		s.typeOf = q4KMTypes(s.layers)
	}
	return s
}

// q4KMTypes mimics llama.cpp's Q4_K_M mix: Q6_K for the embedding/output
// matrix and for attn_v and ffn_down of the first and last eighth of the
// layers and every third layer between, Q4_K elsewhere.
func q4KMTypes(layers int) func(string, int) ggml.Type {
	return func(name string, l int) ggml.Type {
		if name == "token_embd.weight" || name == "output.weight" {
			return ggml.Q6_K
		}
		more := l < layers/8 || l >= 7*layers/8 || (l-layers/8)%3 == 2
		if more && (name == "attn_v.weight" || name == "ffn_down.weight") {
			return ggml.Q6_K
		}
		return ggml.Q4_K
	}
}

type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// uniform returns a value with mean mu and standard deviation sd.
func (r *splitmix) uniform(mu, sd float64) float32 {
	u := float64(r.next()>>40) / (1 << 24)
	return float32(mu + sd*math.Sqrt(3)*(2*u-1))
}

type genTensor struct {
	name      string
	layer     int
	dims      []uint64
	typ       ggml.Type
	mean, std float64
}

// writeModel writes a random model to path, streaming: a big model never
// sits in memory. Each 2-D tensor's rows are drawn from a pool of at most
// 64 distinct random rows, which keeps generating multi-gigabyte files
// disk-bound; the values are meaningless but well scaled.
func writeModel(path string, s genSpec) error {
	if s.arch == "" {
		s.arch = "qwen2"
	}
	hd := s.hidden / s.heads
	kv := s.kvHeads * hd
	var ts []genTensor
	add := func(name string, layer int, typ ggml.Type, mean, std float64, dims ...uint64) {
		ts = append(ts, genTensor{name, layer, dims, typ, mean, std})
	}
	mat := func(name string, layer int, cols, rows int, std float64) {
		add(name, layer, s.typeOf(name, layer), 0, std, uint64(cols), uint64(rows))
	}
	mat("token_embd.weight", -1, s.hidden, s.vocab, 1)
	if !s.tied {
		mat("output.weight", -1, s.hidden, s.vocab, 1)
	}
	add("output_norm.weight", -1, ggml.F32, 1, 0.2, uint64(s.hidden))
	ih := 1 / math.Sqrt(float64(s.hidden))
	for l := 0; l < s.layers; l++ {
		add("attn_norm.weight", l, ggml.F32, 1, 0.2, uint64(s.hidden))
		mat("attn_q.weight", l, s.hidden, s.hidden, ih)
		add("attn_q.bias", l, ggml.F32, 0, 0.3, uint64(s.hidden))
		mat("attn_k.weight", l, s.hidden, kv, ih)
		add("attn_k.bias", l, ggml.F32, 0, 0.3, uint64(kv))
		mat("attn_v.weight", l, s.hidden, kv, ih)
		add("attn_v.bias", l, ggml.F32, 0, 0.1, uint64(kv))
		mat("attn_output.weight", l, s.hidden, s.hidden, 0.5*ih)
		add("ffn_norm.weight", l, ggml.F32, 1, 0.2, uint64(s.hidden))
		mat("ffn_gate.weight", l, s.hidden, s.ffn, ih)
		mat("ffn_up.weight", l, s.hidden, s.ffn, ih)
		mat("ffn_down.weight", l, s.ffn, s.hidden, 0.5/math.Sqrt(float64(s.ffn)))
	}
	infos := make([]gguf.TensorInfo, 0, len(ts))
	kept := ts[:0]
	for _, t := range ts {
		full := t.name
		if t.layer >= 0 {
			full = fmt.Sprintf("blk.%d.%s", t.layer, t.name)
		}
		t.name = full
		if s.mutate != nil {
			t.dims, t.typ = s.mutate(full, t.dims, t.typ)
			if t.dims == nil {
				continue
			}
		}
		kept = append(kept, t)
		infos = append(infos, gguf.TensorInfo{Name: full, Type: t.typ, Dims: t.dims})
	}
	meta := []gguf.KV{
		{Key: "general.architecture", Value: gguf.StringValue(s.arch)},
		{Key: "general.name", Value: gguf.StringValue("random test model")},
		{Key: "general.alignment", Value: gguf.Uint32Value(32)},
		{Key: "general.file_type", Value: gguf.Uint32Value(s.fileType)},
		{Key: s.arch + ".context_length", Value: gguf.Uint32Value(uint32(s.ctx))},
		{Key: s.arch + ".embedding_length", Value: gguf.Uint32Value(uint32(s.hidden))},
		{Key: s.arch + ".block_count", Value: gguf.Uint32Value(uint32(s.layers))},
		{Key: s.arch + ".feed_forward_length", Value: gguf.Uint32Value(uint32(s.ffn))},
		{Key: s.arch + ".attention.head_count", Value: gguf.Uint32Value(uint32(s.heads))},
		{Key: s.arch + ".attention.head_count_kv", Value: gguf.Uint32Value(uint32(s.kvHeads))},
		{Key: s.arch + ".rope.freq_base", Value: gguf.Float32Value(1e6)},
		{Key: s.arch + ".attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(1e-6)},
	}
	meta = append(meta, s.meta...)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := gguf.NewWriter(f, meta, infos)
	if err != nil {
		return err
	}
	rng := &splitmix{s: s.seed}
	for _, t := range kept {
		if err := writeTensor(w, t, rng); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

func writeTensor(w *gguf.Writer, t genTensor, rng *splitmix) error {
	cols := int(t.dims[0])
	rows := 1
	for _, d := range t.dims[1:] {
		rows *= int(d)
	}
	rb, err := t.typ.RowBytes(cols)
	if err != nil {
		return err
	}
	poolRows := min(rows, 64)
	pool := make([]byte, poolRows*rb)
	vals := make([]float32, cols)
	for r := 0; r < poolRows; r++ {
		for i := range vals {
			vals[i] = rng.uniform(t.mean, t.std)
		}
		if err := ggml.Quantize(t.typ, vals, pool[r*rb:(r+1)*rb]); err != nil {
			// Types we cannot encode (error tests) get zero bytes.
			clear(pool[r*rb : (r+1)*rb])
		}
	}
	if rows == poolRows {
		_, err := w.Write(pool)
		return err
	}
	// Batch rows into ~1 MB writes.
	per := max(1, (1<<20)/rb)
	buf := make([]byte, 0, per*rb)
	for r := 0; r < rows; r++ {
		p := int(rng.next() % uint64(poolRows))
		buf = append(buf, pool[p*rb:(p+1)*rb]...)
		if len(buf) == cap(buf) || r == rows-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}
