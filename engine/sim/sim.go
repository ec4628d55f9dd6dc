// Package sim is the simulator engine: it streams built-in worked problems,
// written the way a reasoning model such as VibeThinker or DeepSeek-R1 writes
// them (<think>, several steps, code, </think>, an answer with \boxed{}), at
// a configurable token rate. It is the default engine when no model is
// configured, and the load generator: "sim:long N" streams N reasoning
// tokens.
//
// Output is deterministic: the same problem and seed give the same tokens
// and the same delays between them. When Params.Seed is nil the seed is
// derived from the run id (FNV-1a of Request.RunID), so a run replays
// identically but two runs of one problem differ in timing.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"iter"
	"math"
	"math/rand/v2"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/pause"
)

// Defaults for the zero Config.
const (
	DefaultRate        = 40.0
	DefaultTTFT        = 300 * time.Millisecond
	DefaultJitter      = 0.3
	DefaultMaxParallel = 64
)

// Config sets the pace of the simulation.
type Config struct {
	// Rate is tokens per second. 0 selects DefaultRate; +Inf streams with
	// no delay at all (for load tests of everything but the engine).
	Rate float64
	// TTFT is the delay before the first token. 0 selects DefaultTTFT; a
	// negative value means none.
	TTFT time.Duration
	// Jitter is the relative jitter of each inter-token delay, from 0 to 1:
	// 0.3 draws delays uniformly within ±30% of 1/Rate. 0 selects
	// DefaultJitter; a negative value means none (a perfectly steady rate).
	Jitter float64
	// MaxParallel is what Info reports; 0 selects DefaultMaxParallel. The
	// engine itself has no limit: generations share nothing.
	MaxParallel int
}

// Engine is the simulator. It is safe for concurrent use.
type Engine struct {
	interval    time.Duration // mean delay between tokens; 0 = no delay
	ttft        time.Duration
	jitter      float64
	maxParallel int
	scripts     []script
	pauses      pause.Registry
}

// New returns a simulator engine. It panics only if the embedded problem
// files are malformed, which the package tests rule out.
func New(cfg Config) *Engine {
	scripts, err := loadScripts(problemFS)
	if err != nil {
		panic(err)
	}
	e := &Engine{ttft: cfg.TTFT, jitter: cfg.Jitter, maxParallel: cfg.MaxParallel, scripts: scripts}
	rate := cfg.Rate
	if rate <= 0 || math.IsNaN(rate) {
		rate = DefaultRate
	}
	if !math.IsInf(rate, 1) {
		e.interval = time.Duration(float64(time.Second) / rate)
	}
	switch {
	case e.ttft == 0:
		e.ttft = DefaultTTFT
	case e.ttft < 0:
		e.ttft = 0
	}
	switch {
	case e.jitter == 0 || math.IsNaN(e.jitter):
		e.jitter = DefaultJitter
	case e.jitter < 0:
		e.jitter = 0
	case e.jitter > 1:
		e.jitter = 1
	}
	if e.maxParallel <= 0 {
		e.maxParallel = DefaultMaxParallel
	}
	return e
}

// Pause implements thinkstream.Pauser: the run stops after the token in
// progress until Resume.
func (e *Engine) Pause(runID string) error { return e.pauses.Pause(runID) }

// Resume implements thinkstream.Pauser.
func (e *Engine) Resume(runID string) error { return e.pauses.Resume(runID) }

// Name implements thinkstream.Engine.
func (e *Engine) Name() string { return "sim" }

// Info implements thinkstream.Describer.
func (e *Engine) Info() thinkstream.EngineInfo {
	return thinkstream.EngineInfo{Model: "sim", Simulated: true, MaxParallel: e.maxParallel}
}

// Generate implements thinkstream.Engine. It streams the chosen script as
// ChannelRaw tokens (the reasoning parser finds the tags, which are
// sometimes split across two tokens as real streams deliver them). Params
// other than Seed and MaxTokens are ignored; Stop is not supported.
// On cancellation it returns ctx.Err() with FinishReason "cancelled" and the
// usage so far.
func (e *Engine) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	if req.Prefix != "" {
		return thinkstream.Result{}, fmt.Errorf("sim: continuing a prefix: %w", thinkstream.ErrUnsupported)
	}
	problem := lastUserMessage(req.Messages)
	seed := runSeed(req)
	res := thinkstream.Result{FinishReason: "stop"}
	res.Usage.PromptTokens = promptTokens(req.Messages)

	tokens, err := e.tokens(problem, isCodeProblem(systemMessage(req.Messages), problem), seed)
	if err != nil {
		return res, &thinkstream.EngineError{Code: "invalid_problem", Message: err.Error(), Err: err}
	}
	gate, unregister, err := e.pauses.Register(req.RunID)
	if err != nil {
		return res, err
	}
	defer unregister()
	p := newPacer(e, seed, problem)
	defer p.stop()
	start := time.Now()
	var first time.Time
	for text, reasoning := range tokens {
		if req.Params.MaxTokens > 0 && res.Usage.CompletionTokens >= req.Params.MaxTokens {
			res.FinishReason = "length"
			break
		}
		if d, err := gate.Wait(ctx); err != nil {
			res.FinishReason = "cancelled"
			return res, err
		} else if d > 0 {
			p.restart() // a paused run goes on at its pace, not in a burst
		}
		if err := p.wait(ctx); err != nil {
			res.FinishReason = "cancelled"
			return res, err
		}
		if first.IsZero() {
			first = time.Now()
		}
		if err := emit(thinkstream.Token{Text: text, Channel: thinkstream.ChannelRaw, ID: -1}); err != nil {
			return res, err
		}
		res.Usage.CompletionTokens++
		if reasoning {
			res.Usage.ReasoningTokens++
		}
	}
	if !first.IsZero() {
		res.Timings.PromptMS = msSince(start, first)
		if res.Timings.PromptMS > 0 {
			res.Timings.PromptPerSecond = float64(res.Usage.PromptTokens) / res.Timings.PromptMS * 1000
		}
		res.Timings.PredictedMS = msSince(first, time.Now())
		if res.Timings.PredictedMS > 0 {
			res.Timings.PredictedPerSecond = float64(res.Usage.CompletionTokens-1) / res.Timings.PredictedMS * 1000
		}
	}
	return res, nil
}

