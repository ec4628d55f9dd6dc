// Package local is the embedded inference engine: it runs a Qwen2-family
// GGUF model (VibeThinker-1.5B, Qwen2.5) in-process on the CPU and
// implements thinkstream.Engine, Describer and Pauser. The forward pass is
// engine/local/qwen2; this package adds the chat template, tokenization,
// sampling, stop conditions, parallel sequences and pausing.
package local

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local/tokenizer"
	"github.com/thinkstream/thinkstream/engine/pause"
)

// DefaultContextSize caps the context when Config.ContextSize is 0. The KV
// cache of a VibeThinker-sized model takes 28 KiB per token (f16), so the
// default of 32768 tokens is 0.9 GiB per parallel sequence, which leaves
// room for the long reasoning traces these models write (they often think
// for 10k-20k tokens). Models with a shorter context keep theirs.
const DefaultContextSize = 32768

// promptBatch is how many prompt tokens go through one forward call; the
// run can be cancelled or paused between batches. The matrix kernels reuse
// each weight block for four tokens and keep 16 rows in cache while the
// batch passes over them, so batches beyond a few dozen tokens gain little,
// while a smaller batch bounds how long SIGINT or a cancel waits during a
// long prompt (64 tokens: a few seconds at worst on two slow cores).
const promptBatch = 64

// Config configures New.
type Config struct {
	// ModelPath is the GGUF file to load.
	ModelPath string
	// Threads for the forward pass; 0 means GOMAXPROCS.
	Threads int
	// Parallel is how many sequences generate at once, each with its own
	// KV cache; 0 means 1. Further Generate calls wait for a free one.
	Parallel int
	// ContextSize is the most tokens (prompt and generated) a sequence
	// holds; 0 means the model's context length capped at
	// DefaultContextSize.
	ContextSize int
	// Logger receives load and per-run summaries; nil discards them.
	Logger *slog.Logger
}

// Model is the forward pass the engine drives.
type Model interface {
	// NewSequence returns an empty KV cache for up to maxTokens tokens.
	NewSequence(maxTokens int) (Sequence, error)
	VocabSize() int
	ContextLength() int
	Close() error
}

// Sequence is one KV cache and the tokens it holds.
type Sequence interface {
	Len() int
	// Truncate forgets every token from position n on.
	Truncate(n int)
	// Forward appends tokens at position Len() and writes the logits of
	// the last one into logits (len VocabSize).
	Forward(tokens []int32, logits []float32) error
}

// Engine generates text with a local model. It is safe for concurrent use.
type Engine struct {
	model     Model
	tok       *tokenizer.Tokenizer
	modelName string
	ctxSize   int
	parallel  int
	log       *slog.Logger
	slots     chan *slot

	pauses pause.Registry
}

// slot is one parallel sequence: a KV cache, what it holds and the logits
// buffer, reused by the Generate calls that take it in turn.
type slot struct {
	seq    Sequence
	tokens []int32 // tokens in seq, to reuse a common prompt prefix
	logits []float32
}

// newEngine assembles an engine from its parts; New loads them from a file.
func newEngine(m Model, tok *tokenizer.Tokenizer, name string, cfg Config) (*Engine, error) {
	if m.VocabSize() < tok.VocabSize() {
		return nil, fmt.Errorf("local: model has %d logits for a vocabulary of %d tokens", m.VocabSize(), tok.VocabSize())
	}
	ctx := cfg.ContextSize
	if ctx <= 0 {
		ctx = min(m.ContextLength(), DefaultContextSize)
	}
	if ctx < 2 {
		return nil, fmt.Errorf("local: context size %d is too small", ctx)
	}
	parallel := max(cfg.Parallel, 1)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		model:     m,
		tok:       tok,
		modelName: name,
		ctxSize:   ctx,
		parallel:  parallel,
		log:       log,
		slots:     make(chan *slot, parallel),
	}
	for range parallel {
		e.slots <- &slot{} // caches are allocated on first use
	}
	return e, nil
}

// Name implements thinkstream.Engine.
func (e *Engine) Name() string { return "local" }

// Info implements thinkstream.Describer.
func (e *Engine) Info() thinkstream.EngineInfo {
	return thinkstream.EngineInfo{Model: e.modelName, MaxParallel: e.parallel, MaxTokens: e.ctxSize - 1}
}

// ContextSize is the most tokens one sequence holds.
func (e *Engine) ContextSize() int { return e.ctxSize }

// Tokenizer is the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Close releases the model. Generate must not be running.
func (e *Engine) Close() error { return e.model.Close() }

// acquire takes a free sequence slot, waiting for one while ctx allows.
func (e *Engine) acquire(ctx context.Context) (*slot, error) {
	select {
	case s := <-e.slots:
		if s.seq == nil {
			seq, err := e.model.NewSequence(e.ctxSize)
			if err != nil {
				e.slots <- s
				return nil, fmt.Errorf("local: allocating a KV cache: %w", err)
			}
			s.seq = seq
			s.logits = make([]float32, e.model.VocabSize())
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) release(s *slot) { e.slots <- s }

// errContext is the error for prompts that do not fit.
func errContext(prompt, ctxSize int) error {
	return &thinkstream.EngineError{
		Code:    "context_length_exceeded",
		Message: fmt.Sprintf("the prompt is %d tokens; the context holds %d, which leaves no room to generate", prompt, ctxSize),
	}
}
