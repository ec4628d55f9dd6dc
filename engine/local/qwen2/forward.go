package qwen2

import (
	"fmt"
	"math"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// Forward appends tokens to the cache at its current position and writes
// the logits of the last token into logits (len >= Vocab). On error the
// cache is left as it was.
func (m *Model) Forward(c *Cache, tokens []int32, logits []float32) (err error) {
	if err := m.check(c, tokens); err != nil {
		return err
	}
	defer c.restoreOnError(c.n, &err)
	if len(logits) < m.Config.Vocab {
		return fmt.Errorf("qwen2: logits buffer holds %d, need %d", len(logits), m.Config.Vocab)
	}
	for len(tokens) > 0 {
		n := min(len(tokens), ubatch)
		if err := m.layersForward(c, tokens[:n]); err != nil {
			return err
		}
		tokens = tokens[n:]
		if len(tokens) == 0 {
			h := m.Config.Hidden
			return m.logits(c, c.s.x[(n-1)*h:n*h], 1, logits)
		}
	}
	return nil
}

// ForwardAll is Forward that returns the logits at every position:
// logits[i] (len >= Vocab) receives the prediction after tokens[i].
func (m *Model) ForwardAll(c *Cache, tokens []int32, logits [][]float32) (err error) {
	if err := m.check(c, tokens); err != nil {
		return err
	}
	defer c.restoreOnError(c.n, &err)
	if len(logits) != len(tokens) {
		return fmt.Errorf("qwen2: %d logits rows for %d tokens", len(logits), len(tokens))
	}
	v := m.Config.Vocab
	for i, l := range logits {
		if len(l) < v {
			return fmt.Errorf("qwen2: logits row %d holds %d, need %d", i, len(l), v)
		}
	}
	for done := 0; done < len(tokens); {
		n := min(len(tokens)-done, ubatch)
		if err := m.layersForward(c, tokens[done:done+n]); err != nil {
			return err
		}
		if cap(c.s.logits) < n*v {
			c.s.logits = make([]float32, n*v)
		}
		out := c.s.logits[:n*v]
		if err := m.logits(c, c.s.x[:n*m.Config.Hidden], n, out); err != nil {
			return err
		}
		for t := 0; t < n; t++ {
			copy(logits[done+t], out[t*v:(t+1)*v])
		}
		done += n
	}
	return nil
}

func (c *Cache) restoreOnError(n int, err *error) {
	if *err != nil {
		c.n = n
	}
}

func (m *Model) check(c *Cache, tokens []int32) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if c == nil || c.m != m {
		return fmt.Errorf("qwen2: cache belongs to another model")
	}
	if len(tokens) == 0 {
		return fmt.Errorf("qwen2: no tokens")
	}
	if c.n+len(tokens) > c.max {
		return fmt.Errorf("%w: %d cached + %d new tokens > %d", ErrContextOverflow, c.n, len(tokens), c.max)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= m.Config.Vocab {
			return fmt.Errorf("%w: token %d is %d, vocabulary has %d", ErrBadToken, i, t, m.Config.Vocab)
		}
	}
	return nil
}

// mul computes y = w·x for n vectors of x, converting x to w's vec-dot
// type unless the scratch already holds x in that type (prepared says so).
func (c *Cache) mul(w *ggml.Matrix, x []float32, n int, y []float32, prepared bool) error {
	s := &c.s
	if !prepared || s.acts.Type != ggml.VecDotType(w.Type) {
		if err := c.m.pool.Prepare(&s.acts, w.Type, x, n, w.Cols); err != nil {
			return err
		}
	}
	return c.m.pool.Mul(&s.mm, w, &s.acts, y)
}

// siluMul is gate = silu(gate)·up on the pool: a prompt's FFN has a
// million of them a layer, a twentieth of its time on one thread.
type siluMul struct{ gate, up []float32 }

func (t *siluMul) Run(_, lo, hi int) {
	ggml.SiLUMul(t.gate[lo:hi], t.up[lo:hi])
}

