package qwen2

import (
	"math"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// Attention runs in three parallel phases per group of tokens, so that a
// single decoded token still spreads over every thread however long the
// context is, and so that the query heads sharing a KV head (6 in
// VibeThinker) read and convert each cached key and value once:
//
//  1. scores: for each (token, KV head, block of positions), q·k/√d for
//     every query head of the group;
//  2. softmax: for each (token, query head), over all its positions;
//  3. values: for each (token, KV head, slice of head dimensions), Σ p·v.
//
// Every output value is summed in a fixed order that does not depend on
// the phase splits or the thread count, and is the same for a token
// whether it arrives alone or in a batch.

const (
	posBlock   = 256      // positions per phase-1 item
	dimSlice   = 16       // head dimensions per phase-3 item
	scoreLimit = 16 << 20 // bytes of scores per token group
)

type attnState struct {
	c      *Cache
	scores []float32     // [token in group][query head][position], stride c.max
	kbuf   [][]float32   // per worker: one key converted to float32
	vout   [][]float32   // per worker: [query head of the group][dimSlice] sums
	probs  [][][]float32 // per worker: the group's probability rows
	group  int           // tokens per group

	// Current group.
	layer, t0, tn int

	scoresTask  attnScores
	softmaxTask attnSoftmax
	valuesTask  attnValues
}

type (
	attnScores  struct{ a *attnState }
	attnSoftmax struct{ a *attnState }
	attnValues  struct{ a *attnState }
)

func (a *attnState) init(c *Cache) {
	cfg := c.m.Config
	a.c = c
	a.group = max(1, scoreLimit/4/(cfg.Heads*c.max))
	threads := c.m.pool.Threads()
	a.kbuf = make([][]float32, threads)
	a.vout = make([][]float32, threads)
	a.probs = make([][][]float32, threads)
	g := cfg.Heads / cfg.KVHeads
	for i := range a.kbuf {
		a.kbuf[i] = make([]float32, cfg.HeadDim)
		a.vout[i] = make([]float32, max(g*dimSlice, 96)) // 96: ggml.WeightedSumF16
		a.probs[i] = make([][]float32, g)
	}
	a.scoresTask.a, a.softmaxTask.a, a.valuesTask.a = a, a, a
}

// attention computes c.s.att for the n tokens at positions c.n … c.n+n-1,
// whose queries are in c.s.q and keys and values already in the cache.
func (c *Cache) attention(layer, n int) {
	a := &c.s.attn
	cfg := c.m.Config
	pool := c.m.pool
	if need := min(n, a.group) * cfg.Heads * c.max; len(a.scores) < need {
		a.scores = make([]float32, need)
	}
	a.layer = layer
	for t0 := 0; t0 < n; t0 += a.group {
		a.t0, a.tn = t0, min(a.group, n-t0)
		blocks := (c.n + t0 + a.tn + posBlock - 1) / posBlock
		pool.Run(a.tn*cfg.KVHeads*blocks, 1, &a.scoresTask)
		pool.Run(a.tn*cfg.Heads, 1, &a.softmaxTask)
		pool.Run(a.tn*cfg.KVHeads*(cfg.HeadDim/dimSlice), 1, &a.valuesTask)
	}
}

// row returns the scores of query head hq of token tt of the group.
func (a *attnState) row(tt, hq int) []float32 {
	stride := a.c.max
	off := (tt*a.c.m.Config.Heads + hq) * stride
	return a.scores[off : off+stride]
}

func (t *attnScores) Run(worker, lo, hi int) {
	a := t.a
	c := a.c
	cfg := c.m.Config
	d, H, group := cfg.HeadDim, cfg.Hidden, cfg.Heads/cfg.KVHeads
	blocks := (c.n + a.t0 + a.tn + posBlock - 1) / posBlock
	scale := 1 / float32(math.Sqrt(float64(d)))
	kf := a.kbuf[worker]
	for idx := lo; idx < hi; idx++ {
		tt, rest := idx/(cfg.KVHeads*blocks), idx%(cfg.KVHeads*blocks)
		kvh, blk := rest/blocks, rest%blocks
		t := a.t0 + tt
		npos := c.n + t + 1
		p0, p1 := blk*posBlock, min((blk+1)*posBlock, npos)
		q := c.s.q[t*H+kvh*group*d : t*H+(kvh+1)*group*d]
		for j := p0; j < p1; j++ {
			off := j*c.kvDim + kvh*d
			var k []float32
			if c.k32 != nil {
				k = c.k32[a.layer][off : off+d]
			} else {
				// Converted once for the whole group of query heads.
				ggml.F16ToF32s(kf, c.k16[a.layer][off:off+d])
				k = kf
			}
			for g := 0; g < group; g++ {
				a.row(tt, kvh*group+g)[j] = ggml.DotF32(k, q[g*d:(g+1)*d]) * scale
			}
		}
	}
}

func (t *attnSoftmax) Run(_, lo, hi int) {
	a := t.a
	c := a.c
	heads := c.m.Config.Heads
	f16 := c.k16 != nil
	for idx := lo; idx < hi; idx++ {
		tt, hq := idx/heads, idx%heads
		sc := a.row(tt, hq)[:c.n+a.t0+tt+1]
		mx := float32(math.Inf(-1))
		for _, v := range sc {
			mx = max(mx, v)
		}
		var sum float64
		for j, v := range sc {
			e := float32(math.Exp(float64(v - mx)))
			sc[j] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for j := range sc {
			p := sc[j] * inv
			if f16 {
				// ggml rounds the probabilities to f16 to multiply them with an f16 V.
				p = ggml.RoundF16(p)
			}
			sc[j] = p
		}
	}
}

func (t *attnValues) Run(worker, lo, hi int) {
	a := t.a
	c := a.c
	cfg := c.m.Config
	d, H, group := cfg.HeadDim, cfg.Hidden, cfg.Heads/cfg.KVHeads
	slices := d / dimSlice
	out, probs := a.vout[worker], a.probs[worker]
	var vf [dimSlice]float32
	for idx := lo; idx < hi; idx++ {
		tt, rest := idx/(cfg.KVHeads*slices), idx%(cfg.KVHeads*slices)
		kvh, sl := rest/slices, rest%slices
		t := a.t0 + tt
		npos := c.n + t + 1
		d0 := sl * dimSlice
		if !c.weightedSum(out, tt, kvh, d0, npos) {
			c.weightedSumGo(out, probs, tt, kvh, d0, npos, &vf)
		}
		for g := 0; g < group; g++ {
			dst := (t*H + (kvh*group+g)*d) + d0
			copy(c.s.att[dst:dst+dimSlice], out[g*dimSlice:(g+1)*dimSlice])
		}
	}
}

// weightedSum is weightedSumGo on the assembly kernel, for an f16 cache,
// reporting whether it ran.
func (c *Cache) weightedSum(out []float32, tt, kvh, d0, npos int) bool {
	a := &c.s.attn
	cfg := c.m.Config
	if c.v16 == nil || dimSlice != 16 {
		return false
	}
	group := cfg.Heads / cfg.KVHeads
	off := (tt*cfg.Heads + kvh*group) * c.max
	return ggml.WeightedSumF16((*[96]float32)(out[:96]), c.v16[a.layer][kvh*cfg.HeadDim+d0:], c.kvDim, a.scores[off:], c.max, npos, group)
}

// weightedSumGo sets out[g·dimSlice+i] to Σ_j p_g[j]·v_j[d0+i] for the
// query heads g of KV head kvh and token tt of the group.
func (c *Cache) weightedSumGo(out []float32, probs [][]float32, tt, kvh, d0, npos int, vf *[dimSlice]float32) {
	a := &c.s.attn
	cfg := c.m.Config
	d, group := cfg.HeadDim, cfg.Heads/cfg.KVHeads
	clear(out)
	for g := range probs {
		probs[g] = a.row(tt, kvh*group+g)[:npos]
	}
	for j := 0; j < npos; j++ {
		off := j*c.kvDim + kvh*d + d0
		if c.v32 != nil {
			copy(vf[:], c.v32[a.layer][off:off+dimSlice])
		} else {
			ggml.F16ToF32s(vf[:], c.v16[a.layer][off:off+dimSlice])
		}
		for g, pr := range probs {
			p := pr[j]
			o := (*[dimSlice]float32)(out[g*dimSlice : (g+1)*dimSlice])
			for i := range o {
				o[i] += p * vf[i]
			}
		}
	}
}
