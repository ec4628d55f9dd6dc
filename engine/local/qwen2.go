package local

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/thinkstream/thinkstream/engine/local/qwen2"
	"github.com/thinkstream/thinkstream/engine/local/tokenizer"
)

// New loads the GGUF model at cfg.ModelPath, and the tokenizer from the same
// file, and returns an engine ready to generate.
func New(cfg Config) (*Engine, error) {
	if cfg.ModelPath == "" {
		return nil, fmt.Errorf("local: no model path")
	}
	m, err := qwen2.Load(cfg.ModelPath, qwen2.Options{Threads: cfg.Threads})
	if err != nil {
		return nil, fmt.Errorf("local: loading %s: %w", cfg.ModelPath, err)
	}
	tok, err := tokenizer.FromMetadata(m.File())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("local: %s: %w", cfg.ModelPath, err)
	}
	name, _ := m.File().String("general.name")
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(cfg.ModelPath), filepath.Ext(cfg.ModelPath))
	}
	e, err := newEngine(qwenModel{m}, tok, name, cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	if cfg.Logger != nil && cfg.ContextSize == 0 && e.ctxSize < shortContext {
		cfg.Logger.Warn("the model declares a short context; long reasoning will be cut off (raise it with the context setting)",
			"context", e.ctxSize)
	}
	if cfg.Logger != nil {
		c := m.Config
		cfg.Logger.Info("local model loaded", "path", cfg.ModelPath, "name", name,
			"layers", c.Layers, "hidden", c.Hidden, "vocab", c.Vocab, "file_type", c.FileType,
			"model_context", c.ContextLength, "context", e.ctxSize, "parallel", e.parallel, "threads", m.Threads())
	}
	return e, nil
}

// shortContext is the context below which reasoning models routinely run
// out of room: their traces are often 10k-20k tokens.
const shortContext = 16384

// qwenModel adapts *qwen2.Model to Model.
type qwenModel struct{ m *qwen2.Model }

func (q qwenModel) NewSequence(maxTokens int) (Sequence, error) {
	return qwenSeq{q.m, q.m.NewCache(maxTokens)}, nil
}
func (q qwenModel) VocabSize() int     { return q.m.Config.Vocab }
func (q qwenModel) ContextLength() int { return q.m.Config.ContextLength }
func (q qwenModel) Close() error       { return q.m.Close() }

type qwenSeq struct {
	m *qwen2.Model
	c *qwen2.Cache
}

func (s qwenSeq) Len() int       { return s.c.Len() }
func (s qwenSeq) Truncate(n int) { s.c.Truncate(n) }
func (s qwenSeq) Forward(tokens []int32, logits []float32) error {
	return s.m.Forward(s.c, tokens, logits)
}
