package qwen2

import (
	"fmt"
	"math"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

// ref64 is an independent float64 implementation of the forward pass in
// the reference README, written plainly (no batching, no cache tricks).
type ref64 struct {
	cfg  Config
	w    map[string][]float64
	rows map[string]int
}

func loadRef64(t *testing.T, m *Model) *ref64 {
	t.Helper()
	r := &ref64{cfg: m.Config, w: map[string][]float64{}, rows: map[string]int{}}
	for _, ti := range m.file.Tensors {
		data, _, err := m.file.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, ti.Elements())
		if err := ggml.Dequantize(ti.Type, data, f); err != nil {
			t.Fatal(err)
		}
		d := make([]float64, len(f))
		for i, v := range f {
			d[i] = float64(v)
		}
		r.w[ti.Name] = d
		r.rows[ti.Name] = int(ti.Elements() / ti.Dims[0])
	}
	return r
}

func (r *ref64) matvec(name string, x []float64) []float64 {
	w := r.w[name]
	rows := r.rows[name]
	cols := len(w) / rows
	y := make([]float64, rows)
	for j := range y {
		for i := 0; i < cols; i++ {
			y[j] += w[j*cols+i] * x[i]
		}
	}
	return y
}

func (r *ref64) norm(x []float64, w string) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+r.cfg.Eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * s * r.w[w][i]
	}
	return out
}

func (r *ref64) rope(v []float64, pos int) {
	d := r.cfg.HeadDim
	for h := 0; h < len(v)/d; h++ {
		u := v[h*d : (h+1)*d]
		for i := 0; i < d/2; i++ {
			th := float64(pos) * math.Pow(r.cfg.RopeBase, -2*float64(i)/float64(d))
			a, b := u[i], u[i+d/2]
			u[i], u[i+d/2] = a*math.Cos(th)-b*math.Sin(th), a*math.Sin(th)+b*math.Cos(th)
		}
	}
}

func (r *ref64) forward(tokens []int32) [][]float64 {
	c := r.cfg
	d, H := c.HeadDim, c.Hidden
	keys := make([][][]float64, c.Layers) // [layer][pos] kv vector
	vals := make([][][]float64, c.Layers)
	var out [][]float64
	for p, tok := range tokens {
		x := append([]float64(nil), r.w["token_embd.weight"][int(tok)*H:(int(tok)+1)*H]...)
		for l := 0; l < c.Layers; l++ {
			b := fmt.Sprintf("blk.%d.", l)
			h := r.norm(x, b+"attn_norm.weight")
			q, k, v := r.matvec(b+"attn_q.weight", h), r.matvec(b+"attn_k.weight", h), r.matvec(b+"attn_v.weight", h)
			for i := range q {
				q[i] += r.w[b+"attn_q.bias"][i]
			}
			for i := range k {
				k[i] += r.w[b+"attn_k.bias"][i]
				v[i] += r.w[b+"attn_v.bias"][i]
			}
			r.rope(q, p)
			r.rope(k, p)
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], v)
			att := make([]float64, H)
			for hq := 0; hq < c.Heads; hq++ {
				kvh := hq / (c.Heads / c.KVHeads)
				s := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := range s {
					for i := 0; i < d; i++ {
						s[j] += q[hq*d+i] * keys[l][j][kvh*d+i]
					}
					s[j] /= math.Sqrt(float64(d))
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for i := 0; i < d; i++ {
						att[hq*d+i] += s[j] / sum * vals[l][j][kvh*d+i]
					}
				}
			}
			o := r.matvec(b+"attn_output.weight", att)
			for i := range x {
				x[i] += o[i]
			}
			h = r.norm(x, b+"ffn_norm.weight")
			g, u := r.matvec(b+"ffn_gate.weight", h), r.matvec(b+"ffn_up.weight", h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			dn := r.matvec(b+"ffn_down.weight", g)
			for i := range x {
				x[i] += dn[i]
			}
		}
		outW := "output.weight"
		if _, ok := r.w[outW]; !ok {
			outW = "token_embd.weight"
		}
		out = append(out, r.matvec(outW, r.norm(x, "output_norm.weight")))
	}
	return out
}

// TestFloat64Reference checks the engine against ref64 on generated F32
// models whose shapes the llama.cpp data cannot cover: several KV heads
// (so the query-to-KV head grouping matters), an untied output matrix,
// a RoPE base of 1e6 and a head dimension of 64.
func TestFloat64Reference(t *testing.T) {
	tests := []genSpec{
		{vocab: 64, hidden: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 256, ctx: 32, seed: 11},
		{vocab: 48, hidden: 256, layers: 1, heads: 8, kvHeads: 2, ffn: 512, ctx: 32, seed: 12, tied: true},
		{vocab: 32, hidden: 256, layers: 1, heads: 2, kvHeads: 2, ffn: 256, ctx: 32, seed: 13},
	}
	for _, s := range tests {
		t.Run(fmt.Sprintf("heads%d_kv%d", s.heads, s.kvHeads), func(t *testing.T) {
			s.typeOf = func(string, int) ggml.Type { return ggml.F32 }
			m, err := Load(writeSmall(t, s), Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4}
			for i := range tokens {
				tokens[i] %= int32(s.vocab)
			}
			want := loadRef64(t, m).forward(tokens)
			got := newRows(len(tokens), m.Config.Vocab)
			if err := m.ForwardAll(m.NewCache(0), tokens, got); err != nil {
				t.Fatal(err)
			}
			var worst, scale float64
			for p := range want {
				for i := range want[p] {
					worst = max(worst, math.Abs(float64(got[p][i])-want[p][i]))
					scale = max(scale, math.Abs(want[p][i]))
				}
			}
			t.Logf("max abs diff %.3g (logits up to %.3g)", worst, scale)
			if worst > 1e-4*scale+1e-4 {
				t.Errorf("max abs diff %.3g vs float64 reference (logits up to %.3g)", worst, scale)
			}
		})
	}
}
