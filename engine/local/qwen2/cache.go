package qwen2

import "github.com/thinkstream/thinkstream/engine/local/ggml"

// ubatch is the most tokens pushed through the layers at once. Results do
// not depend on it (every token's arithmetic is the same however tokens are
// grouped); it bounds the scratch memory of long prompts (about 100 KB a
// token for a 1.5B model, 25 MB at 256) while reading each weight row once
// for many tokens: a typical problem of 100–300 tokens goes through in one
// or two passes, and each pass costs a read of every weight.
const ubatch = 256

// Cache is the key/value cache of one sequence plus the scratch buffers a
// forward pass needs. It is not safe for concurrent use.
type Cache struct {
	m     *Model
	max   int
	n     int
	kvDim int
	// Per layer, max × kvDim values, position-major; one of the two pairs
	// is used depending on the model's KV type.
	k32, v32 [][]float32
	k16, v16 [][]uint16

	s scratch
}

type scratch struct {
	cap               int // tokens the batch buffers hold
	x, h, q, att, tmp []float32
	k, v              []float32
	gate, up          []float32
	cos, sin          []float32
	attn              attnState
	logits            []float32 // ForwardAll only
	acts              ggml.Acts
	mm                ggml.MatMul
	silu              siluMul
}

// NewCache returns an empty cache for up to maxTokens tokens (<= 0 means the
// model's context length).
func (m *Model) NewCache(maxTokens int) *Cache {
	if maxTokens <= 0 {
		maxTokens = m.Config.ContextLength
	}
	cfg := m.Config
	c := &Cache{m: m, max: maxTokens, kvDim: cfg.KVHeads * cfg.HeadDim}
	size := maxTokens * c.kvDim
	if m.kv == KVF32 {
		c.k32, c.v32 = make([][]float32, cfg.Layers), make([][]float32, cfg.Layers)
		for i := range c.k32 {
			c.k32[i], c.v32[i] = make([]float32, size), make([]float32, size)
		}
	} else {
		c.k16, c.v16 = make([][]uint16, cfg.Layers), make([][]uint16, cfg.Layers)
		for i := range c.k16 {
			c.k16[i], c.v16[i] = make([]uint16, size), make([]uint16, size)
		}
	}
	c.s.attn.init(c)
	return c
}

// Len is the number of tokens in the cache.
func (c *Cache) Len() int { return c.n }

// Cap is the most tokens the cache can hold.
func (c *Cache) Cap() int { return c.max }

// Truncate drops every token from position n on, so that a shared prefix
// can be kept and the rest recomputed. n is clamped to [0, Len()].
func (c *Cache) Truncate(n int) {
	c.n = max(0, min(n, c.n))
}

// reserve sizes the batch scratch for n tokens; it only allocates when n
// exceeds every earlier batch.
func (c *Cache) reserve(n int) {
	s := &c.s
	if n <= s.cap {
		return
	}
	cfg := c.m.Config
	h, f, half := cfg.Hidden, cfg.FFN, cfg.HeadDim/2
	s.x = make([]float32, n*h)
	s.h = make([]float32, n*h)
	s.q = make([]float32, n*h)
	s.att = make([]float32, n*h)
	s.tmp = make([]float32, n*h)
	s.k = make([]float32, n*c.kvDim)
	s.v = make([]float32, n*c.kvDim)
	s.gate = make([]float32, n*f)
	s.up = make([]float32, n*f)
	s.cos = make([]float32, n*half)
	s.sin = make([]float32, n*half)
	s.cap = n
}

// Bytes is the memory the cache holds (keys, values and scratch), for
// capacity planning and logs.
func (c *Cache) Bytes() int64 {
	var n int64
	for i := range c.k32 {
		n += 4 * int64(len(c.k32[i])+len(c.v32[i]))
	}
	for i := range c.k16 {
		n += 2 * int64(len(c.k16[i])+len(c.v16[i]))
	}
	s := &c.s
	for _, b := range [][]float32{s.x, s.h, s.q, s.att, s.tmp, s.k, s.v, s.gate, s.up, s.cos, s.sin, s.logits, s.attn.scores} {
		n += 4 * int64(cap(b))
	}
	return n
}