// layersForward runs n tokens through every layer, leaving the final
// hidden states in c.s.x and the keys and values in the cache.
func (m *Model) layersForward(c *Cache, tokens []int32) error {
	cfg := m.Config
	n := len(tokens)
	c.reserve(n)
	s := &c.s
	H, KV, F := cfg.Hidden, c.kvDim, cfg.FFN
	x, h, q, k, v := s.x[:n*H], s.h[:n*H], s.q[:n*H], s.k[:n*KV], s.v[:n*KV]
	att, tmp, gate, up := s.att[:n*H], s.tmp[:n*H], s.gate[:n*F], s.up[:n*F]

	for t, tok := range tokens {
		if err := m.embd.Row(int(tok), x[t*H:(t+1)*H]); err != nil {
			return err
		}
	}
	m.ropeTables(c.n, n, s.cos, s.sin)
	eps := float32(cfg.Eps)
	for li := range m.layers {
		l := &m.layers[li]
		rmsNorm(h, x, l.attnNorm, H, eps)
		if err := c.mul(l.wq, h, n, q, false); err != nil {
			return err
		}
		if err := c.mul(l.wk, h, n, k, true); err != nil {
			return err
		}
		if err := c.mul(l.wv, h, n, v, true); err != nil {
			return err
		}
		addBias(q, l.bq)
		addBias(k, l.bk)
		addBias(v, l.bv)
		m.rope(q, n, cfg.Heads, s.cos, s.sin)
		m.rope(k, n, cfg.KVHeads, s.cos, s.sin)
		c.store(li, k, v, n)
		if c.k16 != nil {
			// ggml converts Q to the f16 cache's type before Q·Kᵀ.
			for i, f := range q {
				q[i] = ggml.RoundF16(f)
			}
		}
		c.attention(li, n)

		if err := c.mul(l.wo, att, n, tmp, false); err != nil {
			return err
		}
		addTo(x, tmp)
		rmsNorm(h, x, l.ffnNorm, H, eps)
		if err := c.mul(l.gate, h, n, gate, false); err != nil {
			return err
		}
		if err := c.mul(l.up, h, n, up, true); err != nil {
			return err
		}
		s.silu = siluMul{gate: gate, up: up}
		m.pool.Run(len(gate), 4096, &s.silu)
		if err := c.mul(l.down, gate, n, tmp, false); err != nil {
			return err
		}
		addTo(x, tmp)
	}
	c.n += n
	return nil
}

// logits computes W_out · (rmsnorm(x) ⊙ output_norm) for n hidden states.
func (m *Model) logits(c *Cache, x []float32, n int, out []float32) error {
	H := m.Config.Hidden
	h := c.s.h[:n*H]
	rmsNorm(h, x[:n*H], m.outNorm, H, float32(m.Config.Eps))
	return c.mul(m.output, h, n, out, false)
}

// store writes n tokens' keys and values at the cache's end.
func (c *Cache) store(layer int, k, v []float32, n int) {
	lo, hi := c.n*c.kvDim, (c.n+n)*c.kvDim
	if c.k32 != nil {
		copy(c.k32[layer][lo:hi], k)
		copy(c.v32[layer][lo:hi], v)
		return
	}
	kd, vd := c.k16[layer][lo:hi], c.v16[layer][lo:hi]
	for i := range kd {
		kd[i] = ggml.F32ToF16(k[i])
		vd[i] = ggml.F32ToF16(v[i])
	}
}

// rmsNorm writes (x / rms(x)) ⊙ w row by row, summing squares in float64
// and scaling in float32 as ggml does.
func rmsNorm(dst, x, w []float32, dim int, eps float32) {
	for r := 0; r < len(x)/dim; r++ {
		row, out := x[r*dim:(r+1)*dim], dst[r*dim:(r+1)*dim]
		var sum float64
		for _, f := range row {
			sum += float64(f * f)
		}
		mean := float32(sum / float64(dim))
		scale := 1 / float32(math.Sqrt(float64(mean+eps)))
		for i, f := range row {
			out[i] = f * scale * w[i]
		}
	}
}

func addBias(x, b []float32) {
	for r := 0; r < len(x)/len(b); r++ {
		row := x[r*len(b) : (r+1)*len(b)]
		for i := range row {
			row[i] += b[i]
		}
	}
}

func addTo(x, y []float32) {
	y = y[:len(x)]
	for i := range x {
		x[i] += y[i]
	}
}

// ropeTables fills cos/sin for positions pos0 … pos0+n-1. Like ggml, the
// angle for pair i is pos · base^(-2i/d) built by repeated float32
// multiplication, not by pow per pair: matching that keeps long-position
// angles within float32 rounding of llama.cpp's.
func (m *Model) ropeTables(pos0, n int, cos, sin []float32) {
	half := m.Config.HeadDim / 2
	scale := float32(math.Pow(float64(float32(m.Config.RopeBase)), float64(float32(-2)/float32(m.Config.HeadDim))))
	freqScale := float32(m.Config.RopeScale)
	for t := 0; t < n; t++ {
		theta := float32(pos0 + t)
		c, s := cos[t*half:(t+1)*half], sin[t*half:(t+1)*half]
		for i := range c {
			a := theta
			if freqScale != 1 {
				a = freqScale * theta
			}
			c[i] = float32(math.Cos(float64(a)))
			s[i] = float32(math.Sin(float64(a)))
			theta *= scale
		}
	}
}

// rope rotates each head's pairs (i, i+d/2) (NeoX layout) in place.
func (m *Model) rope(x []float32, n, heads int, cos, sin []float32) {
	d := m.Config.HeadDim
	half := d / 2
	for t := 0; t < n; t++ {
		c, s := cos[t*half:(t+1)*half], sin[t*half:(t+1)*half]
		for hd := 0; hd < heads; hd++ {
			v := x[(t*heads+hd)*d : (t*heads+hd+1)*d]
			a, b := v[:half], v[half:d]
			for i := range a {
				x0, x1 := a[i], b[i]
				a[i] = x0*c[i] - x1*s[i]
				b[i] = x0*s[i] + x1*c[i]
			}
		}
	}
}
