package qwen2

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/gguf"
)

func smallSpec(t ggml.Type) genSpec {
	s := genSpec{vocab: 64, hidden: 256, layers: 2, heads: 2, kvHeads: 1, ffn: 256, ctx: 64, seed: 3}
	s.typeOf = func(string, int) ggml.Type { return t }
	return s
}

func writeSmall(t *testing.T, s genSpec) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := writeModel(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadErrors(t *testing.T) {
	drop := func(target string) func(string, []uint64, ggml.Type) ([]uint64, ggml.Type) {
		return func(name string, d []uint64, typ ggml.Type) ([]uint64, ggml.Type) {
			if name == target {
				return nil, typ
			}
			return d, typ
		}
	}
	tests := []struct {
		name string
		spec func(*genSpec)
		want error
	}{
		{"architecture", func(s *genSpec) { s.arch = "llama" }, ErrArchitecture},
		{"missing weight", func(s *genSpec) { s.mutate = drop("blk.1.ffn_up.weight") }, ErrMissingTensor},
		{"missing bias", func(s *genSpec) { s.mutate = drop("blk.0.attn_k.bias") }, ErrMissingTensor},
		{"missing output norm", func(s *genSpec) { s.mutate = drop("output_norm.weight") }, ErrMissingTensor},
		{"shape", func(s *genSpec) {
			s.mutate = func(name string, d []uint64, typ ggml.Type) ([]uint64, ggml.Type) {
				if name == "blk.0.attn_k.weight" {
					return []uint64{256, 256}, typ
				}
				return d, typ
			}
		}, ErrShape},
		{"unsupported type", func(s *genSpec) {
			s.mutate = func(name string, d []uint64, typ ggml.Type) ([]uint64, ggml.Type) {
				if name == "blk.0.ffn_gate.weight" {
					return d, ggml.Q3_K
				}
				return d, typ
			}
		}, ggml.ErrUnsupportedType},
		{"heads", func(s *genSpec) { s.heads, s.kvHeads = 2, 3 }, ErrShape},
		{"yarn", func(s *genSpec) {
			s.meta = []gguf.KV{{Key: "qwen2.rope.scaling.type", Value: gguf.StringValue("yarn")}}
		}, ErrUnsupported},
		{"partial rope", func(s *genSpec) {
			s.meta = []gguf.KV{{Key: "qwen2.rope.dimension_count", Value: gguf.Uint32Value(64)}}
		}, ErrShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smallSpec(ggml.F16)
			tt.spec(&s)
			m, err := Load(writeSmall(t, s), Options{Threads: 1})
			if err == nil {
				m.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Load: err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.gguf"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
}

func TestForwardErrors(t *testing.T) {
	m, err := Load(writeSmall(t, smallSpec(ggml.Q8_0)), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logits := make([]float32, m.Config.Vocab)
	c := m.NewCache(4)
	if err := m.Forward(c, []int32{1, 2, 3}, logits); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(c, []int32{4, 5}, logits); !errors.Is(err, ErrContextOverflow) {
		t.Errorf("overflow: err = %v", err)
	}
	if c.Len() != 3 {
		t.Errorf("failed forward changed Len to %d", c.Len())
	}
	if err := m.Forward(c, []int32{64}, logits); !errors.Is(err, ErrBadToken) {
		t.Errorf("token 64 of 64: err = %v", err)
	}
	if err := m.Forward(c, []int32{-1}, logits); !errors.Is(err, ErrBadToken) {
		t.Errorf("token -1: err = %v", err)
	}
	if err := m.Forward(c, nil, logits); err == nil {
		t.Error("no tokens: no error")
	}
	if err := m.Forward(c, []int32{1}, logits[:10]); err == nil {
		t.Error("short logits: no error")
	}
	if err := m.ForwardAll(c, []int32{1}, nil); err == nil {
		t.Error("ForwardAll without rows: no error")
	}
	if c.Len() != 3 {
		t.Errorf("failed forwards changed Len to %d", c.Len())
	}
	other, err := Load(writeSmall(t, smallSpec(ggml.F32)), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Forward(c, []int32{1}, logits); err == nil {
		t.Error("foreign cache: no error")
	}
	m.Close()
	if err := m.Forward(c, []int32{1}, logits); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func equalBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestTruncateAndThreads checks that rewinding the cache and recomputing
// gives the same logits as the first time, and that the thread count and
// batch split do not change a single bit, for every weight type.
func TestTruncateAndThreads(t *testing.T) {
	seq := []int32{5, 9, 3, 60, 1, 22, 7, 7, 40, 13, 2, 33}
	for _, typ := range []ggml.Type{ggml.F32, ggml.F16, ggml.Q4_0, ggml.Q5_0, ggml.Q8_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			path := writeSmall(t, smallSpec(typ))
			var first [][]float32
			for _, threads := range []int{1, 3} {
				m, err := Load(path, Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				rows := newRows(len(seq), m.Config.Vocab)
				c := m.NewCache(0)
				if c.Cap() != 64 {
					t.Errorf("Cap = %d, want the context length 64", c.Cap())
				}
				if err := m.ForwardAll(c, seq, rows); err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					for _, v := range r {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("non-finite logit %g", v)
						}
					}
				}
				if first == nil {
					first = rows
				} else {
					for p := range rows {
						if !equalBits(rows[p], first[p]) {
							t.Fatalf("threads=%d: logits at %d differ from threads=1", threads, p)
						}
					}
				}
				c.Truncate(5)
				if c.Len() != 5 {
					t.Fatalf("Len after Truncate(5) = %d", c.Len())
				}
				again := newRows(len(seq)-5, m.Config.Vocab)
				if err := m.ForwardAll(c, seq[5:], again); err != nil {
					t.Fatal(err)
				}
				for p := range again {
					if !equalBits(again[p], first[5+p]) {
						t.Fatalf("after Truncate: logits at %d differ", 5+p)
					}
				}
				c.Truncate(100)
				if c.Len() != len(seq) {
					t.Errorf("Truncate beyond Len changed Len to %d", c.Len())
				}
				c.Truncate(-1)
				if c.Len() != 0 {
					t.Errorf("Truncate(-1): Len %d", c.Len())
				}
			}
		})
	}
}

// TestRopeScaling checks that linear scaling by 4 turns position 4p into
// position p (exactly: the factors are powers of two), and that the factor
// is read from the file.
func TestRopeScaling(t *testing.T) {
	s := smallSpec(ggml.F32)
	s.meta = []gguf.KV{
		{Key: "qwen2.rope.scaling.type", Value: gguf.StringValue("linear")},
		{Key: "qwen2.rope.scaling.factor", Value: gguf.Float32Value(4)},
	}
	m, err := Load(writeSmall(t, s), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.RopeScale != 0.25 {
		t.Fatalf("RopeScale = %g, want 0.25", m.Config.RopeScale)
	}
	half := m.Config.HeadDim / 2
	cs, ss := make([]float32, 3*half), make([]float32, 3*half)
	m.ropeTables(4, 3, cs, ss) // positions 4, 5, 6 scaled by 1/4
	m.Config.RopeScale = 1
	cp, sp := make([]float32, half), make([]float32, half)
	m.ropeTables(1, 1, cp, sp) // position 1 unscaled
	if !equalBits(cs[:half], cp) || !equalBits(ss[:half], sp) {
		t.Error("scaled position 4 differs from unscaled position 1")
	}
	if equalBits(cs[half:2*half], cp) {
		t.Error("scaled position 5 equals unscaled position 1")
	}
}

func TestFileTypeName(t *testing.T) {
	for ft, want := range map[int]string{-1: "unknown", 0: "F32", 1: "F16", 7: "Q8_0", 15: "Q4_K_M", 99: "file type 99"} {
		if got := (Config{FileType: ft}).FileTypeName(); got != want {
			t.Errorf("FileTypeName(%d) = %q, want %q", ft, got, want)
		}
	}
}

func TestCacheBytes(t *testing.T) {
	m, err := Load(writeSmall(t, smallSpec(ggml.Q8_0)), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.NewCache(32)
	// 2 layers × 32 positions × 128 (one KV head) × (K+V) × 2 bytes (f16).
	if got, want := c.Bytes(), int64(2*32*128*2*2); got != want {
		t.Errorf("empty cache: %d bytes, want %d", got, want)
	}
	if err := m.Forward(c, []int32{1, 2}, make([]float32, m.Config.Vocab)); err != nil {
		t.Fatal(err)
	}
	if c.Bytes() <= int64(2*32*128*2*2) {
		t.Error("scratch not counted")
	}
}

func TestKVOption(t *testing.T) {
	path := writeSmall(t, smallSpec(ggml.F32))
	for _, tt := range []struct {
		opt, want KVType
	}{{KVAuto, KVF32}, {KVF16, KVF16}, {KVF32, KVF32}} {
		m, err := Load(path, Options{KV: tt.opt, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.KV() != tt.want {
			t.Errorf("KV option %d: got %d, want %d", tt.opt, m.KV(), tt.want)
		}
		m.Close()
	}
}

// TestDecodeNoAllocs checks that a decode step allocates nothing once the
// cache's scratch has been sized.
func TestDecodeNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	for _, typ := range []ggml.Type{ggml.F16, ggml.Q8_0, ggml.Q4_K} {
		m, err := Load(writeSmall(t, smallSpec(typ)), Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		c := m.NewCache(0)
		logits := make([]float32, m.Config.Vocab)
		tok := []int32{1}
		if err := m.Forward(c, tok, logits); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if c.Len() >= c.Cap()-1 {
				c.Truncate(1)
			}
			if err := m.Forward(c, tok, logits); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per decode step", typ, allocs)
		}
	}
}

// TestConcurrentCaches runs two sequences on one model at once; each must
// get what it gets alone.
func TestConcurrentCaches(t *testing.T) {
	m, err := Load(writeSmall(t, smallSpec(ggml.Q4_K)), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	seqs := [][]int32{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	want := make([][]float32, len(seqs))
	for i, s := range seqs {
		want[i] = make([]float32, m.Config.Vocab)
		if err := m.Forward(m.NewCache(16), s, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]float32, len(seqs))
	errs := make(chan error, len(seqs))
	for i, s := range seqs {
		got[i] = make([]float32, m.Config.Vocab)
		go func() {
			c := m.NewCache(16)
			for j := range s { // token by token, interleaving with the other
				if err := m.Forward(c, s[j:j+1], got[i]); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range seqs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range seqs {
		if !equalBits(got[i], want[i]) {
			t.Errorf("sequence %d: concurrent logits differ", i)
		}
	}
}
