package local

import (
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/thinkstream/thinkstream/engine/local/gguf"
	"github.com/thinkstream/thinkstream/engine/local/tokenizer"
)

// fakeModel stands in for the forward pass: its logits depend only on the
// tokens in the sequence, so runs are reproducible, and it counts the work
// it was given.
type fakeModel struct {
	vocab, ctx int
	// next, when set, makes the model certain of one token (a script);
	// otherwise logits are pseudo-random in the history.
	next func(history []int32) int32

	forwarded atomic.Int64 // tokens processed, all sequences
	mu        sync.Mutex
	active    int // sequences inside Forward now
	maxActive int
}

func (m *fakeModel) NewSequence(maxTokens int) (Sequence, error) {
	return &fakeSeq{m: m, max: maxTokens}, nil
}
func (m *fakeModel) VocabSize() int     { return m.vocab }
func (m *fakeModel) ContextLength() int { return m.ctx }
func (m *fakeModel) Close() error       { return nil }

type fakeSeq struct {
	m       *fakeModel
	max     int
	history []int32
}

func (s *fakeSeq) Len() int       { return len(s.history) }
func (s *fakeSeq) Truncate(n int) { s.history = s.history[:min(n, len(s.history))] }

func (s *fakeSeq) Forward(tokens []int32, logits []float32) error {
	s.m.mu.Lock()
	s.m.active++
	s.m.maxActive = max(s.m.maxActive, s.m.active)
	s.m.mu.Unlock()
	defer func() {
		s.m.mu.Lock()
		s.m.active--
		s.m.mu.Unlock()
	}()
	if len(s.history)+len(tokens) > s.max {
		return fmt.Errorf("fake: %d tokens overflow a cache of %d", len(s.history)+len(tokens), s.max)
	}
	s.history = append(s.history, tokens...)
	s.m.forwarded.Add(int64(len(tokens)))
	if s.m.next != nil {
		clear(logits)
		logits[s.m.next(s.history)] = 10
		return nil
	}
	h := fnv.New64a()
	for _, t := range s.history {
		fmt.Fprint(h, t, ",")
	}
	x := h.Sum64()
	for i := range logits {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		logits[i] = float32(x%1000) / 100
	}
	return nil
}

// tinyTokenizer is the 1024-token vocabulary of the tiny test models.
func tinyTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open("testdata/tiny-qwen2-f16.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromMetadata(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// scriptOf makes a model that, after the prompt, writes text and then the
// end-of-generation token, forever.
func scriptOf(tok *tokenizer.Tokenizer, text string) func([]int32) int32 {
	ids := tok.Encode(text, false)
	var promptLen int = -1
	return func(h []int32) int32 {
		if promptLen < 0 {
			promptLen = len(h)
		}
		i := len(h) - promptLen
		if i < len(ids) {
			return ids[i]
		}
		return tok.EOS()
	}
}

func newFakeEngine(t testing.TB, m *fakeModel, cfg Config) *Engine {
	t.Helper()
	e, err := newEngine(m, tinyTokenizer(t), "fake", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
