package local

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local/sample"
	"github.com/thinkstream/thinkstream/engine/pause"
)

// Sampling defaults for parameters a request leaves unset: VibeThinker's
// recommended settings (temperature 0.6, top-p 0.95, top-k off).
const (
	DefaultTemperature = 0.6
	DefaultTopP        = 0.95
)

// samplerParams maps request parameters onto the sampler's.
func samplerParams(p thinkstream.Params) (sample.Params, error) {
	sp := sample.Params{Temperature: DefaultTemperature, TopP: DefaultTopP}
	if p.Temperature != nil {
		sp.Temperature = *p.Temperature
	}
	if p.TopP != nil {
		sp.TopP = *p.TopP
	}
	if p.TopK != nil {
		sp.TopK = *p.TopK
	}
	if p.MinP != nil {
		sp.MinP = *p.MinP
	}
	if p.RepetitionPenalty != nil {
		sp.RepeatPenalty = *p.RepetitionPenalty
	}
	if p.PresencePenalty != nil {
		sp.PresencePenalty = *p.PresencePenalty
	}
	if p.Seed != nil {
		sp.Seed = uint64(*p.Seed)
	} else {
		sp.Seed = rand.Uint64()
	}
	if p.MaxTokens < 0 {
		return sp, fmt.Errorf("max_tokens %d is negative", p.MaxTokens)
	}
	return sp, sp.Validate()
}

// Generate implements thinkstream.Engine. It renders req as a ChatML prompt
// (continuing req.Prefix), checks that it fits the context, and streams one
// Token per generated token: its text is what became printable with it,
// which is "" while a UTF-8 character or a possible stop string is
// incomplete, so the number of calls to emit is the number of tokens. The
// end-of-generation token itself is not emitted. On cancellation it returns
// ctx.Err() with FinishReason "cancelled" and the usage so far.
func (e *Engine) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	return e.generate(ctx, req.RunID, e.tok.EncodeChat(req.Messages, req.Prefix), req.Params, emit)
}

// GenerateRaw is Generate for a prompt given as text, with no chat
// template: special tokens written in it (such as "<|im_start|>") are
// parsed. The run cannot be paused (it has no run id).
func (e *Engine) GenerateRaw(ctx context.Context, prompt string, params thinkstream.Params, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	return e.generate(ctx, "", e.tok.Encode(prompt, true), params, emit)
}

func (e *Engine) generate(ctx context.Context, runID string, prompt []int32, params thinkstream.Params, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	res := thinkstream.Result{FinishReason: "stop"}
	sp, err := samplerParams(params)
	if err != nil {
		return res, &thinkstream.EngineError{Code: "invalid_params", Message: err.Error(), Err: err}
	}
	res.Usage.PromptTokens = len(prompt)
	if len(prompt) == 0 {
		return res, &thinkstream.EngineError{Code: "invalid_params", Message: "the prompt is empty"}
	}
	if len(prompt) >= e.ctxSize {
		return res, errContext(len(prompt), e.ctxSize)
	}
	maxNew := e.ctxSize - len(prompt)
	if params.MaxTokens > 0 {
		maxNew = min(maxNew, params.MaxTokens)
	}
	smp, err := sample.New(sp, e.model.VocabSize())
	if err != nil {
		return res, err
	}

	gate, unregister, err := e.pauses.Register(runID)
	if err != nil {
		return res, err
	}
	defer unregister()
	// A run paused while queued does not take a sequence until resumed.
	if _, err := gate.Wait(ctx); err != nil {
		res.FinishReason = "cancelled"
		return res, err
	}
	s, err := e.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			res.FinishReason = "cancelled"
		}
		return res, err
	}
	defer e.release(s)

	g := &generation{e: e, s: s, gate: gate, smp: smp, res: &res, emit: emit}
	err = g.run(ctx, prompt, maxNew, params.Stop)
	e.log.Debug("local generation", "run", runID, "prompt_tokens", res.Usage.PromptTokens,
		"completion_tokens", res.Usage.CompletionTokens, "finish", res.FinishReason,
		"prompt_per_s", res.Timings.PromptPerSecond, "predicted_per_s", res.Timings.PredictedPerSecond, "err", err)
	return res, err
}

