package local

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/engine/local/ggml"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines and, with THINKSTREAM_NOASM=1 (a
// second CI pass), runs everything on the portable Go kernels.
func TestMain(m *testing.M) {
	if os.Getenv("THINKSTREAM_NOASM") == "1" {
		ggml.SetAssembly(false)
	}
	goleak.VerifyTestMain(m)
}

func ptr[T any](v T) *T { return &v }

func userReq(text string) thinkstream.Request {
	return thinkstream.Request{RunID: "r1", Messages: []thinkstream.Message{{Role: "user", Content: text}}}
}

// collect runs Generate and gathers what it emitted.
type collected struct {
	text   string
	ids    []int
	tokens []thinkstream.Token
}

func generate(t *testing.T, e *Engine, req thinkstream.Request) (collected, thinkstream.Result, error) {
	t.Helper()
	var c collected
	res, err := e.Generate(context.Background(), req, func(tok thinkstream.Token) error {
		c.text += tok.Text
		c.ids = append(c.ids, tok.ID)
		c.tokens = append(c.tokens, tok)
		return nil
	})
	return c, res, err
}

func TestStopConditions(t *testing.T) {
	tok := tinyTokenizer(t)
	tests := []struct {
		name      string
		script    string
		stop      []string
		maxTokens int
		wantText  string
		finish    string
	}{
		{"end of generation token", "The answer is 42.", nil, 0, "The answer is 42.", "stop"},
		{"stop string", "Hello ###STOP### world", []string{"###STOP"}, 0, "Hello ", "stop"},
		{"earliest of two stop strings", "a then b", []string{" b", "then"}, 0, "a ", "stop"},
		{"almost a stop string is emitted", "a ## b", []string{"###"}, 0, "a ## b", "stop"},
		{"stop string at the very start", "STOP now", []string{"STOP"}, 0, "", "stop"},
		{"max tokens", "one two three four five six", nil, 3, tok.Decode(tok.Encode("one two three four five six", false)[:3]), "length"},
		{"held prefix flushed at max tokens", "x #", []string{"#!"}, 2, "x #", "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeModel{vocab: 1024, ctx: 4096, next: scriptOf(tok, tt.script)}
			e := newFakeEngine(t, m, Config{})
			req := userReq("hi")
			req.Params = thinkstream.Params{Stop: tt.stop, MaxTokens: tt.maxTokens, Temperature: ptr(0.0)}
			c, res, err := generate(t, e, req)
			if err != nil {
				t.Fatal(err)
			}
			if c.text != tt.wantText || res.FinishReason != tt.finish {
				t.Errorf("got %q (%s), want %q (%s)", c.text, res.FinishReason, tt.wantText, tt.finish)
			}
			if len(c.tokens) != res.Usage.CompletionTokens && tt.finish == "length" {
				t.Errorf("%d emits for %d completion tokens", len(c.tokens), res.Usage.CompletionTokens)
			}
			for _, tk := range c.tokens {
				if tk.Channel != thinkstream.ChannelRaw || tk.ID < 0 {
					t.Errorf("token %+v: want raw channel and an id", tk)
				}
			}
		})
	}
}

