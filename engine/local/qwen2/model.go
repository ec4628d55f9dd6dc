// Package qwen2 runs Qwen2-architecture language models (VibeThinker-1.5B,
// Qwen2.5) from GGUF files, computing what llama.cpp's CPU backend computes:
// the same RMSNorm, NeoX RoPE, grouped-query attention and SwiGLU, with
// activations converted to each weight type's vec-dot form the way ggml
// does. Weights stay memory-mapped in their stored type.
package qwen2

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

// Errors callers may want to tell apart.
var (
	ErrArchitecture    = errors.New("qwen2: unsupported architecture")
	ErrMissingTensor   = errors.New("qwen2: missing tensor")
	ErrShape           = errors.New("qwen2: tensor shape mismatch")
	ErrContextOverflow = errors.New("qwen2: context overflow")
	ErrBadToken        = errors.New("qwen2: token id out of range")
	ErrUnsupported     = errors.New("qwen2: unsupported model feature")
	ErrClosed          = errors.New("qwen2: model is closed")
)

// Config holds the hyper-parameters read from the file.
type Config struct {
	Vocab    int
	Hidden   int // n_embd
	Layers   int
	Heads    int
	KVHeads  int
	HeadDim  int
	FFN      int
	RopeBase float64
	// RopeScale multiplies every rotary angle: 1/factor for linear
	// ("position interpolation") scaling, 1 without scaling.
	RopeScale     float64
	Eps           float64
	ContextLength int
	// TiedOutput is true when the logits use token_embd.weight because the
	// file has no output.weight.
	TiedOutput bool
	// FileType is general.file_type (0 f32, 1 f16, 7 q8_0, 15 q4_k_m, …), -1 if absent.
	FileType int
}

// KVType selects the element type of the KV cache.
type KVType uint8

const (
	// KVAuto uses F32 for all-F32 models and F16 otherwise, as llama.cpp's
	// default f16 cache does for the models it is usually given.
	KVAuto KVType = iota
	KVF32
	KVF16
)

// Options configure Load.
type Options struct {
	// Threads for matrix products and attention; <= 0 means GOMAXPROCS.
	Threads int
	// KV is the cache element type.
	KV KVType
}

// Model is a loaded model. Forward may be called concurrently on different
// caches; the work of concurrent calls is serialised on the model's threads.
type Model struct {
	Config Config

	file    *gguf.File
	pool    *ggml.Pool
	closed  atomic.Bool
	kv      KVType
	embd    *ggml.Matrix
	output  *ggml.Matrix
	outNorm []float32
	layers  []layer
}

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    *ggml.Matrix
	bq, bk, bv        []float32
	gate, up, down    *ggml.Matrix
}

// Load opens and memory-maps a GGUF file and checks that it holds a
// complete Qwen2 model.
func Load(path string, opts Options) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := newModel(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the threads and the file mapping. Forward must not be
// running; later calls fail with ErrClosed instead of touching the unmapped
// weights.
func (m *Model) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.pool.Close()
	return m.file.Close()
}

// File exposes the underlying GGUF file (for tokenizer metadata).
func (m *Model) File() *gguf.File { return m.file }

func readConfig(f *gguf.File) (Config, error) {
	arch, _ := f.String("general.architecture")
	if arch != "qwen2" {
		return Config{}, fmt.Errorf("%w: %q", ErrArchitecture, arch)
	}
	var c Config
	ints := []struct {
		key string
		dst *int
		req bool
	}{
		{"qwen2.embedding_length", &c.Hidden, true},
		{"qwen2.block_count", &c.Layers, true},
		{"qwen2.attention.head_count", &c.Heads, true},
		{"qwen2.attention.head_count_kv", &c.KVHeads, false},
		{"qwen2.feed_forward_length", &c.FFN, true},
		{"qwen2.context_length", &c.ContextLength, true},
	}
	for _, k := range ints {
		v, ok := f.Uint(k.key)
		if !ok {
			if k.req {
				return c, fmt.Errorf("qwen2: missing or invalid metadata %s", k.key)
			}
			continue
		}
		if v == 0 || v > 1<<24 {
			return c, fmt.Errorf("qwen2: metadata %s = %d is out of range", k.key, v)
		}
		*k.dst = int(v)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Hidden%c.Heads != 0 || c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("%w: %d heads, %d kv heads, hidden %d", ErrShape, c.Heads, c.KVHeads, c.Hidden)
	}
	c.HeadDim = c.Hidden / c.Heads
	if kl, ok := f.Uint("qwen2.attention.key_length"); ok && int(kl) != c.HeadDim {
		return c, fmt.Errorf("%w: key_length %d != hidden/heads %d", ErrShape, kl, c.HeadDim)
	}
	if c.HeadDim%dimSlice != 0 {
		return c, fmt.Errorf("%w: head dimension %d is not a multiple of %d", ErrShape, c.HeadDim, dimSlice)
	}
	c.RopeBase = 10000
	if v, ok := f.Float("qwen2.rope.freq_base"); ok {
		c.RopeBase = v
	}
	if n, ok := f.Uint("qwen2.rope.dimension_count"); ok && int(n) != c.HeadDim {
		return c, fmt.Errorf("%w: rotary dimension %d != head dimension %d (partial RoPE is not supported)", ErrShape, n, c.HeadDim)
	}
	c.RopeScale = 1
	scaling, _ := f.String("qwen2.rope.scaling.type")
	switch scaling {
	case "", "none":
	case "linear":
		factor, ok := f.Float("qwen2.rope.scaling.factor")
		if !ok || !(factor > 0) {
			return c, fmt.Errorf("qwen2: linear RoPE scaling without a valid factor")
		}
		c.RopeScale = 1 / factor
	default:
		return c, fmt.Errorf("%w: RoPE scaling %q", ErrUnsupported, scaling)
	}
	c.Eps = 1e-6
	if v, ok := f.Float("qwen2.attention.layer_norm_rms_epsilon"); ok {
		c.Eps = v
	}
	if !(c.RopeBase > 0) || math.IsInf(c.RopeBase, 0) || !(c.Eps >= 0) {
		return c, fmt.Errorf("qwen2: invalid rope base %g or eps %g", c.RopeBase, c.Eps)
	}
	c.FileType = -1
	if v, ok := f.Uint("general.file_type"); ok {
		c.FileType = int(v)
	}
	return c, nil
}

