package local

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/thinkstream/thinkstream"
)

type greedyRef struct {
	PromptText string  `json:"prompt_text"`
	PromptIDs  []int32 `json:"prompt_ids"`
	Tokens     []int   `json:"tokens"`
}

// referenceGreedy reads llama.cpp's greedy continuations for a tiny model.
func referenceGreedy(t *testing.T, file string) []greedyRef {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Models []struct {
			File   string      `json:"file"`
			Greedy []greedyRef `json:"greedy"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, m := range ref.Models {
		if m.File == file {
			return m.Greedy
		}
	}
	t.Fatalf("no reference for %s", file)
	return nil
}

func newTiny(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.ModelPath = "testdata/tiny-qwen2-f16.gguf"
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func greedy(n int) thinkstream.Params {
	return thinkstream.Params{Temperature: ptr(0.0), MaxTokens: n}
}

func TestTinyModelGreedyMatchesLlamaCpp(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under the race detector; the chat test covers one prompt")
	}
	e := newTiny(t, Config{})
	info := e.Info()
	if info.Model == "" || info.MaxParallel != 1 || info.MaxTokens != 4095 {
		t.Errorf("Info = %+v", info)
	}
	for _, ref := range referenceGreedy(t, "tiny-qwen2-f16.gguf") {
		if diff := cmp.Diff(ref.PromptIDs, e.Tokenizer().Encode(ref.PromptText, true)); diff != "" {
			t.Fatalf("prompt %q tokenizes differently:\n%s", ref.PromptText, diff)
		}
		var ids []int
		res, err := e.GenerateRaw(context.Background(), ref.PromptText, greedy(len(ref.Tokens)), func(tok thinkstream.Token) error {
			ids = append(ids, tok.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ref.Tokens, ids); diff != "" {
			t.Errorf("prompt %q: greedy tokens differ from llama.cpp (-want +got):\n%s", ref.PromptText, diff)
		}
		if res.FinishReason != "length" || res.Usage.PromptTokens != len(ref.PromptIDs) || res.Usage.CompletionTokens != len(ref.Tokens) {
			t.Errorf("result %+v", res)
		}
		if res.Timings.PromptPerSecond <= 0 || res.Timings.PredictedPerSecond <= 0 {
			t.Errorf("timings %+v", res.Timings)
		}
	}
}

func TestTinyModelChatMatchesLlamaCpp(t *testing.T) {
	// The first reference prompt is the ChatML rendering of these messages.
	ref := referenceGreedy(t, "tiny-qwen2-f16.gguf")[0]
	e := newTiny(t, Config{})
	req := thinkstream.Request{RunID: "chat", Params: greedy(len(ref.Tokens)), Messages: []thinkstream.Message{
		{Role: "system", Content: "You are a competitive programming assistant."},
		{Role: "user", Content: "Explain binary search."},
	}}
	var ids []int
	var text string
	res, err := e.Generate(context.Background(), req, func(tok thinkstream.Token) error {
		ids = append(ids, tok.ID)
		if len(ids) < len(ref.Tokens) { // the last may carry flushed bytes
			text += tok.Text
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.PromptTokens != len(ref.PromptIDs) {
		t.Fatalf("prompt is %d tokens, reference %d", res.Usage.PromptTokens, len(ref.PromptIDs))
	}
	if diff := cmp.Diff(ref.Tokens, ids); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// Random weights write random bytes: the text is the tokens' bytes with
	// those that cannot form UTF-8 replaced, so it is at least as long as
	// the valid part and never splits a character.
	if !utf8Valid(text) {
		t.Fatalf("text %q is not valid UTF-8", text)
	}
}

func TestTinyModelPauseResumeSameTokens(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("runs the model twice")
	}
	req := thinkstream.Request{RunID: "p", Messages: []thinkstream.Message{{Role: "user", Content: "Hello, world!"}},
		Params: thinkstream.Params{Seed: ptr(int64(11)), Temperature: ptr(1.0), TopP: ptr(0.9), MaxTokens: 40}}
	e := newTiny(t, Config{})
	want, _, err := generate(t, e, req)
	if err != nil {
		t.Fatal(err)
	}

	e2 := newTiny(t, Config{})
	blocked := make(chan struct{}, 1)
	e2.pauses.Blocked = func() { blocked <- struct{}{} }
	var got []int
	done := make(chan error, 1)
	go func() {
		_, err := e2.Generate(context.Background(), req, func(tok thinkstream.Token) error {
			got = append(got, tok.ID)
			if len(got) == 20 {
				return e2.Pause(req.RunID)
			}
			return nil
		})
		done <- err
	}()
	select {
	case <-blocked:
	case err := <-done:
		t.Fatalf("ended without pausing: %v", err)
	}
	if err := e2.Resume(req.RunID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.ids, got); diff != "" {
		t.Fatalf("paused run differs (-plain +paused):\n%s", diff)
	}
}

func TestTinyModelContextOverflow(t *testing.T) {
	e := newTiny(t, Config{ContextSize: 16})
	_, err := e.GenerateRaw(context.Background(), "int main() {\n    int n;\n    cin >> n;\n", greedy(4), func(thinkstream.Token) error { return nil })
	var ee *thinkstream.EngineError
	if !errors.As(err, &ee) || ee.Code != "context_length_exceeded" {
		t.Fatalf("err = %v", err)
	}
	// A prompt that fits generates up to the end of the context.
	res, err := e.GenerateRaw(context.Background(), "Hello, world!", greedy(0), func(thinkstream.Token) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.PromptTokens+res.Usage.CompletionTokens != 16 && res.FinishReason == "length" {
		t.Fatalf("usage %+v", res.Usage)
	}
}

func TestNewErrors(t *testing.T) {
	for _, path := range []string{"", "testdata/missing.gguf", "testdata/reference.json"} {
		if e, err := New(Config{ModelPath: path}); err == nil {
			e.Close()
			t.Errorf("New(%q) succeeded", path)
		}
	}
}

func TestTinyModelCancel(t *testing.T) {
	e := newTiny(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var first []int
	res, err := e.GenerateRaw(ctx, "Hello, world!", thinkstream.Params{Seed: ptr(int64(1)), MaxTokens: 100}, func(tok thinkstream.Token) error {
		first = append(first, tok.ID)
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" || n != 3 || res.Usage.CompletionTokens != 3 {
		t.Fatalf("err %v, finish %q, %d emits, usage %+v", err, res.FinishReason, n, res.Usage)
	}
	// The engine is usable afterwards, and the same seed gives the same start.
	var ids []int
	if _, err := e.GenerateRaw(context.Background(), "Hello, world!", thinkstream.Params{Seed: ptr(int64(1)), MaxTokens: 3}, func(tok thinkstream.Token) error {
		ids = append(ids, tok.ID)
		return nil
	}); err != nil || !cmp.Equal(ids, first) {
		t.Fatalf("after cancel: %v (first run %v), %v", ids, first, err)
	}
}