func msSince(from, to time.Time) float64 { return float64(to.Sub(from)) / float64(time.Millisecond) }

// tokens returns the token stream for a problem: a long synthetic trace for
// "sim:long N", otherwise the chosen script.
func (e *Engine) tokens(problem string, code bool, seed int64) (iter.Seq2[string, bool], error) {
	rng := rand.New(rand.NewPCG(uint64(seed), hashString(problem)^streamText))
	n, long, err := parseLong(problem)
	if err != nil {
		return nil, err
	}
	if long {
		return longTokens(n, rng), nil
	}
	var text string
	if echo, ok, err := parseEcho(problem); err != nil {
		return nil, err
	} else if ok {
		text = echo
	} else {
		s, kind := choose(e.scripts, problem, code, seed)
		text = scriptText(s, kind, problem)
	}
	toks := tokenizeScript(nil, text, rng.Uint64)
	reasoning := reasoningCount(toks, text)
	return func(yield func(string, bool) bool) {
		for i, t := range toks {
			if !yield(t, i < reasoning) {
				return
			}
		}
	}, nil
}

// reasoningCount returns how many leading tokens belong to the reasoning:
// those up to and including the last piece of the closing tag.
func reasoningCount(toks []string, text string) int {
	end := len(text)
	for i := len(text) - len(closeTag); i >= 0; i-- {
		if text[i:i+len(closeTag)] == closeTag {
			end = i + len(closeTag)
			break
		}
	}
	pos := 0
	for i, t := range toks {
		pos += len(t)
		if pos >= end {
			return i + 1
		}
	}
	return len(toks)
}

// Distinct PRNG streams for text choices and for delays, so that changing
// how text is generated does not change timing, and the reverse.
const (
	streamText  = 0x7465787400000000
	streamDelay = 0x64656c6179000000
)

// pacer spaces tokens: TTFT before the first, then 1/Rate with seeded
// jitter. Delays are measured from when each token was due, not from when
// the previous wait returned, so timer overshoot (a busy machine wakes
// sleepers late) does not add up and the mean rate stays the configured one.
// One timer is reused for the whole run; waiting blocks on it and on ctx, so
// a cancelled run stops within one token and nothing spins.
type pacer struct {
	e     *Engine
	rng   *rand.Rand
	timer *time.Timer
	n     int
	due   time.Time
}

// maxLag bounds catching up: after a stall longer than this (a suspended
// process, a debugger) the schedule restarts instead of bursting the backlog.
const maxLag = time.Second

func newPacer(e *Engine, seed int64, problem string) *pacer {
	return &pacer{e: e, rng: rand.New(rand.NewPCG(uint64(seed), hashString(problem)^streamDelay))}
}

// delay returns the wait before token n (0-based).
func (p *pacer) delay(n int) time.Duration {
	if n == 0 {
		return p.e.ttft
	}
	d := float64(p.e.interval)
	if p.e.jitter > 0 {
		d *= 1 + p.e.jitter*(2*p.rng.Float64()-1)
	}
	return time.Duration(d)
}

func (p *pacer) wait(ctx context.Context) error {
	if p.e.interval == 0 && p.e.ttft == 0 {
		return ctx.Err() // unpaced: no clock reads on the hot path
	}
	now := time.Now()
	if p.n == 0 || now.Sub(p.due) > maxLag {
		p.due = now
	}
	p.due = p.due.Add(p.delay(p.n))
	p.n++
	d := p.due.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restart makes the next token's delay count from now.
func (p *pacer) restart() { p.due = time.Now() }

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

// runSeed is Params.Seed, or a seed derived from the run id when unset.
func runSeed(req thinkstream.Request) int64 {
	if req.Params.Seed != nil {
		return *req.Params.Seed
	}
	return int64(hashString(req.RunID))
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// lastUserMessage is the problem: the last user turn.
func lastUserMessage(msgs []thinkstream.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// systemMessage is the system prompt, if any.
func systemMessage(msgs []thinkstream.Message) string {
	for _, m := range msgs {
		if m.Role == "system" {
			return m.Content
		}
	}
	return ""
}

// chatTemplateTokens approximates the ChatML framing per message
// (<|im_start|>role\n … <|im_end|>\n).
const chatTemplateTokens = 4

// promptTokens estimates the prompt size with the sim's own tokeniser.
func promptTokens(msgs []thinkstream.Message) int {
	n := 0
	var buf []string
	for _, m := range msgs {
		buf = tokenize(buf[:0], m.Content)
		n += len(buf) + chatTemplateTokens
	}
	return n
}