func newModel(f *gguf.File, opts Options) (*Model, error) {
	cfg, err := readConfig(f)
	if err != nil {
		return nil, err
	}
	m := &Model{file: f}
	ti, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("%w: token_embd.weight", ErrMissingTensor)
	}
	if len(ti.Dims) != 2 || ti.Dims[1] == 0 || ti.Dims[1] > 1<<24 {
		return nil, fmt.Errorf("%w: token_embd.weight %v", ErrShape, ti.Dims)
	}
	cfg.Vocab = int(ti.Dims[1])
	if m.embd, err = m.matrix("token_embd.weight", cfg.Hidden, cfg.Vocab); err != nil {
		return nil, err
	}
	if _, ok := f.Tensor("output.weight"); ok {
		if m.output, err = m.matrix("output.weight", cfg.Hidden, cfg.Vocab); err != nil {
			return nil, err
		}
	} else {
		cfg.TiedOutput = true
		m.output = m.embd
	}
	if m.outNorm, err = m.vector("output_norm.weight", cfg.Hidden); err != nil {
		return nil, err
	}
	kvDim := cfg.KVHeads * cfg.HeadDim
	allF32 := true
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		vecs := []struct {
			name string
			n    int
			dst  *[]float32
		}{
			{"attn_norm.weight", cfg.Hidden, &l.attnNorm},
			{"ffn_norm.weight", cfg.Hidden, &l.ffnNorm},
			{"attn_q.bias", cfg.Hidden, &l.bq},
			{"attn_k.bias", kvDim, &l.bk},
			{"attn_v.bias", kvDim, &l.bv},
		}
		for _, v := range vecs {
			if *v.dst, err = m.vector(p+v.name, v.n); err != nil {
				return nil, err
			}
		}
		mats := []struct {
			name       string
			cols, rows int
			dst        **ggml.Matrix
		}{
			{"attn_q.weight", cfg.Hidden, cfg.Hidden, &l.wq},
			{"attn_k.weight", cfg.Hidden, kvDim, &l.wk},
			{"attn_v.weight", cfg.Hidden, kvDim, &l.wv},
			{"attn_output.weight", cfg.Hidden, cfg.Hidden, &l.wo},
			{"ffn_gate.weight", cfg.Hidden, cfg.FFN, &l.gate},
			{"ffn_up.weight", cfg.Hidden, cfg.FFN, &l.up},
			{"ffn_down.weight", cfg.FFN, cfg.Hidden, &l.down},
		}
		for _, mt := range mats {
			if *mt.dst, err = m.matrix(p+mt.name, mt.cols, mt.rows); err != nil {
				return nil, err
			}
			allF32 = allF32 && (*mt.dst).Type == ggml.F32
		}
	}
	allF32 = allF32 && m.embd.Type == ggml.F32 && m.output.Type == ggml.F32
	m.kv = opts.KV
	if m.kv == KVAuto {
		m.kv = KVF16
		if allF32 {
			m.kv = KVF32
		}
	}
	m.Config = cfg
	m.pool = ggml.NewPool(opts.Threads)
	return m, nil
}

// KV reports the cache element type in use.
func (m *Model) KV() KVType { return m.kv }

// Threads reports the number of threads used.
func (m *Model) Threads() int { return m.pool.Threads() }

func (m *Model) matrix(name string, cols, rows int) (*ggml.Matrix, error) {
	data, ti, err := m.file.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMissingTensor, name)
	}
	if len(ti.Dims) != 2 || ti.Dims[0] != uint64(cols) || ti.Dims[1] != uint64(rows) {
		return nil, fmt.Errorf("%w: %s is %v, want [%d %d]", ErrShape, name, ti.Dims, cols, rows)
	}
	mat, err := ggml.NewMatrix(ti.Type, cols, rows, data)
	if err != nil {
		return nil, fmt.Errorf("qwen2: %s: %w", name, err)
	}
	return mat, nil
}

// vector reads a 1-D tensor (norm weights, biases) into float32; these are
// small, so a copy costs nothing and frees the kernels from their type.
func (m *Model) vector(name string, n int) ([]float32, error) {
	data, ti, err := m.file.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMissingTensor, name)
	}
	if len(ti.Dims) != 1 || ti.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("%w: %s is %v, want [%d]", ErrShape, name, ti.Dims, n)
	}
	out := make([]float32, n)
	if err := ggml.Dequantize(ti.Type, data, out); err != nil {
		return nil, fmt.Errorf("qwen2: %s: %w", name, err)
	}
	return out, nil
}

// fileTypes names llama.cpp's general.file_type values.
var fileTypes = map[int]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
	22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}

// FileTypeName names the file's quantization mix as llama.cpp does
// ("Q4_K_M"), for logs and model listings.
func (c Config) FileTypeName() string {
	if n, ok := fileTypes[c.FileType]; ok {
		return n
	}
	if c.FileType < 0 {
		return "unknown"
	}
	return fmt.Sprintf("file type %d", c.FileType)
}
