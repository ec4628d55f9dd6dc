package openai

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thinkstream/thinkstream"
)

func TestFormatsGiveSameTokens(t *testing.T) {
	usage17 := thinkstream.Usage{PromptTokens: 41, CompletionTokens: 17}
	tests := []struct {
		file        string
		wantChannel thinkstream.Channel // of the first token
		wantAnswer  thinkstream.Channel // of the last token
		wantResult  thinkstream.Result
	}{
		{"vllm_reasoning_content.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: usage17}},
		{"vllm_reasoning.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: usage17}},
		{"sglang.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: usage17}},
		{"ollama.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: usage17}},
		{"llamacpp.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: usage17, Timings: thinkstream.Timings{
				PromptMS: 183.412, PromptPerSecond: 223.54262, PredictedMS: 1342.871, PredictedPerSecond: 12.659471}}},
		{"raw_think.sse", thinkstream.ChannelRaw, thinkstream.ChannelRaw,
			thinkstream.Result{FinishReason: "stop", Usage: thinkstream.Usage{PromptTokens: 41, CompletionTokens: 19}}},
		// No usage chunk: the count of content chunks stands in, and the
		// prompt is estimated from its text.
		{"quirks.sse", thinkstream.ChannelReasoning, thinkstream.ChannelAnswer,
			thinkstream.Result{FinishReason: "stop", Usage: thinkstream.Usage{PromptTokens: 7, CompletionTokens: 17, ReasoningTokens: 11, Estimated: true}}},
	}
	for _, tt := range tests {
		for _, piece := range []int{7, 1 << 16} {
			t.Run(tt.file, func(t *testing.T) {
				u := newUpstream(t, replay(readTestdata(t, tt.file), piece))
				e := newEngine(t, u.url(), nil)
				toks, res, err := collect(t.Context(), e, testReq)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				r, a := split(t, toks)
				if r != wantReasoning || a != wantAnswer {
					t.Errorf("reasoning %q answer %q\nwant %q and %q", r, a, wantReasoning, wantAnswer)
				}
				if toks[0].Channel != tt.wantChannel || toks[len(toks)-1].Channel != tt.wantAnswer {
					t.Errorf("channels first %d last %d, want %d %d", toks[0].Channel, toks[len(toks)-1].Channel, tt.wantChannel, tt.wantAnswer)
				}
				if diff := cmp.Diff(tt.wantResult, res); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestChatRequestBody(t *testing.T) {
	temp, topP, minP, rep, pres := 1.0, 0.95, 0.05, 1.1, 0.5
	topK, seed := 20, int64(7)
	params := thinkstream.Params{
		Temperature: &temp, TopP: &topP, TopK: &topK, MinP: &minP, RepetitionPenalty: &rep,
		PresencePenalty: &pres, MaxTokens: 16384, Seed: &seed, Stop: []string{"###"},
	}
	tests := []struct {
		name string
		pass []string
		topK *int // overrides params.TopK when set
		want map[string]any
	}{
		{"default pass-through", nil, nil, map[string]any{
			"model": "WeiboAI/VibeThinker-1.5B", "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages":    []any{map[string]any{"role": "user", "content": "What is 2+2?"}},
			"temperature": 1.0, "top_p": 0.95, "max_tokens": 16384.0, "stop": []any{"###"}, "presence_penalty": 0.5,
			"top_k": 20.0, "min_p": 0.05, "seed": 7.0, "repetition_penalty": 1.1,
		}},
		{"strict server", []string{}, nil, map[string]any{
			"model": "WeiboAI/VibeThinker-1.5B", "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages":    []any{map[string]any{"role": "user", "content": "What is 2+2?"}},
			"temperature": 1.0, "top_p": 0.95, "max_tokens": 16384.0, "stop": []any{"###"}, "presence_penalty": 0.5,
		}},
		{"top_k off is -1", []string{ParamTopK}, new(int), map[string]any{
			"model": "WeiboAI/VibeThinker-1.5B", "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages":    []any{map[string]any{"role": "user", "content": "What is 2+2?"}},
			"temperature": 1.0, "top_p": 0.95, "max_tokens": 16384.0, "stop": []any{"###"}, "presence_penalty": 0.5,
			"top_k": -1.0,
		}},
		{"seed only", []string{ParamSeed}, nil, map[string]any{
			"model": "WeiboAI/VibeThinker-1.5B", "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages":    []any{map[string]any{"role": "user", "content": "What is 2+2?"}},
			"temperature": 1.0, "top_p": 0.95, "max_tokens": 16384.0, "stop": []any{"###"}, "presence_penalty": 0.5,
			"seed": 7.0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, replay(readTestdata(t, "vllm_reasoning_content.sse"), 1<<16))
			e := newEngine(t, u.url(), func(c *Config) { c.PassThrough = tt.pass; c.APIKey = "sk-test" })
			req := testReq
			req.Params = params
			if tt.topK != nil {
				req.Params.TopK = tt.topK
			}
			if _, _, err := collect(t.Context(), e, req); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, u.lastBody(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			h := u.headers[0]
			if h.Get("Authorization") != "Bearer sk-test" || h.Get("X-Request-Id") != "run-1" || u.paths[0] != "/v1/chat/completions" {
				t.Errorf("auth %q request id %q path %q", h.Get("Authorization"), h.Get("X-Request-Id"), u.paths[0])
			}
		})
	}
}

func TestCompletionsMode(t *testing.T) {
	msgs := []thinkstream.Message{
		{Role: "system", Content: "You are a competitive programming assistant."},
		{Role: "user", Content: "What is 2+2?"},
	}
	const prefix = "<think>Okay, so I need to add"
	tests := []struct {
		name   string
		mode   string
		prefix string
	}{
		{"prefix forces completions", ModeChat, prefix},
		{"configured mode", ModeCompletions, prefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, replay(readTestdata(t, "completions.sse"), 5))
			e := newEngine(t, u.url(), func(c *Config) { c.Mode = tt.mode })
			toks, res, err := collect(t.Context(), e, thinkstream.Request{Messages: msgs, Prefix: tt.prefix})
			if err != nil {
				t.Fatal(err)
			}
			var text string
			for _, tok := range toks {
				if tok.Channel != thinkstream.ChannelRaw {
					t.Errorf("token %q on channel %d, want raw", tok.Text, tok.Channel)
				}
				text += tok.Text
			}
			// The continuation completes the prefix into the full stream.
			if r, a := split(t, []thinkstream.Token{{Text: tt.prefix + text, ID: -1}}); r != wantReasoning || a != wantAnswer {
				t.Errorf("prefix+continuation = %q", tt.prefix+text)
			}
			want := thinkstream.Result{FinishReason: "length", Usage: thinkstream.Usage{PromptTokens: 52, CompletionTokens: 14}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			body := u.lastBody(t)
			wantPrompt := "<|im_start|>system\nYou are a competitive programming assistant.<|im_end|>\n" +
				"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n" + tt.prefix
			if body["prompt"] != wantPrompt || body["messages"] != nil || u.paths[0] != "/v1/completions" {
				t.Errorf("path %s prompt %q messages %v", u.paths[0], body["prompt"], body["messages"])
			}
			if diff := cmp.Diff([]any{"<|im_end|>", "<|endoftext|>"}, body["stop"]); diff != "" {
				t.Errorf("stop (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModelDiscovery(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/v1/models" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"id":"vibethinker-1.5b","object":"model","owned_by":"vllm"}]}`))
			return
		}
		replay(readTestdata(t, "vllm_reasoning.sse"), 1<<16)(w, r, 0)
	})
	e := newEngine(t, u.url(), func(c *Config) { c.Model = "" })
	for range 2 {
		if _, _, err := collect(t.Context(), e, testReq); err != nil {
			t.Fatal(err)
		}
	}
	if got := u.lastBody(t)["model"]; got != "vibethinker-1.5b" {
		t.Errorf("model = %v", got)
	}
	if u.count() != 3 {
		t.Errorf("upstream saw %d requests, want 3 (models once, then two generations)", u.count())
	}
	if info := e.Info(); info.Model != "vibethinker-1.5b" || info.MaxParallel != 16 {
		t.Errorf("Info() = %+v", info)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []Config{
		{BaseURL: "127.0.0.1:8000/v1"},
		{BaseURL: "http://127.0.0.1:8000/v1", Mode: "responses"},
		{BaseURL: "http://127.0.0.1:8000/v1", PassThrough: []string{"typical_p"}},
	}
	for _, cfg := range tests {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestEmitErrorReturnedAsIs(t *testing.T) {
	u := newUpstream(t, replay(readTestdata(t, "sglang.sse"), 1<<16))
	e := newEngine(t, u.url(), nil)
	stop := errors.New("log full")
	n := 0
	_, err := e.Generate(t.Context(), testReq, func(thinkstream.Token) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("err = %v after %d tokens, want the emit error after 3", err, n)
	}
}
