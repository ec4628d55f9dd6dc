package qwen2

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
)

var bigBench = flag.Bool("bigbench", false, "run the benchmarks on generated 1.5B-shaped models (also THINKSTREAM_BIG_BENCH=1)")

// rss returns a field of /proc/self/status (VmRSS, RssAnon, RssFile) in bytes.
func rss(t testing.TB, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := bytes.Fields(sc.Bytes()); len(f) >= 2 && string(f[0]) == field+":" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("%s not found", field)
	return 0
}

// TestBigModel writes a random model with VibeThinker-1.5B's shapes in F16
// (3.1 GB), loads it and runs a few tokens. Loading must map the file, not
// read it: the resident set may not grow by anything near its size.
func TestBigModel(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow: writes a 3 GB model")
	}
	path := filepath.Join(t.TempDir(), "big-f16.gguf")
	start := time.Now()
	if err := writeModel(path, bigSpec(ggml.F16)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %.2f GB in %v", float64(st.Size())/1e9, time.Since(start).Round(time.Millisecond))

	runtime.GC()
	rss0, anon0 := rss(t, "VmRSS"), rss(t, "RssAnon")
	start = time.Now()
	m, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	grew, anon := rss(t, "VmRSS")-rss0, rss(t, "RssAnon")-anon0
	t.Logf("load took %v, RSS grew by %d MB (anonymous memory by %d MB)", time.Since(start).Round(time.Millisecond), grew>>20, anon>>20)
	// Reading the norm vectors maps a few file pages (whole large folios
	// on recent kernels: ~130 MB here); copying weights would show as
	// gigabytes, most of it anonymous.
	if grew > st.Size()/10 || anon > 64<<20 {
		t.Errorf("RSS grew by %d MB (%d MB anonymous) loading a %d MB file: weights were read, not mapped", grew>>20, anon>>20, st.Size()>>20)
	}
	want := Config{Vocab: 151936, Hidden: 1536, Layers: 28, Heads: 12, KVHeads: 2, HeadDim: 128, FFN: 8960,
		RopeBase: 1e6, RopeScale: 1, Eps: float64(float32(1e-6)), ContextLength: 4096, TiedOutput: true, FileType: 1}
	if m.Config != want {
		t.Errorf("config %+v, want %+v", m.Config, want)
	}

	tokens := []int32{151643, 40, 1000, 150000}
	batch := newRows(len(tokens), m.Config.Vocab)
	start = time.Now()
	if err := m.ForwardAll(m.NewCache(16), tokens, batch); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-token batch took %v", len(tokens), time.Since(start).Round(time.Millisecond))
	c := m.NewCache(16)
	logits := make([]float32, m.Config.Vocab)
	for i, tok := range tokens {
		start = time.Now()
		if err := m.Forward(c, []int32{tok}, logits); err != nil {
			t.Fatal(err)
		}
		if i == len(tokens)-1 {
			t.Logf("one decode step took %v", time.Since(start).Round(time.Millisecond))
		}
		if !equalBits(logits, batch[i]) {
			t.Fatalf("position %d: token-by-token logits differ from the batch", i)
		}
	}
	var sumSq float64
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite logit %g", v)
		}
		sumSq += float64(v) * float64(v)
	}
	if sumSq == 0 {
		t.Error("all logits are zero")
	}
}

// bigModels caches generated benchmark models by type for the process; the
// files are kept in the temp directory across runs because writing them
// takes longer than benchmarking them.
var bigModels sync.Map

func bigModel(b *testing.B, typ ggml.Type) string {
	b.Helper()
	if !*bigBench && os.Getenv("THINKSTREAM_BIG_BENCH") != "1" {
		b.Skip("set THINKSTREAM_BIG_BENCH=1 or -bigbench to run (writes up to 3 GB per model type)")
	}
	if p, ok := bigModels.Load(typ); ok {
		return p.(string)
	}
	dir := filepath.Join(os.TempDir(), "thinkstream-bigbench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("qwen2-1.5b-random-%s-v1.gguf", typ))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp"
		start := time.Now()
		if err := writeModel(tmp, bigSpec(typ)); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %s in %v", path, time.Since(start).Round(time.Second))
	}
	bigModels.Store(typ, path)
	return path
}

var benchTypes = []struct {
	name string
	typ  ggml.Type
}{{"f16", ggml.F16}, {"q8_0", ggml.Q8_0}, {"q4_k_m", ggml.Q4_K}}

func benchTokens(n int) []int32 {
	out := make([]int32, n)
	r := splitmix{s: 99}
	for i := range out {
		out[i] = int32(r.next() % 151643)
	}
	return out
}

// BenchmarkPrompt measures prompt processing: a 64-token batch into an
// empty cache per iteration.
func BenchmarkPrompt(b *testing.B) {
	for _, bt := range benchTypes {
		b.Run(bt.name, func(b *testing.B) {
			m, err := Load(bigModel(b, bt.typ), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			prompt := benchTokens(64)
			c := m.NewCache(256)
			logits := make([]float32, m.Config.Vocab)
			cpu0 := cpuTime()
			for b.Loop() {
				c.Truncate(0)
				if err := m.Forward(c, prompt, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(prompt)*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(len(prompt)*b.N), "cpu-ms/token")
			b.ReportMetric(float64(m.Threads()), "threads")
		})
	}
}

// BenchmarkDecode measures generation: one token per iteration after a
// 32-token prompt, the cache rewinding to the prompt when it fills.
func BenchmarkDecode(b *testing.B) {
	for _, bt := range benchTypes {
		b.Run(bt.name, func(b *testing.B) {
			m, err := Load(bigModel(b, bt.typ), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			prompt := benchTokens(32)
			c := m.NewCache(512)
			logits := make([]float32, m.Config.Vocab)
			if err := m.Forward(c, prompt, logits); err != nil {
				b.Fatal(err)
			}
			tok := []int32{0}
			cpu0 := cpuTime()
			for b.Loop() {
				if c.Len() == c.Cap() {
					c.Truncate(len(prompt))
				}
				tok[0] = int32(argmax(logits[:151643]))
				if err := m.Forward(c, tok, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/token")
			b.ReportMetric(float64(m.Threads()), "threads")
		})
	}
}