func TestStopStringNeverPartlyEmitted(t *testing.T) {
	// Every token of the script is one character, so the stop string
	// arrives over several tokens.
	tok := tinyTokenizer(t)
	m := &fakeModel{vocab: 1024, ctx: 4096, next: scriptOf(tok, "x<|user|>y")}
	e := newFakeEngine(t, m, Config{})
	req := userReq("hi")
	req.Params.Stop = []string{"<|user|>"}
	c, _, err := generate(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range c.tokens {
		if strings.ContainsAny(tk.Text, "<|") {
			t.Fatalf("emitted %q, part of the stop string", tk.Text)
		}
	}
	if c.text != "x" {
		t.Fatalf("text %q", c.text)
	}
}

func TestUTF8HeldAcrossTokens(t *testing.T) {
	// The tiny vocabulary has no merges for CJK, so each character is three
	// byte tokens; no emitted text may split one.
	tok := tinyTokenizer(t)
	text := "数学 🙂 ok"
	m := &fakeModel{vocab: 1024, ctx: 4096, next: scriptOf(tok, text)}
	e := newFakeEngine(t, m, Config{})
	c, _, err := generate(t, e, userReq("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if c.text != text {
		t.Fatalf("text %q, want %q", c.text, text)
	}
	empty := 0
	for _, tk := range c.tokens {
		if !utf8Valid(tk.Text) {
			t.Fatalf("chunk %q is not valid UTF-8", tk.Text)
		}
		if tk.Text == "" {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("no token was held back; the test checks nothing")
	}
}

func TestContextLimits(t *testing.T) {
	tok := tinyTokenizer(t)
	long := strings.Repeat("word ", 100)
	m := &fakeModel{vocab: 1024, ctx: 4096}
	e := newFakeEngine(t, m, Config{ContextSize: 64})

	_, _, err := generate(t, e, userReq(long))
	var ee *thinkstream.EngineError
	if !errors.As(err, &ee) || ee.Code != "context_length_exceeded" {
		t.Fatalf("long prompt: err = %v, want context_length_exceeded", err)
	}
	if m.forwarded.Load() != 0 {
		t.Fatal("the model ran before the prompt was checked")
	}

	// max_tokens is clipped to what the context has left.
	req := userReq("hi")
	req.Params.MaxTokens = 10000
	c, res, err := generate(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	prompt := len(tok.EncodeChat(req.Messages, ""))
	if res.FinishReason != "length" && res.FinishReason != "stop" {
		t.Fatalf("finish %q", res.FinishReason)
	}
	if res.FinishReason == "length" && prompt+res.Usage.CompletionTokens != 64 {
		t.Fatalf("prompt %d + %d generated, want 64 in all", prompt, res.Usage.CompletionTokens)
	}
	if res.Usage.PromptTokens != prompt || len(c.ids) > 64-prompt {
		t.Fatalf("usage %+v, %d emits", res.Usage, len(c.ids))
	}
	if e.Info().MaxTokens != 63 || e.Info().MaxParallel != 1 || e.Info().Model != "fake" {
		t.Fatalf("Info = %+v", e.Info())
	}
}

func TestSameSeedSameTokens(t *testing.T) {
	run := func(seed int64) []int {
		m := &fakeModel{vocab: 1024, ctx: 4096}
		e := newFakeEngine(t, m, Config{})
		req := userReq("Explain binary search.")
		req.Params = thinkstream.Params{Seed: ptr(seed), Temperature: ptr(1.0), MaxTokens: 40}
		c, _, err := generate(t, e, req)
		if err != nil {
			t.Fatal(err)
		}
		return c.ids
	}
	a, b := run(1), run(1)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed differs:\n%s", diff)
	}
	if cmp.Equal(a, run(2)) {
		t.Fatal("seeds 1 and 2 gave the same 40 tokens")
	}
}

func TestCancelWithinOneToken(t *testing.T) {
	m := &fakeModel{vocab: 1024, ctx: 4096}
	e := newFakeEngine(t, m, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emits := 0
	// A fixed seed: with a random one the sampler may pick an
	// end-of-generation token before the 5th, which ends the run first.
	req := userReq("hi")
	req.Params.Seed = ptr(int64(1))
	res, err := e.Generate(ctx, req, func(thinkstream.Token) error {
		emits++
		if emits == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" {
		t.Fatalf("err %v, finish %q", err, res.FinishReason)
	}
	if emits != 5 || res.Usage.CompletionTokens != 5 {
		t.Fatalf("%d emits, %d tokens after cancelling at the 5th", emits, res.Usage.CompletionTokens)
	}
	// The sequence is free again.
	if _, _, err := generate(t, e, thinkstream.Request{Messages: userReq("x").Messages, Params: thinkstream.Params{MaxTokens: 2}}); err != nil {
		t.Fatal(err)
	}
}

func TestEmitErrorStops(t *testing.T) {
	e := newFakeEngine(t, &fakeModel{vocab: 1024, ctx: 4096}, Config{})
	boom := errors.New("viewer gone")
	n := 0
	_, err := e.Generate(context.Background(), userReq("hi"), func(thinkstream.Token) error {
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err %v after %d emits", err, n)
	}
}

func TestPauseResumeContinuesWithoutRecomputing(t *testing.T) {
	req := userReq("Explain binary search.")
	req.Params = thinkstream.Params{Seed: ptr(int64(7)), Temperature: ptr(1.0), MaxTokens: 30}

	plain := &fakeModel{vocab: 1024, ctx: 4096}
	want, _, err := generate(t, newFakeEngine(t, plain, Config{}), req)
	if err != nil {
		t.Fatal(err)
	}

	m := &fakeModel{vocab: 1024, ctx: 4096}
	e := newFakeEngine(t, m, Config{})
	blocked := make(chan struct{}, 1)
	e.pauses.Blocked = func() { blocked <- struct{}{} }
	var (
		mu  sync.Mutex
		got collected
	)
	done := make(chan error, 1)
	go func() {
		_, err := e.Generate(context.Background(), req, func(tok thinkstream.Token) error {
			mu.Lock()
			defer mu.Unlock()
			got.ids = append(got.ids, tok.ID)
			got.text += tok.Text
			if len(got.ids) == 10 {
				if err := e.Pause(req.RunID); err != nil {
					return err
				}
			}
			return nil
		})
		done <- err
	}()
	select {
	case <-blocked:
	case err := <-done:
		t.Fatalf("generation ended without pausing: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("generation never parked")
	}
	mu.Lock()
	n, fw := len(got.ids), m.forwarded.Load()
	mu.Unlock()
	if n != 10 {
		t.Fatalf("%d tokens emitted by the time it parked, want 10", n)
	}
	if err := e.Resume(req.RunID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.ids, got.ids); diff != "" {
		t.Fatalf("paused run differs from the plain one:\n%s", diff)
	}
	if m.forwarded.Load() != plain.forwarded.Load() || fw == 0 {
		t.Fatalf("paused run forwarded %d tokens, plain run %d", m.forwarded.Load(), plain.forwarded.Load())
	}
	if err := e.Pause(req.RunID); !errors.Is(err, ErrUnknownRun) {
		t.Fatalf("Pause after the end: %v", err)
	}
}

func TestCancelWhilePaused(t *testing.T) {
	e := newFakeEngine(t, &fakeModel{vocab: 1024, ctx: 4096}, Config{})
	blocked := make(chan struct{}, 1)
	e.pauses.Blocked = func() { blocked <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Generate(ctx, userReq("hi"), func(thinkstream.Token) error {
			return e.Pause("r1")
		})
		done <- err
	}()
	<-blocked
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestParallelSequences(t *testing.T) {
	// Every run writes exactly three tokens (no end-of-generation).
	m := &fakeModel{vocab: 1024, ctx: 4096, next: func([]int32) int32 { return 64 }}
	e := newFakeEngine(t, m, Config{Parallel: 2})
	if e.Info().MaxParallel != 2 {
		t.Fatalf("MaxParallel %d", e.Info().MaxParallel)
	}
	var (
		mu     sync.Mutex
		emits  = map[string]int{}
		starts []string
	)
	release := make(chan struct{})
	started := make(chan string, 3)
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		wg.Go(func() {
			req := userReq("hi " + id)
			req.RunID = id
			req.Params.MaxTokens = 3
			_, err := e.Generate(context.Background(), req, func(thinkstream.Token) error {
				mu.Lock()
				emits[id]++
				first := emits[id] == 1
				if first {
					// A third run may start only once another has written
					// its last token and so given back its sequence.
					if len(starts) == 2 && emits[starts[0]] < 3 && emits[starts[1]] < 3 {
						t.Errorf("run %s started while %v held both sequences", id, starts)
					}
					starts = append(starts, id)
				}
				mu.Unlock()
				if first {
					started <- id
					<-release
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	<-started
	<-started
	close(release)
	<-started
	wg.Wait()
	if m.maxActive > 2 {
		t.Fatalf("%d sequences ran at once", m.maxActive)
	}
	for id, n := range emits {
		if n != 3 {
			t.Errorf("run %s: %d tokens", id, n)
		}
	}
}

func TestPromptPrefixReused(t *testing.T) {
	m := &fakeModel{vocab: 1024, ctx: 4096}
	e := newFakeEngine(t, m, Config{})
	req := userReq("Explain binary search in detail.")
	req.Params = thinkstream.Params{Seed: ptr(int64(3)), MaxTokens: 5}
	a, r1, err := generate(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	before := m.forwarded.Load()
	b, r2, err := generate(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.forwarded.Load() - before; got != int64(1+r2.Usage.CompletionTokens-1) {
		t.Errorf("second run forwarded %d tokens; the prompt should be reused but its last token", got)
	}
	if diff := cmp.Diff(a.ids, b.ids); diff != "" || r1.Usage != r2.Usage {
		t.Fatalf("reusing the cache changed the output:\n%s", diff)
	}
}

func TestInvalidParams(t *testing.T) {
	e := newFakeEngine(t, &fakeModel{vocab: 1024, ctx: 4096}, Config{})
	for _, p := range []thinkstream.Params{
		{Temperature: ptr(-1.0)}, {MinP: ptr(2.0)}, {MaxTokens: -1},
	} {
		req := userReq("hi")
		req.Params = p
		_, _, err := generate(t, e, req)
		var ee *thinkstream.EngineError
		if !errors.As(err, &ee) || ee.Code != "invalid_params" {
			t.Errorf("%+v: err %v", p, err)
		}
	}
}
