// Package openai is a thinkstream.Engine that streams from an
// OpenAI-compatible server over HTTP: vLLM, SGLang, llama.cpp's server,
// Ollama's /v1, or another thinkstream.
//
// Chain of thought reaches us in one of three shapes, and all three must give
// the same events downstream:
//
//   - delta.reasoning_content (vLLM and SGLang with a reasoning parser,
//     llama.cpp with --reasoning-format deepseek) → ChannelReasoning;
//   - delta.reasoning (newer vLLM, Ollama's /v1) → ChannelReasoning;
//   - <think>…</think> inline in delta.content (no parser upstream).
//
// The rule for delta.content: until a reasoning field has carried text in
// this stream, content is emitted as ChannelRaw and the reasoning parser
// finds the tags itself; once one has, the upstream is splitting for us and
// content is ChannelAnswer. Raw completions (/completions) are always
// ChannelRaw.
package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/thinkstream/thinkstream"
)

// Modes of Config.Mode.
const (
	ModeChat        = "chat"        // POST /chat/completions (default)
	ModeCompletions = "completions" // POST /completions with a rendered ChatML prompt
)

// Pass-through parameter names for Config.PassThrough: sampling options that
// are not part of the OpenAI API. vLLM, SGLang and llama.cpp accept them;
// some gateways reject unknown fields, hence the list.
const (
	ParamTopK              = "top_k"
	ParamMinP              = "min_p"
	ParamSeed              = "seed"
	ParamRepetitionPenalty = "repetition_penalty"
)

// DefaultPassThrough is what a nil Config.PassThrough means.
var DefaultPassThrough = []string{ParamTopK, ParamMinP, ParamSeed, ParamRepetitionPenalty}

// Config configures an Engine. Zero values select the defaults.
type Config struct {
	// BaseURL is the API root including /v1, e.g. http://127.0.0.1:8000/v1.
	BaseURL string
	// Model is sent as "model". Empty: the first id of GET {BaseURL}/models.
	Model  string
	APIKey string
	// HTTPClient must not have a Timeout: streams last minutes. Nil: a
	// client of the engine's own (closed by Close).
	HTTPClient *http.Client
	// Mode is ModeChat or ModeCompletions. Requests with a Prefix always use
	// completions, since chat endpoints cannot continue an assistant turn.
	Mode string
	// TTFTTimeout bounds the wait from sending the request to the first
	// token; it covers model loading and prefill of long prompts.
	TTFTTimeout time.Duration // default 120s
	// IdleTimeout bounds the wait between chunks once tokens flow.
	IdleTimeout time.Duration // default 60s
	// MaxRetries is how often a 429/503 before the first token is retried.
	// Negative disables retries.
	MaxRetries int // default 3
	// RetryBase is the first backoff; it doubles per attempt, with jitter.
	RetryBase time.Duration // default 500ms
	// RetryMaxWait caps any single wait, Retry-After included.
	RetryMaxWait time.Duration // default 20s
	// PassThrough lists the extra parameters to send when set in a request
	// (see the Param constants). Nil means DefaultPassThrough; an empty,
	// non-nil slice sends none.
	PassThrough []string
	// MaxParallel is reported by Info; the run manager admits that many.
	MaxParallel int // default 16
	// MaxTokens is reported by Info as the largest max_tokens (0 = unknown).
	MaxTokens int
	Logger    *slog.Logger
}

// Engine streams generations from an OpenAI-compatible server. It is safe
// for concurrent use.
type Engine struct {
	cfg    Config
	client *http.Client
	ownsC  bool
	pass   map[string]bool
	log    *slog.Logger

	modelMu sync.Mutex
	model   string
}

var (
	_ thinkstream.Engine    = (*Engine)(nil)
	_ thinkstream.Describer = (*Engine)(nil)
)