// generation is the state of one Generate call on its slot.
type generation struct {
	e      *Engine
	s      *slot
	gate   *pause.Gate
	smp    *sample.Sampler
	res    *thinkstream.Result
	emit   func(thinkstream.Token) error
	paused time.Duration
	one    [1]int32 // the decode step's batch, without an allocation per token
}

// wait blocks while the run is paused.
func (g *generation) wait(ctx context.Context) error {
	d, err := g.gate.Wait(ctx)
	g.paused += d
	if err != nil {
		g.res.FinishReason = "cancelled"
	}
	return err
}

// forward runs tokens through the model, keeping the slot's record of its
// cache exact even when the model fails.
func (g *generation) forward(tokens []int32) error {
	if err := g.s.seq.Forward(tokens, g.s.logits); err != nil {
		g.s.seq.Truncate(0)
		g.s.tokens = g.s.tokens[:0]
		return fmt.Errorf("local: forward pass: %w", err)
	}
	g.s.tokens = append(g.s.tokens, tokens...)
	return nil
}

func (g *generation) run(ctx context.Context, prompt []int32, maxNew int, stops []string) error {
	if err := g.prefill(ctx, prompt); err != nil {
		return err
	}
	for _, id := range prompt {
		g.smp.Accept(id) // the penalties look at the prompt too, as llama.cpp's server does
	}

	dec := g.e.tok.NewStreamDecoder()
	stop := newStopMatcher(stops)
	start := time.Now()
	n := 0
	defer func() {
		g.res.Usage.CompletionTokens = n
		if n > 0 {
			ms := float64(time.Since(start)-g.paused) / float64(time.Millisecond)
			g.res.Timings.PredictedMS = ms
			if ms > 0 {
				g.res.Timings.PredictedPerSecond = float64(n) / ms * 1000
			}
		}
	}()
	for {
		if err := g.wait(ctx); err != nil {
			return err
		}
		id := g.smp.Sample(g.s.logits)
		g.smp.Accept(id)
		n++
		if g.e.tok.IsEOG(id) {
			g.res.FinishReason = "stop"
			if rest := stop.flush() + dec.Flush(); rest != "" {
				return g.emit(thinkstream.Token{Text: rest, Channel: thinkstream.ChannelRaw, ID: int(id)})
			}
			return nil
		}
		text, stopped := stop.push(dec.Add(id))
		last := stopped || n >= maxNew
		if last && !stopped {
			text += stop.flush() + dec.Flush()
		}
		if err := g.emit(thinkstream.Token{Text: text, Channel: thinkstream.ChannelRaw, ID: int(id)}); err != nil {
			return err
		}
		if stopped {
			g.res.FinishReason = "stop"
			return nil
		}
		if n >= maxNew {
			g.res.FinishReason = "length"
			return nil
		}
		if err := ctx.Err(); err != nil {
			g.res.FinishReason = "cancelled"
			return err
		}
		g.one[0] = id
		if err := g.forward(g.one[:]); err != nil {
			return err
		}
	}
}

// prefill brings the slot's cache to hold prompt and leaves the logits of
// its last token. A prefix the cache already holds (the same conversation
// asked again, or a resumed run) is kept rather than recomputed.
func (g *generation) prefill(ctx context.Context, prompt []int32) error {
	keep := 0
	for keep < len(g.s.tokens) && keep < len(prompt) && g.s.tokens[keep] == prompt[keep] {
		keep++
	}
	if keep == len(prompt) {
		keep-- // the logits of the last prompt token are needed
	}
	g.s.seq.Truncate(keep)
	g.s.tokens = g.s.tokens[:keep]

	start := time.Now()
	for i := keep; i < len(prompt); i += promptBatch {
		if err := g.wait(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			g.res.FinishReason = "cancelled"
			return err
		}
		if err := g.forward(prompt[i:min(i+promptBatch, len(prompt))]); err != nil {
			return err
		}
	}
	if done := len(prompt) - keep; done > 0 {
		ms := float64(time.Since(start)-g.paused) / float64(time.Millisecond)
		g.res.Timings.PromptMS = ms
		if ms > 0 {
			g.res.Timings.PromptPerSecond = float64(done) / ms * 1000
		}
	}
	g.paused = 0
	return nil
}
