package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"github.com/thinkstream/thinkstream/engine/local/qwen2"
)

// engineBench is one `bench engine` result, named like llama-bench's
// pp<N> / tg<N> rows so the two programs' outputs read the same way.
type engineBench struct {
	Model    string  `json:"model"`
	Threads  int     `json:"threads"`
	Assembly bool    `json:"assembly"`
	Prompt   int     `json:"n_prompt"`
	Gen      int     `json:"n_gen"`
	Reps     int     `json:"reps"`
	PPTokS   float64 `json:"pp_tokens_per_second"`
	TGTokS   float64 `json:"tg_tokens_per_second"`
	// WeightBytes is what one decoded token reads of the weights (every
	// matrix once; the embedding lookup reads one row), so TGGBs is the
	// memory bandwidth decode reached.
	WeightBytes int64   `json:"weight_bytes"`
	TGGBs       float64 `json:"tg_gb_per_second"`
	LoadMS      float64 `json:"load_ms"`
	// Resident memory after the runs (Linux only, else 0): file-backed
	// pages are the mapped model, anonymous ones mostly the KV cache and
	// scratch, whose planned size KVBytes is.
	RSSFileBytes int64 `json:"rss_file_bytes"`
	RSSAnonBytes int64 `json:"rss_anon_bytes"`
	KVBytes      int64 `json:"kv_cache_bytes"`
}

// cmdBenchEngine measures the embedded engine as llama-bench does: pp is a
// batch of --prompt random tokens into an empty cache, tg is --gen tokens
// decoded one by one from an empty cache; each is repeated --reps times
// after one warm-up and the mean rate reported.
func cmdBenchEngine(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	model := fs.String("model", "", "GGUF model file")
	nPrompt := fs.Int("prompt", 128, "prompt tokens for pp (0: skip)")
	nGen := fs.Int("gen", 64, "tokens to generate for tg (0: skip)")
	threads := fs.Int("threads", 0, "threads; 0 is all cores")
	reps := fs.Int("reps", 3, "measured repetitions of each test")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured runs to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("bench engine: %w", err)
	}
	if *model == "" || *reps < 1 || *nPrompt < 0 || *nGen < 0 {
		fs.Usage()
		return errUsage
	}
	start := time.Now()
	m, err := qwen2.Load(*model, qwen2.Options{Threads: *threads})
	if err != nil {
		return err
	}
	defer m.Close()
	res := engineBench{Model: *model, Threads: m.Threads(), Assembly: ggml.Assembly(), Prompt: *nPrompt, Gen: *nGen,
		Reps: *reps, LoadMS: float64(time.Since(start).Microseconds()) / 1000}
	for _, ti := range m.File().Tensors {
		if len(ti.Dims) >= 2 {
			n, _ := ti.Type.RowBytes(int(ti.Dims[0]))
			res.WeightBytes += int64(n) * int64(ti.Elements()/ti.Dims[0])
		}
	}
	if !m.Config.TiedOutput {
		// The untied embedding is only looked up, not multiplied.
		if ti, ok := m.File().Tensor("token_embd.weight"); ok {
			n, _ := ti.Type.RowBytes(int(ti.Dims[0]))
			res.WeightBytes -= int64(n) * int64(ti.Elements()/ti.Dims[0])
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	vocab := m.Config.Vocab
	logits := make([]float32, vocab)
	c := m.NewCache(max(*nPrompt, *nGen) + 1)
	tokens := make([]int32, max(*nPrompt, 1))
	seed := uint64(42)
	for i := range tokens {
		seed = seed*6364136223846793005 + 1442695040888963407
		tokens[i] = int32(seed>>33) % int32(min(vocab, 151643))
	}
	rate := func(n int, run func() error) (float64, error) {
		var rates []float64
		for r := 0; r <= *reps; r++ { // r == 0 warms up
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			c.Truncate(0)
			t0 := time.Now()
			if err := run(); err != nil {
				return 0, err
			}
			if r > 0 {
				rates = append(rates, float64(n)/time.Since(t0).Seconds())
			}
		}
		var sum float64
		for _, v := range rates {
			sum += v
		}
		return sum / float64(len(rates)), nil
	}
	if *nPrompt > 0 {
		if res.PPTokS, err = rate(*nPrompt, func() error { return m.Forward(c, tokens[:*nPrompt], logits) }); err != nil {
			return err
		}
	}
	if *nGen > 0 {
		tok := []int32{tokens[0]}
		res.TGTokS, err = rate(*nGen, func() error {
			for i := 0; i < *nGen; i++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := m.Forward(c, tok, logits); err != nil {
					return err
				}
				tok[0] = int32(argmaxF32(logits[:min(vocab, 151643)]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.TGGBs = res.TGTokS * float64(res.WeightBytes) / 1e9
	}
	res.RSSFileBytes, res.RSSAnonBytes = procStatus("RssFile"), procStatus("RssAnon")
	cfg := m.Config
	res.KVBytes = int64(2*cfg.Layers*cfg.KVHeads*cfg.HeadDim*c.Cap()) * kvElemBytes(m.KV())
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	kernels := "go"
	if res.Assembly {
		kernels = "asm"
	}
	w := e.stdout
	fmt.Fprintf(w, "| model | size | threads | kernels | test | t/s |\n|---|---:|---:|---|---|---:|\n")
	size := fmt.Sprintf("%.2f GB", float64(res.WeightBytes)/1e9)
	if *nPrompt > 0 {
		fmt.Fprintf(w, "| %s | %s | %d | %s | pp%d | %.2f |\n", *model, size, res.Threads, kernels, *nPrompt, res.PPTokS)
	}
	if *nGen > 0 {
		fmt.Fprintf(w, "| %s | %s | %d | %s | tg%d | %.2f (%.1f GB/s) |\n", *model, size, res.Threads, kernels, *nGen, res.TGTokS, res.TGGBs)
	}
	fmt.Fprintf(w, "(%s/%s, %d cores, load %.0f ms; RSS %.0f MB file-backed + %.0f MB anonymous, KV cache %.1f MB)\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), res.LoadMS, float64(res.RSSFileBytes)/1e6, float64(res.RSSAnonBytes)/1e6, float64(res.KVBytes)/1e6)
	return nil
}

func argmaxF32(v []float32) int {
	return slices.Index(v, slices.Max(v))
}

// procStatus returns a /proc/self/status field in bytes (0 where there is
// no such file or field).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func kvElemBytes(t qwen2.KVType) int64 {
	if t == qwen2.KVF32 {
		return 4
	}
	return 2
}