// New validates cfg and fills in defaults. It does no network I/O.
func New(cfg Config) (*Engine, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("upstream url %q: must start with http:// or https://", cfg.BaseURL)
	}
	cfg.BaseURL = base
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeChat
	case ModeChat, ModeCompletions:
	default:
		return nil, fmt.Errorf("upstream mode %q: want %q or %q", cfg.Mode, ModeChat, ModeCompletions)
	}
	if cfg.TTFTTimeout <= 0 {
		cfg.TTFTTimeout = 120 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.RetryMaxWait <= 0 {
		cfg.RetryMaxWait = 20 * time.Second
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = 16
	}
	if cfg.PassThrough == nil {
		cfg.PassThrough = DefaultPassThrough
	}
	pass := make(map[string]bool, len(cfg.PassThrough))
	for _, p := range cfg.PassThrough {
		switch p {
		case ParamTopK, ParamMinP, ParamSeed, ParamRepetitionPenalty:
			pass[p] = true
		default:
			return nil, fmt.Errorf("upstream pass-through parameter %q: want one of %s", p, strings.Join(DefaultPassThrough, ", "))
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, client: cfg.HTTPClient, pass: pass, log: log, model: cfg.Model}
	if e.client == nil {
		// Our own transport: closing its idle connections on Close must
		// not touch anyone else's.
		e.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		e.ownsC = true
	}
	return e, nil
}

// Name implements thinkstream.Engine.
func (e *Engine) Name() string { return "upstream" }

// Info implements thinkstream.Describer.
func (e *Engine) Info() thinkstream.EngineInfo {
	e.modelMu.Lock()
	model := e.model
	e.modelMu.Unlock()
	return thinkstream.EngineInfo{Model: model, MaxParallel: e.cfg.MaxParallel, MaxTokens: e.cfg.MaxTokens}
}

// Close releases idle connections of the engine's own HTTP client.
func (e *Engine) Close() error {
	if e.ownsC {
		e.client.CloseIdleConnections()
	}
	return nil
}

// Generate implements thinkstream.Engine. It returns a *thinkstream.EngineError
// for upstream faults, the emit error as-is when emit fails, and an error
// matching ctx.Err() (with Result.FinishReason "cancelled") when ctx ends.
func (e *Engine) Generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	res, err := e.generate(ctx, req, emit)
	if res.Usage.Estimated && res.Usage.PromptTokens == 0 {
		// No usage chunk (it comes last: a stream that broke never sent
		// it, and some servers ignore include_usage): count the prompt here.
		res.Usage.PromptTokens = estimatePromptTokens(req)
	}
	return res, err
}

// estimatePromptTokens counts a prompt without the model's tokenizer: about
// one token per 4 bytes of text (BPE vocabularies of this size average 3.5
// to 4.5 on English and LaTeX), plus the chat template's framing per message.
func estimatePromptTokens(req thinkstream.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += (len(m.Content)+3)/4 + 4
	}
	return n + (len(req.Prefix)+3)/4
}

func (e *Engine) generate(ctx context.Context, req thinkstream.Request, emit func(thinkstream.Token) error) (thinkstream.Result, error) {
	model, err := e.resolveModel(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return thinkstream.Result{FinishReason: "cancelled"}, ctx.Err()
		}
		return thinkstream.Result{}, err
	}
	mode := e.cfg.Mode
	if req.Prefix != "" {
		mode = ModeCompletions
	}
	path, body, err := e.buildBody(model, req, mode)
	if err != nil {
		return thinkstream.Result{}, err
	}
	for attempt := 0; ; attempt++ {
		res, retryAfter, err := e.stream(ctx, req.RunID, path, body, emit)
		if ee, ok := errors.AsType[emitError](err); ok {
			return res, ee.err
		}
		if err != nil && ctx.Err() != nil {
			res.FinishReason = "cancelled"
			return res, fmt.Errorf("upstream generation: %w", ctx.Err())
		}
		ee, ok := errors.AsType[*thinkstream.EngineError](err)
		if err == nil || !ok || ee.Code != CodeOverloaded || attempt >= e.cfg.MaxRetries {
			return res, err
		}
		wait := e.backoff(attempt, retryAfter)
		e.log.Info("upstream busy, retrying", "run", req.RunID, "attempt", attempt+1, "wait", wait, "err", ee.Message)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return thinkstream.Result{FinishReason: "cancelled"}, fmt.Errorf("upstream generation: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// backoff doubles from RetryBase with a random wait in [d/2, d], so that
// runs refused together do not come back together; or it is what
// Retry-After asked for (retryAfter >= 0). Both are capped by RetryMaxWait.
func (e *Engine) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter >= 0 {
		return min(retryAfter, e.cfg.RetryMaxWait)
	}
	d := e.cfg.RetryBase << min(attempt, 20)
	if d <= 0 || d > e.cfg.RetryMaxWait {
		d = e.cfg.RetryMaxWait
	}
	return d/2 + rand.N(d/2+1)
}

// emitError marks an error returned by the caller's emit callback so it is
// handed back unchanged.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }
func (e emitError) Unwrap() error { return e.err }
